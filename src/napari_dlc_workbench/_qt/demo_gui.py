"""``dlc-workbench demo --gui``: napari with the demo project loaded into every dock.

:func:`open_demo` opens the plugin's eight docks through napari's plugin API and loads a
finished demo folder (``dlc-workbench demo --out DIR``) into them through their public
methods, as a user would: the raw recording with the five wells in Crop & contrast, clip
``#1``'s labelled frames in Labeling, the project in Training, Evaluation (its evaluated
snapshot and worst test images) and Inference, clip ``#1``'s predictions as Points + Tracks
(this plugin's reader) plotted in Trajectories, and their outlier queue in Outliers.

Each dock's layers form a *scene*: :meth:`DemoDocks.show` raises a dock and shows only its
layers, so the eight docks do not draw over each other. ``python -m
napari_dlc_workbench._qt.demo_gui DEMO_DIR`` opens a viewer on a demo and runs napari.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qtpy import QtWidgets as qw

from napari_dlc_workbench.process.crop_export import load_recipe

__all__ = [
    "DOCKS",
    "DemoDocks",
    "DemoFiles",
    "DemoGuiError",
    "has_display",
    "main",
    "open_demo",
    "settle",
    "wait_until",
]

PLUGIN = "napari-dlc-workbench"
#: Short name (also the screenshot's file name) -> the dock's display name in napari.yaml.
DOCKS: dict[str, str] = {
    "seek_copy": "Seek-friendly copy",
    "crop_contrast": "Crop & contrast",
    "labeling": "Labeling",
    "training": "Training",
    "evaluation": "Evaluation",
    "inference": "Inference",
    "trajectories": "Trajectories",
    "outliers": "Outliers",
}
CLIP = "#1"  # the clip the demo labels, analyses and corrects first
WINDOW_SIZE = (1400, 900)
DOCK_WIDTH = 560


class DemoGuiError(RuntimeError):
    """The demo folder cannot be shown; the message names what is missing or failed."""


@dataclass(frozen=True)
class DemoFiles:
    """The files of a finished demo folder that the docks are loaded with.

    Attributes
    ----------
    folder : Path
        The demo folder (``--out``).
    raw_video : Path
        The full-frame recording (``raw/DSC_3189.mp4``).
    recipe : Path or None
        The crop export's ``clips/<stem>.crops.json`` (wells and contrast).
    config : Path
        The DLC project's ``config.yaml``.
    labeled_data : Path
        ``labeled-data/<clip #1>`` of the project.
    clip_video : Path
        Clip ``#1`` in the project's ``videos/``.
    predictions : Path or None
        Clip ``#1``'s analysis (``<clip>DLC_<scorer>.h5``); None before training.
    """

    folder: Path
    raw_video: Path
    recipe: Path | None
    config: Path
    labeled_data: Path
    clip_video: Path
    predictions: Path | None

    @classmethod
    def find(cls, folder: str | Path) -> DemoFiles:
        """Find the demo's files in ``folder``.

        Raises
        ------
        DemoGuiError
            Naming the folder and what is not there.
        """
        folder = Path(folder).resolve()

        def one(pattern: str, what: str) -> Path:
            found = sorted(p for p in folder.glob(pattern) if "_filtered" not in p.name)
            if not found:
                raise DemoGuiError(
                    f"{folder}: no {what} ({pattern}); run `dlc-workbench demo --out {folder}`"
                )
            return found[0]

        if not folder.is_dir():
            raise DemoGuiError(f"{folder}: no such folder; run `dlc-workbench demo --out DIR`")
        config = one("*/config.yaml", "DLC project")
        labeled = one(f"{config.parent.name}/labeled-data/*_{CLIP}", f"labeled-data of clip {CLIP}")
        stem = labeled.name
        clip = one(f"{config.parent.name}/videos/{stem}.*", f"video of clip {stem}")
        predictions = sorted(
            p for p in clip.parent.glob(f"{stem}DLC_*.h5") if not p.stem.endswith("_filtered")
        )
        recipes = sorted(folder.glob("clips/*.crops.json"))
        return cls(
            folder=folder,
            raw_video=one("raw/*.mp4", "raw recording"),
            recipe=recipes[0] if recipes else None,
            config=config,
            labeled_data=labeled,
            clip_video=clip,
            predictions=predictions[-1] if predictions else None,
        )


def has_display() -> bool:
    """Whether Qt can open a window here (a display, or not Linux, or an offscreen Qt)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if sys.platform in ("win32", "darwin") or platform.startswith(("offscreen", "minimal")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def wait_until(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "") -> None:
    """Process Qt events until ``predicate()`` is true.

    Raises
    ------
    DemoGuiError
        After ``timeout`` seconds, naming ``what`` was awaited.
    """
    app = qw.QApplication.instance()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise DemoGuiError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        app.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.3) -> None:
    """Let Qt (and napari's canvas) process events for ``seconds``."""
    app = qw.QApplication.instance()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


