"""Random access into full-size videos: our ``VideoReader`` against OpenCV and napari-deeplabcut.

The synthetic recording (``SampleSpec.full()``: 1500x1080 gray, 29.97 fps) is encoded four
ways, rendering each frame once for all encoders:

* ``h264_gop250``: libx264 crf 18 ``veryfast``, x264's default GOP (keyint 250, B-frames),
  like the DSLR/``dlc-workbench sample`` files;
* ``h264_gop30``: the same with a keyframe every 30 frames;
* ``mjpeg``: MJPEG AVI (``-q:v 3``), every frame a keyframe;
* ``mpeg4``: MPEG-4 part 2 AVI (``-q:v 3``, FFmpeg's default GOP of 12, no B-frames).

The reference for "frame N" is ONE sequential PyAV decode of each file (the N-th frame out of
``container.decode``), cross-checked against the renderer (``render_frame(spec, N)``) and
against our packet index's timestamps. Only the frames at the K sampled indices are kept
(written to an ``.npy`` in the work folder), plus a 1/8-subsampled luma "signature" of every
frame, which identifies which frame a wrong answer actually was.

Readers, each measured in a fresh child process of this script (``--probe``), so that
its peak RSS is its own and its caches start cold:

* ``ours``: ``VideoReader(path, use_seek_copy=False)``;
* ``ours_seek_copy``: ``VideoReader(path)`` after ``make_seek_copy(path)`` (long-GOP files by
  default, ``--seek-copy all`` for every file);
* ``opencv``: ``cv2.VideoCapture`` as napari-video (``videoreader``) uses it: ``set
  (CAP_PROP_POS_FRAMES, n)`` unless ``n`` is the current position, ``read()``, BGR to RGB;
* ``napari_deeplabcut``: ``napari_deeplabcut.core.io.Video.read_frame(n)`` (OpenCV too, but
  it keeps its position and decodes forward for jumps of up to 8 frames).

Per reader: latency of one random frame over the K indices in random order (median, p90),
wrong frames against the reference (``wrong_exact``: not bit-identical; ``wrong_visible``:
mean absolute difference > 1.0 grey level, or no frame at all), the frame each wrong answer
really was (``wrong_examples``), sequential read speed over the first ``--seq-frames`` frames
(wall time of the loop after opening), and the peak RSS (``VmHWM``) of the child after
the K random reads (``peak_rss_mb``; ``rss_before_open_mb`` is the same process after its
imports, so ``rss_added_mb`` is what the reader itself costs; napari-deeplabcut's module
imports napari, ~300 MB, before any video is opened). For ours there is also a second,
warm pass over the same indices with the same reader (``warm``).

Why two counts of wrong frames: every reader here decodes with FFmpeg, but OpenCV bundles its
own FFmpeg build and converts YUV to BGR with its own swscale flags, so a correct frame from
OpenCV may differ from PyAV's by a grey level here and there (and MJPEG's full-range
``yuvj420p`` is where this shows). Such a frame is not bit-identical (``wrong_exact``) but
its mean absolute difference stays far below 1.0, whereas the neighbouring frame of these
noisy recordings differs by several grey levels (``reference.neighbour_mad_min``, ~5.2), so
``wrong_visible`` counts frames that are really another frame (or garbage). With OpenCV 5.0
and PyAV 18 on this synthetic recording the two agreed bit for bit (``mad_max_when_right``
0.0) on all four encodings.

Ratios and targets (from the issue): ``ours_median / opencv_median`` <= 0.2 on MJPEG, MPEG-4
and short-GOP H.264, <= 0.33 on long-GOP H.264 once the frame cache (``warm``) or the
seek-friendly copy is used; ``ours_seq_fps / opencv_seq_fps`` >= 1.0; peak RSS < 500 MB; no
wrong frame from ours.

Absolute times depend on the machine and its load; compare the ratios, which come from one
run. The readers run one after the other, so a change of load between them skews wall-clock
ratios: each latency therefore also comes as CPU seconds of the child (``median_cpu_s``, all
threads; ``seq_frames_per_cpu_s``), and ``loadavg_1min`` says how busy the machine was. On a
shared machine, trust the ``*_cpu_*`` ratios more. Prints one JSON object on stdout (the
headline figures under ``summary``); progress goes to stderr.

How to run
----------
Smaller (the first 600 frames, 100 random indices)::

    python benchmarks/bench_video.py --frames 600 --k 100 --workdir /tmp/benchvideo600

The long-GOP file dominates every run: each random frame there costs every reader 1-2.5 CPU
seconds (up to 249 frames decoded), four readers x K frames, plus our warm pass. Measured on
a 2-core machine shared with other jobs (load 6-14): 44 min with encoding (2 min of it),
58 min rerun with the work folder kept; from the CPU seconds measured, an idle 2-core machine
needs ~15 min. ``--encodings mjpeg mpeg4 h264_gop30`` leaves the long-GOP file out and takes a
few minutes.

Full size (3597 frames, K=200; keep ``--workdir`` to reuse encoded files, references and the
seek-friendly copy on the next run)::

    python benchmarks/bench_video.py --workdir /tmp/benchvideo

It reuses ``/tmp/full/DSC_3189.mp4`` (``dlc-workbench sample --preset full``, same x264
settings) as the long-GOP file when that has all 3597 frames, needs ~12 GB of disk in the
work folder (encoded files 3.7 GB, references 3.9 GB, the lossless seek-friendly copy 3 GB)
and took hours on the shared 2-core machine: encoding the other three files 34 min, each
reference decode ~5 min, the seek-friendly copy 22 min, our reader on long-GOP H.264 23 min
(cold and warm pass). The cache of the readers (index, seek-friendly copy) goes to
``WORKDIR/cache`` unless ``DLC_WORKBENCH_CACHE`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FULL_FRAMES = 3597
FULL_H264 = Path("/tmp/full/DSC_3189.mp4")  # written by `dlc-workbench sample --preset full`
SIG_STEP = 8  # signature: every 8th pixel of every 8th row, luma
VISIBLE_MAD = 1.0  # mean absolute difference (grey levels) above which a frame is another one
SEARCH_WINDOW = 300  # frames either side searched to name the frame a wrong answer really was
FF_QP2LAMBDA = 118
READERS = ("ours", "ours_seek_copy", "opencv", "napari_deeplabcut")


@dataclass(frozen=True)
class Encoding:
    """One way of encoding the recording."""

    name: str
    codec: str
    suffix: str
    pix_fmt: str
    options: dict[str, str] = field(default_factory=dict)
    gop: int | None = None
    qscale: int | None = None
    long_gop: bool = False


X264 = {"crf": "18", "preset": "veryfast"}  # as `dlc-workbench sample` writes
ENCODINGS = (
    Encoding("h264_gop250", "libx264", ".mp4", "yuv420p", dict(X264), long_gop=True),
    Encoding(
        "h264_gop30",
        "libx264",
        ".mp4",
        "yuv420p",
        {**X264, "keyint": "30", "min-keyint": "30"},
        gop=30,
    ),
    Encoding("mjpeg", "mjpeg", ".avi", "yuvj420p", qscale=3),
    Encoding("mpeg4", "mpeg4", ".avi", "yuv420p", qscale=3),
)


def log(message: str) -> None:
    """Progress on stderr, so stdout stays one JSON object."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    ``VmHWM`` from ``/proc/self/status``: unlike ``ru_maxrss``, which Linux carries over from
    the parent through fork and exec, it starts afresh with the new program.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- encoding --------------------------------------------------------------------------------
