"""Pick frames to label and write them into ``labeled-data/<video_stem>/`` as DLC does.

Three ways to choose, as in DLC's ``extract_frames``: ``uniform`` (a random,
seeded sample spread over the chosen part of the video), ``kmeans`` (cluster
downsampled frames and take one per cluster, so the picks look different) and
explicit frame numbers ("this frame" in the viewer). Frames already in the
folder are never picked or written twice, and frames are read through the
frame-exact reader, so the PNG for ``img0042.png`` is frame 42.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_dlc_workbench.io.images import frame_image_name, write_png
from napari_dlc_workbench.io.video import VideoError, load_index, open_container

__all__ = [
    "ExtractionResult",
    "FramePickError",
    "existing_frames",
    "extract_frames",
    "pick_kmeans",
    "pick_uniform",
    "thumbnails",
]

_IMAGE_NUMBER = re.compile(r"^img(\d+)\.png$")


class FramePickError(ValueError):
    """A frame choice that cannot be made (range, count), with the reason."""


def existing_frames(folder: str | os.PathLike[str]) -> set[int]:
    """Return the frame numbers already extracted into a labeled-data folder (from ``imgNNN.png``)."""
    folder = Path(folder)
    if not folder.is_dir():
        return set()
    found = set()
    for path in folder.iterdir():
        match = _IMAGE_NUMBER.match(path.name)
        if match:
            found.add(int(match.group(1)))
    return found


def _candidates(n_frames: int, start: float, stop: float, exclude: Iterable[int]) -> np.ndarray:
    if not 0 <= start < stop <= 1:
        raise FramePickError(f"need 0 <= start < stop <= 1, got start={start}, stop={stop}")
    lo, hi = int(np.floor(n_frames * start)), int(np.ceil(n_frames * stop))
    taken = np.fromiter(exclude, dtype=np.int64)
    frames = np.arange(lo, min(hi, n_frames))
    return frames[~np.isin(frames, taken)]


def pick_uniform(
    n_frames: int,
    k: int,
    *,
    start: float = 0.0,
    stop: float = 1.0,
    exclude: Iterable[int] = (),
    seed: int = 0,
) -> list[int]:
    """Pick ``k`` distinct frames at random from ``[start, stop)`` of the video.

    As DLC's ``uniform`` mode, but seeded (the same call picks the same
    frames) and never returning a frame in ``exclude``.

    Parameters
    ----------
    n_frames : int
        Frames in the video.
    k : int
        How many to pick (fewer if fewer are left).
    start, stop : float
        Fractions of the video, as DLC's ``start``/``stop`` config keys.
    exclude : iterable of int
        Frames not to pick (already extracted).
    seed : int
        Random seed.

    Returns
    -------
    list of int
        Sorted frame numbers.
    """
    pool = _candidates(n_frames, start, stop, exclude)
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(pool, size=min(k, len(pool)), replace=False))


def _luma(frame: object) -> np.ndarray:
    # YUV frames already hold the grey image in their first plane: reading it
    # directly skips a full-frame colour conversion per decoded frame.
    fmt = frame.format  # type: ignore[attr-defined]
    if fmt.name.startswith(("yuv", "yuvj", "nv12", "gray")):
        plane = frame.planes[0]  # type: ignore[attr-defined]
        data = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return data[:, : plane.width]
    return frame.to_ndarray(format="gray")  # type: ignore[attr-defined]


def thumbnails(
    video: str | os.PathLike[str],
    frames: np.ndarray,
    *,
    width: int = 30,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Grey thumbnails ``width`` pixels wide of the given frames, in one forward pass.

    Every frame is decoded once, in order, and only its thumbnail is kept, so a
    3597-frame recording costs a decode, not 17 GB of memory.

    Returns
    -------
    ndarray
        ``(len(frames), h, width)`` float32, in the order of sorted ``frames``.
    """
    frames = np.sort(np.asarray(frames, dtype=np.int64))
    wanted = set(frames.tolist())
    out: list[np.ndarray] = []
    with open_container(Path(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        w, h = stream.codec_context.width, stream.codec_context.height
        # Nearest-neighbour sampling, as DLC's cv2.INTER_NEAREST resize.
        cols = np.minimum((np.arange(width) * w / width).astype(int), w - 1)
        height = max(1, round(h * width / w))
        rows = np.minimum((np.arange(height) * h / height).astype(int), h - 1)
        last = int(frames[-1]) if len(frames) else -1
        for number, frame in enumerate(container.decode(stream)):
            if cancel is not None and cancel():
                raise InterruptedError("frame picking cancelled")
            if number in wanted:
                out.append(_luma(frame)[np.ix_(rows, cols)].astype(np.float32))
                if progress is not None:
                    progress(len(out), len(frames))
            if number >= last:
                break
    if len(out) != len(frames):
        raise VideoError(video, f"video ended after {len(out)} of {len(frames)} frames")
    return np.stack(out) if out else np.empty((0, height, width), np.float32)


def pick_kmeans(
    video: str | os.PathLike[str],
    k: int,
    *,
    start: float = 0.0,
    stop: float = 1.0,
    exclude: Iterable[int] = (),
    step: int = 1,
    resize_width: int = 30,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[int]:
    """Pick frames that look different: k-means on downsampled frames, as DLC.

    Frames of ``[start, stop)`` (every ``step``-th) are shrunk to
    ``resize_width`` pixels wide in grey, centred, clustered into ``k``
    clusters with mini-batch k-means, and one frame per cluster is taken
    (seeded random choice, as DLC). Fewer than ``k`` frames come back when
    clusters are empty.

    Returns
    -------
    list of int
        Sorted frame numbers.
    """
    from sklearn.cluster import MiniBatchKMeans

    n_frames = len(load_index(Path(video)))
    pool = _candidates(n_frames, start, stop, exclude)[:: max(1, step)]
    if len(pool) <= k:
        return sorted(int(i) for i in pool)
    data = thumbnails(video, pool, width=resize_width, progress=progress, cancel=cancel)
    data = (data - data.mean(axis=0)).reshape(len(pool), -1)
    kmeans = MiniBatchKMeans(
        n_clusters=k,
        tol=1e-3,
        batch_size=min(100, len(pool)),
        max_iter=50,
        random_state=seed,
        n_init=3,
    )
    labels = kmeans.fit_predict(data)
    rng = np.random.default_rng(seed)
    picks = []
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        if len(members):
            picks.append(int(pool[members[rng.integers(len(members))]]))
    return sorted(picks)


@dataclass
class ExtractionResult:
    """What :func:`extract_frames` wrote.

    Attributes
    ----------
    folder : Path
        ``labeled-data/<video_stem>``.
    written : list of Path
        New images.
    skipped : list of int
        Requested frames that were already in the folder.
    """

    folder: Path
    written: list[Path]
    skipped: list[int]


def extract_frames(
    video: str | os.PathLike[str],
    project_folder: str | os.PathLike[str],
    frames: Iterable[int],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ExtractionResult:
    """Write the given frames of ``video`` into ``labeled-data/<video_stem>/``.

    Parameters
    ----------
    video : str or PathLike
        The video the frames come from (a cropped, contrast-processed clip is
        extracted as it is).
    project_folder : str or PathLike
        The DLC project folder (where ``config.yaml`` is).
    frames : iterable of int
        Frame numbers; those already extracted are skipped, never rewritten.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    ExtractionResult

    Raises
    ------
    VideoError
        If the video cannot be read or a frame does not exist.
    """
    from napari_dlc_workbench.io.video import VideoReader

    video = Path(video)
    folder = Path(project_folder) / "labeled-data" / video.stem
    reader = VideoReader(video)
    n = len(reader)
    wanted = sorted(set(int(f) for f in frames))
    bad = [f for f in wanted if not 0 <= f < n]
    if bad:
        raise VideoError(video, f"frame {bad[0]} does not exist (the video has {n} frames)")
    have = existing_frames(folder)
    todo = [f for f in wanted if f not in have]
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for done, number in enumerate(todo, start=1):
        written.append(write_png(folder / frame_image_name(number, n), reader[number]))
        if progress is not None:
            progress(done, len(todo))
    reader.close()
    return ExtractionResult(folder, written, [f for f in wanted if f in have])
