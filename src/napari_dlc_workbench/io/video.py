"""Video files: any frame, exactly, through PyAV.

:class:`VideoReader` indexes a file's packets once (timestamps and keyframes,
no decoding; the index is cached in the user's cache folder) and then returns
frame N by seeking to the keyframe before it and decoding forward until the
frame whose timestamp is the N-th one. Each decoded frame is identified by its
timestamp, never by counting after a seek, so a seek that lands early, late or
on the wrong keyframe is detected and corrected instead of silently returning
frame N±1 (what ``cv2.CAP_PROP_POS_FRAMES`` does on many files).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_dlc_workbench.io.frames import LazyFrames
from napari_dlc_workbench.io.video_index import VideoIndex, cache_dir, cache_key

if TYPE_CHECKING:
    from av.container import InputContainer

__all__ = [
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "decode_frames",
    "open_container",
    "probe_video",
    "seek_copy_path",
]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv")


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


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise VideoError(path, "is a folder, not a video file")
    if not path.is_file():
        raise VideoError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")


def open_container(path: Path) -> InputContainer:
    """Open a video with PyAV, or raise :class:`VideoError` saying what is wrong with it.

    Parameters
    ----------
    path : Path
        The video.

    Returns
    -------
    av.container.InputContainer
        Open container with a decodable video stream; close it after use.
    """
    import av

    _check_file(path)
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise VideoError(path, f"cannot open as a video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(path, "has no video stream")
    ctx = container.streams.video[0].codec_context
    if ctx is None or not ctx.name or ctx.name == "none":
        container.close()
        raise VideoError(path, "unsupported video codec: this FFmpeg has no decoder for it")
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
    with open_container(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            n_frames=int(stream.frames or 0),
            fps=Fraction(rate),
            codec=stream.codec_context.name,
        )


def seek_copy_path(path: str | os.PathLike[str]) -> Path:
    """Where the seek-friendly copy of ``path`` lives (in the cache, not the project)."""
    _check_file(Path(path))
    return cache_dir() / "seek-copies" / f"{cache_key(path)}.mkv"


def build_index(path: Path) -> VideoIndex:
    """Demux every packet of ``path`` (no decoding) into a :class:`VideoIndex`."""
    import av

    pts: list[int] = []
    keys: list[bool] = []
    with open_container(path) as container:
        stream = container.streams.video[0]
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the flush packet at the end
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None:
                    raise VideoError(path, "packets carry no timestamps; re-encode the video")
                pts.append(int(stamp))
                keys.append(bool(packet.is_keyframe))
        except av.FFmpegError as exc:
            if not pts:
                raise VideoError(path, f"cannot read packets ({exc})") from exc
            # A truncated file: the frames before the damage are still usable.
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
        declared = int(stream.frames or 0)
    if not pts:
        raise VideoError(path, "contains no video frames")
    if declared > len(pts):
        # Numbering the frames that are left would silently shift labels against a
        # complete copy of the same recording; make the user decide.
        raise VideoError(
            path,
            f"file is truncated: its header announces {declared} frames but only {len(pts)} "
            "are in it (to use them anyway: ffmpeg -i IN -c copy OUT.mkv)",
        )
    if len(set(pts)) != len(pts):
        raise VideoError(path, "two frames share a timestamp; re-encode the video")
    return VideoIndex.from_packets(pts, keys, time_base)


def load_index(path: Path) -> VideoIndex:
    """Return the packet index of ``path``, from the cache or built (and cached) now."""
    _check_file(path)
    store = cache_dir() / "video-index" / f"{cache_key(path)}.npz"
    index = VideoIndex.load(store)
    if index is None:
        index = build_index(path)
        with contextlib.suppress(OSError):  # a read-only cache costs a re-index next time
            index.save(store)
    return index


class _FrameCache:
    """Thread-safe LRU of decoded frames, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: int) -> np.ndarray | None:
        with self._lock:
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
            return frame

    def put(self, key: int, frame: np.ndarray) -> None:
        if frame.nbytes > self.max_bytes:
            return
        frame.flags.writeable = False  # shared between callers: nobody may edit it
        with self._lock:
            old = self._frames.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._frames[key] = frame
            self._bytes += frame.nbytes
            while self._bytes > self.max_bytes:
                _, evicted = self._frames.popitem(last=False)
                self._bytes -= evicted.nbytes

    @property
    def nbytes(self) -> int:
        return self._bytes


