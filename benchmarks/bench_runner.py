"""Overhead of the job runner over calling ``deeplabcut.train_network`` directly.

Both run in a fresh child process (imports included) on the same tiny project
(the demo's ``tiny``: 160x160 clips, cspnext_s, CPU), for the same epochs,
from the same random-initialised snapshot, timed from process start to exit:

* ``direct``: ``python -c "import deeplabcut; deeplabcut.train_network(...)"``;
* ``runner``: ``Job("train", snapshot_path=...)`` through :mod:`dlc.runner`,
  events read as they arrive (the per-epoch hooks, JSON events and pipes);
* ``runner_auto``: ``Job("train")`` with the default ``weights="auto"``, which
  also probes for pretrained weights and builds ``random-init.pt`` itself.

Each run is measured twice: wall-clock seconds, and CPU seconds (user + system
of the child and everything it started, plus the parent's own, so the runner's
reader threads count). On a shared machine wall time swings by 2x with other
load, CPU time far less; both ratios are printed. Runs alternate and the
fastest of each kind is kept (the least disturbed by other load). Run as
``python benchmarks/bench_runner.py --epochs 3``; prints one JSON object.
Target: runner / direct <= 1.05.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc.runner import Job, start
from napari_dlc_workbench.io.config import load_config, save_config

DIRECT = """
import os, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import deeplabcut
config, epochs, batch_size, snapshot = sys.argv[1:5]
deeplabcut.train_network(config, shuffle=1, epochs=int(epochs), batch_size=int(batch_size),
                         save_epochs=int(epochs), device="cpu", snapshot_path=snapshot)
"""


def make_project(out: Path, keep_crop: bool) -> Path:
    exe = Path(sys.executable).with_name("dlc-workbench")
    subprocess.run(
        [exe, "demo", "--size", "tiny", "--out", str(out)], check=True, capture_output=True
    )
    project = next(out.glob("Cladonema_starved-*"))
    if not keep_crop:
        # DLC pads 160 px frames to its 448 px training crop: 5x the CPU time per image.
        path = next(project.glob("dlc-models-pytorch/iteration-0/*/train/pytorch_config.yaml"))
        cfg = load_config(path, validate=False)
        cfg["data"]["train"]["crop_sampling"] = None
        save_config(cfg, path, validate=False)
    return project / "config.yaml"


def cpu_seconds() -> float:
    """CPU time of this process and of all its reaped descendants so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_direct(config: Path, epochs: int, batch_size: int, snapshot: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    cpu, begin = cpu_seconds(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DIRECT, str(config), str(epochs), str(batch_size), str(snapshot)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
    )
    seconds, cpu = time.perf_counter() - begin, cpu_seconds() - cpu
    if done.returncode:
        raise RuntimeError(done.stderr.decode(errors="replace")[-2000:])
    return seconds, cpu


def run_job(kwargs: dict[str, Any]) -> tuple[float, float, int]:
    cpu, begin = cpu_seconds(), time.perf_counter()
    handle = start(Job("train", kwargs))
    n_events = sum(1 for _ in handle.events())
    final = handle.wait()
    seconds, cpu = time.perf_counter() - begin, cpu_seconds() - cpu
    if final.kind != "finished":
        raise RuntimeError(f"{final.message}\n{final.traceback}")
    return seconds, cpu, n_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind")
    parser.add_argument(
        "--keep-crop", action="store_true", help="keep DLC's 448 px training crop (slower)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = make_project(Path(tmp) / "demo", args.keep_crop)
        n_images = len(list(config.parent.glob("labeled-data/*/img*.png")))
        common = {"config": str(config), "epochs": args.epochs, "batch_size": args.batch_size}
        common |= {"save_epochs": args.epochs, "device": "cpu"}
        # Warm-up (file caches) that also makes the random-initialised snapshot.
        run_job({**common, "epochs": 1, "weights": "random"})
        train = next(config.parent.glob("dlc-models-pytorch/iteration-0/*/train"))
        snapshot = Path(tmp) / "random-init.pt"
        shutil.copy2(train / "random-init.pt", snapshot)
        wall: dict[str, list[float]] = {"direct": [], "runner": [], "runner_auto": []}
        cpu: dict[str, list[float]] = {kind: [] for kind in wall}
        n_events = 0
        for _ in range(args.repeats):
            for kind in wall:
                if kind == "direct":
                    seconds, used = run_direct(config, args.epochs, args.batch_size, snapshot)
                else:
                    extra = {"snapshot_path": str(snapshot)} if kind == "runner" else {}
                    seconds, used, n_events = run_job({**common, **extra})
                wall[kind].append(seconds)
                cpu[kind].append(used)
    best = {kind: min(values) for kind, values in wall.items()}
    best_cpu = {kind: min(values) for kind, values in cpu.items()}
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
        "project": "demo tiny: 160x160 clips, cspnext_s, CPU",
        "labelled_images": n_images,
        "crop_448": args.keep_crop,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "wall_s": {kind: [round(t, 2) for t in values] for kind, values in wall.items()},
        "cpu_s": {kind: [round(t, 2) for t in values] for kind, values in cpu.items()},
        "best_wall_s": {kind: round(t, 2) for kind, t in best.items()},
        "best_cpu_s": {kind: round(t, 2) for kind, t in best_cpu.items()},
        "events_per_run": n_events,
        "ratio": round(best["runner"] / best["direct"], 3),
        "ratio_cpu": round(best_cpu["runner"] / best_cpu["direct"], 3),
        "ratio_auto": round(best["runner_auto"] / best["direct"], 3),
        "ratio_auto_cpu": round(best_cpu["runner_auto"] / best_cpu["direct"], 3),
        "target_ratio": 1.05,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
