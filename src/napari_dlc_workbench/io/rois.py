"""ROI sets on disk (JSON), saved per video or per rig."""

from __future__ import annotations

import json
import os
from pathlib import Path

from napari_dlc_workbench.io.atomic import atomic_write_text
from napari_dlc_workbench.model.roi import ROIError, ROISet

__all__ = ["load_rois", "save_rois"]


def save_rois(rois: ROISet, path: str | os.PathLike[str]) -> Path:
    """Write an ROI set as JSON, atomically.

    Parameters
    ----------
    rois : ROISet
        The regions.
    path : str or PathLike
        Destination ``.json``.

    Returns
    -------
    Path
        ``path``.
    """
    text = json.dumps(rois.to_dict(), indent=2, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)


def load_rois(path: str | os.PathLike[str]) -> ROISet:
    """Read an ROI set written by :func:`save_rois` (or a bare list of ROIs).

    Parameters
    ----------
    path : str or PathLike
        The ``.json`` file.

    Returns
    -------
    ROISet

    Raises
    ------
    ROIError
        Naming the file when it is missing or not a valid ROI set.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ROIError(f"{path}: cannot read ROIs ({exc})") from exc
    try:
        return ROISet.from_dict(data)
    except ROIError as exc:
        raise ROIError(f"{path}: {exc}") from exc
