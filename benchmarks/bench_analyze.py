"""Video analysis: the ``analyze`` job's overhead, and cropped wells versus the whole frame.

Two figures, on the CPU, with a network trained briefly on the demo's tiny
project (cspnext_s; speed does not depend on how well it tracks):

* ``overhead``: the ``"analyze"`` job (snapshot resolution, skip check, frame
  progress hook, files moved into place) versus ``deeplabcut.analyze_videos``
  called directly, each in a fresh child process (imports included) on the same
  400x400 clip with the same snapshot, timed from process start to exit. Runs
  alternate; the fastest of each kind is kept, in wall-clock and in CPU
  seconds (child included: steadier than wall time on a shared machine).
  Target: job / direct <= 1.05.
* ``crop_speedup``: a synthetic 1500x1080 recording of five wells
  (``napari_dlc_workbench.sample``) is analysed whole, and as its five 400x400
  well clips (``process.crop_export``); the figure is the whole frame's DLC
  seconds over the five clips' together (model loading excluded: the job's
  per-video ``seconds``).

Run as ``python benchmarks/bench_analyze.py --frames 100``; prints one JSON object.
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
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc.runner import Job, run
from napari_dlc_workbench.model.roi import ROI, ROISet
from napari_dlc_workbench.process.crop_export import export_clips
from napari_dlc_workbench.sample import SampleSpec, write_sample
from napari_dlc_workbench.sample.writer import load_wells

DIRECT = """
import os, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import deeplabcut
config, video, index, dest = sys.argv[1:5]
deeplabcut.analyze_videos(config, [video], snapshot_index=int(index), destfolder=dest,
                          device="cpu")
"""


def make_project(out: Path, epochs: int) -> Path:
    exe = Path(sys.executable).with_name("dlc-workbench")
    subprocess.run(
        [exe, "demo", "--size", "tiny", "--epochs", str(epochs), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("Cladonema_starved-*")) / "config.yaml"


def cpu_seconds() -> float:
    """CPU time of this process and of all its reaped children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_job(kwargs: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
    cpu, begin = cpu_seconds(), time.perf_counter()
    final = run(Job("analyze", kwargs), log_events=False)
    seconds, cpu = time.perf_counter() - begin, cpu_seconds() - cpu
    if final.kind != "finished":
        raise RuntimeError(f"{final.message}\n{final.traceback}")
    return seconds, cpu, final.result


def run_direct(config: Path, video: Path, index: int, dest: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    cpu, begin = cpu_seconds(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DIRECT, str(config), str(video), str(index), str(dest)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
    )
    seconds, cpu = time.perf_counter() - begin, cpu_seconds() - cpu
    if done.returncode:
        raise RuntimeError(done.stderr.decode(errors="replace")[-2000:])
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="frames of the recording")
    parser.add_argument("--repeats", type=int, default=2, help="overhead runs of each kind")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of the model")
    parser.add_argument("--config", type=Path, help="a trained project instead of the demo's")
    parser.add_argument("--skip-crop", action="store_true", help="only the overhead figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = args.config or make_project(tmp / "demo", args.epochs)
        files = write_sample(tmp / "raw", SampleSpec(n_frames=args.frames), name="DSC_3189")
        # 4:2:0 clips need even positions: the wells' crops rounded down to even pixels.
        rois = ROISet(
            tuple(
                ROI(name, x - x % 2, y - y % 2, w - w % 2, h - h % 2)
                for name, x, y, w, h in load_wells(files.wells)
            )
        )
        begin = time.perf_counter()
        clips = [c.path for c in export_clips(files.video, rois, tmp / "clips")]
        crop_s = time.perf_counter() - begin

        common = {"config": str(config), "device": "cpu", "snapshot": "last"}
        wall: dict[str, list[float]] = {"direct": [], "job": []}
        cpu: dict[str, list[float]] = {"direct": [], "job": []}
        snapshot = ""
        for repeat in range(args.repeats):
            seconds, used, result = run_job(
                {**common, "videos": [str(clips[0])], "destfolder": str(tmp / f"job{repeat}")}
            )
            wall["job"].append(seconds)
            cpu["job"].append(used)
            snapshot = result["snapshot"]
            index = result["snapshot_index"]
            seconds, used = run_direct(config, clips[0], index, tmp / f"direct{repeat}")
            wall["direct"].append(seconds)
            cpu["direct"].append(used)
        speedup: dict[str, Any] = {}
        if not args.skip_crop:
            full_wall, _, full = run_job(
                {**common, "videos": [str(files.video)], "destfolder": str(tmp / "full")}
            )
            wells_wall, _, wells = run_job(
                {**common, "videos": [str(c) for c in clips], "destfolder": str(tmp / "wells")}
            )
            full_s = sum(v["seconds"] for v in full["videos"])
            wells_s = sum(v["seconds"] for v in wells["videos"])
            speedup = {
                "crop_export_s": round(crop_s, 2),
                "full_1500x1080_dlc_s": round(full_s, 2),
                "five_400x400_dlc_s": round(wells_s, 2),
                "full_fps": round(args.frames / full_s, 2),
                "wells_fps_per_clip": round(5 * args.frames / wells_s, 2),
                "speedup": round(full_s / wells_s, 3),
                "job_wall_s": {"full": round(full_wall, 2), "wells": round(wells_wall, 2)},
            }
    best = {kind: min(values) for kind, values in wall.items()}
    best_cpu = {kind: min(values) for kind, values in cpu.items()}
    print(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                },
                "model": f"demo tiny cspnext_s, {args.epochs} epoch(s), CPU, {snapshot}",
                "frames": args.frames,
                "overhead": {
                    "video": "one 400x400 well clip",
                    "wall_s": {k: [round(t, 2) for t in v] for k, v in wall.items()},
                    "cpu_s": {k: [round(t, 2) for t in v] for k, v in cpu.items()},
                    "ratio": round(best["job"] / best["direct"], 3),
                    "ratio_cpu": round(best_cpu["job"] / best_cpu["direct"], 3),
                    "target_ratio": 1.05,
                },
                "crop_speedup": speedup,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