def frame_count(path: Path) -> int:
    """Frames in ``path`` as its container says (0 if it cannot be opened, e.g. half-written)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, IndexError, OSError):
        return 0


def encode_all(jobs: list[tuple[Encoding, Path]], n_frames: int) -> float:
    """Render the first ``n_frames`` full-size frames once and encode them for every job.

    Returns
    -------
    float
        Seconds taken (rendering included).
    """
    import av

    from napari_dlc_workbench.sample import SampleSpec, frame_rate, render_frame

    spec = SampleSpec.full(n_frames=n_frames)
    rate = frame_rate(spec.fps)
    start = time.perf_counter()
    outputs = []
    for enc, path in jobs:
        partial = path.with_name(f"{path.stem}.partial{path.suffix}")
        container = av.open(str(partial), mode="w")
        stream = container.add_stream(enc.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, enc.pix_fmt
        stream.codec_context.time_base = 1 / rate
        if enc.gop is not None:
            stream.codec_context.gop_size = enc.gop
        if enc.qscale is not None:  # what ffmpeg -q:v N does
            stream.codec_context.qscale = True
            stream.codec_context.global_quality = enc.qscale * FF_QP2LAMBDA
        stream.options = dict(enc.options)
        outputs.append((container, stream, partial, path))
    for index in range(n_frames):
        gray = render_frame(spec, index)
        for container, stream, _, _ in outputs:
            frame = av.VideoFrame.from_ndarray(gray, format="gray")
            frame.pts = index
            container.mux(stream.encode(frame))
        if index % 200 == 199:
            log(f"  encoded {index + 1}/{n_frames} frames")
    for container, stream, partial, path in outputs:
        container.mux(stream.encode(None))
        container.close()
        partial.replace(path)
    return time.perf_counter() - start


def prepare_files(
    encodings: list[Encoding], n_frames: int, workdir: Path, h264_source: Path
) -> dict[str, dict[str, Any]]:
    """Encode what is missing; return per encoding its path and how it was obtained."""
    files: dict[str, dict[str, Any]] = {}
    jobs: list[tuple[Encoding, Path]] = []
    for enc in encodings:
        if enc.name == "h264_gop250" and n_frames == FULL_FRAMES and h264_source.is_file():
            count = frame_count(h264_source)
            if count == n_frames:
                files[enc.name] = {"path": h264_source, "encode_s": None, "source": "reused"}
                continue
            log(f"{h264_source} has {count} frames, not {n_frames} (still being written?)")
        path = workdir / f"{enc.name}_{n_frames}{enc.suffix}"
        if path.is_file() and frame_count(path) == n_frames:
            files[enc.name] = {"path": path, "encode_s": None, "source": "reused"}
        else:
            jobs.append((enc, path))
    if jobs:
        log(f"encoding {[enc.name for enc, _ in jobs]}, {n_frames} frames")
        seconds = encode_all(jobs, n_frames)
        for enc, path in jobs:
            count = frame_count(path)
            if count != n_frames:
                raise RuntimeError(f"{path}: encoded {count} frames instead of {n_frames}")
            files[enc.name] = {"path": path, "encode_s": seconds, "source": "encoded together"}
    return files


# -- reference -------------------------------------------------------------------------------
def reference(
    path: Path, n_frames: int, indices: np.ndarray, workdir: Path, tag: str
) -> tuple[Path, Path, dict[str, Any]]:
    """Decode ``path`` once in order; keep the sampled frames (RGB) and every frame's signature.

    Returns
    -------
    ref_path, sig_path, info
        ``ref_path``: ``.npy`` of shape ``(len(unique indices), H, W, 3)`` in ascending frame
        order; ``sig_path``: ``.npy`` ``(n_frames, H/8, W/8)`` luma; ``info``: checks.
    """
    import av

    from napari_dlc_workbench.io.video import load_index
    from napari_dlc_workbench.io.video_index import cache_key
    from napari_dlc_workbench.sample import SampleSpec, render_frame

    key = cache_key(path)[:12]
    stem = workdir / "refs" / f"{tag}_{key}_{n_frames}_{len(indices)}_{hash_indices(indices)}"
    ref_path, sig_path, info_path = (stem.with_suffix(s) for s in (".ref.npy", ".sig.npy", ".json"))
    if info_path.is_file() and ref_path.is_file() and sig_path.is_file():
        return ref_path, sig_path, json.loads(info_path.read_text())
    stem.parent.mkdir(parents=True, exist_ok=True)
    wanted = sorted({int(i) for i in indices})
    row = {n: j for j, n in enumerate(wanted)}
    index = load_index(path)
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        height, width = stream.codec_context.height, stream.codec_context.width
        ref = np.lib.format.open_memmap(
            ref_path, mode="w+", dtype=np.uint8, shape=(len(wanted), height, width, 3)
        )
        sig = np.zeros(
            (n_frames, *np.empty((height, width))[::SIG_STEP, ::SIG_STEP].shape), np.uint8
        )
        decoded = 0
        pts_mismatch = 0
        for number, frame in enumerate(container.decode(stream)):
            if number >= n_frames:
                decoded += 1
                continue
            decoded += 1
            if number < len(index) and frame.pts != int(index.pts[number]):
                pts_mismatch += 1
            sig[number] = frame.to_ndarray(format="gray")[::SIG_STEP, ::SIG_STEP]
            if number in row:
                ref[row[number]] = frame.to_ndarray(format="rgb24")
    decode_s = time.perf_counter() - start
    if decoded != n_frames:
        raise RuntimeError(f"{path}: sequential decode gave {decoded} frames, not {n_frames}")
    # Anchor "frame N" to the renderer, independently of any decoder.
    spec = SampleSpec.full(n_frames=n_frames)
    mad_render = [
        float(np.abs(ref[j][..., 1].astype(np.int16) - render_frame(spec, n)).mean())
        for j, n in enumerate(wanted)
    ]
    neighbour = []
    for j, n in enumerate(wanted[:5]):
        for m in (n - 1, n + 1):
            if 0 <= m < n_frames:
                neighbour.append(
                    float(np.abs(ref[j][..., 1].astype(np.int16) - render_frame(spec, m)).mean())
                )
    ref.flush()
    del ref
    np.save(sig_path, sig)
    info = {
        "decode_s": decode_s,
        "frames_decoded": decoded,
        "pts_mismatch_vs_index": pts_mismatch,
        "mad_vs_render_max": max(mad_render),
        "mad_vs_render_median": float(np.median(mad_render)),
        "neighbour_mad_min": min(neighbour) if neighbour else None,
    }
    info_path.write_text(json.dumps(info))
    return ref_path, sig_path, info


def hash_indices(indices: np.ndarray) -> str:
    """Short digest of the sampled indices, naming the reference files."""
    import hashlib

    return hashlib.sha1(np.asarray(indices, np.int64).tobytes()).hexdigest()[:8]


def warm_page_cache(path: Path) -> None:
    """Read a file once so that every reader starts with it in the OS page cache."""
    with path.open("rb") as fh:
        while fh.read(16 << 20):
            pass


# -- readers (child process) -----------------------------------------------------------------
class Reader(ABC):
    """One way to read frame N as RGB uint8."""

    @abstractmethod
    def get(self, number: int) -> np.ndarray:
        """Return frame ``number`` as RGB uint8."""

    def close(self) -> None:  # noqa: B027 - readers without a file to release keep this
        """Release the file."""

    def cached(self, number: int) -> bool | None:
        """Whether frame ``number`` is in the reader's cache (None: no cache)."""
        return None


