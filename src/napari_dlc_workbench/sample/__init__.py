"""Synthetic Cladonema recordings with exact keypoints, for tests, the demo and benchmarks.

A :class:`SampleSpec` (presets ``tiny``, ``small`` and ``full``) fixes a gray, noisy,
low-contrast DSLR-like video of a well plate with one jellyfish per well. Any frame renders
on its own with :func:`render_frame`; :func:`ground_truth` gives the keypoints
(:data:`BODYPARTS`) the renderer drew, and :func:`write_sample` writes the H.264 video,
the ground-truth csv and the well crops as a user would hand them over.

Only numpy is imported here; PyAV is imported when a sample is written.
"""

from .cladonema import (
    BODYPARTS,
    SampleSpec,
    ground_truth,
    render_frame,
    render_frames,
    well_rois,
)
from .writer import (
    SampleFiles,
    frame_rate,
    load_ground_truth,
    load_spec,
    load_wells,
    write_sample,
)

__all__ = [
    "BODYPARTS",
    "SampleFiles",
    "SampleSpec",
    "frame_rate",
    "ground_truth",
    "load_ground_truth",
    "load_spec",
    "load_wells",
    "render_frame",
    "render_frames",
    "well_rois",
    "write_sample",
]
