"""Outlier detection: injected-error recovery and speed, the workbench's vs DeepLabCut's.

Ground truth of one well of the synthetic recording at the users' size (400 px crops), with
20 errors of each kind injected (jumps, swaps, low-likelihood frames, slow drifts; see
``napari_dlc_workbench.sample.errors``). Precision and recall per kind for the
workbench's queue (its first 60 rows, its first 80 = as many rows as errors, and each
signal on its own) and for DLC 3's ``uncertain``, ``jump`` and ``fitting`` with DLC's
default parameters (run in a child process by DLC's own code). Then the time to score
100 000 frames x 4 keypoints; DLC's "fitting" is timed on fewer frames and extrapolated
linearly (it fits two SARIMAX models per keypoint, each linear in the frames).

    .venv/bin/python benchmarks/bench_outliers.py [--frames 800] [--seed 0] [--no-dlc]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.process.outlier_scores import score_table, shape_reference
from napari_dlc_workbench.process.outliers import rank_frames
from napari_dlc_workbench.sample import BODYPARTS, SampleSpec, ground_truth
from napari_dlc_workbench.sample.errors import evaluate_flags, inject_errors

SCORER = "DLC_Resnet50_Cladonema_starvedJun13shuffle1_snapshot_110"
KEYPOINTS = [("", bp) for bp in BODYPARTS]


def _table(data: np.ndarray) -> KeypointTable:
    return KeypointTable(SCORER, list(range(len(data))), KEYPOINTS, data, True)


def _write(data: np.ndarray, folder: Path, name: str) -> Path:
    path = folder / f"{name}{SCORER}.h5"
    _table(data).to_dataframe().to_hdf(path, key="df_with_missing", mode="w")
    return path


def _dlc(path: Path, methods: list[str]) -> dict[str, Any]:
    from napari_dlc_workbench.dlc.runner import Job, run

    event = run(
        Job(
            "napari_dlc_workbench.dlc.outliers_dlc:dlc_outlier_frames",
            {"predictions": str(path), "methods": methods},
        ),
        log_events=False,
    )
    if event.kind != "finished":
        raise RuntimeError(f"DLC outlier job failed: {event.message}\n{event.traceback}")
    return dict(event.result)


def _best_of(func: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        func()
        times.append(time.perf_counter() - tick)
    return min(times)


def main() -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-dlc", action="store_true", help="skip DeepLabCut's methods")
    parser.add_argument("--fitting-frames", type=int, nargs="+", default=[1000, 3000])
    args = parser.parse_args()

    spec = SampleSpec.full(n_frames=max(3597, args.frames))
    truth = ground_truth(spec)[: args.frames, 0]
    data, errors = inject_errors(truth, 20, seed=args.seed)
    labelled = np.linspace(0, args.frames - 1, 20).astype(int)
    labels = KeypointTable(
        "labeller",
        [("labeled-data", "well", f"img{i:04d}.png") for i in labelled],
        KEYPOINTS,
        np.concatenate([truth[labelled], np.full((20, 4, 1), np.nan)], axis=2),
    )
    reference = shape_reference([labels])
    scores = score_table(_table(data), reference=reference)
    rows = rank_frames(scores)
    ours = {
        "top60": evaluate_flags([r.frame for r in rows[:60]], errors),
        "top80": evaluate_flags([r.frame for r in rows[:80]], errors),
        "all_flagged": evaluate_flags([r.frame for r in rows], errors),
        "signals_alone": {
            kind: evaluate_flags(np.flatnonzero(value >= 1.0), errors)
            for kind, value in scores.by_frame.items()
        },
    }
    out: dict[str, Any] = {
        "data": {
            "frames": args.frames,
            "keypoints": len(BODYPARTS),
            "well_px": spec.well_size,
            "errors_per_kind": 20,
            "seed": args.seed,
            "labelled_frames_for_shape": 20,
            "tolerance_frames": 1,
        },
        "workbench": ours,
    }

    big_truth = ground_truth(SampleSpec.full(n_frames=100_000))[:, 0]
    big, _ = inject_errors(big_truth, 1000, seed=args.seed)
    big_table = _table(big)
    timing = {
        "frames": 100_000,
        "workbench_score_s": round(
            _best_of(lambda: score_table(big_table, reference=reference), 5), 4
        ),
        "workbench_score_and_rank_s": round(
            _best_of(lambda: rank_frames(score_table(big_table, reference=reference)), 5), 4
        ),
    }

    if not args.no_dlc:
        with tempfile.TemporaryDirectory() as tmp:
            small = _write(data, Path(tmp), "well")
            dlc = _dlc(small, ["uncertain", "jump", "fitting"])
            out["dlc"] = {
                "parameters": dlc["parameters"],
                "deeplabcut": dlc["defaults"]["deeplabcut"],
                **{m: evaluate_flags(dlc[m]["frames"], errors) for m in ("uncertain", "jump")},
                "fitting": evaluate_flags(dlc["fitting"]["frames"], errors),
            }
            fast = _dlc(_write(big, Path(tmp), "big"), ["uncertain", "jump"])
            timing["dlc_uncertain_s"] = fast["uncertain"]["seconds"]
            timing["dlc_jump_s"] = fast["jump"]["seconds"]
            measured = {}
            for n in args.fitting_frames:
                part = _dlc(_write(big[:n], Path(tmp), f"part{n}"), ["fitting"])
                measured[n] = part["fitting"]["seconds"]
            largest = max(measured)
            timing["dlc_fitting_measured_s"] = {str(n): s for n, s in measured.items()}
            timing["dlc_fitting_extrapolated_s"] = round(measured[largest] / largest * 100_000, 1)
            timing["dlc_fitting_note"] = (
                f"extrapolated linearly from {largest} frames (SARIMAX per keypoint and axis)"
            )
    out["timing_100000x4"] = timing
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
