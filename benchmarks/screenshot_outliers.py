"""Screenshot of the Outliers dock on the tiny demo project, with predictions that have errors.

Run as ``python benchmarks/screenshot_outliers.py [--project DEMO/config.yaml]
[--out docs/images/outliers.png]`` (it starts a virtual X display when there is none).
It makes the tiny demo project (or copies the one given), writes predictions of clip
``DSC_3189_#1`` from the generator's ground truth with one error of each kind injected
(:mod:`napari_dlc_workbench.sample.errors`), opens the dock, scores the frames, steps to
the worst frame, drags its wrong keypoint back onto the truth and saves the window.
Prints one JSON object: timings and the queue.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CLIP = "DSC_3189_#1"
SCORER = "DLC_CspnextS_Cladonema_starvedNov29shuffle1_snapshot_030"


def ensure_display() -> Any:
    """Start a virtual X display (Xvfb) unless one is there; keep the handle alive."""
    if os.environ.get("DISPLAY"):
        return None
    from pyvirtualdisplay import Display

    display = Display(visible=False, size=(1600, 1000))
    display.start()
    return display


def demo_project(work: Path, source: Path | None) -> tuple[Path, Path]:
    """``(config.yaml, raw folder)`` of a writable tiny demo project."""
    if source is None:
        exe = Path(sys.executable).with_name("dlc-workbench")
        subprocess.run(
            [exe, "demo", "--size", "tiny", "--epochs", "0", "--out", str(work / "demo")],
            check=True,
            capture_output=True,
        )
        return next((work / "demo").glob("Cladonema_starved-*/config.yaml")), work / "demo/raw"
    dest = work / source.parent.name
    shutil.copytree(source.parent, dest)
    config = dest / "config.yaml"
    config.write_text(config.read_text().replace(str(source.parent), str(dest)))
    return config, source.parent.parent / "raw"


def write_errors(config: Path, raw: Path) -> tuple[Path, np.ndarray]:
    """Write ``videos/<clip><scorer>.h5`` (+ meta) with injected errors; return it and truth."""
    import pandas as pd

    from napari_dlc_workbench.io.config import load_config
    from napari_dlc_workbench.io.labels import read_labels
    from napari_dlc_workbench.model.keypoints import KeypointTable
    from napari_dlc_workbench.sample import BODYPARTS
    from napari_dlc_workbench.sample.errors import inject_errors
    from napari_dlc_workbench.sample.writer import load_ground_truth

    truth = load_ground_truth(raw / "DSC_3189_ground_truth.csv")[:, 0]
    scorer = load_config(config)["scorer"]
    h5 = config.parent / "labeled-data" / CLIP / f"CollectedData_{scorer}.h5"
    labels = KeypointTable.from_dataframe(read_labels(h5))
    truth = truth - (truth[0] - labels.data[0, :, :2]).mean(axis=0)  # into the clip's pixels
    data, _ = inject_errors(truth, 1, seed=3)
    columns = pd.MultiIndex.from_product(
        [[SCORER], list(BODYPARTS), ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    out = config.parent / "videos" / f"{CLIP}{SCORER}.h5"
    pd.DataFrame(data.reshape(len(data), -1), columns=columns).to_hdf(
        out, key="df_with_missing", format="table", mode="w"
    )
    meta = {"data": {"nframes": len(data), "fps": 30.0, "cropping": False, "Scorer": SCORER}}
    with out.with_name(out.stem + "_meta.pickle").open("wb") as fh:
        pickle.dump(meta, fh)
    return out, truth


def screenshot(config: Path, h5: Path, truth: np.ndarray, out: Path) -> dict[str, Any]:
    """Open the dock, correct the worst frame's worst keypoint, save the window."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_dlc_workbench._qt.outliers_widget import OutliersWidget

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    dock = OutliersWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Outliers", area="right")
    start = time.perf_counter()
    dock.open(h5, config=config)
    while dock.busy:
        QApplication.processEvents()
        time.sleep(0.02)
    scored = time.perf_counter() - start
    session = dock.session
    if session is None:
        raise SystemExit(dock.status.text())
    first = session.queue.rows[0]
    dock.step(1)  # the second frame: accept it as predicted, to show an accepted frame
    dock.accept_frame()
    dock.go_to(first.frame)
    layer = dock.layer
    wrong = session.labels.index(first.bodyparts[0])
    row = int(np.flatnonzero(layer.features["keypoint"] == wrong)[0])
    data = layer.data.copy()
    data[row, 1:] = truth[first.frame, wrong, ::-1]  # the user's drag, as napari ends it
    layer.data = data
    layer.selected_data = {int(np.flatnonzero(layer.features["keypoint"] != wrong)[0])}
    dock.accept_points()
    viewer.reset_view()
    # The animal is ~20 px long in its 160 px well: centre on it, and draw the points
    # smaller than the demo's dotsize (napari's "point size" control) so it shows.
    layer.size = 5
    centre = np.nanmean(truth[first.frame], axis=0)
    viewer.scene.camera.center = (centre[1], centre[0])
    viewer.scene.camera.zoom *= 2.2
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(out), canvas_only=False)
    figures = {
        "score_s": round(scored, 2),
        "queue": [
            {"frame": r.frame, "flagged_by": r.flagged_by, "bodyparts": r.bodyparts}
            for r in session.queue.rows
        ],
        "progress": session.progress(),
    }
    viewer.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/outliers.png"))
    parser.add_argument("--project", type=Path, help="a tiny demo project's config.yaml to copy")
    args = parser.parse_args()
    display = ensure_display()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        config, raw = demo_project(Path(tmp), args.project)
        h5, truth = write_errors(config, raw)
        prepared = time.perf_counter() - start
        figures = screenshot(config, h5, truth, args.out.resolve())
    if display is not None:
        display.stop()
    print(json.dumps({"prepare_s": round(prepared, 1), **figures, "screenshot": str(args.out)},
                     indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
