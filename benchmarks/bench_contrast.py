"""Time fitting and applying each contrast method on a 400x400 well crop and a full frame.

Frames come from the synthetic recording (``render_frame(SampleSpec.full(), i)``), sampled
with ``sample_indices`` as the exporter does. Absolute times depend on the machine, so every
figure comes with baselines measured in the same run, on the same frame, and ratios to them:

* ``apply``: ``np.take`` of an identity table (the cheapest honest table lookup) and a plain
  ``frame.copy()``;
* ``fit``: one ``np.bincount`` per sampled frame (the least a histogram-based fit must do).

The live preview's budget is 50 ms per frame (median); ``apply_ms`` is reported for that check.
Run as ``python benchmarks/bench_contrast.py --repeats 15``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from napari_dlc_workbench.process.contrast import ContrastSettings, fit_contrast, sample_indices
from napari_dlc_workbench.sample import SampleSpec, render_frame, well_rois

METHODS = ("none", "enhance", "equalize", "clahe")
IDENTITY = np.arange(256, dtype=np.uint8)


def median_of(repeats: int, func: Callable[[], object]) -> float:
    """Median seconds of ``repeats`` calls, after one warm-up call (caches, page faults)."""
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def histograms(frames: np.ndarray) -> np.ndarray:
    return sum(np.bincount(f.ravel(), minlength=256) for f in frames)


def bench_size(frames: np.ndarray, repeats: int) -> dict[str, object]:
    frame = np.ascontiguousarray(frames[0])
    take = median_of(repeats, lambda: np.take(IDENTITY, frame))
    copy = median_of(repeats, frame.copy)
    fit_base = median_of(max(1, repeats // 3), lambda: histograms(frames))
    result: dict[str, object] = {
        "shape": list(frame.shape),
        "sample_frames": len(frames),
        "baseline_take_ms": 1e3 * take,
        "baseline_copy_ms": 1e3 * copy,
        "baseline_fit_bincount_ms": 1e3 * fit_base,
    }
    for method in METHODS:
        settings = ContrastSettings(method, sample_frames=len(frames))
        fit = median_of(max(1, repeats // 3), lambda s=settings: fit_contrast(frames, s))
        mapping = fit_contrast(frames, settings)
        first = time.perf_counter()
        mapping = fit_contrast(frames, settings)
        mapping.apply(frame)  # includes building the per-shape CLAHE grid
        first_apply = time.perf_counter() - first
        apply = median_of(repeats, lambda m=mapping: m.apply(frame))
        result[method] = {
            "fit_ms": 1e3 * fit,
            "fit_vs_bincount": fit / fit_base,
            "first_fit_and_apply_ms": 1e3 * first_apply,
            "apply_ms": 1e3 * apply,
            "apply_vs_take": apply / take,
            "apply_vs_copy": apply / copy,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per figure")
    parser.add_argument("--sample", type=int, default=30, help="frames the mapping is fitted on")
    args = parser.parse_args()
    spec = SampleSpec.full()
    picks = sample_indices(spec.n_frames, args.sample)
    full = np.stack([render_frame(spec, i) for i in picks])
    _, x, y, w, h = well_rois(spec)[0]
    crop = np.ascontiguousarray(full[:, y : y + h, x : x + w])
    result = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or "?"},
        "numpy": np.__version__,
        "crop": bench_size(crop, args.repeats),
        "full": bench_size(full, args.repeats),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
