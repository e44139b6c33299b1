"""Screenshot of the Evaluation dock on the tiny demo project, trained and evaluated for real.

Run as ``python benchmarks/screenshot_evaluation.py [--epochs 30] [--out docs/images/evaluation.png]``
(it starts a virtual X display when there is none). It makes the tiny demo project, trains
shuffle 1 from random weights on the CPU through the job runner (DLC runs in a child, as in
the app), evaluates the last snapshot, opens the dock, shows the test and train images worst
first and saves the window. Prints one JSON object: the timings and DLC's test numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def ensure_display() -> Any:
    """Start a virtual X display (Xvfb) unless one is there; keep the handle alive."""
    if os.environ.get("DISPLAY"):
        return None
    from pyvirtualdisplay import Display

    display = Display(visible=False, size=(1600, 1000))
    display.start()
    return display


def trained_project(work: Path, epochs: int) -> tuple[Path, dict[str, float]]:
    """Make the tiny demo project, train it ``epochs`` epochs and evaluate the last snapshot."""
    from napari_dlc_workbench.dlc.runner import Job, run
    from napari_dlc_workbench.io.config import load_config, save_config

    times = {}
    start = time.perf_counter()
    exe = Path(sys.executable).with_name("dlc-workbench")
    subprocess.run(
        [exe, "demo", "--size", "tiny", "--out", str(work / "demo")],
        check=True,
        capture_output=True,
    )
    project = next((work / "demo").glob("Cladonema_starved-*"))
    pytorch_config = next(
        project.glob("dlc-models-pytorch/iteration-0/*/train/pytorch_config.yaml")
    )
    cfg = load_config(pytorch_config, validate=False)
    cfg["data"]["train"]["crop_sampling"] = None  # 160 px frames: no 448 px training crops
    save_config(cfg, pytorch_config, validate=False)
    times["demo_s"] = time.perf_counter() - start
    config = project / "config.yaml"
    start = time.perf_counter()
    job = Job("train", {"config": str(config), "epochs": epochs, "batch_size": 4,
                        "device": "cpu", "save_epochs": epochs, "eval_interval": epochs})  # fmt: skip
    final = run(job, log_events=False)
    if final.kind != "finished":
        raise SystemExit(f"training failed: {final.message}\n{final.traceback}")
    times["train_s"] = time.perf_counter() - start
    start = time.perf_counter()
    final = run(Job("evaluate", {"config": str(config), "device": "cpu"}), log_events=False)
    if final.kind != "finished":
        raise SystemExit(f"evaluation failed: {final.message}\n{final.traceback}")
    times["evaluate_s"] = time.perf_counter() - start
    return config, times


def screenshot(config: Path, out: Path) -> dict[str, Any]:
    """Open the dock on ``config``, show the evaluated images worst first, save the window."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_dlc_workbench._qt.evaluation_widget import EvaluationWidget

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    dock = EvaluationWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Evaluation", area="right")
    start = time.perf_counter()
    dock.set_config(config)
    loaded = time.perf_counter() - start
    dock.train_box.setChecked(True)
    start = time.perf_counter()
    layers = dock.show_frames()
    shown = time.perf_counter() - start
    dock.table.setCurrentCell(0, 2)  # the test error row: its explanation in the panel
    dock.go_to(0)
    image, truth, predictions = layers[0], layers[2], layers[3]
    viewer.reset_view()
    # frame 0 (the worst image) framed around its labels and predictions, ~90 px across
    points = np.vstack(
        [truth.data[truth.data[:, 0] == 0], predictions.data[predictions.data[:, 0] == 0]]
    )
    camera = viewer.scene.camera
    camera.zoom *= max(image.data.shape[1:3]) / 90
    camera.center = (0, *points[:, 1:].mean(axis=0))
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(out), canvas_only=False)
    figures = {
        "load_results_s": round(loaded, 3),
        "show_frames_s": round(shown, 3),
        "frames": int(image.data.shape[0]),
        "result": {k: v for k, v in dock.result["overall"].items() if k.startswith("test")},
        "animal_size_px": round(dock.size.scale, 2),
        "frame_0": dock.descriptions[0],
    }
    viewer.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("docs/images/evaluation.png"))
    parser.add_argument("--project", type=Path, help="an evaluated project's config.yaml to reuse")
    parser.add_argument("--work", type=Path, help="keep the trained project in this folder")
    args = parser.parse_args()
    display = ensure_display()
    with tempfile.TemporaryDirectory() as tmp:
        times: dict[str, float] = {}
        config = args.project
        if config is None:
            config, times = trained_project(args.work or Path(tmp), args.epochs)
        figures = screenshot(config, args.out)
    if display is not None:
        display.stop()
    print(json.dumps({"epochs": args.epochs, **{k: round(v, 1) for k, v in times.items()},
                      **figures, "screenshot": str(args.out)}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
