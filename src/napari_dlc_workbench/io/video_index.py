"""Packet index of a video: which frame has which timestamp, and where keyframes are.

Built once per file by demuxing (reading packets, no decoding) and kept in the
user's cache folder, never in the DLC project. Frame N is the N-th timestamp in
presentation order, so the index is what makes "frame N" mean the same thing
for every reader, whatever B-frames reorder in the file.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from napari_dlc_workbench.io.atomic import atomic_path

__all__ = [
    "INDEX_VERSION",
    "VariableFrameRateWarning",
    "VideoIndex",
    "cache_dir",
    "cache_key",
]

INDEX_VERSION = 1


class VariableFrameRateWarning(UserWarning):
    """The video's frames are not evenly spaced in time."""


def cache_dir() -> Path:
    """Return the workbench's cache folder (``DLC_WORKBENCH_CACHE`` overrides it)."""
    env = os.environ.get("DLC_WORKBENCH_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("napari-dlc-workbench"))


def cache_key(path: str | os.PathLike[str]) -> str:
    """Key of a file's cached artefacts: changes when the file is replaced or edited."""
    path = Path(path).resolve()
    stat = path.stat()
    text = f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class VideoIndex:
    """Timestamps of every frame in presentation order, and the keyframes among them.

    Attributes
    ----------
    pts : ndarray of int64
        Presentation timestamp of frame N at ``pts[N]`` (stream time base).
    keyframes : ndarray of int64
        Frame numbers (presentation order) that are keyframes, ascending.
    time_base : Fraction
        Seconds per timestamp unit.
    """

    pts: np.ndarray
    keyframes: np.ndarray
    time_base: Fraction

    def __len__(self) -> int:
        return len(self.pts)

    def keyframe_before(self, frame: int) -> int:
        """Return the last keyframe at or before ``frame`` (0 if there is none)."""
        pos = int(np.searchsorted(self.keyframes, frame, side="right")) - 1
        return int(self.keyframes[pos]) if pos >= 0 else 0

    def frame_of_pts(self) -> dict[int, int]:
        """Map a timestamp to its frame number."""
        return {int(p): i for i, p in enumerate(self.pts)}

    def max_gop(self) -> int:
        """Longest run of frames between keyframes (1 for all-intra files)."""
        bounds = np.append(self.keyframes, len(self.pts))
        return int(np.diff(bounds).max()) if len(bounds) > 1 else len(self.pts)

    def frame_times(self) -> np.ndarray:
        """Timestamps in seconds from the first frame."""
        return (self.pts - self.pts[0]) * float(self.time_base) if len(self.pts) else self.pts

    def check_constant_rate(self, path: str | os.PathLike[str], tolerance: float = 0.01) -> bool:
        """Warn with :class:`VariableFrameRateWarning` if frame spacing varies.

        Returns
        -------
        bool
            True when the frame rate is constant within ``tolerance`` (relative).
        """
        if len(self.pts) < 3:
            return True
        steps = np.diff(self.pts)
        median = float(np.median(steps))
        # One tick of jitter is rounding (Matroska stores milliseconds: 33 and 34 ms for
        # 29.97 fps), not a variable rate.
        varying = bool(np.any(np.abs(steps - median) > tolerance * median + 1))
        if varying:
            warnings.warn(
                f"{path}: variable frame rate (frame spacing {steps.min() * self.time_base} to "
                f"{steps.max() * self.time_base} s); frame numbers stay exact, but times "
                "computed as frame/fps will drift",
                VariableFrameRateWarning,
                stacklevel=3,
            )
        return not varying

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the index to ``path`` (``.npz``) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, keep_backups=0) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                version=INDEX_VERSION,
                pts=self.pts,
                keyframes=self.keyframes,
                time_base=np.array([self.time_base.numerator, self.time_base.denominator]),
            )

    @classmethod
    def load(cls, path: Path) -> VideoIndex | None:
        """Read an index written by :meth:`save`; None if absent, stale or unreadable."""
        try:
            with np.load(path) as data:
                if int(data["version"]) != INDEX_VERSION:
                    return None
                num, den = (int(v) for v in data["time_base"])
                return cls(
                    data["pts"].astype(np.int64),
                    data["keyframes"].astype(np.int64),
                    Fraction(num, den),
                )
        except (OSError, KeyError, ValueError):
            return None

    @classmethod
    def from_packets(
        cls, pts: list[int], keyframe_flags: list[bool], time_base: Fraction
    ) -> VideoIndex:
        """Build the index from packets in file (decode) order.

        Parameters
        ----------
        pts : list of int
            Each packet's presentation timestamp.
        keyframe_flags : list of bool
            Whether each packet is a keyframe.
        time_base : Fraction
            The stream's time base.

        Returns
        -------
        VideoIndex
        """
        raw = np.asarray(pts, dtype=np.int64)
        order = np.argsort(raw, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        keys = np.sort(rank[np.asarray(keyframe_flags, dtype=bool)])
        if len(keys) == 0 or keys[0] != 0:
            # Frames before the first keyframe can only be decoded from the start.
            keys = np.concatenate([[0], keys]).astype(np.int64)
        return cls(raw[order], keys.astype(np.int64), time_base)
