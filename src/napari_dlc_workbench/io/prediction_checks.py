"""Refuse predictions that do not belong where they are opened: other bodyparts, other video."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_dlc_workbench.io.labels import LabelsError, keypoint_differences
from napari_dlc_workbench.io.predictions import Predictions
from napari_dlc_workbench.model.project import Project

__all__ = ["check_frame_count", "check_keypoints"]


def check_keypoints(preds: Predictions, project: Project) -> None:
    """Refuse predictions whose keypoints are not exactly the project's.

    Parameters
    ----------
    preds : Predictions
        The predictions.
    project : Project
        The project (``config.yaml``) they are shown with.

    Raises
    ------
    LabelsError
        Naming the file and listing missing and unexpected keypoints.
    """
    table = preds.table
    if table.multianimal != project.multianimal:
        kinds = ("multi-animal", "single-animal")
        raise LabelsError(
            preds.path,
            f"predictions are {kinds[not table.multianimal]} but the project "
            f"{project.config_path} is {kinds[not project.multianimal]}",
        )
    if problems := keypoint_differences(table.keypoints, project.keypoints):
        raise LabelsError(
            preds.path, f"bodyparts do not match the project {project.config_path} ({problems})"
        )


def check_frame_count(
    preds: Predictions, n_frames: int, video: str | os.PathLike[str] | None = None
) -> None:
    """Refuse predictions that do not cover exactly the frames of the video shown.

    Parameters
    ----------
    preds : Predictions
        The predictions.
    n_frames : int
        Frames of the open video (its layer's first axis, or the container's count).
    video : str or PathLike, optional
        The video's name, for the message.

    Raises
    ------
    LabelsError
        If the file's frames are not ``0 .. n_frames - 1``: predictions of another video.
    """
    frames = np.asarray(preds.table.index, dtype=np.int64)
    covered = int(frames.max()) + 1 if len(frames) else 0
    if covered == n_frames and len(frames) == n_frames:
        return
    where = f"the video {Path(video).name}" if video is not None else "the open video"
    raise LabelsError(
        preds.path,
        f"predictions have {len(frames)} frames but {where} has {n_frames}: "
        "are these the predictions of another video?",
    )
