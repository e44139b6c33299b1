"""Seek-friendly copies of long-GOP videos.

Random access into an H.264 file with a keyframe every 250 frames decodes up to
249 frames to show one. A seek-friendly copy re-encodes the video losslessly
(x264 ``qp=0`` in the source's pixel format, so every decoded pixel is the
same) with a keyframe every few frames and no B-frames, keeping every frame's
timestamp. :class:`~napari_dlc_workbench.io.video.VideoReader` uses the copy
automatically once it exists. The copy lives in the user's cache folder, never
in the DLC project, and is made for the user's reading only: DLC keeps
analysing the original.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from napari_dlc_workbench.io.atomic import atomic_path
from napari_dlc_workbench.io.video import VideoError, load_index, open_container, seek_copy_path

__all__ = ["CancelledError", "make_seek_copy"]

DEFAULT_GOP = 8
# Pixel formats libx264 can encode losslessly as they are; anything else goes to 4:4:4.
_X264_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray"}


class CancelledError(RuntimeError):
    """The user cancelled a long job; nothing was written."""


def make_seek_friendly(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    gop: int = DEFAULT_GOP,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """Losslessly re-encode ``source`` into ``target`` with short GOPs.

    Parameters
    ----------
    source : str or PathLike
        The video to copy.
    target : str or PathLike
        Output file (Matroska, ``.mkv``: it stores any time base as it is).
    gop : int
        Frames between keyframes; the worst random access decodes ``gop - 1``
        extra frames.
    progress : callable, optional
        Called as ``progress(frames_done, n_frames)``.
    cancel : callable, optional
        Polled between frames; returning True stops and removes the partial file.

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    CancelledError
        If ``cancel`` asked to stop.
    VideoError
        If the source cannot be decoded or the copy loses or adds a frame.
    """
    import av

    source, target = Path(source), Path(target)
    index = load_index(source)
    n_frames = len(index)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target, keep_backups=0) as tmp:
        with open_container(source) as inp, av.open(str(tmp), "w", format="matroska") as out:
            src = inp.streams.video[0]
            src.thread_type = "AUTO"
            pix_fmt = src.codec_context.pix_fmt
            pix_fmt = pix_fmt if pix_fmt in _X264_FORMATS else "yuv444p"
            options = {"qp": "0", "g": str(gop), "bf": "0", "preset": "veryfast"}
            dst = out.add_stream(
                "libx264", rate=src.average_rate or src.guessed_rate, options=options
            )
            dst.width, dst.height = src.codec_context.width, src.codec_context.height
            dst.pix_fmt = pix_fmt
            dst.time_base = src.time_base
            for done, frame in enumerate(inp.decode(src), start=1):
                if cancel is not None and cancel():
                    raise CancelledError(f"seek-friendly copy of {source} cancelled")
                if frame.format.name != pix_fmt:
                    frame = frame.reformat(format=pix_fmt)
                frame.time_base = src.time_base
                out.mux(dst.encode(frame))
                if progress is not None:
                    progress(done, n_frames)
            out.mux(dst.encode())
        copied = load_index(tmp)
        if len(copied) != n_frames:
            raise VideoError(source, f"copy has {len(copied)} frames instead of {n_frames}")
    return target


def make_seek_copy(
    path: str | os.PathLike[str],
    *,
    gop: int = DEFAULT_GOP,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """Make (or reuse) the cached seek-friendly copy that ``VideoReader`` prefers.

    Parameters
    ----------
    path : str or PathLike
        The user's video; it is not modified.
    gop, progress, cancel
        See :func:`make_seek_friendly`.

    Returns
    -------
    Path
        The copy in the cache folder.
    """
    target = seek_copy_path(path)
    if target.is_file():
        return target
    return make_seek_friendly(path, target, gop=gop, progress=progress, cancel=cancel)
