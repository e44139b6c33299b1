"""Cutting 5 wells out of a full-size recording: our one-pass exporter against FFmpeg.

Input: the synthetic full-size recording (``SampleSpec.full()``: 1500x1080, 29.97 fps, H.264
crf 18 ``veryfast`` with x264's default GOP and B-frames, 3597 frames). ``--source`` (default
``/tmp/full/DSC_3189.mp4``, written by ``dlc-workbench sample --preset full``) is used as it is
with ``--full``; otherwise its first ``--frames`` packets are stream-copied (``ffmpeg -frames:v
N -c copy``) into the work folder. When the source is missing, the first ``N`` frames of
``render_frame(SampleSpec.full(), i)`` are rendered and encoded the same way instead.

ROIs: the 5 wells of ``well_rois(SampleSpec.full())``, 400x400, snapped to even positions.
Contrast: ``ContrastSettings("enhance", saturated=0.35)`` (ImageJ's *Normalize* table).
Encoding everywhere: libx264 crf 17, GOP 10, no B-frames, ``veryfast``, ``yuv420p``.

Methods, each timed as wall time from start to the last clip closed:

* ``ours``: ``export_clips(...)`` -- fits the 5 contrast mappings (reported on its own as
  ``fit_s``, measured by a separate ``fit_roi_mappings`` call), decodes every frame once,
  crops the YUV planes, applies the LUTs and feeds 5 encoders;
* ``ffmpeg_single_pass``: ONE ``ffmpeg`` command, ``split=5`` then per output ``crop`` and
  ``lutyuv`` with the same LUT, 5 ``-map`` outputs;
* ``ffmpeg_five_pass``: five ``ffmpeg`` commands, each decoding the whole input for one crop.

FFmpeg's ``lutyuv`` gets the table our exporter applies to the raw luma plane. Mappings are
fitted on frames as readers show them (TV-range luma 16..235 stretched to 0..255), and the
exporter (``crop_export.luma_mapper``) converts the luma there, applies ImageJ's table and
converts back, so the expression is, from each mapping's ``display_range`` ``(hmin, hmax)``::

    round(16+clip(trunc((clip(round((val-16)*255/219),0,255)-hmin)/(hmax-hmin)*255),0,255)*219/255)

It evaluates the same doubles in the same order as the exporter's tables (no value lands on
a half, so FFmpeg's and numpy's rounding agree) and lutyuv truncates the result, so the
tables should be identical. ``lut_check`` verifies it twice: the expression evaluated in
numpy (``formula_mismatches``) and the table FFmpeg really builds, read back by running each
filter on a 256-value luma ramp (``ffmpeg_mismatches``). It also says how far the plain
``clip((val-hmin)/(hmax-hmin)*255,0,255)`` on raw luma is from our table
(``plain_raw_expression_*``): every entry differs, by up to ~20 levels, because that stretches
raw luma instead of the displayed values. (An exporter without ``luma_mapper`` applied
``mapping.lut`` to raw luma; the benchmark then uses the plain expression.)

Baselines from the same run: ``decode_only`` (one PyAV decode of every frame, threads on,
and ``ffmpeg -f null``), so the time ours spends beyond decoding shows. Throughput is
source frames per second of wall time; ``cpu_s`` is user+system CPU of this process (ours,
PyAV) or of the FFmpeg children. Targets (from the issue): ``ours / single_pass >= 0.8`` and
``ours / five_pass >= 3`` in fps.

The fit samples ~30 frames at keyframes when there are enough of them (``fit_on_keyframes``);
a stream-copied cut of the long-GOP source has one keyframe every 249 frames (3 in 600
frames), so there the fit falls back to decoding up to every frame before the last sampled
one and costs about as much as a full decode. ``ours_vs_single_pass_without_fit`` shows the
export loop alone; on the full recording the fit uses its 15 keyframes.

Checks: every clip has the source's frame count (packets counted by demuxing); frame 100 of
clip ``#1`` decoded with PyAV from ours and from FFmpeg, mean absolute luma difference
(``mad_ours_vs_ffmpeg_single``, ``..._five``), and of each against the uncompressed reference
(the source's frame 100, cropped and mapped, ``mad_vs_reference``), all as readers show the
frames (PyAV ``gray``, 0..255). The clips are not
bit-identical because the encoders are set up differently: PyAV opens libx264 with slice
threads (``sliced_threads=1 slices=2``), the FFmpeg CLI with frame threads;
``x264_settings_diff`` lists the settings x264 wrote into each clip that differ.

Live preview: median over ``--preview-reps`` of ``preview_frame(frame, rois, mappings)`` (a
copy of the decoded full frame with the 5 crops mapped and pasted back, as the crop dock
shows it after a contrast change) for the RGB frame napari shows and for the grey frame;
baseline ``frame.copy()``. Target < 50 ms. ``refit_ms`` is refitting the 5 mappings with
other settings from sample frames already in memory (a contrast change that needs a new
fit; decoding the sample is not included).

``--profile`` adds a cProfile run of ``export_clips`` (main thread only: FFmpeg's decoder
and x264's threads show as time inside the PyAV calls that wait for them) with the top
functions by own time and by cumulative time.

How to run
----------
Default, 600 frames (about 5 min on the 2-core development machine, shared with other jobs)::

    python benchmarks/bench_crop_export.py

All 3597 frames (20-30 min there depending on the load, of which 9-13 min are the five
FFmpeg passes; ``--profile`` adds another 3-4 min)::

    nohup python benchmarks/bench_crop_export.py --full > crop_full.json 2> crop_full.log &

Prints one JSON object on stdout; progress goes to stderr. Absolute times depend on the
machine and its load; compare the ratios, which come from one run (``--repeats R`` runs the
three methods R times, interleaved, and reports medians). Clips go to ``--workdir`` (default
a fresh temporary folder, removed at the end unless ``--keep``; a given folder is kept), the
readers' index cache to ``WORKDIR/cache`` unless ``DLC_WORKBENCH_CACHE`` is set.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FULL_FRAMES = 3597
DEFAULT_SOURCE = Path("/tmp/full/DSC_3189.mp4")  # `dlc-workbench sample --preset full`
CHECK_FRAME = 100
X264_OUT = ["-c:v", "libx264", "-crf", "17", "-g", "10", "-bf", "0", "-preset", "veryfast"]
X264_OUT += ["-pix_fmt", "yuv420p"]
METHODS = ("ours", "ffmpeg_single_pass", "ffmpeg_five_pass")


def log(message: str) -> None:
    """Progress on stderr, so stdout stays one JSON object."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ffmpeg_exe() -> str:
    """Return the FFmpeg binary bundled with ``imageio-ffmpeg``."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: Sequence[str], stdin: bytes | None = None) -> bytes:
    """Run FFmpeg quietly with ``args``; return its stdout, raise with its stderr on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args]
    if stdin is not None:
        cmd.remove("-nostdin")
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return proc.stdout


