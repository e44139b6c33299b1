"""What the Training dock costs: wall time against the runner alone, and GUI stalls.

Project: ``dlc-workbench demo --size tiny`` (160x160 clips, cspnext_s, shuffle 1), with DLC's
448 px training crop turned off as in the tests, CPU only, batch 4, a snapshot and a test
evaluation every epoch, random initial weights (offline). The same ``train`` job (built by
``process.training_session.start_jobs`` from the dock's settings) runs two ways, alternating:

* ``direct``: ``dlc.runner.run(Job("train", ...))`` in this process, no GUI work at all;
* ``dock``: the Training dock's Start button in a shown napari viewer (Xvfb when there is no
  display), timed from the click until the dock has handled the job's final event, while the
  Qt event loop runs. ``ratio`` = fastest dock run / fastest direct run (target <= 1.05); ``cpu_ratio`` the same for CPU seconds
  (this process and its children: the GUI's own work counts for the dock), steadier than wall
  time on a shared machine.

Both include starting the child and importing DeepLabCut (~10 s on a loaded 2-core machine).
During the dock runs a 10 ms precise ``QTimer`` records the gaps between its ticks: its
``max`` and ``p99`` show how long the GUI thread was ever busy (target max < 100 ms). The
doctor probe the dock starts on opening is waited for before timing.

Run as ``python benchmarks/bench_training_dock.py [--epochs 5] [--repeats 2]
[--screenshot docs/images/training.png]``; prints one JSON object (none with ``--repeats 0``,
which only takes the screenshot). The screenshot is taken during a ``--shot-epochs`` run
(10) once all but two epochs are plotted; that run is then cancelled.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _gui import Ticks, demo_project, ensure_display, wait

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_project(work: Path) -> Path:
    from napari_dlc_workbench.io.config import load_config, save_config

    project = demo_project(work)
    path = next(project.glob("dlc-models-pytorch/iteration-0/*/train/pytorch_config.yaml"))
    cfg = load_config(path, validate=False)
    cfg["data"]["train"]["crop_sampling"] = None  # 160 px frames padded to 448 px: 5x slower
    save_config(cfg, path, validate=False)
    return project / "config.yaml"


def configure(dock: Any, epochs: int) -> None:
    dock.epochs_box.setValue(epochs)
    dock.batch_box.setValue(4)
    dock.device_box.setCurrentIndex(dock.device_box.findData("cpu"))
    dock.save_box.setValue(1)
    dock.eval_box.setValue(1)
    dock.weights_box.setCurrentIndex(dock.weights_box.findData("random"))


def cpu_seconds() -> float:
    """CPU time of this process and of all its reaped children (the training child)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_direct(dock: Any) -> tuple[float, float]:
    from napari_dlc_workbench.dlc.runner import Job, run
    from napari_dlc_workbench.process.training_session import start_jobs

    dock.refresh()
    ((name, kwargs),) = start_jobs(dock.settings(), dock.state)
    cpu, begin = cpu_seconds(), time.perf_counter()
    final = run(Job(name, kwargs))
    seconds = time.perf_counter() - begin
    if final.kind != "finished":
        raise SystemExit(f"direct run: {final.message}\n{final.traceback}")
    return seconds, cpu_seconds() - cpu


def run_dock(dock: Any, ticks: Ticks) -> tuple[float, float]:
    ticks.start()
    cpu, begin = cpu_seconds(), time.perf_counter()
    dock.start_button.click()
    wait(lambda: not dock.running, 900)
    seconds = time.perf_counter() - begin
    ticks.stop()
    if "finished" not in dock.status.text():
        raise SystemExit(f"dock run: {dock.status.text()}\n{dock.details.toPlainText()}")
    return seconds, cpu_seconds() - cpu


def screenshot(viewer: Any, dock: Any, path: Path, epochs: int) -> None:
    """The dock mid-run: the curve of the epochs so far, the bars, the ETA."""
    configure(dock, epochs)
    dock.start_button.click()
    wait(lambda: len(dock.curve) >= epochs - 2, 1800)
    wait(lambda: dock.batch_bar.value() >= 1, 120)
    path.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(path), canvas_only=False)
    dock.cancel()
    wait(lambda: not dock.running, 120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--shot-epochs", type=int, default=10, help="epochs of the screenshot run")
    args = parser.parse_args()
    # A plain SIGTERM would skip atexit, which stops a training child still running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    display = ensure_display()  # noqa: F841 - kept alive until the end
    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    config = make_project(work)

    import napari

    from napari_dlc_workbench._qt.training_widget import TrainingWidget

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 1050)
    viewer.open(next((config.parent / "labeled-data").iterdir()), plugin="napari-dlc-workbench")
    dock = TrainingWidget(viewer)  # prefilled from the labels layer's project
    viewer.window.add_dock_widget(dock, name="Training")
    wait(lambda: dock.device_label.text().startswith("doctor:"), 300)
    configure(dock, args.epochs)

    ticks = Ticks()
    direct, docked, direct_cpu, docked_cpu = [], [], [], []
    for repeat in range(args.repeats):
        wall, cpu = run_direct(dock)
        direct.append(wall)
        direct_cpu.append(cpu)
        wall, cpu = run_dock(dock, ticks)
        docked.append(wall)
        docked_cpu.append(cpu)
        print(f"repeat {repeat}: direct {direct[-1]:.1f} s, dock {wall:.1f} s", file=sys.stderr)
    if args.repeats:
        gaps_ms = np.asarray(ticks.gaps) * 1e3
        result = {
            "project": "demo tiny (160x160, cspnext_s, CPU, batch 4)",
            "config_prefilled": dock.config_edit.text() == str(config),
            "epochs": args.epochs,
            "direct_s": [round(s, 2) for s in direct],
            "dock_s": [round(s, 2) for s in docked],
            "ratio": round(min(docked) / min(direct), 3),
            "direct_cpu_s": [round(s, 2) for s in direct_cpu],
            "dock_cpu_s": [round(s, 2) for s in docked_cpu],
            "cpu_ratio": round(min(docked_cpu) / min(direct_cpu), 3),
            "gui_gap_ms": {
                "timer_ms": 10,
                "max": round(float(gaps_ms.max()), 1),
                "p99": round(float(np.percentile(gaps_ms, 99)), 1),
                "median": round(float(np.median(gaps_ms)), 1),
                "ticks": int(gaps_ms.size),
            },
            "plotted_epochs": list(dock.curve.epochs),
            "machine": {
                "cpus": os.cpu_count(),
                "load_1min": round(os.getloadavg()[0], 1),
                "python": platform.python_version(),
            },
        }
        print(json.dumps(result, indent=2), flush=True)
    if args.screenshot:
        screenshot(viewer, dock, args.screenshot, args.shot_epochs)
    viewer.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