class OursReader(Reader):
    """``napari_dlc_workbench.io.video.VideoReader``."""

    def __init__(self, path: Path, *, use_seek_copy: bool) -> None:
        from napari_dlc_workbench.io.video import VideoReader

        self.reader = VideoReader(path, use_seek_copy=use_seek_copy)
        self.source = str(self.reader.source)
        self.version = reader_version()

    def get(self, number: int) -> np.ndarray:
        return self.reader.frame(number)

    def cached(self, number: int) -> bool | None:
        cache = getattr(self.reader, "_cache", None)
        return None if cache is None else cache.get(number) is not None

    def close(self) -> None:
        self.reader.close()


class OpenCVReader(Reader):
    """OpenCV as napari-video's ``VideoReaderNP`` (package ``videoreader``) drives it."""

    def __init__(self, path: Path) -> None:
        import cv2

        self.cv2 = cv2
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise OSError(f"OpenCV cannot open {path}")
        self.source = str(path)
        ok, _ = self.cap.read()  # videoreader reads one frame to learn the channels ...
        if not ok:
            raise OSError(f"OpenCV cannot read {path}")
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # ... then seeks back to 0

    def get(self, number: int) -> np.ndarray:
        cv2 = self.cv2
        if number != self.cap.get(cv2.CAP_PROP_POS_FRAMES):
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, number)
        ok, bgr = self.cap.read()
        if not ok:
            raise OSError(f"read() failed at frame {number}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.cap.release()


class NdlcReader(Reader):
    """``napari_deeplabcut.core.io.Video`` (napari-deeplabcut's own OpenCV reader)."""

    def __init__(self, path: Path) -> None:
        from napari_deeplabcut.core.io import Video

        self.video = Video(str(path))
        self.source = str(path)

    def get(self, number: int) -> np.ndarray:
        return self.video.read_frame(number)

    def close(self) -> None:
        self.video.close()


def reader_version() -> dict[str, Any]:
    """Which ``video.py`` was measured (it changes often): its digest and the reader's defaults."""
    import hashlib
    import inspect

    from napari_dlc_workbench.io import video

    defaults = {
        name: param.default
        for name, param in inspect.signature(video.VideoReader).parameters.items()
        if param.default is not inspect.Parameter.empty
    }
    digest = hashlib.sha1(Path(video.__file__).read_bytes()).hexdigest()[:12]
    return {"video_py_sha1": digest, "defaults": defaults}


def import_reader(kind: str) -> None:
    """Import what ``kind`` needs, so the RSS before opening counts the imports."""
    if kind.startswith("ours"):
        import napari_dlc_workbench.io.video  # noqa: F401
    elif kind == "opencv":
        import cv2  # noqa: F401
    elif kind == "napari_deeplabcut":
        import napari_deeplabcut.core.io  # noqa: F401
    else:
        raise ValueError(f"unknown reader {kind!r}")


def open_reader(kind: str, path: Path) -> Reader:
    """A fresh reader of ``kind`` on ``path``."""
    if kind == "ours":
        return OursReader(path, use_seek_copy=False)
    if kind == "ours_seek_copy":
        return OursReader(path, use_seek_copy=True)
    if kind == "opencv":
        return OpenCVReader(path)
    if kind == "napari_deeplabcut":
        return NdlcReader(path)
    raise ValueError(f"unknown reader {kind!r}")


class RefFile:
    """Reads reference rows into one reusable buffer (a file read, not a mapping: RSS stays flat)."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("rb")
        version = np.lib.format.read_magic(self.fh)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }[version]
        shape, _, dtype = read_header(self.fh)
        self.offset = self.fh.tell()
        self.shape = shape
        self.buf = np.empty(shape[1:], dtype=dtype)

    def row(self, j: int) -> np.ndarray:
        self.fh.seek(self.offset + j * self.buf.nbytes)
        self.fh.readinto(memoryview(self.buf).cast("B"))
        return self.buf


def compare(image: np.ndarray, ref: np.ndarray, scratch: np.ndarray) -> tuple[bool, float]:
    """Bit-identical?, and the mean absolute difference in grey levels."""
    if image.shape != ref.shape:
        return False, float("inf")
    np.subtract(image, ref, out=scratch, dtype=np.int16)
    np.abs(scratch, out=scratch)
    mad = float(scratch.mean())
    return mad == 0.0, mad


def signature(image: np.ndarray) -> np.ndarray:
    """Subsampled green channel (the source is gray, so R = G = B = luma up to rounding)."""
    return np.ascontiguousarray(image[::SIG_STEP, ::SIG_STEP, 1])


def identify(sig: np.ndarray, sigs: np.ndarray, near: int) -> tuple[int, float]:
    """The frame (within SEARCH_WINDOW of ``near``) whose signature matches ``sig`` best."""
    lo, hi = max(0, near - SEARCH_WINDOW), min(len(sigs), near + SEARCH_WINDOW + 1)
    block = np.asarray(sigs[lo:hi], dtype=np.int16)
    mads = np.abs(block - sig.astype(np.int16)).mean(axis=(1, 2))
    best = int(np.argmin(mads))
    return lo + best, float(mads[best])


def stats(seconds: list[float], cpu: list[float]) -> dict[str, float]:
    """Median, p90, mean and max of wall-clock latencies, and median/p90 of CPU seconds."""
    arr = np.asarray(seconds) if seconds else np.asarray([np.nan])
    cpu_arr = np.asarray(cpu) if cpu else np.asarray([np.nan])
    return {
        "median_s": float(np.median(arr)),
        "p90_s": float(np.percentile(arr, 90)),
        "mean_s": float(arr.mean()),
        "max_s": float(arr.max()),
        "median_cpu_s": float(np.median(cpu_arr)),
        "p90_cpu_s": float(np.percentile(cpu_arr, 90)),
    }


def probe(
    kind: str, path: Path, ref_path: Path, sig_path: Path, indices: np.ndarray, seq: int
) -> dict[str, Any]:
    """Measure one reader in this (fresh) process; see the module docstring."""
    ref = RefFile(ref_path)
    wanted = sorted({int(i) for i in indices})
    row = {n: j for j, n in enumerate(wanted)}
    scratch = np.empty(ref.shape[1:], np.int16)
    compare(ref.row(0), ref.row(0), scratch)  # touch the comparison buffers before the baseline
    import_reader(kind)
    rss_before = peak_rss_mb()

    start = time.perf_counter()
    reader = open_reader(kind, path)
    open_s = time.perf_counter() - start
    source = reader.source
    version = getattr(reader, "version", None)

    load_start = os.getloadavg()[0]
    latencies: list[float] = []
    cpu: list[float] = []
    wrong_exact = 0
    suspects: list[tuple[int, np.ndarray | None, float, str]] = []
    mad_max_correct = 0.0
    for number in indices:
        number = int(number)
        os.sched_yield()  # start on a fresh time slice: fewer preemptions inside short calls
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            image = reader.get(number)
        except Exception as exc:  # a reader that fails is a wrong frame, not a crash
            latencies.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            wrong_exact += 1
            suspects.append((number, None, float("inf"), f"{type(exc).__name__}: {exc}"))
            continue
        latencies.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        exact, mad = compare(image, ref.row(row[number]), scratch)
        if not exact:
            wrong_exact += 1
        if mad > VISIBLE_MAD:
            suspects.append((number, signature(image), mad, ""))
        else:
            mad_max_correct = max(mad_max_correct, mad)
        del image
    peak = peak_rss_mb()

    warm: dict[str, Any] | None = None
    if kind.startswith("ours"):
        warm_lat: list[float] = []
        warm_cpu: list[float] = []
        hits = 0
        warm_wrong = 0
        for number in indices:
            number = int(number)
            hits += bool(reader.cached(number))
            os.sched_yield()
            start, start_cpu = time.perf_counter(), time.process_time()
            image = reader.get(number)
            warm_lat.append(time.perf_counter() - start)
            warm_cpu.append(time.process_time() - start_cpu)
            warm_wrong += not compare(image, ref.row(row[number]), scratch)[0]
        warm = {**stats(warm_lat, warm_cpu), "cache_hits": hits, "wrong_exact": warm_wrong}
    reader.close()
    del reader

    sigs = np.load(sig_path, mmap_mode="r")
    examples = []
    for number, sig, mad, error in suspects:
        item: dict[str, Any] = {"index": number, "mad": mad}
        if sig is None:
            item["error"] = error
        else:
            item["returned_frame"], item["signature_mad"] = identify(sig, sigs, number)
        examples.append(item)
    offsets = [e["returned_frame"] - e["index"] for e in examples if "returned_frame" in e]

    n_seq = min(seq, len(sigs))
    reader = open_reader(kind, path)
    seq_sigs = []
    seq_errors = 0
    start, start_cpu = time.perf_counter(), time.process_time()
    for number in range(n_seq):
        try:
            seq_sigs.append(signature(reader.get(number)))
        except Exception:
            seq_errors += 1
            seq_sigs.append(None)
    seq_s, seq_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    reader.close()
    seq_wrong = seq_errors
    seq_examples = []
    for number, sig in enumerate(seq_sigs):
        if sig is None:
            continue
        lo = max(0, number - 8)
        block = np.asarray(sigs[lo : number + 9], dtype=np.int16)
        best = lo + int(np.argmin(np.abs(block - sig.astype(np.int16)).mean(axis=(1, 2))))
        if best != number:
            seq_wrong += 1
            if len(seq_examples) < 5:
                seq_examples.append({"index": number, "returned_frame": best})

    return {
        "reader": kind,
        "source": source,
        **({"version": version} if version else {}),
        "open_s": open_s,
        **stats(latencies, cpu),
        "k": len(latencies),
        "wrong_exact": wrong_exact,
        "wrong_visible": len(suspects),
        "mad_max_when_right": mad_max_correct,
        "wrong_offsets": summarise_offsets(offsets),
        "wrong_examples": examples[:10],
        "seq_frames": n_seq,
        "seq_fps": n_seq / seq_s if seq_s > 0 else None,
        "seq_frames_per_cpu_s": n_seq / seq_cpu if seq_cpu > 0 else None,
        "seq_wrong": seq_wrong,
        "seq_wrong_examples": seq_examples,
        "rss_before_open_mb": rss_before,
        "peak_rss_mb": peak,
        "rss_added_mb": peak - rss_before,
        "warm": warm,
        "loadavg_1min": [load_start, os.getloadavg()[0]],
    }


def summarise_offsets(offsets: list[int]) -> dict[str, int]:
    """How often a wrong answer was frame N+d, by d."""
    out: dict[str, int] = {}
    for d in sorted(set(offsets)):
        out[f"{d:+d}"] = offsets.count(d)
    return out


# -- driver ------------------------------------------------------------------------------------
def run_probe(
    kind: str, path: Path, ref_path: Path, sig_path: Path, idx_path: Path, seq: int, timeout: float
) -> dict[str, Any]:
    """Run :func:`probe` in a fresh child of this script and return its JSON."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--probe",
        kind,
        str(path),
        "--ref",
        str(ref_path),
        "--sig",
        str(sig_path),
        "--indices",
        str(idx_path),
        "--seq-frames",
        str(seq),
    ]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"reader": kind, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"reader": kind, "error": done.stderr.strip().splitlines()[-5:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["child_wall_s"] = wall
    return result


def seek_copy(path: Path, cache: Path) -> dict[str, Any]:
    """Make (or reuse) the seek-friendly copy; its size and the time it took."""
    from napari_dlc_workbench.io.transcode import make_seek_copy
    from napari_dlc_workbench.io.video import load_index, seek_copy_path
    from napari_dlc_workbench.io.video_index import cache_key

    times_file = cache / "bench_seek_copy_times.json"
    times = json.loads(times_file.read_text()) if times_file.is_file() else {}
    key = cache_key(path)
    reused = seek_copy_path(path).is_file()
    start = time.perf_counter()
    copy = make_seek_copy(path)
    make_s = time.perf_counter() - start
    if not reused:
        times[key] = make_s
        times_file.parent.mkdir(parents=True, exist_ok=True)
        times_file.write_text(json.dumps(times))
    start = time.perf_counter()
    index = load_index(copy)
    index_s = time.perf_counter() - start
    return {
        "path": str(copy),
        "size_mb": copy.stat().st_size / 1e6,
        "make_s": times.get(key, make_s if not reused else None),
        "reused": reused,
        "first_index_s": index_s,
        "keyframes": len(index.keyframes),
        "max_gop": index.max_gop(),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing."""
    if a is None or b is None or not b or a != a or b != b:
        return None
    return a / b


def summarise(enc: Encoding, readers: dict[str, dict[str, Any]]) -> tuple[dict, dict]:
    """The ratios and targets of the issue for one encoding."""

    def get(name: str, *keys: str) -> Any:
        value: Any = readers.get(name, {})
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    cv_median = get("opencv", "median_s")
    ratios = {
        "ours_median_over_opencv": ratio(get("ours", "median_s"), cv_median),
        "ours_p90_over_opencv": ratio(get("ours", "p90_s"), get("opencv", "p90_s")),
        "ours_median_cpu_over_opencv": ratio(
            get("ours", "median_cpu_s"), get("opencv", "median_cpu_s")
        ),
        "ours_seek_copy_median_cpu_over_opencv": ratio(
            get("ours_seek_copy", "median_cpu_s"), get("opencv", "median_cpu_s")
        ),
        "ours_warm_median_over_opencv": ratio(get("ours", "warm", "median_s"), cv_median),
        "ours_seek_copy_median_over_opencv": ratio(get("ours_seek_copy", "median_s"), cv_median),
        "ours_median_over_napari_deeplabcut": ratio(
            get("ours", "median_s"), get("napari_deeplabcut", "median_s")
        ),
        "ours_warm_median_cpu_over_opencv": ratio(
            get("ours", "warm", "median_cpu_s"), get("opencv", "median_cpu_s")
        ),
        "ours_seq_fps_over_opencv": ratio(get("ours", "seq_fps"), get("opencv", "seq_fps")),
        "ours_seq_per_cpu_s_over_opencv": ratio(
            get("ours", "seq_frames_per_cpu_s"), get("opencv", "seq_frames_per_cpu_s")
        ),
        "ours_seek_copy_seq_fps_over_opencv": ratio(
            get("ours_seek_copy", "seq_fps"), get("opencv", "seq_fps")
        ),
    }
    if enc.long_gop:
        names = ("ours_warm_median", "ours_seek_copy_median")
        limit = 0.33
    else:
        names = ("ours_median",)
        limit = 0.2
    best = min((c for n in names if (c := ratios[f"{n}_over_opencv"]) is not None), default=None)
    best_cpu = min(
        (c for n in names if (c := ratios[f"{n}_cpu_over_opencv"]) is not None), default=None
    )
    ours = [name for name in ("ours", "ours_seek_copy") if name in readers]
    targets = {
        "median_ratio_limit": limit,
        "median_ratio_best": best,
        "median_ratio_ok": None if best is None else best <= limit,
        "median_ratio_best_cpu": best_cpu,
        "median_ratio_ok_cpu": None if best_cpu is None else best_cpu <= limit,
        "seq_ratio_ok": None
        if ratios["ours_seq_fps_over_opencv"] is None
        else ratios["ours_seq_fps_over_opencv"] >= 1.0,
        "seq_ratio_ok_cpu": None
        if ratios["ours_seq_per_cpu_s_over_opencv"] is None
        else ratios["ours_seq_per_cpu_s_over_opencv"] >= 1.0,
        "ours_peak_rss_ok": all((get(n, "peak_rss_mb") or 1e9) < 500 for n in ours),
        "ours_zero_wrong": all(
            get(n, "wrong_exact") == 0
            and get(n, "seq_wrong") == 0
            and (get(n, "warm", "wrong_exact") or 0) == 0
            for n in ours
        ),
    }
    return ratios, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--frames", type=int, default=FULL_FRAMES, help="first N frames of the full spec"
    )
    parser.add_argument("--k", type=int, default=200, help="random frame indices")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seq-frames", type=int, default=600, help="frames read in order")
    parser.add_argument("--workdir", type=Path, help="keep encoded files and references here")
    parser.add_argument("--encodings", nargs="*", default=[e.name for e in ENCODINGS])
    parser.add_argument("--readers", nargs="*", default=list(READERS))
    parser.add_argument(
        "--seek-copy", choices=("long", "all", "none"), default="long", help="files to copy"
    )
    parser.add_argument("--h264-source", type=Path, default=FULL_H264)
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per reader child")
    # internal: one reader in a fresh process
    parser.add_argument("--probe", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--ref", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sig", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--indices", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.probe:
        kind, path = args.probe
        result = probe(kind, Path(path), args.ref, args.sig, np.load(args.indices), args.seq_frames)
        print(json.dumps(result))
        return

    with workdir_of(args.workdir) as workdir:
        print(json.dumps(run(args, workdir), indent=2))


@contextmanager
def workdir_of(given: Path | None) -> Iterator[Path]:
    """Yield the ``--workdir`` folder, or a temporary one removed afterwards."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="bench_video_") as tmp:
        yield Path(tmp)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The whole benchmark; returns the JSON-able result."""
    import av
    import cv2

    started = time.perf_counter()
    os.environ.setdefault("DLC_WORKBENCH_CACHE", str(workdir / "cache"))
    cache = Path(os.environ["DLC_WORKBENCH_CACHE"])
    from napari_dlc_workbench.io.video import build_index, load_index

    n_frames, k = args.frames, min(args.k, args.frames)
    encodings = [e for e in ENCODINGS if e.name in args.encodings]
    indices = np.random.default_rng(args.seed).choice(n_frames, size=k, replace=False)
    idx_path = workdir / f"indices_{n_frames}_{k}_{args.seed}.npy"
    np.save(idx_path, indices)

    files = prepare_files(encodings, n_frames, workdir, args.h264_source)
    out: dict[str, Any] = {}
    for enc in encodings:
        path = files[enc.name]["path"]
        log(f"{enc.name}: {path}")
        start = time.perf_counter()
        index = build_index(path)
        index_build_s = time.perf_counter() - start
        load_index(path)  # cached now, so the readers' opens do not pay for it
        ref_path, sig_path, ref_info = reference(path, n_frames, indices, workdir, enc.name)
        entry: dict[str, Any] = {
            "file": str(path),
            "source": files[enc.name]["source"],
            "encode_s": files[enc.name]["encode_s"],
            "file_mb": path.stat().st_size / 1e6,
            "n_frames": len(index),
            "keyframes": len(index.keyframes),
            "max_gop": index.max_gop(),
            "index_build_s": index_build_s,
            "reference": ref_info,
        }
        readers = [r for r in args.readers if r in READERS]
        wants_copy = args.seek_copy == "all" or (args.seek_copy == "long" and enc.long_gop)
        if "ours_seek_copy" in readers:
            if wants_copy:
                log(f"{enc.name}: seek-friendly copy")
                entry["seek_copy"] = seek_copy(path, cache)
            else:
                readers.remove("ours_seek_copy")
        results: dict[str, dict[str, Any]] = {}
        for kind in readers:
            warm_page_cache(path)
            if kind == "ours_seek_copy":
                warm_page_cache(Path(entry["seek_copy"]["path"]))
            log(f"{enc.name}: {kind}")
            results[kind] = run_probe(
                kind, path, ref_path, sig_path, idx_path, args.seq_frames, args.timeout
            )
            r = results[kind]
            log(
                f"  median {r.get('median_s', float('nan')):.4f} s, wrong {r.get('wrong_visible')}"
                f"/{r.get('wrong_exact')}, seq {r.get('seq_fps') or float('nan'):.1f} fps, "
                f"rss {r.get('peak_rss_mb', float('nan')):.0f} MB {r.get('error', '')}"
            )
        entry["readers"] = results
        entry["ratios"], entry["targets"] = summarise(enc, results)
        out[enc.name] = entry

    return {
        "benchmark": "video random access",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "pyav": av.__version__,
            "ffmpeg_pyav": ".".join(str(v) for v in av.library_versions.get("libavcodec", ())),
            "opencv": cv2.__version__,
        },
        "params": {
            "frames": n_frames,
            "k": k,
            "seed": args.seed,
            "seq_frames": args.seq_frames,
            "workdir": str(workdir),
            "cache": str(cache),
            "visible_mad": VISIBLE_MAD,
        },
        "summary": {name: brief(entry) for name, entry in out.items()},
        "encodings": out,
        "run_s": time.perf_counter() - started,
    }


SUMMARY_KEYS = (
    "median_s",
    "p90_s",
    "median_cpu_s",
    "wrong_exact",
    "wrong_visible",
    "seq_fps",
    "seq_frames_per_cpu_s",
    "peak_rss_mb",
)


def brief(entry: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of one encoding, rounded, for reading at a glance."""

    def rounded(value: Any) -> Any:
        return round(value, 4) if isinstance(value, float) else value

    readers: dict[str, Any] = {}
    for name, result in entry["readers"].items():
        if "error" in result:
            readers[name] = {"error": result["error"]}
            continue
        readers[name] = {key: rounded(result.get(key)) for key in SUMMARY_KEYS}
        if result.get("warm"):
            readers[name]["warm_median_s"] = rounded(result["warm"]["median_s"])
            readers[name]["warm_cache_hits"] = result["warm"]["cache_hits"]
    copy = entry.get("seek_copy")
    return {
        "file_mb": rounded(entry["file_mb"]),
        "keyframes": entry["keyframes"],
        "max_gop": entry["max_gop"],
        **(
            {"seek_copy_mb": rounded(copy["size_mb"]), "seek_copy_make_s": rounded(copy["make_s"])}
            if copy
            else {}
        ),
        "readers": readers,
        "ratios": {key: rounded(value) for key, value in entry["ratios"].items()},
        "targets": entry["targets"],
    }


if __name__ == "__main__":
    main()
