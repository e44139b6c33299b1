"""The outlier queue as plain data: ranked frames, why each is flagged, the user's verdict.

A :class:`OutlierQueue` is what the outlier dock steps through and what it persists in a
JSON sidecar beside the predictions (see :mod:`napari_dlc_workbench.process.outliers`).
Each :class:`QueueRow` keeps every signal separately (``reasons``: kind -> normalised
score, 1.0 = at its threshold) and the bodyparts that caused it, so the interface can say
*why* a frame is in the queue, and carries the user's decision and corrected points, so
the corrections survive a closed window and can be exported back to DLC later.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "QUEUE_VERSION",
    "SCORE_KINDS",
    "STATUSES",
    "OutlierQueue",
    "QueueRow",
    "keypoint_label",
    "parse_keypoint_label",
]

SCORE_KINDS: tuple[str, ...] = ("likelihood", "jump", "residual", "shape", "disagreement")
"""Signals a frame can be flagged for, in the order the interface lists them."""

STATUSES: tuple[str, ...] = ("pending", "accepted", "rejected")
"""A row's review state: not looked at yet, corrected and to export, or fine as predicted."""

QUEUE_VERSION = 1


def keypoint_label(keypoint: tuple[str, str]) -> str:
    """Name of an ``(individual, bodypart)`` keypoint: ``bodypart`` or ``individual/bodypart``."""
    individual, bodypart = keypoint
    return f"{individual}/{bodypart}" if individual else bodypart


def parse_keypoint_label(label: str, multianimal: bool) -> tuple[str, str]:
    """Inverse of :func:`keypoint_label`."""
    if not multianimal:
        return "", label
    individual, sep, bodypart = label.partition("/")
    if not sep:
        raise ValueError(f"multi-animal keypoint {label!r} must be 'individual/bodypart'")
    return individual, bodypart


def _point(value: Any) -> list[float] | None:
    # JSON has no NaN: a point the user marked "not visible" is stored as null.
    if value is None:
        return None
    x, y = (float(v) for v in value)
    return None if not (math.isfinite(x) and math.isfinite(y)) else [x, y]