def cpu_seconds() -> tuple[float, float]:
    """User+system CPU seconds of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def timed(func: Callable[[], object], children: bool) -> tuple[float, float]:
    """Wall and CPU seconds of one call (CPU of the children when ``children``)."""
    before = cpu_seconds()
    start = time.perf_counter()
    func()
    wall = time.perf_counter() - start
    after = cpu_seconds()
    k = 1 if children else 0
    return wall, after[k] - before[k]


def median_ms(repeats: int, func: Callable[[], object]) -> float:
    """Median milliseconds of ``repeats`` calls after one warm-up call."""
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def count_packets(path: Path) -> int:
    """Number of video packets in ``path`` (its frame count; demuxing only)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def decode_luma(path: Path, index: int) -> np.ndarray:
    """Luma plane of frame ``index`` of ``path``, decoded sequentially with PyAV."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i == index:
                return frame.to_ndarray(format="gray")
    raise IndexError(f"{path} has no frame {index}")


def pyav_decode_all(path: Path) -> int:
    """Decode every frame of ``path`` with PyAV (threads on), as the exporter does."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def x264_settings(path: Path) -> dict[str, str]:
    """The encoder settings x264 writes into its stream (its SEI text), as a dict."""
    head = path.read_bytes()[: 1 << 20]
    match = re.search(rb"options: ([^\x00]*)", head)
    if match is None:
        return {}
    pairs = (item.split("=", 1) for item in match.group(1).decode("ascii", "replace").split())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def settings_diff(a: Mapping[str, str], b: Mapping[str, str]) -> dict[str, list[str | None]]:
    """Keys whose values differ between two x264 settings dicts: ``[a, b]``."""
    return {
        key: [a.get(key), b.get(key)] for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)
    }


