"""The Qt-free state behind the "Crop & contrast" dock.

The dock draws ROIs as napari rectangles and previews the contrast on the frame
being shown; everything it computes lives here, so it is tested without a
screen: rectangles (napari vertices) to snapped, uniquely named ROIs, fitted
mappings cached per ROI geometry (moving one well refits only that well), the
preview frame exactly as the export maps it, and one export entry point for
the three buttons (this video, a batch, a recipe applied to new videos).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.io.rois import load_rois
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES, VideoError
from napari_dlc_workbench.model.roi import ROI, ROIError, ROISet, next_roi_name
from napari_dlc_workbench.process.contrast import ContrastMapping, ContrastSettings
from napari_dlc_workbench.process.crop_batch import (
    BatchProgress,
    BatchReport,
    crop_batch,
    link_crops,
)
from napari_dlc_workbench.process.crop_export import ExportOptions, fit_roi_mappings, load_recipe

__all__ = [
    "ExportJob",
    "FitCancelled",
    "MappingCache",
    "add_roi",
    "default_out_dir",
    "fit_missing",
    "preview_frame",
    "read_roi_file",
    "rename_roi",
    "rois_from_shapes",
    "run_export",
    "same_geometry",
    "video_source",
]

# BT.601 luma weights: the Y that 4:2:0 video stores and the export maps.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def video_source(metadata: Mapping[str, Any]) -> Path | None:
    """Return the video file behind a frames layer opened by this plugin, else None.

    Parameters
    ----------
    metadata : mapping
        The layer's ``metadata`` (the reader puts ``{"kind": "frames", "source": ...}``
        under ``"workbench"``).
    """
    info = metadata.get("workbench", {}) if isinstance(metadata, Mapping) else {}
    source = info.get("source") if isinstance(info, Mapping) else None
    if info.get("kind") != "frames" or not source:
        return None
    path = Path(source)
    return path if path.suffix.lower() in VIDEO_SUFFIXES else None


def _fit(roi: ROI, frame_size: tuple[int, int], fixed: tuple[int, int] | None) -> ROI:
    if fixed is not None:
        # Keep the rectangle where the user put it (its centre), at the fixed size.
        w, h = (max(2, s - s % 2) for s in fixed)
        cx, cy = roi.x + roi.w / 2, roi.y + roi.h / 2
        roi = replace(roi, x=round(cx - w / 2), y=round(cy - h / 2), w=w, h=h)
    return roi.snapped_inside(*frame_size, even=True)


def _usable_name(name: object) -> str | None:
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return None
    try:
        return ROI(str(name), 0, 0, 1, 1).name
    except ROIError:
        return None


def rois_from_shapes(
    shapes: Sequence[np.ndarray],
    names: Sequence[object],
    frame_size: tuple[int, int],
    fixed_size: tuple[int, int] | None = None,
) -> ROISet:
    """Turn a Shapes layer's vertices and names into ROIs that an export accepts.

    Each shape becomes its bounding rectangle, then (optionally) the fixed size
    around its centre, then is moved inside the frame with even position and
    size (4:2:0 video halves the colour resolution). Names that are missing,
    repeated or unusable in a file name get the next free ``roiN``.

    Parameters
    ----------
    shapes : sequence of numpy.ndarray
        ``(n_vertices, D)`` vertices, the last two columns ``row, col``.
    names : sequence
        One name per shape (the layer's ``name`` feature).
    frame_size : tuple of int
        ``(width, height)`` of the video.
    fixed_size : tuple of int, optional
        ``(width, height)`` every ROI gets, rounded down to even numbers.

    Returns
    -------
    ROISet
        In the shapes' order, with ``frame_size`` set.
    """
    valid = [_usable_name(name) for name in names]
    taken = {name for name in valid if name is not None}
    rois: list[ROI] = []
    for vertices, name in zip(shapes, valid, strict=True):
        points = np.asarray(vertices, dtype=float)
        rows, cols = points[:, -2], points[:, -1]
        x, y = round(cols.min()), round(rows.min())
        # A click-sized rectangle still becomes a (small) ROI rather than an error.
        w, h = max(round(cols.max()) - x, 2), max(round(rows.max()) - y, 2)
        if name is None or name in {r.name for r in rois}:
            name = next_roi_name(taken)
        taken.add(name)
        rois.append(_fit(ROI(name, x, y, w, h), frame_size, fixed_size))
    return ROISet(tuple(rois), frame_size)


def same_geometry(shapes: Sequence[np.ndarray], shape_types: Sequence[str], rois: ROISet) -> bool:
    """Return True when the shapes already are exactly the ROIs' rectangles."""
    if len(shapes) != len(rois) or any(t != "rectangle" for t in shape_types):
        return False
    return all(
        np.asarray(v).shape == (4, 2) and np.array_equal(np.asarray(v, float), roi.corners())
        for v, roi in zip(shapes, rois, strict=True)
    )


def add_roi(
    rois: ROISet,
    centre: tuple[float, float],
    size: tuple[int, int],
    frame_size: tuple[int, int],
) -> ROI:
    """Return a new ROI, named ``roiN``, of ``size`` centred on ``centre`` (row, col).

    It is snapped inside the frame with even position and size.
    """
    w, h = size
    row, col = centre
    roi = ROI(next_roi_name(r.name for r in rois), round(col - w / 2), round(row - h / 2), w, h)
    return _fit(roi, frame_size, None)


def rename_roi(rois: ROISet, index: int, name: str) -> ROISet:
    """Return the set with ROI ``index`` renamed.

    Raises
    ------
    ROIError
        If the name cannot be part of a file name or is taken by another ROI.
    """
    items = list(rois.rois)
    items[index] = replace(items[index], name=name)
    return ROISet(tuple(items), rois.frame_size)


def read_roi_file(path: str | os.PathLike[str]) -> ROISet:
    """Read ROIs from a saved ROI set or from an earlier export's ``.crops.json``."""
    path = Path(path)
    if path.name.endswith(".crops.json"):
        return load_recipe(path)[0]
    return load_rois(path)


def default_out_dir(video: Path | None, config: Path | None) -> Path | None:
    """Where clips go unless the user says otherwise.

    A DLC project's ``videos/`` folder when a ``config.yaml`` is chosen (DLC
    looks for its videos there), else ``crops/`` next to the raw video.
    """
    if config is not None:
        return config.parent / "videos"
    return None if video is None else video.parent / "crops"


class FitCancelled(RuntimeError):
    """Fitting the contrast was cancelled while sample frames were being decoded."""


class _Frames:
    # What fit_roi_mappings reads from a VideoReader, checking for a cancel before
    # each decode (decoding is the slow part) and counting for a progress bar.
    def __init__(
        self,
        reader: Any,
        cancel: Callable[[], bool] | None,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.reader, self.cancel, self.progress, self.done = reader, cancel, progress, 0
        self.index = reader.index

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, number: int) -> np.ndarray:
        if self.cancel is not None and self.cancel():
            raise FitCancelled("contrast fit cancelled")
        frame = self.reader[number]
        self.done += 1
        if self.progress is not None:
            self.progress(self.done)
        return frame


class MappingCache:
    """Fitted contrast mappings of one video, keyed by ROI geometry and settings.

    A mapping depends only on the rectangle and the settings (the sample is
    fixed by the video), so renaming a ROI keeps its mapping and moving one
    ROI refits only that ROI. Safe to share between the GUI and one worker.
    """

    def __init__(self) -> None:
        self._mappings: dict[tuple[int, int, int, int, ContrastSettings], ContrastMapping] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(roi: ROI, settings: ContrastSettings) -> tuple[int, int, int, int, ContrastSettings]:
        return roi.x, roi.y, roi.w, roi.h, settings

    def missing(self, rois: ROISet, settings: ContrastSettings) -> ROISet:
        """Return the ROIs that have no mapping for ``settings`` yet."""
        with self._lock:
            todo = [r for r in rois if self._key(r, settings) not in self._mappings]
        return ROISet(tuple(todo))

    def store(
        self, rois: ROISet, settings: ContrastSettings, mappings: Mapping[str, ContrastMapping]
    ) -> None:
        """Remember ``mappings`` (ROI name to mapping) fitted with ``settings``."""
        with self._lock:
            for roi in rois:
                self._mappings[self._key(roi, settings)] = mappings[roi.name]

    def lookup(self, rois: ROISet, settings: ContrastSettings) -> dict[str, ContrastMapping]:
        """Return the known mappings, by ROI name."""
        with self._lock:
            found = {r.name: self._mappings.get(self._key(r, settings)) for r in rois}
        return {name: m for name, m in found.items() if m is not None}


def fit_missing(
    reader: Any,
    rois: ROISet,
    settings: ContrastSettings,
    cache: MappingCache,
    *,
    progress: Callable[[int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict[str, ContrastMapping]:
    """Fit the mappings ``cache`` lacks, exactly as the export will, and return all of them.

    Parameters
    ----------
    reader : VideoReader
        A gray reader of the video; keep it between calls, its frame cache makes a
        refit after a settings change cost only the histograms.
    rois : ROISet
        The regions.
    settings : ContrastSettings
        Method and parameters.
    cache : MappingCache
        Mappings fitted before for this video.
    progress : callable, optional
        ``progress(frames_decoded)``.
    cancel : callable, optional
        Polled before each sample frame is decoded.

    Returns
    -------
    dict
        ROI name to mapping, for every ROI.

    Raises
    ------
    FitCancelled
        If ``cancel`` returned True.
    """
    todo = cache.missing(rois, settings)
    if len(todo):
        cache.store(
            todo, settings, fit_roi_mappings(_Frames(reader, cancel, progress), todo, settings)
        )
    return cache.lookup(rois, settings)


def preview_frame(
    frame: np.ndarray, rois: ROISet, mappings: Mapping[str, ContrastMapping]
) -> np.ndarray:
    """Return the frame with every ROI's intensities mapped as its exported clip will be.

    The export maps the luma and keeps the colour planes, so an RGB crop gets
    ``mapped(Y) - Y`` added to each channel (for a grey recording, R = G = B = Y
    and that is the mapped grey). Pixels outside the ROIs are unchanged.

    Parameters
    ----------
    frame : numpy.ndarray
        ``(H, W)`` grey or ``(H, W, 3)`` RGB uint8, as napari shows it.
    rois : ROISet
        The regions (inside the frame).
    mappings : mapping
        ROI name to its mapping; ROIs without one are left as they are.

    Returns
    -------
    numpy.ndarray
        A new uint8 array shaped like ``frame``.
    """
    out = np.array(frame, dtype=np.uint8, copy=True)
    for roi in rois:
        mapping = mappings.get(roi.name)
        if mapping is None or mapping.is_identity:
            continue
        crop = out[roi.slices]
        if crop.ndim == 2:
            out[roi.slices] = mapping.apply(crop)
            continue
        luma = np.rint(crop[..., :3] @ _LUMA).astype(np.uint8)
        delta = mapping.apply(luma).astype(np.int16) - luma
        shifted = crop[..., :3].astype(np.int16) + delta[..., None]
        crop[..., :3] = np.clip(shifted, 0, 255).astype(np.uint8)
    return out


@dataclass(frozen=True)
class ExportJob:
    """One press of an export button.

    Attributes
    ----------
    videos : tuple of Path
        Recordings of the same rig.
    rois : ROISet
        The regions.
    out_dir : Path
        Folder for the clips (or links).
    contrast : ContrastSettings or None
        None (or method ``"none"``) writes plain crops.
    options : ExportOptions
        Codec and naming.
    config : Path or None
        DLC ``config.yaml`` whose ``video_sets`` get the clips.
    link_only : bool
        No re-encode: link the raw video per ROI and let DLC crop it with the ROI's
        crop string (needs ``config``; no contrast possible).
    """

    videos: tuple[Path, ...]
    rois: ROISet
    out_dir: Path
    contrast: ContrastSettings | None = None
    options: ExportOptions = ExportOptions()
    config: Path | None = None
    link_only: bool = False

    def __post_init__(self) -> None:
        if self.link_only and self.config is None:
            raise ValueError("no re-encode needs a config.yaml: DLC applies the crop strings")
        if not len(self.rois):
            raise ROIError("draw or load at least one ROI first")
        if self.contrast is not None and self.contrast.method == "none":
            object.__setattr__(self, "contrast", None)


def run_export(
    job: ExportJob,
    *,
    progress: BatchProgress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[BatchReport, str]:
    """Run an export job; failures are collected per video, never raised.

    Returns
    -------
    tuple
        The :class:`BatchReport` and a summary for the dock's status area.
    """
    if not job.link_only:
        report = crop_batch(
            job.videos,
            job.rois,
            job.out_dir,
            contrast=job.contrast,
            options=job.options,
            config=job.config,
            progress=progress,
            cancel=cancel,
        )
        summary = report.summary()
        if report.registered:
            summary += f"\n{len(report.registered)} clips added to {job.config}"
        return report, summary
    report = BatchReport()
    assert job.config is not None
    for index, video in enumerate(job.videos):
        if cancel is not None and cancel():
            report.cancelled = True
            break
        try:
            report.registered.extend(link_crops(video, job.rois, job.out_dir, job.config))
        except (VideoError, ROIError, OSError, ValueError) as exc:
            report.failed[video] = str(exc)
        if progress is not None:
            progress(index, len(job.videos), 1, 1, video)
    lines = [
        f"{len(report.registered)} links registered in {job.config.name} with DLC crop strings, "
        f"{len(report.failed)} videos failed"
    ]
    lines += [f"  {video.name}: {error}" for video, error in report.failed.items()]
    if report.cancelled:
        lines.append("cancelled: run again to continue")
    return report, "\n".join(lines)
