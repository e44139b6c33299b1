"""Open, score again and export an outlier review (the session itself: ``outlier_session``).

:func:`open_session` restores a review from its sidecar or scores the predictions anew,
keeping the frames already reviewed (:func:`merge_reviewed`); :func:`export_queue` sends
the accepted frames to the DLC project through :mod:`~napari_dlc_workbench.process.corrections`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.io.predictions import Predictions, read_predictions
from napari_dlc_workbench.io.video import probe_video
from napari_dlc_workbench.model.outliers import OutlierQueue, parse_keypoint_label
from napari_dlc_workbench.process.corrections import (
    ExportSummary,
    corrections_from_queue,
    export_corrections,
)
from napari_dlc_workbench.process.outlier_scores import OutlierSettings
from napari_dlc_workbench.process.outlier_session import REVIEW_KEY, OutlierSession
from napari_dlc_workbench.process.outliers import find_outliers, load_queue, sidecar_path

__all__ = ["export_queue", "export_text", "merge_reviewed", "open_session", "predicted_points"]


def export_queue(config: str | os.PathLike[str], queue: OutlierQueue) -> ExportSummary:
    """Export a queue's accepted rows into the DLC project as its next iteration.

    Slow (decodes the frames, writes images): call it off the GUI thread.

    Parameters
    ----------
    config : str or PathLike
        The project's ``config.yaml``.
    queue : OutlierQueue
        Rows to export (:meth:`OutlierSession.to_export`), with its video.

    Returns
    -------
    ExportSummary

    Raises
    ------
    CorrectionsError, ConfigError, LabelsError, VideoError
        Before anything is written (see
        :func:`~napari_dlc_workbench.process.corrections.export_corrections`).
    """
    return export_corrections(config, [corrections_from_queue(queue)])


def export_text(summary: ExportSummary) -> str:
    """Say what an export wrote: frames, iteration, files (relative to the project)."""
    before, after = summary.iteration
    project = Path(summary.config).parent
    lines = []
    for video in summary.videos:
        images = len(video["images_written"]) + len(video["images_kept"])
        lines.append(
            f"{Path(video['folder']).name}: {images} frames, {len(video['images_written'])} "
            f"images written, {video['rows_added']} labelled frames added, "
            f"{video['rows_replaced']} replaced."
        )
    files = [p.relative_to(project) if p.is_relative_to(project) else p for p in summary.files]
    lines.append(f"Iteration {before} → {after}. Files: {', '.join(map(str, files))}.")
    return "\n".join(lines)


def predicted_points(predictions: Predictions, keypoints: Sequence[str]) -> np.ndarray:
    """Predictions as a dense ``(n_frames, K, 3)`` array on the full frame.

    Parameters
    ----------
    predictions : Predictions
        The file read.
    keypoints : sequence of str
        Queue keypoint labels; the array follows their order.

    Returns
    -------
    ndarray
        x, y, likelihood; rows are frame numbers (NaN for frames the file lacks);
        the crop offset of a cropped analysis is added, as the corrections expect.

    Raises
    ------
    ValueError
        If a keypoint is not in the predictions.
    """
    table = predictions.table
    columns = []
    for label in keypoints:
        individual, bodypart = parse_keypoint_label(label, table.multianimal)
        try:
            columns.append(table.column(bodypart, individual))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{predictions.path}: no keypoint {label!r} ({exc})") from exc
    frames = np.asarray(table.index, dtype=np.int64)
    dense = np.full((int(frames.max()) + 1 if len(frames) else 0, len(columns), 3), np.nan)
    dense[frames] = table.data[:, columns]
    dx, dy = predictions.crop_offset
    dense[..., 0] += dx
    dense[..., 1] += dy
    return dense


def merge_reviewed(new: OutlierQueue, old: OutlierQueue) -> OutlierQueue:
    """Carry the reviewed rows of ``old`` into a freshly computed ``new`` queue.

    A row of ``old`` that was accepted, rejected or edited keeps its status and points:
    in place when ``new`` ranks the same frame, appended after the new rows otherwise,
    so recomputing the queue (other thresholds) never drops a correction.

    Returns
    -------
    OutlierQueue
        ``new``, changed in place.
    """
    reviewed = {r.frame: r for r in old.rows if r.status != "pending" or r.points is not None}
    for row in new.rows:
        if (done := reviewed.pop(row.frame, None)) is not None:
            row.status, row.points = done.status, done.points
    new.rows.extend(sorted(reviewed.values(), key=lambda r: r.frame))
    return new


def _read_review(path: Path) -> dict[str, Any]:
    try:
        review = json.loads(path.read_text(encoding="utf-8")).get(REVIEW_KEY)
    except (OSError, ValueError, AttributeError):
        return {}
    return review if isinstance(review, dict) else {}


def open_session(
    predictions: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    video: str | os.PathLike[str] | None = None,
    settings: OutlierSettings | None = None,
    quota: int | None = None,
    recompute: bool = False,
) -> OutlierSession:
    """Open the review of a predictions file: its saved sidecar, or a new queue.

    Slow (reads the predictions, may score every frame): call it off the GUI thread.

    Parameters
    ----------
    predictions : str or PathLike
        ``<video>DLC_<scorer>.h5``.
    config : str or PathLike, optional
        The project's ``config.yaml`` (its labels give the shape reference).
    video : str or PathLike, optional
        The analysed video; found beside the predictions or in the project otherwise.
    settings : OutlierSettings, optional
        Thresholds of a new queue.
    quota : int, optional
        Keep this many rows of a new queue (None: every flagged frame).
    recompute : bool
        Score again although a sidecar exists; its reviewed rows are kept
        (:func:`merge_reviewed`).

    Returns
    -------
    OutlierSession
        Saved to the sidecar already.

    Raises
    ------
    LabelsError, OutlierQueueError, ConfigError, VideoError, ValueError
        Unreadable predictions, sidecar, config or video, or a video whose frame count
        is not the predictions'; nothing is written then.
    """
    predictions = Path(predictions)
    path = sidecar_path(predictions)
    pred = read_predictions(predictions)
    old, review = None, {}
    if path.exists():
        old, review = load_queue(path), _read_review(path)
    # A sidecar made from other predictions of the same name (the video analysed again)
    # is scored again; its corrections are kept all the same.
    stale = old is not None and (old.scorer != pred.table.scorer or old.n_frames != len(pred.table))
    if old is None or recompute or stale:
        queue = find_outliers(
            predictions, config=config, video=video, settings=settings, quota=quota
        )
        if old is not None:
            queue = merge_reviewed(queue, old)
    else:
        queue = old
    queue.predictions = str(predictions)  # the project may have moved since it was saved
    if video is not None:
        queue.video = str(video)
    elif queue.video is not None and not Path(queue.video).is_file():
        queue.video = None
    if queue.video is not None:
        # Frames of another video would be exported as this one's labels: refuse.
        n_video = probe_video(queue.video).n_frames  # 0: the container does not say
        if n_video and n_video != len(pred.table):
            raise ValueError(
                f"{predictions}: predictions have {len(pred.table)} frames but the video "
                f"{queue.video} has {n_video}: are these the predictions of another video?"
            )
    session = OutlierSession(queue, predicted_points(pred, queue.keypoints), path, review)
    if session.frame is None and queue.rows:
        session.frame = queue.rows[0].frame
    session.save()
    return session
