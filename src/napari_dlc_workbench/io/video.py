"""Video files: exact frames through PyAV.

Frames are decoded in order from the start, so the N-th decoded frame is frame N
by construction: no seek, no timestamp arithmetic that could land on N±1.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from av.container import InputContainer

__all__ = ["VideoError", "VideoInfo", "decode_frames", "probe_video"]


class VideoError(ValueError):
    """A video that cannot be opened or decoded, with the file named."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class VideoInfo:
    """What a video container says about its first video stream.

    Attributes
    ----------
    width, height : int
        Frame size in pixels.
    n_frames : int
        Frame count from the container (0 if it does not say).
    fps : Fraction
        Average frame rate.
    codec : str
        Codec name, e.g. ``"h264"``.
    """

    width: int
    height: int
    n_frames: int
    fps: Fraction
    codec: str


def _open(path: Path) -> InputContainer:
    import av

    if not path.is_file():
        raise VideoError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise VideoError(path, f"cannot open as a video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(path, "has no video stream")
    return container


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's size, frame count, rate and codec without decoding.

    Parameters
    ----------
    path : str or PathLike
        The video.

    Returns
    -------
    VideoInfo
    """
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            n_frames=int(stream.frames or 0),
            fps=Fraction(rate),
            codec=stream.codec_context.name,
        )


def decode_frames(
    path: str | os.PathLike[str], indices: Iterable[int], *, gray: bool = False
) -> dict[int, np.ndarray]:
    """Decode the frames at ``indices`` exactly, in one forward pass.

    Parameters
    ----------
    path : str or PathLike
        The video.
    indices : iterable of int
        Frame numbers wanted (any order, duplicates ignored).
    gray : bool
        Return ``(H, W)`` luma instead of ``(H, W, 3)`` RGB.

    Returns
    -------
    dict
        Frame number to uint8 array.

    Raises
    ------
    VideoError
        If the file cannot be decoded or ends before the last wanted frame.
    """
    import av

    path = Path(path)
    wanted = sorted(set(int(i) for i in indices))
    if wanted and wanted[0] < 0:
        raise VideoError(path, f"negative frame number {wanted[0]}")
    out: dict[int, np.ndarray] = {}
    if not wanted:
        return out
    last = wanted[-1]
    todo = set(wanted)
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for number, frame in enumerate(container.decode(stream)):
                if number in todo:
                    out[number] = frame.to_ndarray(format="gray" if gray else "rgb24")
                if number >= last:
                    break
        except av.FFmpegError as exc:
            raise VideoError(path, f"decoding failed after frame {len(out)} ({exc})") from exc
    missing = sorted(todo - out.keys())
    if missing:
        raise VideoError(path, f"video ends before frame {missing[0]}")
    return out
