"""The Qt-free state behind the "Labeling" dock: one click per keypoint.

A labeller places the project's keypoints frame after frame. The session knows
the keypoint order, which keypoints are placed on each frame (recomputed from
the Points layer's ``[frame, y, x]`` data and its ``label``/``id`` features),
which ones the labeller marked "not visible" (so a frame can be complete
without every point; they are NaN in the saved file), the keypoint the next
click places, an undo stack of layer snapshots, whether there are unsaved
changes, and how many clicks and key presses each labelled point cost.

The skeleton and the frame/image checks are in :mod:`.labeling_frames`; where
labels are read from and saved to (and the "not visible" sidecar) in
:mod:`.labeling_store`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_dlc_workbench.process.labeling_frames import as_text

__all__ = [
    "MARKS",
    "MISSING",
    "NOT_VISIBLE",
    "PLACED",
    "ActionCounter",
    "Keypoint",
    "LabelingSession",
    "Snapshot",
]

Keypoint = tuple[str, str]
"""``(individual, bodypart)``; the individual is ``""`` in single-animal projects."""

PLACED = "placed"
NOT_VISIBLE = "not visible"
MISSING = "missing"

MARKS = {PLACED: "✓", NOT_VISIBLE: "✗", MISSING: "·"}
"""Checklist mark of each keypoint state."""


@dataclass(frozen=True)
class Snapshot:
    """What undo restores: the layer's data and features, and the "not visible" marks.

    Attributes
    ----------
    data : ndarray
        Copy of the Points data ``[frame, y, x]``.
    features : Any
        Copy of the layer's features table (opaque here: the view owns its type).
    hidden : frozenset
        ``(frame, keypoint)`` pairs marked not visible.
    """

    data: np.ndarray
    features: Any
    hidden: frozenset[tuple[int, Keypoint]]


@dataclass
class ActionCounter:
    """Clicks and key presses spent, and keypoints labelled with them.

    Attributes
    ----------
    clicks : int
        Mouse clicks that placed or moved a point.
    keys : int
        Key presses handled by the dock.
    points : int
        Keypoints labelled: placed by a click, copied, or marked not visible.
    """

    clicks: int = 0
    keys: int = 0
    points: int = 0

    def per_point(self) -> float | None:
        """Actions (clicks + key presses) per labelled keypoint; None before the first."""
        return (self.clicks + self.keys) / self.points if self.points else None

    def as_dict(self) -> dict[str, float | int | None]:
        """Return the counts and the ratio, for a benchmark's JSON."""
        return {
            "clicks": self.clicks,
            "keys": self.keys,
            "points": self.points,
            "actions_per_point": self.per_point(),
        }


