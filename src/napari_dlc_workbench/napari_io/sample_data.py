"""napari sample data: a synthetic Cladonema recording with its ground truth.

"File › Open Sample › DLC Workbench" shows the small preset as a lazily
rendered stack (frames are drawn when napari asks for them, nothing is
decoded or held in memory up front), the well crops as rectangles and the
exact keypoints of every animal as a Points layer, one individual per well.
"""

from __future__ import annotations

import numpy as np

from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.napari_io.layers import LayerDataTuple, keypoints_layer
from napari_dlc_workbench.sample import (
    BODYPARTS,
    SampleSpec,
    ground_truth,
    render_frame,
    well_rois,
)

__all__ = ["ground_truth_table", "sample_recording"]


def ground_truth_table(spec: SampleSpec) -> KeypointTable:
    """Ground truth of a sample as a multi-animal table, one individual per well.

    Parameters
    ----------
    spec : SampleSpec
        The recording.

    Returns
    -------
    KeypointTable
        Rows are frame numbers, individuals the well names (``#1``...).
    """
    gt = ground_truth(spec)  # (frames, wells, bodyparts, 2)
    names = [name for name, *_ in well_rois(spec)]
    keypoints = [(well, bp) for well in names for bp in BODYPARTS]
    data = np.full((spec.n_frames, len(keypoints), 3), np.nan)
    data[..., :2] = gt.reshape(spec.n_frames, -1, 2)
    return KeypointTable("ground_truth", range(spec.n_frames), keypoints, data, multianimal=True)


def sample_recording(preset: str = "small") -> list[LayerDataTuple]:
    """Layers of a synthetic recording: video, wells and ground-truth keypoints.

    Parameters
    ----------
    preset : str
        ``"tiny"``, ``"small"`` (default) or ``"full"``.

    Returns
    -------
    list of tuple
        Image (lazy dask stack), Shapes (well crops) and Points layer tuples.
    """
    import dask
    import dask.array as da

    spec = SampleSpec.from_name(preset)
    frames = [
        da.from_delayed(
            dask.delayed(render_frame)(spec, i), shape=(spec.height, spec.width), dtype=np.uint8
        )
        for i in range(spec.n_frames)
    ]
    video = da.stack(frames)
    rois = well_rois(spec)
    rectangles = [
        np.array([[y, x], [y, x + w], [y + h, x + w], [y + h, x]], dtype=float)
        for _, x, y, w, h in rois
    ]
    return [
        (video, {"name": f"Cladonema sample ({preset})", "contrast_limits": (0, 255)}, "image"),
        (
            rectangles,
            {
                "name": "wells",
                "shape_type": "rectangle",
                "edge_color": "yellow",
                "face_color": "transparent",
                "edge_width": 2,
                "text": {"string": "{name}", "anchor": "upper_left", "color": "yellow"},
                "features": {"name": [name for name, *_ in rois]},
            },
            "shapes",
        ),
        keypoints_layer(ground_truth_table(spec), kind="ground_truth", name="ground truth"),
    ]
