"""The ROIs section of the Crop & contrast dock: wells as rectangles on a Shapes layer.

Each video gets a Shapes layer ``ROIs (<video>)``; napari's own tools move,
resize and delete the rectangles, and after each edit they are snapped inside
the frame (even positions and sizes, as 4:2:0 video needs). A table lists the
wells and renames them. The geometry comes from :mod:`..process.crop_session`.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy import QtWidgets as qw
from qtpy.QtCore import Qt, QTimer, Signal

from napari_dlc_workbench._qt._forms import buttons, check, fill_form, row, spin
from napari_dlc_workbench.io.rois import save_rois
from napari_dlc_workbench.model.roi import ROIError, ROISet
from napari_dlc_workbench.process import crop_session as cs

if TYPE_CHECKING:
    import napari

__all__ = ["RoiEditor"]


class RoiEditor(qw.QGroupBox):
    """The "ROIs" group: the selected video's ROI layer, kept snapped, and its table.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer holding the videos and their ROI layers.

    Attributes
    ----------
    video : napari.layers.Image or None
        The selected video layer (set with :meth:`set_video`).
    rois : ROISet
        Its ROIs, as last snapped.
    changed : Signal
        Emitted after the ROIs were synced from the layer, or dropped.
    message : Signal(str)
        Text for the dock's status box.
    """

    changed = Signal()
    message = Signal(str)

    def __init__(self, viewer: napari.Viewer) -> None:
        super().__init__("ROIs")
        self.viewer = viewer
        self.rois = ROISet(())
        self.video: Any = None
        self._hooked: weakref.WeakSet[Any] = weakref.WeakSet()
        self._syncing = False
        self._sync_timer = QTimer(self, singleShot=True, interval=0)
        self._sync_timer.timeout.connect(self.sync_from_shapes)
        self.add_button, self.save_button, self.load_button = buttons(
            "Add ROI", "Save ROIs…", "Load ROIs…"
        )
        self.fixed_box = check("fixed size", True)
        self.width_box, self.height_box = spin(2, 8192, 400, 2), spin(2, 8192, 400, 2)
        self.table = qw.QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["name", "x1", "x2", "y1", "y2"])
        self.table.horizontalHeader().setSectionResizeMode(qw.QHeaderView.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(200)
        fill_form(
            self,
            row(self.add_button, self.save_button, self.load_button),
            row(self.fixed_box, self.width_box, qw.QLabel("×"), self.height_box),
            self.table,
        )
        self.add_button.clicked.connect(self.add_roi)
        self.save_button.clicked.connect(lambda: self.save_rois())
        self.load_button.clicked.connect(lambda: self.load_rois())
        self.fixed_box.toggled.connect(lambda *_: self.sync_from_shapes())
        self.width_box.valueChanged.connect(lambda *_: self.sync_from_shapes())
        self.height_box.valueChanged.connect(lambda *_: self.sync_from_shapes())
        self.table.itemChanged.connect(self._on_name_edited)

    # -- the selected video and its layer ------------------------------------------------
    @property
    def shapes_layer(self) -> Any:
        """The selected video's ``ROIs (<video>)`` Shapes layer, or None."""
        if self.video is None:
            return None
        name = f"ROIs ({self.video.name})"
        return next((la for la in self.viewer.layers if la.name == name), None)

    def source(self) -> Path | None:
        """Return the selected video's file, or None."""
        return cs.video_source(self.video.metadata) if self.video is not None else None

    def frame_size(self) -> tuple[int, int]:
        """Return ``(width, height)`` of the selected video."""
        shape = self.video.data.shape
        return (shape[2], shape[1])

    def set_video(self, layer: Any) -> bool:
        """Select ``layer`` (or None); return True when a video was newly selected.

        A video without a ROI layer starts with the ROIs of the previous one.
        """
        if layer is self.video and (layer is None or self.shapes_layer is not None):
            return False
        carried, self.video = self.rois, layer
        if layer is None:
            self.rois = ROISet(())
            self._fill_table()
            return False
        if self.shapes_layer is None:
            # Same rig, same wells: a new video starts with the ROIs of the previous one.
            size = self.frame_size()
            seed = ROISet(tuple(r.snapped_inside(*size, even=True) for r in carried), size)
            self._add_shapes_layer(seed)
        self._hook(self.shapes_layer)
        self.sync_from_shapes()
        return True

    def forget_deleted_layer(self) -> None:
        """Drop the ROIs if the user deleted the selected video's ROI layer."""
        if self.video is not None and self.shapes_layer is None and len(self.rois):
            self.rois = ROISet(())
            self._fill_table()
            self.changed.emit()

    def _add_shapes_layer(self, rois: ROISet) -> None:
        video = self.video
        self.viewer.add_shapes(
            [np.array(r.corners()) for r in rois] or None,
            shape_type="rectangle",
            name=f"ROIs ({video.name})",
            features={"name": np.array([r.name for r in rois], dtype=object)},
            feature_defaults={"name": ""},
            text={"string": "{name}", "color": "yellow", "anchor": "upper_left", "size": 11},
            edge_color="yellow",
            edge_width=2,
            face_color="transparent",
            translate=video.translate[-2:],
            scale=video.scale[-2:],
            metadata={
                "workbench": {"kind": "rois", "video": video.metadata["workbench"]["source"]}
            },
        )

    def _hook(self, shapes: Any) -> None:
        if shapes not in self._hooked:
            self._hooked.add(shapes)
            shapes.events.data.connect(self._on_shapes_data)

    def _on_shapes_data(self, event: Any) -> None:
        # Snap after the edit, outside napari's mouse handler that is still running.
        if not self._syncing and str(event.action) in ("added", "removed", "changed"):
            self._sync_timer.start()

    # -- layer ⇄ ROIs ⇄ table ------------------------------------------------------------
    def sync_from_shapes(self) -> None:
        """Snap the layer's rectangles into ROIs, write them back and refill the table."""
        shapes = self.shapes_layer
        if self.video is None or shapes is None:
            return
        if qw.QApplication.mouseButtons() != Qt.NoButton:  # mid-drag: snap when released
            self._sync_timer.start(100)
            return
        names = (
            list(shapes.features["name"])
            if "name" in shapes.features
            else [None] * len(shapes.data)
        )
        size = (self.width_box.value(), self.height_box.value())
        fixed = size if self.fixed_box.isChecked() else None
        rois = cs.rois_from_shapes(shapes.data, names, self.frame_size(), fixed)
        self._write_shapes(rois)
        self.rois = rois
        self._fill_table()
        self.changed.emit()

    def _write_shapes(self, rois: ROISet) -> None:
        if self.shapes_layer is None:
            self._add_shapes_layer(ROISet(()))
        shapes = self.shapes_layer
        self._hook(shapes)
        names = [r.name for r in rois]
        same = cs.same_geometry(shapes.data, shapes.shape_type, rois)
        if same and list(shapes.features.get("name", [])) == names:
            return
        self._syncing = True
        try:
            selected = {i for i in shapes.selected_data if i < len(rois)}
            if not same:
                shapes.data = ([np.array(r.corners()) for r in rois], ["rectangle"] * len(rois))
            shapes.features = {"name": np.array(names, dtype=object)}
            shapes.selected_data = selected
        finally:
            self._syncing = False

    def _fill_table(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.rois))
        for r, roi in enumerate(self.rois):
            for col, value in enumerate((roi.name, roi.x, roi.x2, roi.y, roi.y2)):
                item = qw.QTableWidgetItem(str(value))
                if col:
                    item.setFlags(item.flags() & ~Qt.ItemIsEditable)
                self.table.setItem(r, col, item)
        self.table.blockSignals(False)

    def _on_name_edited(self, item: qw.QTableWidgetItem) -> None:
        if item.column() != 0 or item.row() >= len(self.rois):
            return
        try:
            rois = cs.rename_roi(self.rois, item.row(), item.text().strip())
        except ROIError as exc:
            self.message.emit(str(exc))
            self._fill_table()
            return
        self._write_shapes(rois)
        self.rois = rois
        self._fill_table()
        self.changed.emit()

    # -- actions -------------------------------------------------------------------------
    def add_roi(self) -> None:
        """Add a rectangle of the fixed size at the centre of the view."""
        if self.video is None:
            self.message.emit("Open a video with this plugin first.")
            return
        # napari 0.9 moved the camera to viewer.scene (viewer.camera is deprecated there).
        camera = self.viewer.scene.camera if hasattr(self.viewer, "scene") else self.viewer.camera
        centre = np.asarray(camera.center[-2:], dtype=float)
        centre = (centre - np.asarray(self.video.translate[-2:])) / np.asarray(
            self.video.scale[-2:]
        )
        size = (self.width_box.value(), self.height_box.value())
        roi = cs.add_roi(self.rois, (centre[0], centre[1]), size, self.frame_size())
        self._write_shapes(ROISet((*self.rois, roi)))
        self.sync_from_shapes()

    def save_rois(self, path: str | Path | None = None) -> None:
        """Save the ROIs as JSON (asks for the file when ``path`` is None)."""
        if path is None:
            start = str(self.source().with_suffix(".rois.json")) if self.source() else ""
            path, _ = qw.QFileDialog.getSaveFileName(self, "Save ROIs", start, "ROI sets (*.json)")
        if not path:
            return
        try:
            save_rois(self.rois, path)
        except OSError as exc:
            self.message.emit(f"Could not save ROIs: {exc}")
            return
        self.message.emit(f"Saved {len(self.rois)} ROIs to {path}")

    def load_rois(self, path: str | Path | None = None) -> None:
        """Load ROIs (a saved set or an export's ``.crops.json``) onto the selected video."""
        if path is None:
            path, _ = qw.QFileDialog.getOpenFileName(self, "Load ROIs", "", "ROI sets (*.json)")
        if not path or self.video is None:
            return
        try:
            loaded = cs.read_roi_file(path)
        except ROIError as exc:
            self.message.emit(str(exc))
            return
        rois = ROISet(tuple(r.snapped_inside(*self.frame_size(), even=True) for r in loaded))
        sizes = {(r.w, r.h) for r in rois}
        for box in (self.fixed_box, self.width_box, self.height_box):
            box.blockSignals(True)
        # The loaded wells keep their size: it becomes the fixed size if they share one.
        self.fixed_box.setChecked(self.fixed_box.isChecked() and len(sizes) == 1)
        if len(sizes) == 1:
            [(width, height)] = sizes
            self.width_box.setValue(width)
            self.height_box.setValue(height)
        for box in (self.fixed_box, self.width_box, self.height_box):
            box.blockSignals(False)
        self._write_shapes(rois)
        self.sync_from_shapes()
        self.message.emit(f"Loaded {len(rois)} ROIs from {Path(path).name}")