@dataclass
class LabelingSession:
    """Per-frame labelling state of one keypoints layer.

    Parameters
    ----------
    keypoints : sequence of (individual, bodypart)
        The order in which a frame is labelled (the project's keypoint order).
    n_frames : int
        Frames of the image stack the layer sits on.
    hidden : iterable of (frame, keypoint)
        Keypoints already marked not visible.
    undo_limit : int
        Snapshots kept for undo; older ones are forgotten.
    """

    keypoints: Sequence[Keypoint]
    n_frames: int
    hidden: set[tuple[int, Keypoint]] = field(default_factory=set)
    undo_limit: int = 100
    current: Keypoint = field(init=False)
    actions: ActionCounter = field(init=False, default_factory=ActionCounter)
    version: int = field(init=False, default=0)
    saved_version: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.keypoints = [(str(i), str(b)) for i, b in self.keypoints]
        if not self.keypoints:
            raise ValueError("a labelling session needs at least one keypoint")
        self._order = {kp: k for k, kp in enumerate(self.keypoints)}
        self.hidden = {(int(f), (str(k[0]), str(k[1]))) for f, k in self.hidden}
        self.current = self.keypoints[0]
        self._placed: dict[int, set[Keypoint]] = {}
        self._undo: deque[Snapshot] = deque(maxlen=self.undo_limit)

    # -- layer state ---------------------------------------------------------------------
    def sync(self, data: np.ndarray, labels: Any, ids: Any = None) -> None:
        """Recompute which keypoints are placed on each frame from the layer.

        A keypoint placed on a frame is no longer "not visible" there.

        Parameters
        ----------
        data : ndarray, shape (n, 3)
            Points data ``[frame, y, x]``.
        labels, ids : array-like
            The ``label`` and ``id`` features (``ids`` None or ``""`` for
            single-animal projects).
        """
        data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
        frames = np.rint(data[:, 0]).astype(int)
        labels = as_text(labels, len(data))
        ids = as_text(ids, len(data))
        placed: dict[int, set[Keypoint]] = {}
        for f, ind, bp in zip(frames.tolist(), ids, labels, strict=True):
            placed.setdefault(f, set()).add((ind, bp))
        self._placed = placed
        self.hidden = {(f, kp) for f, kp in self.hidden if kp not in placed.get(f, ())}

    def placed(self, frame: int) -> set[Keypoint]:
        """Keypoints with a point on ``frame``."""
        return set(self._placed.get(int(frame), ()))

    def state(self, frame: int, keypoint: Keypoint) -> str:
        """``PLACED``, ``NOT_VISIBLE`` or ``MISSING``."""
        if keypoint in self._placed.get(int(frame), ()):
            return PLACED
        return NOT_VISIBLE if (int(frame), keypoint) in self.hidden else MISSING

    def checklist(self, frame: int) -> list[tuple[Keypoint, str]]:
        """Each keypoint in order with its state on ``frame``.

        Parameters
        ----------
        frame : int
            Frame number.

        Returns
        -------
        list of (keypoint, state)
        """
        return [(kp, self.state(frame, kp)) for kp in self.keypoints]

    def checklist_lines(self, frame: int) -> list[tuple[Keypoint, str]]:
        """Checklist text per keypoint: ``"✓  mouth"``, ``"✗  prey  (not visible)"``.

        Parameters
        ----------
        frame : int
            Frame number.

        Returns
        -------
        list of (keypoint, str)
        """
        lines = []
        for (ind, bp), state in self.checklist(frame):
            note = "" if state == PLACED else f"  ({state})"
            lines.append(((ind, bp), f"{MARKS[state]}  {f'{ind} / {bp}' if ind else bp}{note}"))
        return lines

    def progress(self, frame: int) -> str:
        """One line for the dock: frame, complete frames, saved or not."""
        # 0-based, as napari's slider and DLC's image names count frames.
        saved = "unsaved changes" if self.dirty else "saved"
        done = f"{self.n_complete()}/{self.n_frames} frames complete"
        return f"frame {frame} · {done} · {saved}"

    def is_complete(self, frame: int) -> bool:
        """Whether every keypoint is placed or marked not visible on ``frame``."""
        return all(self.state(frame, kp) != MISSING for kp in self.keypoints)

    def n_complete(self) -> int:
        """Count the complete frames."""
        # Only frames with a point or a mark can be complete: no scan of every frame.
        touched = set(self._placed) | {f for f, _ in self.hidden}
        return sum(self.is_complete(f) for f in touched if 0 <= f < self.n_frames)

    def labelled_frames(self) -> list[int]:
        """Frames with at least one point, in order."""
        return sorted(f for f, kps in self._placed.items() if kps)

    # -- the keypoint the next click places ----------------------------------------------
    def select(self, keypoint: Keypoint) -> Keypoint:
        """Make ``keypoint`` current (e.g. chosen in the dock to re-place it)."""
        keypoint = (str(keypoint[0]), str(keypoint[1]))
        if keypoint not in self._order:
            raise KeyError(f"{keypoint} is not a keypoint of this project")
        self.current = keypoint
        return keypoint

    def step(self, delta: int) -> Keypoint:
        """Move the current keypoint ``delta`` places in the order, wrapping."""
        k = (self._order[self.current] + delta) % len(self.keypoints)
        self.current = self.keypoints[k]
        return self.current

    def advance(self, frame: int) -> Keypoint | None:
        """Make the next keypoint still missing on ``frame`` current.

        The search starts after the current keypoint and wraps around.

        Parameters
        ----------
        frame : int
            The frame being labelled.

        Returns
        -------
        keypoint or None
            The new current keypoint; None when the frame is complete (the
            current keypoint is then left as it was).
        """
        n = len(self.keypoints)
        start = self._order[self.current]
        for k in range(1, n + 1):
            candidate = self.keypoints[(start + k) % n]
            if self.state(frame, candidate) == MISSING:
                self.current = candidate
                return candidate
        return None

    def enter_frame(self, frame: int) -> Keypoint:
        """Make the first missing keypoint of ``frame`` current (kept if the frame is complete)."""
        for kp in self.keypoints:
            if self.state(frame, kp) == MISSING:
                self.current = kp
                break
        return self.current

    # -- frames --------------------------------------------------------------------------
    def _search(self, frame: int, direction: int) -> int | None:
        for k in range(1, self.n_frames):
            candidate = (int(frame) + direction * k) % self.n_frames
            if not self.is_complete(candidate):
                return candidate
        return None

    def next_unlabeled_frame(self, frame: int) -> int | None:
        """Find the next frame after ``frame`` that is not complete, wrapping; None if none."""
        return self._search(frame, +1)

    def previous_unlabeled_frame(self, frame: int) -> int | None:
        """Find the previous frame that is not complete, wrapping; None if none."""
        return self._search(frame, -1)

    def previous_labelled_frame(self, frame: int) -> int | None:
        """Find the nearest frame before ``frame`` with any point (no wrapping)."""
        earlier = [f for f in self.labelled_frames() if f < frame]
        return earlier[-1] if earlier else None

    # -- "not visible" -------------------------------------------------------------------
    def toggle_not_visible(self, frame: int, keypoint: Keypoint) -> bool:
        """Mark or unmark ``keypoint`` as not visible on ``frame``.

        The caller removes the keypoint's point on that frame, if any, before
        syncing: a not-visible keypoint has no point.

        Returns
        -------
        bool
            True if it is now marked not visible.
        """
        key = (int(frame), (str(keypoint[0]), str(keypoint[1])))
        if key in self.hidden:
            self.hidden.discard(key)
            return False
        self.hidden.add(key)
        return True

    def points_of(self, data: np.ndarray, labels: Any, ids: Any, frame: int) -> np.ndarray:
        """Mask of the points of the current keypoint on ``frame`` (to remove when hidden)."""
        data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
        labels, ids = as_text(labels, len(data)), as_text(ids, len(data))
        ind, bp = self.current
        return (np.rint(data[:, 0]) == int(frame)) & (labels == bp) & (ids == ind)

    # -- copying and duplicates ----------------------------------------------------------
    def points_copied_from(
        self, data: np.ndarray, labels: Any, ids: Any, source: int, target: int
    ) -> np.ndarray:
        """Which points of ``source`` to copy onto ``target``.

        Only keypoints still missing on ``target`` are copied: nothing placed
        or marked not visible there is overwritten.

        Parameters
        ----------
        data : ndarray, shape (n, 3)
            Points data.
        labels, ids : array-like
            The ``label`` and ``id`` features.
        source, target : int
            Frames to copy from and to.

        Returns
        -------
        ndarray of int
            Indices into ``data`` of the points to duplicate (set their frame to
            ``target``).
        """
        data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
        labels, ids = as_text(labels, len(data)), as_text(ids, len(data))
        frames = np.rint(data[:, 0]).astype(int)
        picked = [
            i
            for i in np.flatnonzero(frames == int(source))
            if (ids[i], labels[i]) in self._order
            and self.state(target, (ids[i], labels[i])) == MISSING
        ]
        return np.asarray(picked, dtype=int)

    @staticmethod
    def replaced_by(data: np.ndarray, labels: Any, ids: Any, new: int) -> list[int]:
        """Older points of the same keypoint on the same frame as point ``new``.

        A click places the current keypoint; if it was already on the frame,
        the click moves it, so the older point is removed.

        Returns
        -------
        list of int
            Indices to remove (never ``new`` itself).
        """
        data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
        labels, ids = as_text(labels, len(data)), as_text(ids, len(data))
        new = int(new) % len(data)
        frames = np.rint(data[:, 0]).astype(int)
        same = (frames == frames[new]) & (labels == labels[new]) & (ids == ids[new])
        return [int(i) for i in np.flatnonzero(same) if i != new]

    # -- undo and unsaved state ----------------------------------------------------------
    def push_undo(self, data: np.ndarray, features: Any) -> None:
        """Remember the layer as it is before a change (copies are the caller's)."""
        self._undo.append(Snapshot(np.array(data, copy=True), features, frozenset(self.hidden)))

    def pop_undo(self) -> Snapshot | None:
        """Take the latest snapshot, restoring its "not visible" marks; None if empty."""
        if not self._undo:
            return None
        snap = self._undo.pop()
        self.hidden = set(snap.hidden)
        self.mark_changed()
        return snap

    @property
    def can_undo(self) -> bool:
        """Whether there is a snapshot to go back to."""
        return bool(self._undo)

    def mark_changed(self) -> None:
        """Record that the labels differ from the saved file."""
        self.version += 1

    def mark_saved(self, version: int | None = None) -> None:
        """Record that ``version`` (default: the current one) is on disk."""
        self.saved_version = self.version if version is None else version

    @property
    def dirty(self) -> bool:
        """Whether there are unsaved changes."""
        return self.version != self.saved_version