class DemoDocks(dict[str, qw.QWidget]):
    """The demo's dock widgets by short name (the keys of :data:`DOCKS`).

    Attributes
    ----------
    viewer : napari.Viewer
        The viewer they live in.
    files : DemoFiles
        What was loaded.
    dock_widgets : dict of str to QDockWidget
        napari's dock around each widget.
    layers : dict of str to list of layers
        Each dock's scene: the layers shown when the dock is raised.
    notes : list of str
        What could not be loaded (e.g. no predictions before training).
    current : str or None
        The dock last shown with :meth:`show`.
    """

    def __init__(self, viewer: Any, files: DemoFiles) -> None:
        super().__init__()
        self.viewer = viewer
        self.files = files
        self.dock_widgets: dict[str, qw.QDockWidget] = {}
        self.layers: dict[str, list[Any]] = {name: [] for name in DOCKS}
        self.notes: list[str] = []
        self.current: str | None = None

    def scene(self, name: str) -> list[Any]:
        """Return the layers of dock ``name`` still in the viewer."""
        return [layer for layer in self.layers[name] if layer in self.viewer.layers]

    def show(self, name: str, fit: bool = True) -> None:
        """Raise dock ``name`` and show its layers only (layers of no dock are left alone)."""
        self.current = name
        dock = self.dock_widgets[name]
        dock.show()
        dock.raise_()
        shown = self.scene(name)
        for other in self.layers.values():
            for layer in other:
                if layer in self.viewer.layers and layer not in shown:
                    layer.visible = False
        for layer in shown:
            layer.visible = True
        if shown:
            self.viewer.layers.selection.active = shown[-1]
            if fit:
                self.viewer.reset_view(layers=shown)
        evaluation = self["evaluation"]
        if name == "evaluation" and evaluation.descriptions:
            evaluation.go_to(int(self.viewer.dims.current_step[0]))  # its text overlay
        else:
            self.hide_overlay(name)

    def hide_overlay(self, name: str) -> None:
        """Hide the Evaluation dock's text overlay unless ``name`` is that dock.

        The dock names its image in the canvas whenever the frame changes while its
        layers are open; on the other docks' scenes that text would be wrong.
        """
        if name != "evaluation":
            self.viewer.canvas.overlays.text.visible = False

    def follow_tabs(self) -> None:
        """Show a dock's scene whenever its tab is raised (for the interactive demo)."""
        for name, dock in self.dock_widgets.items():
            dock.visibilityChanged.connect(
                lambda visible, name=name: visible and self.show(name, fit=False)
            )
        self.viewer.dims.events.current_step.connect(
            lambda _event: self.current and self.hide_overlay(self.current)
        )


def _added(viewer: Any, step: Callable[[], Any]) -> list[Any]:
    before = list(viewer.layers)
    step()
    return [layer for layer in viewer.layers if layer not in before]


def open_docks(viewer: Any, files: DemoFiles) -> DemoDocks:
    """Open the plugin's eight docks, tabbed on the right, through napari's plugin API."""
    docks = DemoDocks(viewer, files)
    for name, title in DOCKS.items():
        dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, title, tabify=True)
        docks[name], docks.dock_widgets[name] = widget, dock
    window = docks.dock_widgets["seek_copy"].parent()
    if isinstance(window, qw.QMainWindow):  # wide enough for the tables and plots
        dock_list = list(docks.dock_widgets.values())
        window.resizeDocks(dock_list, [DOCK_WIDTH] * len(dock_list), _horizontal())
    return docks


def _horizontal() -> Any:
    from qtpy.QtCore import Qt

    return Qt.Orientation.Horizontal


def _load_crop(docks: DemoDocks) -> None:
    viewer, files, crop = docks.viewer, docks.files, docks["crop_contrast"]
    raw = viewer.open(files.raw_video, plugin=PLUGIN)
    docks.layers["seek_copy"] = list(raw)
    wait_until(lambda: crop.shapes_layer is not None, 30, "the Crop & contrast dock's ROI layer")
    if files.recipe is None:
        docks.notes.append("no clips/*.crops.json: no wells to show")
        docks.layers["crop_contrast"] = [*raw, crop.shapes_layer]
        return
    crop.load_rois(files.recipe)
    _, contrast, _ = load_recipe(files.recipe)
    if contrast is not None and contrast.method != "none":
        crop.set_settings(contrast)
        wait_until(lambda: crop.preview_layer is not None, 120, "the contrast preview")
        wait_until(lambda: not crop.contrast_group.busy, 120, "the contrast preview")
    scene = [*raw, crop.preview_layer, crop.shapes_layer]
    docks.layers["crop_contrast"] = [layer for layer in scene if layer is not None]