class VideoReader(LazyFrames):
    """A video as a read-only array of frames, exact for any index.

    Parameters
    ----------
    path : str or PathLike
        The video (AVI, MP4, MOV, MKV; MJPEG, MPEG-4, H.264, H.265, ...).
    gray : bool
        Return ``(H, W)`` luma frames instead of ``(H, W, 3)`` RGB.
    cache_mb : float
        Bound of the decoded-frame cache in MB.
    use_seek_copy : bool
        Decode from the seek-friendly copy (:func:`seek_copy_path`) when one
        exists: same frames and timestamps, much faster random access.
    backstep : int
        When decoding forward to a frame, also keep the last ``backstep`` decoded
        frames before it (converted only if asked for), so stepping backwards does
        not decode the GOP again.

    Notes
    -----
    Safe to use from several threads (napari's dask loaders): decoding is
    serialised by a lock, cached frames are served without it. Frames returned
    are read-only views shared with the cache; copy before editing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        gray: bool = False,
        cache_mb: float = 256,
        use_seek_copy: bool = True,
        backstep: int = 16,
    ) -> None:
        self.path = Path(path)
        self.gray = gray
        self.backstep = backstep
        copy = seek_copy_path(self.path) if use_seek_copy and self.path.is_file() else None
        self.source = copy if copy is not None and copy.is_file() else self.path
        self.index = load_index(self.source)
        self.index.check_constant_rate(self.path)
        self._frame_of_pts = self.index.frame_of_pts()
        self._lock = threading.RLock()
        self._cache = _FrameCache(int(cache_mb * 2**20))
        self._raw: OrderedDict[int, Any] = OrderedDict()  # decoded frames before the last target
        self._container: InputContainer | None = None
        self._frames: Iterator[Any] | None = None
        self._last = -1  # frame number the live decoder produced last
        self._clean_from = 0
        self._corrupt: set[int] = set()  # timestamps of packets that failed to decode
        self._container = open_container(self.source)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        ctx.options = {"err_detect": "explode"}
        self.codec = ctx.name
        self.fps = Fraction(stream.average_rate or stream.guessed_rate or 0)
        self.frame_shape = (ctx.height, ctx.width) if gray else (ctx.height, ctx.width, 3)
        self.dtype = np.dtype(np.uint8)
        with self._lock:
            # Decoding the first frame before any seek lets the decoder learn what only the
            # stream's first packets say. Old x264 builds announce themselves in an SEI there,
            # and FFmpeg needs it to undo their 4:4:4 bug: a decoder that starts at a later
            # keyframe returns garbage (seen on DLC's own openfield example video).
            self._decode_to(0)

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"VideoReader({str(self.path)!r}, shape={self.shape}, codec={self.codec!r})"

    def token(self) -> str:
        """Identity of the decoded frames: the file's cache key and the colour mode."""
        return f"video-{cache_key(self.path)}-{'gray' if self.gray else 'rgb'}"

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file; the reader cannot decode afterwards."""
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container, self._frames = None, None
            self._raw.clear()

    # -- frames ----------------------------------------------------------------------
    def frame(self, number: int) -> np.ndarray:
        """Return frame ``number`` exactly (negative numbers count from the end).

        Raises
        ------
        IndexError
            If the frame does not exist.
        VideoError
            If that frame cannot be decoded (the others still can).
        """
        number = self.check_index(number)
        cached = self._cache.get(number)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cache.get(number)
            if cached is not None:
                return cached
            raw = self._raw.pop(number, None)
            if raw is not None:
                image = raw.to_ndarray(format="gray" if self.gray else "rgb24")
                self._cache.put(number, image)
                return image
            return self._decode_to(number)

    def _restart_at(self, keyframe: int) -> None:
        import av

        if self._container is None:
            raise VideoError(self.path, "reader is closed")
        stream = self._container.streams.video[0]
        try:
            self._container.seek(int(self.index.pts[keyframe]), stream=stream, backward=True)
        except av.FFmpegError as exc:
            raise VideoError(self.path, f"seek to frame {keyframe} failed ({exc})") from exc
        self._frames = self._decoded()
        self._last = -1
        # Frames before the keyframe that come out after a seek (an open GOP's leading
        # B-frames) lack their references: they are never returned or cached.
        self._clean_from = keyframe

    def _decoded(self) -> Iterator[Any]:
        """Decode packet by packet, so damage is pinned to the frame it is in."""
        import av

        assert self._container is not None
        stream = self._container.streams.video[0]
        for packet in self._container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                # err_detect=explode makes a damaged packet fail instead of decoding to a
                # concealed, plausible-looking wrong picture; the decoder carries on.
                if packet.pts is not None:
                    self._corrupt.add(int(packet.pts))
                continue
            yield from frames

    def _decode_to(self, target: int) -> np.ndarray:
        keyframe = self.index.keyframe_before(target)
        # Keep decoding forward when that is no more work than seeking would be.
        if self._frames is None or not (keyframe - 1 <= self._last < target):
            self._restart_at(keyframe)
        fmt = "gray" if self.gray else "rgb24"
        target_pts = int(self.index.pts[target])
        attempts = 0
        while True:
            if target_pts in self._corrupt:
                raise VideoError(self.path, f"frame {target} is corrupt and cannot be decoded")
            try:
                frame = next(self._frames)  # type: ignore[arg-type]
            except StopIteration:
                self._frames = None
                raise VideoError(self.path, f"video ended before frame {target}") from None
            number = self._frame_of_pts.get(frame.pts if frame.pts is not None else -1)
            if number is None or number < self._clean_from:
                continue  # unknown to the index, or decoded without its references
            if self._last == -1 and number > target:
                # The seek landed after the target: step back one more keyframe.
                attempts += 1
                if attempts > 3 or keyframe == 0:
                    raise VideoError(self.path, f"cannot seek to frame {target}")
                keyframe = self.index.keyframe_before(keyframe - 1)
                self._restart_at(keyframe)
                continue
            self._last = max(self._last, number)
            if number == target:
                image = frame.to_ndarray(format=fmt)
                self._cache.put(number, image)
                return image
            if target - self.backstep <= number < target:
                # Kept decoded but not converted: converting costs as much as decoding,
                # and most of these frames are never asked for.
                self._raw[number] = frame
                while len(self._raw) > self.backstep:
                    self._raw.popitem(last=False)


def decode_frames(
    path: str | os.PathLike[str], indices: Iterable[int], *, gray: bool = False
) -> dict[int, np.ndarray]:
    """Decode the frames at ``indices`` exactly, in one forward pass from the start.

    For picking a few frames of a short clip this needs no index; for random
    access use :class:`VideoReader`.

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
    wanted = sorted({int(i) for i in indices})
    if wanted and wanted[0] < 0:
        raise VideoError(path, f"negative frame number {wanted[0]}")
    out: dict[int, np.ndarray] = {}
    if not wanted:
        return out
    todo = set(wanted)
    with open_container(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for number, frame in enumerate(container.decode(stream)):
                if number in todo:
                    out[number] = frame.to_ndarray(format="gray" if gray else "rgb24")
                if number >= wanted[-1]:
                    break
        except av.FFmpegError as exc:
            raise VideoError(path, f"decoding failed after frame {len(out)} ({exc})") from exc
    missing = sorted(todo - out.keys())
    if missing:
        raise VideoError(path, f"video ends before frame {missing[0]}")
    return out