def render_source(path: Path, n_frames: int) -> None:
    """Encode ``render_frame(SampleSpec.full(), i)`` for ``i < n_frames`` like the sample."""
    from napari_dlc_workbench.sample import SampleSpec, render_frame

    spec = SampleSpec.full()
    cmd = [ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-f", "rawvideo"]
    cmd += ["-pix_fmt", "gray", "-s", f"{spec.width}x{spec.height}", "-r", "30000/1001"]
    cmd += ["-i", "-", "-c:v", "libx264", "-crf", "18", "-preset", "veryfast"]
    cmd += ["-pix_fmt", "yuv420p", str(path)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE) as proc:
        assert proc.stdin is not None
        for i in range(n_frames):
            proc.stdin.write(render_frame(spec, i).tobytes())
        proc.stdin.close()
        if proc.wait():
            raise RuntimeError("encoding the rendered frames failed")


def prepare_input(source: Path, workdir: Path, n_frames: int | None) -> Path:
    """Return the input video: ``source`` itself, its first ``n_frames``, or a rendered one."""
    if n_frames is None:
        if source.is_file():
            return source
        path = workdir / "input_full.mp4"
        log(f"{source} missing: rendering and encoding all {FULL_FRAMES} frames (slow)")
        render_source(path, FULL_FRAMES)
        return path
    path = workdir / f"input_{n_frames}.mp4"
    if source.is_file():
        run_ffmpeg(["-i", str(source), "-frames:v", str(n_frames), "-c", "copy", str(path)])
        if count_packets(path) == n_frames:
            return path
        log("stream copy did not give the wanted frame count; rendering instead")
    log(f"rendering and encoding {n_frames} frames")
    render_source(path, n_frames)
    return path


def warm_file(path: Path) -> None:
    """Read ``path`` once so that every method finds it in the page cache."""
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


def tv_range_exporter() -> bool:
    """True when the exporter applies mappings in the displayed domain of TV-range luma.

    Mappings are fitted on frames as readers show them (luma 16..235 stretched to 0..255);
    such an exporter converts the luma plane there, maps it and converts it back
    (``crop_export.luma_mapper``). An older one applied ``mapping.lut`` to the raw luma.
    """
    from napari_dlc_workbench.process import crop_export

    return hasattr(crop_export, "luma_mapper")


def exporter_luma_table(mapping: Any) -> np.ndarray:
    """The 256-entry table our exporter applies to the raw luma plane for ``mapping``."""
    from napari_dlc_workbench.process import crop_export

    if not tv_range_exporter():
        return mapping.lut.copy()
    ramp = np.arange(256, dtype=np.uint8)
    return np.asarray(crop_export.luma_mapper(mapping)(ramp), dtype=np.uint8)


def lut_expression(display_range: tuple[int, int] | None, tv_range: bool) -> str:
    """FFmpeg ``lutyuv`` luma expression reproducing ImageJ's *Normalize* table.

    ``tv_range``: convert the luma (16..235) to the displayed 0..255 first and back after
    the stretch, with the exporter's rounding (no value lands on a half, so FFmpeg's
    half-away-from-zero ``round`` and numpy's half-to-even ``rint`` agree).
    """
    x = "clip(round((val-16)*255/219),0,255)" if tv_range else "val"
    if display_range is not None:
        lo, hi = display_range
        x = f"clip(trunc(({x}-{lo})/({hi}-{lo})*255),0,255)"
    return f"round(16+{x}*219/255)" if tv_range else x


def evaluate_expression(display_range: tuple[int, int] | None, tv_range: bool) -> np.ndarray:
    """:func:`lut_expression` evaluated in numpy (same doubles, FFmpeg's rounding)."""

    def rnd(x: np.ndarray) -> np.ndarray:  # av_expr's round(): half away from zero
        return np.sign(x) * np.floor(np.abs(x) + 0.5)

    x = np.arange(256, dtype=np.float64)
    if tv_range:
        x = np.clip(rnd((x - 16) * 255 / 219), 0, 255)
    if display_range is not None:
        lo, hi = display_range
        x = np.clip(np.trunc((x - lo) / (hi - lo) * 255), 0, 255)
    if tv_range:
        x = rnd(16 + x * 219 / 255)
    return np.clip(np.trunc(x), 0, 255).astype(np.uint8)  # lutyuv: (int)res, clipped


def crop_filter(roi: Any, expression: str | None) -> str:
    """``crop``, and ``lutyuv`` unless ``expression`` is None (identity table)."""
    crop = f"crop={roi.w}:{roi.h}:{roi.x}:{roi.y}"
    return crop if expression is None else f"{crop},lutyuv=y='{expression}'"


def ffmpeg_table(expression: str | None) -> np.ndarray:
    """The luma table FFmpeg builds for ``expression``, read back from a 0..255 ramp."""
    width, height = 256, 2
    luma = np.tile(np.arange(256, dtype=np.uint8), (height, 1))
    chroma = np.full((height // 2) * (width // 2) * 2, 128, dtype=np.uint8)
    raw = luma.tobytes() + chroma.tobytes()
    vf = "null" if expression is None else f"lutyuv=y='{expression}'"
    args = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-i", "-"]
    args += ["-vf", vf, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    out = np.frombuffer(run_ffmpeg(args, stdin=raw), dtype=np.uint8)
    return out[:width].copy()


def ffmpeg_expressions(mappings: Mapping[str, Any]) -> dict[str, str | None]:
    """Per ROI, the ``lutyuv`` expression matching our exporter (None: identity table)."""
    tv = tv_range_exporter()
    identity = np.arange(256, dtype=np.uint8)
    return {
        name: None
        if np.array_equal(exporter_luma_table(m), identity)
        else lut_expression(m.display_range, tv)
        for name, m in mappings.items()
    }


def lut_check(mappings: Mapping[str, Any], expressions: Mapping[str, str | None]) -> dict:
    """Compare our exporter's luma table with the expression's, in numpy and in FFmpeg.

    Also counts how far the plain ``clip((val-hmin)/(hmax-hmin)*255,0,255)`` on the raw luma
    (right only for an exporter that maps raw luma) is from our table.
    """
    tv = tv_range_exporter()
    report: dict[str, Any] = {"domain": "tv_range_luma_via_display" if tv else "raw_luma"}
    for name, mapping in mappings.items():
        ours = exporter_luma_table(mapping).astype(np.int64)
        formula = evaluate_expression(mapping.display_range, tv).astype(np.int64)
        theirs = ffmpeg_table(expressions[name]).astype(np.int64)
        plain = evaluate_expression(mapping.display_range, False).astype(np.int64)
        report[name] = {
            "display_range": mapping.display_range,
            "expression": expressions[name],
            "formula_mismatches": int(np.count_nonzero(formula != ours)),
            "ffmpeg_mismatches": int(np.count_nonzero(theirs != ours)),
            "ffmpeg_max_abs_diff": int(np.abs(theirs - ours).max()),
            "plain_raw_expression_mismatches": int(np.count_nonzero(plain != ours)),
            "plain_raw_expression_max_abs_diff": int(np.abs(plain - ours).max()),
        }
    return report


def run_ours(video: Path, rois: Any, out_dir: Path, settings: Any) -> list[Any]:
    """Our exporter, into a fresh ``out_dir``."""
    from napari_dlc_workbench.process.crop_export import ExportOptions, export_clips

    shutil.rmtree(out_dir, ignore_errors=True)
    options = ExportOptions(codec="h264", crf=17, gop=10)
    return export_clips(video, rois, out_dir, contrast=settings, options=options)


def run_single_pass(video: Path, rois: Any, exprs: Mapping[str, Any], out_dir: Path) -> None:
    """One FFmpeg command: one decode, ``split``, and a crop (+LUT) and encoder per ROI."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    n = len(rois)
    chains = [f"[0:v]split={n}" + "".join(f"[s{k}]" for k in range(n))]
    outputs: list[str] = []
    for k, roi in enumerate(rois):
        chains.append(f"[s{k}]{crop_filter(roi, exprs[roi.name])}[o{k}]")
        outputs += ["-map", f"[o{k}]", *X264_OUT, str(out_dir / f"{k}.mp4")]
    run_ffmpeg(["-i", str(video), "-filter_complex", ";".join(chains), *outputs])


def run_five_pass(video: Path, rois: Any, exprs: Mapping[str, Any], out_dir: Path) -> None:
    """One FFmpeg command per ROI, each decoding the whole input."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    for k, roi in enumerate(rois):
        vf = crop_filter(roi, exprs[roi.name])
        run_ffmpeg(["-i", str(video), "-vf", vf, "-an", *X264_OUT, str(out_dir / f"{k}.mp4")])


def profile_ours(video: Path, rois: Any, out_dir: Path, settings: Any, top: int) -> dict:
    """CProfile one export; top functions by own and by cumulative time."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(run_ours, video, rois, out_dir, settings)
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    result: dict[str, Any] = {"wall_s_under_profiler": wall}
    for key in ("tottime", "cumulative"):
        rows = []
        stats.sort_stats(key)
        for func in stats.fcn_list[:top]:  # type: ignore[attr-defined]
            cc, nc, tt, ct, _ = stats.stats[func]  # type: ignore[attr-defined]
            filename, line, name = func
            where = f"{Path(filename).name}:{line}({name})" if line else name
            rows.append({"function": where, "calls": nc, "tottime_s": tt, "cumtime_s": ct})
        result[f"top_by_{key}"] = rows
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    log("profile of ours (by own time):\n" + text.getvalue())
    return result


def preview_bench(video: Path, rois: Any, mappings: Mapping[str, Any], reps: int) -> dict:
    """Median time of the dock's contrast preview on one decoded full frame."""
    from napari_dlc_workbench.io.video import VideoReader
    from napari_dlc_workbench.process.contrast import ContrastSettings, fit_contrast
    from napari_dlc_workbench.process.crop_session import preview_frame

    result: dict[str, Any] = {"reps": reps, "target_ms": 50.0}
    for label, gray in (("rgb", False), ("gray", True)):
        with VideoReader(video, gray=gray) as reader:
            frame = np.array(reader[min(CHECK_FRAME, len(reader) - 1)])
        copy = median_ms(reps, frame.copy)
        preview = median_ms(reps, lambda f=frame: preview_frame(f, rois, mappings))
        result[label] = {
            "shape": list(frame.shape),
            "preview_median_ms": preview,
            "baseline_copy_ms": copy,
            "preview_vs_copy": preview / copy,
        }
    # A change that needs a new fit, from sample frames already in memory.
    any_mapping = next(iter(mappings.values()))
    picks = list(any_mapping.frame_indices or [CHECK_FRAME])
    with VideoReader(video, gray=True) as reader:
        sample = np.stack([reader[i] for i in picks])
    other = ContrastSettings("enhance", saturated=1.0)

    def refit() -> None:
        for roi in rois:
            fit_contrast(sample[(slice(None), *roi.slices)], other)

    result["refit_ms"] = median_ms(max(3, reps // 5), refit)
    result["refit_sample_frames"] = len(picks)
    return result


def machine_info() -> dict[str, Any]:
    """Where the figures come from."""
    import av

    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run(
        [ffmpeg_exe(), "-version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "loadavg_start": list(os.getloadavg()),
        "numpy": np.__version__,
        "pyav": av.__version__,
        "pyav_libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "ffmpeg": version[0] if version else "",
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="source frames (default 600)")
    parser.add_argument("--full", action="store_true", help=f"all {FULL_FRAMES} frames")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved runs per method")
    parser.add_argument("--preview-reps", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="also cProfile our exporter")
    parser.add_argument("--profile-top", type=int, default=25)
    args = parser.parse_args(argv)

    own_workdir = args.workdir is None and not args.keep  # removed at the end
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_crop_export_"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DLC_WORKBENCH_CACHE", str(workdir / "cache"))

    from napari_dlc_workbench.io.video import VideoReader, load_index
    from napari_dlc_workbench.model.roi import ROI, ROISet
    from napari_dlc_workbench.process.contrast import ContrastSettings
    from napari_dlc_workbench.process.crop_export import fit_roi_mappings
    from napari_dlc_workbench.sample import SampleSpec, well_rois

    result: dict[str, Any] = {"machine": machine_info()}
    video = prepare_input(args.source, workdir, None if args.full else args.frames)
    warm_file(video)
    start = time.perf_counter()
    n_source = len(load_index(video))
    index_s = time.perf_counter() - start
    with VideoReader(video, gray=True) as reader:
        height, width = reader.frame_shape
    rois = ROISet(
        tuple(
            ROI(*well).snapped_inside(width, height, even=True)
            for well in well_rois(SampleSpec.full())
        )
    )
    settings = ContrastSettings("enhance", saturated=0.35)
    result["input"] = {
        "path": str(video),
        "frames": n_source,
        "size": [width, height],
        "bytes": video.stat().st_size,
        "index_s": index_s,
        "rois": [roi.to_dict() for roi in rois],
        "contrast": settings.to_dict(),
        "x264": " ".join(X264_OUT),
    }
    log(f"input {video}: {n_source} frames {width}x{height}")

    start = time.perf_counter()
    with VideoReader(video, gray=True) as reader:
        mappings = fit_roi_mappings(reader, rois, settings)
    fit_s = time.perf_counter() - start
    ranges = {name: m.display_range for name, m in mappings.items()}
    picks = next(iter(mappings.values())).frame_indices or ()
    keyframes = set(load_index(video).keyframes.tolist())
    result["fit"] = {
        "fit_s": fit_s,
        "sample_frames": len(picks),
        "fit_on_keyframes": set(picks) <= keyframes,
        "keyframes_in_input": len(keyframes),
        "display_ranges": ranges,
    }
    exprs = ffmpeg_expressions(mappings)
    result["lut_check"] = lut_check(mappings, exprs)
    log(f"fit {fit_s:.2f} s; ranges {ranges}")

    # Baselines: decoding alone, PyAV (as the exporter decodes) and FFmpeg.
    pyav = timed(lambda: pyav_decode_all(video), children=False)
    ff = timed(lambda: run_ffmpeg(["-i", str(video), "-f", "null", "-"]), children=True)
    result["decode_only"] = {
        "pyav_s": pyav[0],
        "pyav_fps": n_source / pyav[0],
        "pyav_cpu_s": pyav[1],
        "ffmpeg_s": ff[0],
        "ffmpeg_fps": n_source / ff[0],
        "ffmpeg_cpu_s": ff[1],
    }
    log(f"decode only: pyav {pyav[0]:.1f} s, ffmpeg {ff[0]:.1f} s")

    dirs = {method: workdir / method for method in METHODS}
    jobs: dict[str, tuple[Callable[[], object], bool]] = {
        "ours": (lambda: run_ours(video, rois, dirs["ours"], settings), False),
        "ffmpeg_single_pass": (
            lambda: run_single_pass(video, rois, exprs, dirs["ffmpeg_single_pass"]),
            True,
        ),
        "ffmpeg_five_pass": (
            lambda: run_five_pass(video, rois, exprs, dirs["ffmpeg_five_pass"]),
            True,
        ),
    }
    samples: dict[str, list[tuple[float, float]]] = {method: [] for method in METHODS}
    for rep in range(args.repeats):
        for method in METHODS:
            func, children = jobs[method]
            samples[method].append(timed(func, children))
            log(f"run {rep + 1}/{args.repeats} {method}: {samples[method][-1][0]:.1f} s")
    methods: dict[str, Any] = {}
    for method in METHODS:
        wall = statistics.median(s[0] for s in samples[method])
        files = sorted(dirs[method].glob("*.mp4"))
        methods[method] = {
            "seconds": wall,
            "fps": n_source / wall,
            "cpu_s": statistics.median(s[1] for s in samples[method]),
            "all_seconds": [s[0] for s in samples[method]],
            "output_bytes": sum(f.stat().st_size for f in files),
        }
    methods["ours"]["of_which_fit_s"] = fit_s
    methods["ours"]["fps_without_fit"] = n_source / (methods["ours"]["seconds"] - fit_s)
    result["methods"] = methods
    ours_fps = methods["ours"]["fps"]
    result["ratios"] = {
        "ours_vs_single_pass": ours_fps / methods["ffmpeg_single_pass"]["fps"],
        "ours_vs_five_pass": ours_fps / methods["ffmpeg_five_pass"]["fps"],
        "targets": {"ours_vs_single_pass": 0.8, "ours_vs_five_pass": 3.0},
        "ours_vs_single_pass_without_fit": methods["ours"]["fps_without_fit"]
        / methods["ffmpeg_single_pass"]["fps"],
        "ours_vs_pyav_decode_only": ours_fps / result["decode_only"]["pyav_fps"],
        "single_pass_vs_ffmpeg_decode_only": methods["ffmpeg_single_pass"]["fps"]
        / result["decode_only"]["ffmpeg_fps"],
    }

    # Checks: frame counts, and frame 100 of clip #1.
    ours_files = [dirs["ours"] / f"{video.stem}_{roi.name}.mp4" for roi in rois]
    counts = {
        "source": n_source,
        "ours": [count_packets(p) for p in ours_files],
        "ffmpeg_single_pass": [
            count_packets(dirs["ffmpeg_single_pass"] / f"{k}.mp4") for k in range(len(rois))
        ],
        "ffmpeg_five_pass": [
            count_packets(dirs["ffmpeg_five_pass"] / f"{k}.mp4") for k in range(len(rois))
        ],
    }
    first = next(iter(rois))
    check_frame = min(CHECK_FRAME, n_source - 1)
    reference = mappings[first.name].apply(decode_luma(video, check_frame)[first.slices])
    ours_frame = decode_luma(ours_files[0], check_frame).astype(np.int16)
    single = decode_luma(dirs["ffmpeg_single_pass"] / "0.mp4", check_frame).astype(np.int16)
    five = decode_luma(dirs["ffmpeg_five_pass"] / "0.mp4", check_frame).astype(np.int16)
    result["checks"] = {
        "frame_counts": counts,
        "frame_counts_equal": all(
            c == n_source
            for key in METHODS
            for c in counts[key]  # type: ignore[union-attr]
        ),
        "clip": first.name,
        "frame": check_frame,
        "mad_ours_vs_ffmpeg_single": float(np.abs(ours_frame - single).mean()),
        "max_abs_ours_vs_ffmpeg_single": int(np.abs(ours_frame - single).max()),
        "mad_ours_vs_ffmpeg_five": float(np.abs(ours_frame - five).mean()),
        "x264_settings_diff": {
            "ours_vs_ffmpeg_single": settings_diff(
                x264_settings(ours_files[0]),
                x264_settings(dirs["ffmpeg_single_pass"] / "0.mp4"),
            ),
        },
        "mad_vs_reference": {
            "ours": float(np.abs(ours_frame - reference).mean()),
            "ffmpeg_single_pass": float(np.abs(single - reference).mean()),
            "ffmpeg_five_pass": float(np.abs(five - reference).mean()),
        },
    }
    log("preview")
    result["preview"] = preview_bench(video, rois, mappings, args.preview_reps)
    if args.profile:
        log("profiling ours")
        result["profile"] = profile_ours(
            video, rois, workdir / "ours_profile", settings, args.profile_top
        )
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    result["workdir"] = None if own_workdir else str(workdir)
    if own_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