def _load_project(docks: DemoDocks) -> None:
    viewer, files = docks.viewer, docks.files
    labeling = docks["labeling"]
    added = _added(viewer, lambda: labeling.open_folder(files.labeled_data))
    if labeling.layer is None:
        raise DemoGuiError(f"Labeling did not open {files.labeled_data}: {labeling.status.text()}")
    docks.layers["labeling"] = added
    docks.layers["training"] = added  # the labelled frames the network learns from
    docks["training"].set_config(files.config)
    evaluation = docks["evaluation"]
    evaluation.set_config(files.config)
    shown = evaluation.show_frames() if evaluation.result is not None else []
    if not shown:
        docks.notes.append(f"Evaluation: {evaluation.status.text()}")
    docks.layers["evaluation"] = list(shown)
    docks["inference"].set_config(files.config)


def _load_predictions(docks: DemoDocks) -> None:
    viewer, files = docks.viewer, docks.files
    clip = _added(viewer, lambda: viewer.open(files.clip_video, plugin=PLUGIN))
    inference = docks["inference"]
    inference.set_videos([files.clip_video])
    if files.predictions is None:
        docks.notes.append(f"{files.clip_video.name} is not analysed yet: no predictions")
        for name in ("inference", "trajectories", "outliers"):
            docks.layers[name] = list(clip)
        return
    predictions = _added(viewer, lambda: viewer.open(files.predictions, plugin=PLUGIN))
    from napari.layers import Points

    points = [layer for layer in predictions if isinstance(layer, Points)]
    if points:
        docks["trajectories"].use_layer(points[0])
    docks.layers["inference"] = [*clip, *predictions]
    docks.layers["trajectories"] = [*clip, *predictions]
    outliers = docks["outliers"]
    added = _added(
        viewer,
        lambda: (
            outliers.open(files.predictions, video=files.clip_video, config=files.config),
            wait_until(lambda: not outliers.busy, 120, "the outlier queue"),
        ),
    )
    if outliers.session is None:
        raise DemoGuiError(f"Outliers did not open {files.predictions}: {outliers.status.text()}")
    docks.layers["outliers"] = [*clip, *added]


def open_demo(viewer: Any, demo_dir: str | Path) -> DemoDocks:
    """Open every dock of the plugin and load a finished demo into them.

    Parameters
    ----------
    viewer : napari.Viewer
        A viewer (shown or not).
    demo_dir : str or Path
        The folder ``dlc-workbench demo --out`` wrote. A demo stopped before training
        (``--epochs 0``) loads too; the docks then say what is missing.

    Returns
    -------
    DemoDocks
        The dock widgets by short name (:data:`DOCKS`), with their scenes; the Crop &
        contrast dock is raised.

    Raises
    ------
    DemoGuiError
        When the folder is not a demo or a dock could not load its part.
    """
    files = DemoFiles.find(demo_dir)
    docks = open_docks(viewer, files)
    _load_crop(docks)
    _load_project(docks)
    _load_predictions(docks)
    docks.show("crop_contrast")
    return docks


def main(argv: Sequence[str] | None = None) -> int:
    """Open napari on a demo folder with every dock loaded; return when napari closes."""
    parser = argparse.ArgumentParser(
        prog="python -m napari_dlc_workbench._qt.demo_gui",
        description="Open napari with the demo project loaded into every DLC Workbench dock.",
    )
    parser.add_argument("demo_dir", type=Path, help="a folder made by `dlc-workbench demo`")
    args = parser.parse_args(argv)
    try:
        files = DemoFiles.find(args.demo_dir)
    except DemoGuiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not has_display():
        print("error: napari needs a display: none here (no DISPLAY)", file=sys.stderr)
        return 1
    import napari

    viewer = napari.Viewer(title=f"DLC Workbench demo: {files.folder.name}")
    viewer.window.resize(*WINDOW_SIZE)
    try:
        docks = open_demo(viewer, files.folder)
    except DemoGuiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        viewer.close()
        return 1
    for note in docks.notes:
        print(f"note: {note}", file=sys.stderr)
    docks.follow_tabs()
    napari.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
