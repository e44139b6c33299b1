"""Plugins › DLC Workbench › Crop & contrast: wells as rectangles, live contrast, clip export.

ROIs are rectangles on a Shapes layer ``ROIs (<video>)``; napari's own tools move,
resize and delete them, and after each edit they are snapped inside the frame
(even positions and sizes, as 4:2:0 video needs). The contrast preview is an
Image layer above the video showing the current frame as the clips will be
written. Everything computed here comes from :mod:`..process.crop_session`;
decoding, fitting and exporting run in ``thread_worker`` jobs, never in the GUI
thread, and each can be cancelled.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy import QtWidgets as qw
from qtpy.QtCore import QObject, Qt, QTimer, Signal

from napari_dlc_workbench.io.rois import save_rois
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES, VideoReader
from napari_dlc_workbench.model.roi import ROIError, ROISet
from napari_dlc_workbench.process import crop_session as cs
from napari_dlc_workbench.process.contrast import ContrastSettings
from napari_dlc_workbench.process.crop_export import ExportOptions, load_recipe

if TYPE_CHECKING:
    import napari

__all__ = ["CropContrastWidget"]

METHODS = {"none": "none", "ImageJ enhance": "enhance", "equalize": "equalize", "CLAHE": "clahe"}
PREVIEW = "contrast preview"
SAME_SETTINGS_NOTE = (
    "Clips trained with contrast enhancement must be analysed with the same settings "
    "— use 'Apply to new videos'."
)
LINK_NOTE = "No re-encode: DLC crops the raw video itself, so contrast cannot be baked in."
_VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ")"


def _spin(lo: float, hi: float, value: float, step: float, decimals: int = 0) -> Any:
    box = qw.QDoubleSpinBox(decimals=decimals) if decimals else qw.QSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def _check(text: str, on: bool) -> qw.QCheckBox:
    box = qw.QCheckBox(text)
    box.setChecked(on)
    return box


def _note(text: str) -> qw.QLabel:
    label = qw.QLabel(text, wordWrap=True)
    label.setStyleSheet("color: #e0b040;")
    return label


def _buttons(*texts: str) -> list[qw.QPushButton]:
    return [qw.QPushButton(text) for text in texts]


def _group(title: str, *rows: Any) -> qw.QGroupBox:
    group = qw.QGroupBox(title)
    form = qw.QFormLayout(group)
    for row in rows:
        if isinstance(row, tuple):
            form.addRow(*row)
        else:
            form.addRow(row)
    return group


class _Relay(QObject):
    # Workers report progress through this queued signal, so that napari's progress
    # bars (Qt widgets) are only ever touched in the GUI thread.
    advanced = Signal(object, int, str)


class CropContrastWidget(qw.QWidget):
    """Dock widget: draw the wells, preview the contrast, export one clip per well.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose videos (opened with this plugin) are offered.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._rois = ROISet(())
        self._video: Any = None
        self._caches: dict[Path, cs.MappingCache] = {}
        self._readers: dict[Path, VideoReader] = {}
        self._sampled: set[tuple[Path, int]] = set()
        self._hooked: weakref.WeakSet[Any] = weakref.WeakSet()
        self._syncing = self._preview_busy = self._preview_dirty = self._exporting = False
        self._stop, self._fit_stop = threading.Event(), threading.Event()
        self.export_worker: Any = None
        self.preview_worker: Any = None
        # (seconds, refitted?) per preview update, from request to the layer showing it.
        self.preview_times: deque[tuple[float, bool]] = deque(maxlen=200)
        self._relay = _Relay(self)
        self._relay.advanced.connect(self._advance)
        self._sync_timer = QTimer(self, singleShot=True, interval=0)
        self._sync_timer.timeout.connect(self._sync_from_shapes)
        self._fit_timer = QTimer(self, singleShot=True, interval=150)
        self._fit_timer.timeout.connect(self._request_preview)
        self._build()
        napari_viewer.layers.events.inserted.connect(self._refresh_videos)
        napari_viewer.layers.events.removed.connect(self._refresh_videos)
        napari_viewer.dims.events.current_step.connect(self._request_preview)
        self._refresh_videos()

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.video_box = qw.QComboBox()
        self.add_button, self.save_button, self.load_button = _buttons(
            "Add ROI", "Save ROIs…", "Load ROIs…"
        )
        self.fixed_box = _check("fixed size", True)
        self.width_box, self.height_box = _spin(2, 8192, 400, 2), _spin(2, 8192, 400, 2)
        self.table = qw.QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["name", "x1", "x2", "y1", "y2"])
        self.table.horizontalHeader().setSectionResizeMode(qw.QHeaderView.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(200)
        self.method_box = qw.QComboBox()
        self.method_box.addItems(list(METHODS))
        self.saturated_box = _spin(0.0, 49.9, 0.35, 0.05, 2)
        self.normalize_box = _check("normalize", True)
        self.gamma_box = _spin(0.1, 5.0, 1.0, 0.05, 2)
        self.tiles_box, self.clip_box = _spin(1, 64, 8, 1), _spin(0.001, 1.0, 0.01, 0.005, 3)
        self.samples_box = _spin(1, 1000, 30, 5)
        self.after_box = _check("show contrast (after); untick for before", True)
        self.contrast_status = qw.QLabel("")
        self.out_edit, self.config_edit = qw.QLineEdit(), qw.QLineEdit()
        self.config_edit.setPlaceholderText("optional: clips are added to video_sets")
        self.codec_box = qw.QComboBox()
        self.codec_box.addItem("H.264 (.mp4)", "h264")
        self.codec_box.addItem("FFV1 lossless (.mkv)", "ffv1")
        self.link_box = _check("no re-encode (DLC crop strings)", False)
        self.link_note = _note(LINK_NOTE)
        self.link_note.setVisible(False)
        self.export_button, self.batch_button = _buttons("Export this video", "Batch…")
        self.apply_button, self.cancel_button = _buttons("Apply to new videos…", "Cancel")
        self.cancel_button.setEnabled(False)
        self.status = qw.QPlainTextEdit(readOnly=True, maximumHeight=90)
        self.contrast_group = _group(
            "Contrast (one mapping per ROI, fitted over the video)",
            ("method", self.method_box),
            ("saturated %", _row(self.saturated_box, self.normalize_box)),
            ("gamma", self.gamma_box),
            ("CLAHE tiles", _row(self.tiles_box, qw.QLabel("clip"), self.clip_box)),
            ("sample frames", self.samples_box),
            self.after_box,
            self.contrast_status,
        )
        layout = qw.QVBoxLayout(self)
        layout.addWidget(_row(qw.QLabel("video"), self.video_box))
        layout.addWidget(
            _group(
                "ROIs",
                _row(self.add_button, self.save_button, self.load_button),
                _row(self.fixed_box, self.width_box, qw.QLabel("×"), self.height_box),
                self.table,
            )
        )
        layout.addWidget(self.contrast_group)
        layout.addWidget(
            _group(
                "Export",
                ("output folder", _row(self.out_edit, _browse(self._choose_out))),
                ("config.yaml", _row(self.config_edit, _browse(self._choose_config))),
                ("codec", self.codec_box),
                self.link_box,
                self.link_note,
                _note(SAME_SETTINGS_NOTE),
                _row(self.export_button, self.batch_button),
                _row(self.apply_button, self.cancel_button),
                self.status,
            )
        )
        layout.addStretch(1)
        self._connect()

    def _connect(self) -> None:
        self.video_box.currentIndexChanged.connect(self._select_video)
        self.add_button.clicked.connect(self.add_roi)
        self.save_button.clicked.connect(lambda: self.save_rois())
        self.load_button.clicked.connect(lambda: self.load_rois())
        self.fixed_box.toggled.connect(lambda *_: self._sync_from_shapes())
        self.width_box.valueChanged.connect(lambda *_: self._sync_from_shapes())
        self.height_box.valueChanged.connect(lambda *_: self._sync_from_shapes())
        self.table.itemChanged.connect(self._on_name_edited)
        self.method_box.currentIndexChanged.connect(self._on_contrast_changed)
        self.normalize_box.toggled.connect(self._on_contrast_changed)
        for box in (self.saturated_box, self.gamma_box, self.tiles_box, self.clip_box):
            box.valueChanged.connect(self._on_contrast_changed)
        self.samples_box.valueChanged.connect(self._on_contrast_changed)
        self.after_box.toggled.connect(self._on_after_toggled)
        self.link_box.toggled.connect(self._on_link_toggled)
        self.config_edit.textChanged.connect(self._update_out_placeholder)
        self.export_button.clicked.connect(self.export_video)
        self.batch_button.clicked.connect(lambda: self.batch())
        self.apply_button.clicked.connect(lambda: self.apply_recipe())
        self.cancel_button.clicked.connect(self.cancel)
        self._on_contrast_changed()

    # -- videos and ROI layers ---------------------------------------------------------
    def _refresh_videos(self, *_: Any) -> None:
        videos = [la for la in self.viewer.layers if cs.video_source(la.metadata) is not None]
        present = {cs.video_source(la.metadata) for la in videos}
        for source in [s for s in self._readers if s not in present and not self._preview_busy]:
            self._readers.pop(source).close()  # the video was closed: free its file
        if [self.video_box.itemData(i) for i in range(self.video_box.count())] == videos:
            if self._video is not None and self.shapes_layer is None and len(self._rois):
                self._rois = ROISet(())  # the user deleted the ROI layer
                self._fill_table()
                self._request_preview()
            return
        current = self._video
        self.video_box.blockSignals(True)
        self.video_box.clear()
        for layer in videos:
            self.video_box.addItem(layer.name, layer)
        self.video_box.setCurrentIndex(videos.index(current) if current in videos else 0)
        self.video_box.blockSignals(False)
        self._select_video()

    @property
    def shapes_layer(self) -> Any:
        """The selected video's ``ROIs (<video>)`` Shapes layer, or None."""
        if self._video is None:
            return None
        name = f"ROIs ({self._video.name})"
        return next((la for la in self.viewer.layers if la.name == name), None)

    @property
    def preview_layer(self) -> Any:
        """The ``contrast preview`` Image layer, or None."""
        return next((la for la in self.viewer.layers if la.name == PREVIEW), None)

    def _frame_size(self) -> tuple[int, int]:
        shape = self._video.data.shape
        return (shape[2], shape[1])

    def _select_video(self, *_: Any) -> None:
        layer = self.video_box.currentData()
        if layer is self._video and (layer is None or self.shapes_layer is not None):
            return
        carried, self._video = self._rois, layer
        if layer is None:
            self._rois = ROISet(())
            self._fill_table()
            return
        if self.shapes_layer is None:
            # Same rig, same wells: a new video starts with the ROIs of the previous one.
            size = self._frame_size()
            seed = ROISet(tuple(r.snapped_inside(*size, even=True) for r in carried), size)
            self._add_shapes_layer(seed)
        self._hook(self.shapes_layer)
        self._update_out_placeholder()
        self._sync_from_shapes()

    def _add_shapes_layer(self, rois: ROISet) -> None:
        video = self._video
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

    def _sync_from_shapes(self) -> None:
        shapes = self.shapes_layer
        if self._video is None or shapes is None:
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
        rois = cs.rois_from_shapes(shapes.data, names, self._frame_size(), fixed)
        self._write_shapes(rois)
        self._rois = rois
        self._fill_table()
        self._request_preview()

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
        self.table.setRowCount(len(self._rois))
        for row, roi in enumerate(self._rois):
            for col, value in enumerate((roi.name, roi.x, roi.x2, roi.y, roi.y2)):
                item = qw.QTableWidgetItem(str(value))
                if col:
                    item.setFlags(item.flags() & ~Qt.ItemIsEditable)
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)

    def _on_name_edited(self, item: qw.QTableWidgetItem) -> None:
        if item.column() != 0 or item.row() >= len(self._rois):
            return
        try:
            rois = cs.rename_roi(self._rois, item.row(), item.text().strip())
        except ROIError as exc:
            self._say(str(exc))
            self._fill_table()
            return
        self._write_shapes(rois)
        self._rois = rois
        self._fill_table()
        self._request_preview()

    # -- ROI actions ---------------------------------------------------------------------
    def add_roi(self) -> None:
        """Add a rectangle of the fixed size at the centre of the view."""
        if self._video is None:
            self._say("Open a video with this plugin first.")
            return
        # napari 0.9 moved the camera to viewer.scene (viewer.camera is deprecated there).
        camera = self.viewer.scene.camera if hasattr(self.viewer, "scene") else self.viewer.camera
        centre = np.asarray(camera.center[-2:], dtype=float)
        centre = (centre - np.asarray(self._video.translate[-2:])) / np.asarray(
            self._video.scale[-2:]
        )
        size = (self.width_box.value(), self.height_box.value())
        roi = cs.add_roi(self._rois, (centre[0], centre[1]), size, self._frame_size())
        self._write_shapes(ROISet((*self._rois, roi)))
        self._sync_from_shapes()

    def save_rois(self, path: str | Path | None = None) -> None:
        """Save the ROIs as JSON (asks for the file when ``path`` is None)."""
        if path is None:
            start = str(self._source().with_suffix(".rois.json")) if self._source() else ""
            path, _ = qw.QFileDialog.getSaveFileName(self, "Save ROIs", start, "ROI sets (*.json)")
        if not path:
            return
        try:
            save_rois(self._rois, path)
        except OSError as exc:
            self._say(f"Could not save ROIs: {exc}")
            return
        self._say(f"Saved {len(self._rois)} ROIs to {path}")

    def load_rois(self, path: str | Path | None = None) -> None:
        """Load ROIs (a saved set or an export's ``.crops.json``) onto the selected video."""
        if path is None:
            path, _ = qw.QFileDialog.getOpenFileName(self, "Load ROIs", "", "ROI sets (*.json)")
        if not path or self._video is None:
            return
        try:
            loaded = cs.read_roi_file(path)
        except ROIError as exc:
            self._say(str(exc))
            return
        rois = ROISet(tuple(r.snapped_inside(*self._frame_size(), even=True) for r in loaded))
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
        self._sync_from_shapes()
        self._say(f"Loaded {len(rois)} ROIs from {Path(path).name}")

    # -- contrast preview ----------------------------------------------------------------
    def settings(self) -> ContrastSettings:
        """Return the contrast settings the controls describe."""
        return ContrastSettings(
            method=METHODS[self.method_box.currentText()],
            saturated=self.saturated_box.value(),
            normalize=self.normalize_box.isChecked(),
            gamma=self.gamma_box.value(),
            tiles=self.tiles_box.value(),
            clip_limit=self.clip_box.value(),
            sample_frames=self.samples_box.value(),
        )

    def _contrast_on(self) -> bool:
        return not self.link_box.isChecked() and self.settings().method != "none"

    def _on_contrast_changed(self, *_: Any) -> None:
        method = self.settings().method
        for box in (self.saturated_box, self.normalize_box):
            box.setEnabled(method == "enhance")
        self.tiles_box.setEnabled(method == "clahe")
        self.clip_box.setEnabled(method == "clahe")
        self.gamma_box.setEnabled(method != "none")
        self._fit_timer.start()  # a spin box dragged fast refits once, when it settles

    def _on_after_toggled(self, on: bool) -> None:
        if self.preview_layer is not None:
            self.preview_layer.visible = on

    def _on_link_toggled(self, on: bool) -> None:
        self.contrast_group.setEnabled(not on)
        self.link_note.setVisible(on)
        self._request_preview()

    def _request_preview(self, *_: Any) -> None:
        if self._preview_busy:
            self._preview_dirty = True
            return
        if self._video is None or not len(self._rois) or not self._contrast_on():
            if self.preview_layer is not None:
                self.viewer.layers.remove(self.preview_layer)
            self.contrast_status.setText("")
            return
        from napari.qt.threading import thread_worker
        from napari.utils import progress

        source, video, rois, settings = (
            cs.video_source(self._video.metadata),
            self._video,
            self._rois,
            self.settings(),
        )
        n_frames = video.data.shape[0]
        step = (
            min(int(self.viewer.dims.current_step[-3]), n_frames - 1)
            if self.viewer.dims.ndim >= 3
            else 0
        )
        cache = self._caches.setdefault(source, cs.MappingCache())
        start = time.perf_counter()
        self._fit_stop.clear()
        refit = bool(len(cache.missing(rois, settings)))
        # A progress bar only when sample frames are decoded: the reader keeps them, so
        # a later refit (other settings, a moved ROI) costs only the histograms.
        decode = refit and (source, settings.sample_frames) not in self._sampled
        total = min(settings.sample_frames, n_frames)
        bar = progress(total=total, desc="Fitting contrast") if decode else None

        @thread_worker
        def work() -> np.ndarray | None:
            if source not in self._readers:
                self._readers[source] = VideoReader(source, gray=True, backstep=0)
            try:
                mappings = cs.fit_missing(
                    self._readers[source],
                    rois,
                    settings,
                    cache,
                    progress=lambda done: self._relay.advanced.emit(bar, done, ""),
                    cancel=self._fit_stop.is_set,
                )
            except cs.FitCancelled:
                return None
            self._sampled.add((source, settings.sample_frames))
            return cs.preview_frame(np.asarray(video.data[step]), rois, mappings)

        self._preview_busy = True
        self.preview_worker = work()
        self.preview_worker.returned.connect(
            lambda out: self._show_preview(video, start, out, refit)
        )
        self.preview_worker.errored.connect(
            lambda exc: self.contrast_status.setText(f"Preview failed: {exc}")
        )
        self.preview_worker.finished.connect(lambda: self._preview_finished(bar))
        self._update_busy()
        self.preview_worker.start()

    def _show_preview(
        self, video: Any, start: float, image: np.ndarray | None, refit: bool
    ) -> None:
        if image is None:
            self.contrast_status.setText("Contrast fit cancelled.")
            return
        if video is not self._video:
            return
        layer, layers = self.preview_layer, self.viewer.layers
        if layer is None:
            layer = self.viewer.add_image(
                image,
                name=PREVIEW,
                rgb=image.ndim == 3,
                contrast_limits=(0, 255),
                visible=self.after_box.isChecked(),
                metadata={"workbench": {"kind": "preview"}},
            )
            layers.selection.active = self.shapes_layer  # keep the ROIs editable by mouse
        else:
            layer.data = image
        layer.translate, layer.scale = video.translate[-2:], video.scale[-2:]
        # Right above the video (also after another video was selected), under the ROIs.
        layers.move(layers.index(layer), layers.index(video) + 1)
        self.preview_times.append((time.perf_counter() - start, refit))
        method = self.method_box.currentText()
        self.contrast_status.setText(
            f"{method}: {self.samples_box.value()} sample frames; "
            f"preview {1000 * self.preview_times[-1][0]:.0f} ms"
        )

    def _advance(self, bar: Any, done: int, desc: str) -> None:
        if bar is None:
            return
        if desc and bar.desc != desc:
            bar.set_description(desc)
        bar.update(done - bar.n)

    def _preview_finished(self, bar: Any) -> None:
        if bar is not None:
            bar.close()
        self._preview_busy = False
        self._update_busy()
        if self._preview_dirty:
            self._preview_dirty = False
            self._request_preview()

    # -- export --------------------------------------------------------------------------
    def _config(self) -> Path | None:
        text = self.config_edit.text().strip()
        return Path(text) if text else None

    def _source(self) -> Path | None:
        return cs.video_source(self._video.metadata) if self._video is not None else None

    def _update_out_placeholder(self, *_: Any) -> None:
        default = cs.default_out_dir(self._source(), self._config())
        self.out_edit.setPlaceholderText(str(default) if default else "open a video first")

    def _out_dir(self) -> Path | None:
        text = self.out_edit.text().strip()
        return Path(text) if text else cs.default_out_dir(self._source(), self._config())

    def _choose_out(self) -> None:
        folder = qw.QFileDialog.getExistingDirectory(self, "Output folder")
        if folder:
            self.out_edit.setText(folder)

    def _choose_config(self) -> None:
        path, _ = qw.QFileDialog.getOpenFileName(
            self, "DLC project", "", "DLC config (config.yaml)"
        )
        if path:
            self.config_edit.setText(path)

    def export_video(self) -> None:
        """Export the selected video's ROIs with the current settings."""
        if self._video is None:
            self._say("Open a video with this plugin first.")
            return
        self.start_export([self._source()], self._rois, self.settings())

    def batch(self, videos: list[str] | None = None) -> None:
        """Export the current ROIs and settings from several videos (asks for them)."""
        if videos is None:
            start = str(self._source().parent) if self._source() else ""
            videos, _ = qw.QFileDialog.getOpenFileNames(
                self, "Videos to crop", start, _VIDEO_FILTER
            )
        if videos:
            self.start_export(videos, self._rois, self.settings())

    def apply_recipe(self, recipe: str | None = None, videos: list[str] | None = None) -> None:
        """Crop new videos with the ROIs and settings of an earlier export's ``.crops.json``."""
        if recipe is None:
            recipe, _ = qw.QFileDialog.getOpenFileName(
                self, "Earlier export", "", "Crop records (*.crops.json)"
            )
        if recipe and videos is None:
            start = str(self._source().parent) if self._source() else ""
            videos, _ = qw.QFileDialog.getOpenFileNames(self, "New videos", start, _VIDEO_FILTER)
        if not recipe or not videos:
            return
        try:
            rois, contrast, options = load_recipe(recipe)
        except ROIError as exc:
            self._say(str(exc))
            return
        self.start_export(videos, rois, contrast, options, link_only=False)

    def start_export(
        self,
        videos: list[Any],
        rois: ROISet,
        contrast: ContrastSettings | None,
        options: ExportOptions | None = None,
        link_only: bool | None = None,
    ) -> None:
        """Run an export job in the background with a progress bar."""
        from napari.qt.threading import thread_worker
        from napari.utils import progress

        out = self._out_dir()
        try:
            job = cs.ExportJob(
                tuple(Path(v) for v in videos),
                rois,
                out if out is not None else Path(),
                contrast,
                options or ExportOptions(codec=self.codec_box.currentData()),
                self._config(),
                self.link_box.isChecked() if link_only is None else link_only,
            )
            if out is None:
                raise ValueError("choose an output folder")
        except (ROIError, ValueError) as exc:
            self._say(str(exc))
            return
        self._stop.clear()
        bar = progress(total=1000 * len(job.videos), desc="Crop & contrast")

        def tick(i: int, n: int, frame: int, n_frames: int, video: Path) -> None:
            done = 1000 * i + 1000 * frame // max(n_frames, 1)
            self._relay.advanced.emit(bar, done, f"{video.name} ({i + 1}/{n})")

        @thread_worker
        def work() -> str:
            return cs.run_export(job, progress=tick, cancel=self._stop.is_set)[1]

        self.export_worker = work()
        self.export_worker.returned.connect(self._say)
        self.export_worker.errored.connect(lambda exc: self._say(f"Failed: {exc}"))
        self.export_worker.finished.connect(lambda: self._export_finished(bar))
        self._exporting = True
        self._say(f"Exporting {len(job.videos)} video(s) to {job.out_dir} …")
        self.export_worker.start()
        self._update_busy()

    def cancel(self) -> None:
        """Stop the running export and contrast fit (partial clips are removed)."""
        self._stop.set()
        self._fit_stop.set()

    @property
    def exporting(self) -> bool:
        """True from the press of an export button until its job has finished."""
        return self._exporting

    def _export_finished(self, bar: Any) -> None:
        bar.close()
        self._exporting = False
        self._update_busy()

    def _update_busy(self, *_: Any) -> None:
        busy = self._exporting
        for button in (self.export_button, self.batch_button, self.apply_button):
            button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy or self._preview_busy)

    def _say(self, text: str) -> None:
        self.status.setPlainText(text)


def _row(*widgets: qw.QWidget) -> qw.QWidget:
    row = qw.QWidget()
    layout = qw.QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return row


def _browse(slot: Any) -> qw.QPushButton:
    button = qw.QPushButton("…")
    button.setMaximumWidth(32)
    button.clicked.connect(slot)
    return button
