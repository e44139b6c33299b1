"""Reviewing an outlier queue: where the user is, what they changed, saved on every change.

An :class:`OutlierSession` wraps the :class:`~napari_dlc_workbench.model.outliers.OutlierQueue`
of one predictions file with what the Outliers dock needs and nothing Qt or napari:

- the predicted points of every frame (full-frame pixels, queue keypoint order);
- the current frame and the rows shown (filters by reason and by bodypart);
- per frame and keypoint a state: ``predicted`` (untouched), ``accepted`` (looked right),
  ``moved`` (dragged to the right place) or ``deleted`` (not visible);
- frames accepted for export and frames already exported (per DLC iteration).

Everything is kept in the queue's JSON sidecar (``<predictions stem>.outliers.json``):
a row's draft points live in ``QueueRow.points`` from the first edit on (only rows whose
status is ``accepted`` are exported), and what the queue model has no field for (position,
filters, accepted keypoints, exported frames) under the sidecar's extra ``"review"`` key,
which :func:`~napari_dlc_workbench.process.outliers.load_queue` ignores. The session saves
after every change, atomically, so closing napari at any moment loses nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.io.atomic import atomic_write_text
from napari_dlc_workbench.model.outliers import (
    SCORE_KINDS,
    OutlierQueue,
    QueueRow,
)

__all__ = [
    "POINT_STATES",
    "REVIEW_KEY",
    "OutlierSession",
]

POINT_STATES: tuple[str, ...] = ("predicted", "accepted", "moved", "deleted")
"""A keypoint's review state on one frame."""
REVIEW_KEY = "review"
_MOVED_PX = 1e-3  # below this a "drag" is a click that did not move the point


