"""Time the synthetic sample: full-size rendering and writing the tiny/small presets.

Absolute times depend on the machine, so each figure comes with a baseline measured in the
same run and the ratio between them:

* rendering is compared with the cheapest honest frame, ``np.zeros`` plus Gaussian noise
  of the same size converted to uint8;
* writing is compared with encoding the same number of such noise frames with the same
  codec settings and no rendering.

Run as ``python benchmarks/bench_sample.py --frames 50``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from napari_dlc_workbench.sample import SampleSpec, frame_rate, render_frame, write_sample


def best_of(repeats: int, func: Callable[[], object]) -> float:
    """Seconds of the fastest of ``repeats`` calls: the least disturbed by other load."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def noise_frame(spec: SampleSpec, index: int) -> np.ndarray:
    rng = np.random.default_rng([spec.seed, index])
    frame = np.zeros((spec.height, spec.width), dtype=np.float32)
    frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(spec.noise_sigma)
    frame += np.float32(spec.background)
    return np.clip(frame, 0, 255).astype(np.uint8)


def encode_noise(folder: Path, spec: SampleSpec) -> None:
    import av

    rate = frame_rate(spec.fps)
    with av.open(str(folder / "baseline.mp4"), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        stream.codec_context.time_base = Fraction(1) / rate
        stream.options = {"crf": "18", "preset": "veryfast"}
        for index in range(spec.n_frames):
            frame = av.VideoFrame.from_ndarray(noise_frame(spec, index), format="gray")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def bench_render(n_frames: int, repeats: int) -> dict[str, float]:
    spec = SampleSpec.full()
    cold = best_of(1, lambda: render_frame(spec, 0))  # builds the cached tracks/background
    frames = range(0, spec.n_frames, max(1, spec.n_frames // n_frames))[:n_frames]
    render = best_of(repeats, lambda: [render_frame(spec, i) for i in frames])
    baseline = best_of(repeats, lambda: [noise_frame(spec, i) for i in frames])
    return {
        "frames": len(frames),
        "first_frame_ms": 1e3 * cold,
        "render_ms_per_frame": 1e3 * render / len(frames),
        "baseline_ms_per_frame": 1e3 * baseline / len(frames),
        "ratio": render / baseline,
    }


def bench_write(name: str) -> dict[str, float]:
    spec = SampleSpec.from_name(name)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        files = write_sample(folder, spec)
        write = time.perf_counter() - start
        size = files.video.stat().st_size
        baseline = best_of(1, lambda: encode_noise(folder, spec))
    return {
        "size": f"{spec.width}x{spec.height}x{spec.n_frames}",
        "write_s": write,
        "baseline_s": baseline,
        "ratio": write / baseline,
        "video_mb": size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50, help="full-size frames to render")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument(
        "--write", nargs="*", default=["tiny", "small"], help="presets to write (none: skip)"
    )
    args = parser.parse_args()
    result = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or "?"},
        "render_full": bench_render(args.frames, args.repeats),
        "write": {name: bench_write(name) for name in args.write},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