@dataclass
class QueueRow:
    """One frame of the queue.

    Attributes
    ----------
    frame : int
        Frame number in the video (the worst frame of its run).
    score : float
        Combined score used for ranking (see ``process.outliers``).
    reasons : dict
        Score kind -> normalised frame score (max over keypoints); a kind at 1.0 or more
        would flag the frame on its own.
    bodyparts : list of str
        Keypoints responsible, worst first (:func:`keypoint_label` names).
    worst : dict
        Score kind -> the keypoint with the highest score of that kind.
    run : tuple of int
        First and last frame of the run of adjacent flagged frames this row stands for.
    status : str
        One of :data:`STATUSES`.
    points : dict or None
        Corrected points, keypoint label -> ``[x, y]`` (None: not visible); only for
        accepted rows.
    """

    frame: int
    score: float
    reasons: dict[str, float] = field(default_factory=dict)
    bodyparts: list[str] = field(default_factory=list)
    worst: dict[str, str] = field(default_factory=dict)
    run: tuple[int, int] = (0, 0)
    status: str = "pending"
    points: dict[str, list[float] | None] | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"row status must be one of {STATUSES}, got {self.status!r}")
        self.frame = int(self.frame)
        self.run = (int(self.run[0]), int(self.run[1]))

    @property
    def flagged_by(self) -> list[str]:
        """Kinds at or above their threshold, strongest first."""
        return [k for k, v in sorted(self.reasons.items(), key=lambda kv: -kv[1]) if v >= 1.0]

    def accept(self, points: Mapping[str, Sequence[float] | None]) -> None:
        """Mark the row corrected with ``points`` (keypoint label -> ``(x, y)`` or None)."""
        self.points = {str(k): _point(v) for k, v in points.items()}
        self.status = "accepted"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "frame": self.frame,
            "score": round(float(self.score), 6),
            "reasons": {k: round(float(v), 6) for k, v in self.reasons.items()},
            "bodyparts": list(self.bodyparts),
            "worst": dict(self.worst),
            "run": list(self.run),
            "status": self.status,
            "points": None
            if self.points is None
            else {k: _point(v) for k, v in self.points.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueRow:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        points = data.get("points")
        return cls(
            frame=int(data["frame"]),
            score=float(data.get("score", 0.0)),
            reasons={str(k): float(v) for k, v in (data.get("reasons") or {}).items()},
            bodyparts=[str(b) for b in data.get("bodyparts") or []],
            worst={str(k): str(v) for k, v in (data.get("worst") or {}).items()},
            run=tuple(data.get("run") or (data["frame"], data["frame"])),  # type: ignore[arg-type]
            status=str(data.get("status", "pending")),
            points=None if points is None else {str(k): _point(v) for k, v in points.items()},
        )


@dataclass
class OutlierQueue:
    """Ranked outlier frames of one video's predictions.

    Attributes
    ----------
    predictions : str
        The predictions ``.h5`` the scores come from.
    scorer : str
        Its scorer (network name).
    n_frames : int
        Frames in the predictions.
    keypoints : list of str
        Keypoint labels in the predictions' column order.
    multianimal : bool
        Whether labels are ``individual/bodypart``.
    video : str or None
        The video the frames come from, when known (needed to export).
    settings : dict
        The scoring parameters used (thresholds, smoother, weights).
    rows : list of QueueRow
        Best first.
    """

    predictions: str
    scorer: str
    n_frames: int
    keypoints: list[str]
    multianimal: bool = False
    video: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    rows: list[QueueRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def frames(self) -> list[int]:
        """Frame of each row, in queue order."""
        return [r.frame for r in self.rows]

    def row(self, frame: int) -> QueueRow:
        """Return the row of ``frame``; KeyError if the frame is not queued."""
        for r in self.rows:
            if r.frame == frame:
                return r
        raise KeyError(f"frame {frame} is not in the outlier queue")

    def top(self, k: int) -> OutlierQueue:
        """Return a copy holding the ``k`` best rows."""
        return OutlierQueue(
            self.predictions,
            self.scorer,
            self.n_frames,
            list(self.keypoints),
            self.multianimal,
            self.video,
            dict(self.settings),
            self.rows[: max(0, int(k))],
        )

    def accepted(self) -> list[QueueRow]:
        """Rows marked accepted that carry corrected points, in frame order."""
        return sorted(
            (r for r in self.rows if r.status == "accepted" and r.points is not None),
            key=lambda r: r.frame,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the sidecar's content)."""
        return {
            "version": QUEUE_VERSION,
            "kind": "dlc-workbench outlier queue",
            "predictions": self.predictions,
            "scorer": self.scorer,
            "n_frames": int(self.n_frames),
            "keypoints": list(self.keypoints),
            "multianimal": bool(self.multianimal),
            "video": self.video,
            "settings": dict(self.settings),
            "rows": [r.to_dict() for r in self.rows],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutlierQueue:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If the dict is not an outlier queue or comes from a newer version.
        """
        if not isinstance(data, Mapping) or "rows" not in data or "predictions" not in data:
            raise ValueError("not an outlier queue (needs 'predictions' and 'rows')")
        version = int(data.get("version", 1))
        if version > QUEUE_VERSION:
            raise ValueError(f"outlier queue version {version} is newer than this plugin's")
        return cls(
            predictions=str(data["predictions"]),
            scorer=str(data.get("scorer", "")),
            n_frames=int(data.get("n_frames", 0)),
            keypoints=[str(k) for k in data.get("keypoints") or []],
            multianimal=bool(data.get("multianimal", False)),
            video=None if data.get("video") is None else str(data["video"]),
            settings=dict(data.get("settings") or {}),
            rows=[QueueRow.from_dict(r) for r in data["rows"]],
        )

    def with_rows(self, rows: Iterable[QueueRow]) -> OutlierQueue:
        """Return a copy with other rows (same video, predictions and settings)."""
        copy = self.top(0)
        copy.rows = list(rows)
        return copy