class OutlierSession:
    """The review of one predictions file's outlier queue.

    Parameters
    ----------
    queue : OutlierQueue
        The queue (its rows carry the user's points and statuses).
    predicted : ndarray, shape (n_frames, n_keypoints, 3)
        Predicted x, y, likelihood on the full frame, keypoints in ``queue.keypoints``
        order (see :func:`predicted_points`).
    path : str or PathLike
        The sidecar the session saves to.
    review : Mapping, optional
        The sidecar's ``"review"`` dict, to restore a previous session.

    Attributes
    ----------
    frame : int or None
        The queue frame being reviewed.
    reasons, bodyparts : set of str
        Filters: only rows flagged by one of these reasons / naming one of these
        bodyparts are stepped through (empty: no filter).
    exported : dict
        Frame -> the DLC iteration it was exported into.
    """

    def __init__(
        self,
        queue: OutlierQueue,
        predicted: np.ndarray,
        path: str | os.PathLike[str],
        review: Mapping[str, Any] | None = None,
    ) -> None:
        if predicted.ndim != 3 or predicted.shape[1] != len(queue.keypoints):
            raise ValueError(
                f"predicted points have shape {predicted.shape}, expected (frames, "
                f"{len(queue.keypoints)}, 3)"
            )
        self.queue, self.predicted, self.path = queue, predicted, Path(path)
        review = review or {}
        frames = set(queue.frames)
        frame = review.get("frame")
        self.frame: int | None = int(frame) if frame is not None and frame in frames else None
        self.reasons: set[str] = {str(r) for r in review.get("reasons") or []}
        self.bodyparts: set[str] = {str(b) for b in review.get("bodyparts") or []}
        self.confirmed: dict[int, set[str]] = {
            int(f): {str(k) for k in ks} for f, ks in (review.get("accepted_points") or {}).items()
        }
        self.exported: dict[int, int] = {
            int(f): int(i) for f, i in (review.get("exported") or {}).items()
        }

    # -- rows and stepping ---------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """Keypoint labels (``bodypart`` or ``individual/bodypart``), in layer order."""
        return list(self.queue.keypoints)

    def row(self, frame: int) -> QueueRow:
        """Return the queue row of ``frame`` (KeyError if it is not queued)."""
        return self.queue.row(frame)

    def shown(self, row: QueueRow) -> bool:
        """Whether ``row`` passes the reason and bodypart filters."""
        by_reason = not self.reasons or bool(self.reasons & set(row.flagged_by))
        by_part = not self.bodyparts or bool(self.bodyparts & set(row.bodyparts))
        return by_reason and by_part

    def rows(self) -> list[QueueRow]:
        """Rows that pass the filters, best first."""
        return [r for r in self.queue.rows if self.shown(r)]

    def filter_choices(self) -> tuple[list[str], list[str]]:
        """Return the reasons and the keypoints that flag at least one row."""
        rows = self.queue.rows
        reasons = [k for k in SCORE_KINDS if any(k in r.flagged_by for r in rows)]
        return reasons, [k for k in self.labels if any(k in r.bodyparts for r in rows)]

    def set_filters(self, reasons: Iterable[str] = (), bodyparts: Iterable[str] = ()) -> None:
        """Show only rows flagged by one of ``reasons`` and naming one of ``bodyparts``."""
        self.reasons, self.bodyparts = set(reasons), set(bodyparts)

    def go_to(self, frame: int) -> int:
        """Make queue frame ``frame`` the current one (KeyError if it is not queued)."""
        self.frame = self.row(frame).frame
        return self.frame

    def step(self, delta: int) -> int | None:
        """Move to the next (``delta`` > 0) or previous shown row in queue order.

        Returns
        -------
        int or None
            The new current frame; None when there is no shown row that way (the
            current frame does not change then).
        """
        rows = self.queue.rows
        frames = self.queue.frames
        start = frames.index(self.frame) if self.frame is not None else -1
        if self.frame is None and delta < 0:
            start = len(rows)
        order = range(start + 1, len(rows)) if delta > 0 else range(start - 1, -1, -1)
        for i in order:
            if self.shown(rows[i]):
                self.frame = rows[i].frame
                return self.frame
        return None

    # -- points --------------------------------------------------------------------------
    def points(self, frame: int) -> np.ndarray:
        """Return the current x, y of each keypoint on ``frame`` (NaN: not visible), (K, 2)."""
        xy = self.predicted[frame, :, :2].copy()
        stored = self.row(frame).points
        if stored is not None:
            for k, label in enumerate(self.labels):
                if label in stored:
                    point = stored[label]
                    xy[k] = (np.nan, np.nan) if point is None else point
        return xy

    def likelihood(self, frame: int) -> np.ndarray:
        """Return the network's likelihood of each keypoint on ``frame``."""
        return self.predicted[frame, :, 2].copy()

    def states(self, frame: int) -> list[str]:
        """Review state (one of :data:`POINT_STATES`) of each keypoint on ``frame``."""
        xy, before = self.points(frame), self.predicted[frame, :, :2]
        confirmed = self.confirmed.get(frame, set())
        states = []
        for k, label in enumerate(self.labels):
            if not np.isfinite(xy[k]).all():
                states.append("deleted")
            elif not np.isfinite(before[k]).all() or np.abs(xy[k] - before[k]).max() > _MOVED_PX:
                states.append("moved")
            else:
                states.append("accepted" if label in confirmed else "predicted")
        return states

    def editable(self, frame: int) -> bool:
        """Whether ``frame`` may change: not once exported (it is a DLC label then)."""
        return frame not in self.exported

    def _check_editable(self, frame: int) -> None:
        if not self.editable(frame):
            raise ValueError(
                f"frame {frame} was exported into iteration {self.exported[frame]}; "
                "edit it as a label (Labeling dock) instead"
            )

    def set_points(self, frame: int, present: Mapping[int, Sequence[float]]) -> bool:
        """Record the points of ``frame`` as the layer now has them.

        Parameters
        ----------
        frame : int
            A queue frame.
        present : Mapping
            Keypoint index -> ``(x, y)`` of each point on the layer; keypoints absent
            from it are not visible (deleted).

        Returns
        -------
        bool
            Whether anything changed.

        Raises
        ------
        ValueError
            If the frame was exported already.
        """
        self._check_editable(frame)
        xy = np.full((len(self.labels), 2), np.nan)
        for k, point in present.items():
            xy[int(k)] = [float(point[0]), float(point[1])]
        before = self.points(frame)
        if np.array_equal(xy, before, equal_nan=True):
            return False
        self._store(frame, xy)
        return True

    def _store(self, frame: int, xy: np.ndarray) -> None:
        row = self.row(frame)
        unchanged = np.array_equal(xy, self.predicted[frame, :, :2], equal_nan=True)
        if unchanged and row.status != "accepted":
            row.points = None  # back to the prediction: nothing to keep
            return
        points = {
            label: (None if not np.isfinite(p).all() else [float(p[0]), float(p[1])])
            for label, p in zip(self.labels, xy, strict=True)
        }
        if row.status == "accepted":
            row.accept(points)
        else:
            row.points = points

    def delete_points(self, frame: int, keypoints: Iterable[int]) -> bool:
        """Mark ``keypoints`` (indices) not visible on ``frame``; return whether it changed."""
        self._check_editable(frame)
        xy = self.points(frame)
        xy[list(keypoints)] = np.nan
        if np.array_equal(xy, self.points(frame), equal_nan=True):
            return False
        self._store(frame, xy)
        return True

    def accept_points(self, frame: int, keypoints: Iterable[int]) -> bool:
        """Say the predicted ``keypoints`` (indices) of ``frame`` are right as they are."""
        self._check_editable(frame)
        labels = {self.labels[int(k)] for k in keypoints}
        confirmed = self.confirmed.setdefault(frame, set())
        if labels <= confirmed:
            return False
        confirmed |= labels
        return True

    def accept_frame(self, frame: int) -> bool:
        """Accept ``frame`` with its current points: it will be exported as labels."""
        self._check_editable(frame)
        row = self.row(frame)
        xy = self.points(frame)
        was = (row.status, row.points)
        row.accept(
            {
                label: (None if not np.isfinite(p).all() else [float(p[0]), float(p[1])])
                for label, p in zip(self.labels, xy, strict=True)
            }
        )
        return (row.status, row.points) != was

    def reset_frame(self, frame: int) -> bool:
        """Forget every edit and the acceptance of ``frame``: back to the prediction."""
        self._check_editable(frame)
        row = self.row(frame)
        changed = row.status != "pending" or row.points is not None or frame in self.confirmed
        row.status, row.points = "pending", None
        self.confirmed.pop(frame, None)
        return changed

    # -- counters and export -------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Frames in the queue, shown, accepted, exported, in progress; points moved/deleted."""
        rows = self.queue.rows
        moved = deleted = 0
        for r in rows:
            if r.points is not None:
                moved += self.states(r.frame).count("moved")
                gone = ~np.isfinite(self.points(r.frame)[:, 0])
                deleted += int((gone & np.isfinite(self.predicted[r.frame, :, 0])).sum())
        return {
            "frames": len(rows),
            "shown": len(self.rows()),
            "accepted": sum(r.status == "accepted" for r in rows),
            "exported": sum(r.frame in self.exported for r in rows),
            "in_progress": sum(r.status == "pending" and r.points is not None for r in rows),
            "moved": moved,
            "deleted": deleted,
        }

    def status_text(self, frame: int) -> str:
        """Return a row's review status in words ("" while nobody has touched it)."""
        row = self.row(frame)
        if frame in self.exported:
            return f"exported (iteration {self.exported[frame]})"
        if row.status != "pending":
            return row.status
        return "edited" if row.points is not None or frame in self.confirmed else ""

    def frame_text(self, frame: int) -> str:
        """Return the frame, its status and each keypoint's state, for the dock."""
        states = " · ".join(
            f"{k}: {s}" for k, s in zip(self.labels, self.states(frame), strict=True)
        )
        return f"Frame {frame} ({self.status_text(frame) or 'to review'})\n{states}"

    def progress(self) -> str:
        """One line for the dock: frames corrected, exported and still in progress."""
        c = self.counts()
        text = f"{c['accepted']} of {c['frames']} frames corrected"
        if c["exported"]:
            text += f" ({c['exported']} exported)"
        if c["in_progress"]:
            text += f", {c['in_progress']} in progress"
        return text + f"; points moved: {c['moved']}, not visible: {c['deleted']}"

    def to_export(self) -> OutlierQueue:
        """Return a copy of the queue holding only accepted frames not exported yet."""
        return self.queue.with_rows(
            r for r in self.queue.accepted() if r.frame not in self.exported
        )

    def mark_exported(self, frames: Iterable[int], iteration: int) -> None:
        """Record that ``frames`` are labels of DLC ``iteration`` now (they lock)."""
        for frame in frames:
            self.exported[int(frame)] = int(iteration)

    # -- persistence ---------------------------------------------------------------------
    def review(self) -> dict[str, Any]:
        """Return the sidecar's ``"review"`` dict."""
        return {
            "frame": self.frame,
            "reasons": sorted(self.reasons),
            "bodyparts": sorted(self.bodyparts),
            "accepted_points": {str(f): sorted(ks) for f, ks in sorted(self.confirmed.items())},
            "exported": {str(f): i for f, i in sorted(self.exported.items())},
        }

    def save(self) -> Path:
        """Write the queue and the review to the sidecar atomically (backups kept)."""
        data = self.queue.to_dict()
        data[REVIEW_KEY] = self.review()
        return atomic_write_text(self.path, json.dumps(data, indent=1, allow_nan=False) + "\n")
