"""Screenshots of every dock on a finished demo, for the docs and the demo's report.

:func:`make_screenshots` opens the demo with :func:`.demo_gui.open_demo` in a napari
window of fixed size, then for each dock raises it, shows its scene (the layers it
made, at a telling frame) and saves the whole window as ``<out_dir>/<dock>.png``
(the names in :data:`.demo_gui.DOCKS`). Nothing in the demo's DLC project changes; the
Outliers dock saves its queue sidecar, as it does for a user.

``python -m napari_dlc_workbench._qt.screenshots DEMO_DIR OUT_DIR`` (needs a display:
run it under ``xvfb-run -a`` on a server) exits 0 once every PNG is written, else 1
with the reason on stderr. ``docs/make_screenshots.py`` runs it for the docs' images.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench._qt.demo_gui import (
    DOCKS,
    WINDOW_SIZE,
    DemoDocks,
    DemoGuiError,
    has_display,
    open_demo,
    settle,
    wait_until,
)

__all__ = ["make_screenshots", "main", "save_png"]

POINT_SIZE = 5  # px of the 160 px clips: the demo's dotsize would hide a 20 px animal
MAX_PNG_BYTES = 400_000  # docs images stay small in the repository
PROBE_WAIT_S = 90.0  # the device probe imports torch in a child: shown when it answers


def save_png(image: np.ndarray, path: Path) -> Path:
    """Write an RGB(A) screenshot as a compact PNG (alpha dropped, best compression).

    A screenshot over :data:`MAX_PNG_BYTES` is written with a 256-colour palette.
    """
    from qtpy.QtGui import QImage

    rgb = np.ascontiguousarray(np.asarray(image)[..., :3], dtype=np.uint8)
    height, width = rgb.shape[:2]
    qimage = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not qimage.save(str(path), "PNG", 0):  # quality 0: zlib's best compression
        raise OSError(f"could not write {path}")
    if path.stat().st_size > MAX_PNG_BYTES:  # noisy video frames: a 256-colour palette
        qimage.convertToFormat(QImage.Format.Format_Indexed8).save(str(path), "PNG", 0)
    return path


def _middle(docks: DemoDocks, name: str) -> int:
    layers = [layer for layer in docks.scene(name) if layer.ndim >= 3]
    frames = min((int(layer.data.shape[0]) for layer in layers), default=1)
    return frames // 2


def _points(docks: DemoDocks, name: str) -> list[Any]:
    from napari.layers import Points

    return [layer for layer in docks.scene(name) if isinstance(layer, Points)]


def _zoom_on(docks: DemoDocks, centre: np.ndarray, factor: float) -> None:
    camera = docks.viewer.scene.camera
    camera.center = (0.0, float(centre[0]), float(centre[1]))
    camera.zoom *= factor


def _crop(docks: DemoDocks) -> None:
    crop = docks["crop_contrast"]
    docks.viewer.dims.set_current_step(0, _middle(docks, "crop_contrast"))
    settle(0.3)
    wait_until(lambda: not crop.contrast_group.busy, 60, "the contrast preview")
    if crop.shapes_layer is not None:
        docks.viewer.layers.selection.active = crop.shapes_layer


def _labeling(docks: DemoDocks) -> None:
    for layer in _points(docks, "labeling"):
        layer.size = POINT_SIZE
    docks["labeling"].go_to(0)


def _training(docks: DemoDocks) -> None:
    for layer in _points(docks, "training"):
        layer.size = POINT_SIZE
    docks["training"].refresh()  # the finished run's learning_stats.csv, as on disk now


def _evaluation(docks: DemoDocks) -> None:
    dock = docks["evaluation"]
    if not dock.descriptions:
        return
    dock.table.setCurrentCell(0, 2)  # the test error row: its explanation in the panel
    dock.go_to(0)
    points = [layer.data[layer.data[:, 0] == 0] for layer in _points(docks, "evaluation")]
    points = [p for p in points if len(p)]
    if points:  # the worst image, framed around its labels and predictions (~90 px across)
        image = docks.scene("evaluation")[0]
        _zoom_on(docks, np.vstack(points)[:, 1:].mean(axis=0), max(image.data.shape[1:3]) / 90)


def _predictions(name: str) -> Callable[[DemoDocks], None]:
    def prepare(docks: DemoDocks) -> None:
        for layer in _points(docks, name):
            layer.size = POINT_SIZE
        frame = _middle(docks, name)
        if name == "trajectories":
            docks["trajectories"].go_to(frame)
        else:
            docks.viewer.dims.set_current_step(0, frame)

    return prepare


def _outliers(docks: DemoDocks) -> None:
    dock = docks["outliers"]
    if dock.session is None or not dock.session.queue.rows:
        return
    first = dock.session.queue.rows[0]
    dock.go_to(first.frame)
    layer = dock.layer
    if layer is None:
        return
    layer.size = POINT_SIZE
    # Select the keypoint the queue blames first, as a user about to drag it would.
    labels = list(dock.session.labels)
    if first.bodyparts and first.bodyparts[0] in labels:
        wrong = labels.index(first.bodyparts[0])
        rows = np.flatnonzero(np.asarray(layer.features["keypoint"]) == wrong)
        if len(rows):
            layer.selected_data = {int(rows[0])}
    here = layer.data[layer.data[:, 0] == first.frame]
    if len(here):
        _zoom_on(docks, np.nanmean(here[:, 1:], axis=0), 2.0)


PREPARE: dict[str, Callable[[DemoDocks], None]] = {
    "crop_contrast": _crop,
    "labeling": _labeling,
    "training": _training,
    "evaluation": _evaluation,
    "inference": _predictions("inference"),
    "trajectories": _predictions("trajectories"),
    "outliers": _outliers,
}


def _wait_for_device_probe(docks: DemoDocks) -> None:
    # Training and Inference show doctor's verdict on torch once the probe answered.
    label = docks["training"].device_label
    # If it does not answer in time, the screenshot says "checking devices…", which is true.
    with contextlib.suppress(DemoGuiError):
        wait_until(lambda: not label.text().startswith("checking"), PROBE_WAIT_S, "probe")


def make_screenshots(
    demo_dir: str | Path,
    out_dir: str | Path,
    names: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Open the demo in napari and save one window screenshot per dock.

    Parameters
    ----------
    demo_dir : str or Path
        A finished demo (``dlc-workbench demo --out``).
    out_dir : str or Path
        Where ``<dock>.png`` go (created).
    names : sequence of str, optional
        Only these docks (keys of :data:`.demo_gui.DOCKS`); default all.
    log : callable
        Receives one line per screenshot.

    Returns
    -------
    list of Path
        The PNGs written, in dock order.

    Raises
    ------
    DemoGuiError
        When the demo cannot be loaded or a dock's scene is not ready in time.
    """
    import napari

    names = list(DOCKS) if names is None else list(names)
    unknown = sorted(set(names) - set(DOCKS))
    if unknown:
        raise DemoGuiError(f"unknown docks {unknown}; choose from {list(DOCKS)}")
    out_dir = Path(out_dir)
    start = time.perf_counter()
    viewer = napari.Viewer(show=True, title="DLC Workbench")
    written: list[Path] = []
    try:
        viewer.window.resize(*WINDOW_SIZE)
        docks = open_demo(viewer, demo_dir)
        for note in docks.notes:
            log(f"note: {note}")
        _wait_for_device_probe(docks)
        log(f"demo loaded in {time.perf_counter() - start:.1f} s")
        for name in names:
            docks.show(name)
            if name in PREPARE:
                PREPARE[name](docks)
            docks.hide_overlay(name)
            settle(1.0)  # the canvas and plots redraw
            image = viewer.screenshot(canvas_only=False, flash=False)
            written.append(save_png(image, out_dir / f"{name}.png"))
            log(f"{written[-1]} ({written[-1].stat().st_size // 1024} KB)")
    finally:
        viewer.close()
    log(f"{len(written)} screenshots in {time.perf_counter() - start:.1f} s")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Write the docks' screenshots of a demo folder; 0 on success, 1 with a message."""
    parser = argparse.ArgumentParser(
        prog="python -m napari_dlc_workbench._qt.screenshots",
        description="Screenshot every DLC Workbench dock on a finished demo (needs a display).",
    )
    parser.add_argument("demo_dir", type=Path, help="a folder made by `dlc-workbench demo`")
    parser.add_argument("out_dir", type=Path, help="where <dock>.png are written")
    parser.add_argument("--only", nargs="+", choices=list(DOCKS), help="only these docks")
    args = parser.parse_args(argv)
    if not has_display():
        print(
            "error: screenshots need a display: none here (no DISPLAY); run this under "
            "`xvfb-run -a`, or run docs/make_screenshots.py, which starts Xvfb itself",
            file=sys.stderr,
        )
        return 1
    try:
        make_screenshots(args.demo_dir, args.out_dir, args.only)
    except (DemoGuiError, OSError, ValueError) as exc:
        print(f"error: screenshots not made: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
