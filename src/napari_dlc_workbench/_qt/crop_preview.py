"""The contrast section of the Crop & contrast dock: settings and a live preview.

The preview is an Image layer ``contrast preview`` right above the video,
showing the current frame as the clips will be written: one contrast mapping
per ROI, fitted over sample frames of the video. The fit and the preview run
in a ``thread_worker``, never in the GUI thread, and can be cancelled; the
mappings come from :mod:`..process.crop_session`, which caches them per video.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy import QtWidgets as qw
from qtpy.QtCore import QTimer, Signal

from napari_dlc_workbench._qt._forms import check, fill_form, if_alive, row, spin
from napari_dlc_workbench._qt._progress import GuiProgress
from napari_dlc_workbench.io.video import VideoReader
from napari_dlc_workbench.process import crop_session as cs
from napari_dlc_workbench.process.contrast import ContrastSettings

if TYPE_CHECKING:
    import napari

    from napari_dlc_workbench._qt.crop_rois import RoiEditor

__all__ = ["METHODS", "PREVIEW", "ContrastPreview"]

METHODS = {"none": "none", "ImageJ enhance": "enhance", "equalize": "equalize", "CLAHE": "clahe"}
PREVIEW = "contrast preview"


class ContrastPreview(qw.QGroupBox):
    """The "Contrast" group: the settings, and the preview of the selected video's ROIs.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer the preview layer is added to.
    rois : RoiEditor
        The ROI section: its video and ROIs are previewed.

    Attributes
    ----------
    times : deque of (float, bool)
        ``(seconds, refitted?)`` per preview update, from request to the layer showing it.
    busy_changed : Signal
        Emitted when a preview job starts or ends (see :attr:`busy`).
    """

    busy_changed = Signal()

    def __init__(self, viewer: napari.Viewer, rois: RoiEditor) -> None:
        super().__init__("Contrast (one mapping per ROI, fitted over the video)")
        self.viewer = viewer
        self._roi_editor = rois
        self._caches: dict[Path, cs.MappingCache] = {}
        self._readers: dict[Path, VideoReader] = {}
        self._sampled: set[tuple[Path, int]] = set()
        self._busy = self._dirty = self._linked = False
        self._fit_stop = threading.Event()
        self.worker: Any = None
        self.times: deque[tuple[float, bool]] = deque(maxlen=200)
        self._fit_timer = QTimer(self, singleShot=True, interval=150)
        self._fit_timer.timeout.connect(self.request)
        self.method_box = qw.QComboBox()
        self.method_box.addItems(list(METHODS))
        self.saturated_box = spin(0.0, 49.9, 0.35, 0.05, 2)
        self.normalize_box = check("normalize", True)
        self.gamma_box = spin(0.1, 5.0, 1.0, 0.05, 2)
        self.tiles_box, self.clip_box = spin(1, 64, 8, 1), spin(0.001, 1.0, 0.01, 0.005, 3)
        self.samples_box = spin(1, 1000, 30, 5)
        self.after_box = check("show contrast (after); untick for before", True)
        self.status = qw.QLabel("")
        fill_form(
            self,
            ("method", self.method_box),
            ("saturated %", row(self.saturated_box, self.normalize_box)),
            ("gamma", self.gamma_box),
            ("CLAHE tiles", row(self.tiles_box, qw.QLabel("clip"), self.clip_box)),
            ("sample frames", self.samples_box),
            self.after_box,
            self.status,
        )
        self.method_box.currentIndexChanged.connect(self._on_contrast_changed)
        self.normalize_box.toggled.connect(self._on_contrast_changed)
        for box in (self.saturated_box, self.gamma_box, self.tiles_box, self.clip_box):
            box.valueChanged.connect(self._on_contrast_changed)
        self.samples_box.valueChanged.connect(self._on_contrast_changed)
        self.after_box.toggled.connect(self._on_after_toggled)
        self._on_contrast_changed()

    # -- settings ------------------------------------------------------------------------
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

    def set_settings(self, settings: ContrastSettings) -> None:
        """Set the controls to ``settings`` (an earlier export's, say); the preview follows."""
        self.method_box.setCurrentText(
            next(label for label, method in METHODS.items() if method == settings.method)
        )
        self.saturated_box.setValue(settings.saturated)
        self.normalize_box.setChecked(settings.normalize)
        self.gamma_box.setValue(settings.gamma)
        self.tiles_box.setValue(settings.tiles)
        self.clip_box.setValue(settings.clip_limit)
        self.samples_box.setValue(settings.sample_frames)

    def set_linked(self, on: bool) -> None:
        """Turn the contrast off (and the controls) while exports only link the raw video."""
        self._linked = on
        self.setEnabled(not on)
        self.request()

    def _contrast_on(self) -> bool:
        return not self._linked and self.settings().method != "none"

    def _on_contrast_changed(self, *_: Any) -> None:
        method = self.settings().method
        for box in (self.saturated_box, self.normalize_box):
            box.setEnabled(method == "enhance")
        self.tiles_box.setEnabled(method == "clahe")
        self.clip_box.setEnabled(method == "clahe")
        self.gamma_box.setEnabled(method != "none")
        self._fit_timer.start()  # a spin box dragged fast refits once, when it settles

    def _on_after_toggled(self, on: bool) -> None:
        if self.layer is not None:
            self.layer.visible = on

    # -- the preview job -----------------------------------------------------------------
    @property
    def layer(self) -> Any:
        """The ``contrast preview`` Image layer, or None."""
        return next((la for la in self.viewer.layers if la.name == PREVIEW), None)

    @property
    def busy(self) -> bool:
        """True while a fit/preview job runs."""
        return self._busy

    def cancel(self) -> None:
        """Stop the running contrast fit."""
        self._fit_stop.set()

    def release_readers(self, present: set[Path | None]) -> None:
        """Close the readers of videos no longer open (unless a job may be using them)."""
        for source in [s for s in self._readers if s not in present and not self._busy]:
            self._readers.pop(source).close()  # the video was closed: free its file

    def request(self, *_: Any) -> None:
        """Update the preview for the current frame (after the running update, if any)."""
        if self._busy:
            self._dirty = True
            return
        video, rois = self._roi_editor.video, self._roi_editor.rois
        if video is None or not len(rois) or not self._contrast_on():
            if self.layer is not None:
                self.viewer.layers.remove(self.layer)
            self.status.setText("")
            return
        from napari.qt.threading import thread_worker

        source, settings = cs.video_source(video.metadata), self.settings()
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
        bar = GuiProgress(total, "Fitting contrast") if decode else None

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
                    progress=bar.update if bar is not None else None,
                    cancel=self._fit_stop.is_set,
                )
            except cs.FitCancelled:
                return None
            self._sampled.add((source, settings.sample_frames))
            return cs.preview_frame(np.asarray(video.data[step]), rois, mappings)

        self._busy = True
        self.worker = work()
        if bar is not None:
            bar.close_when_finished(self.worker)
        # The dock may be closed before the worker ends.
        self.worker.returned.connect(
            if_alive(self, lambda out: self._show(video, start, out, refit))
        )
        self.worker.errored.connect(
            if_alive(self, lambda exc: self.status.setText(f"Preview failed: {exc}"))
        )
        self.worker.finished.connect(if_alive(self, self._finished))
        self.busy_changed.emit()
        self.worker.start()

    def _show(self, video: Any, start: float, image: np.ndarray | None, refit: bool) -> None:
        if image is None:
            self.status.setText("Contrast fit cancelled.")
            return
        if video is not self._roi_editor.video:
            return
        layer, layers = self.layer, self.viewer.layers
        if layer is None:
            layer = self.viewer.add_image(
                image,
                name=PREVIEW,
                rgb=image.ndim == 3,
                contrast_limits=(0, 255),
                visible=self.after_box.isChecked(),
                metadata={"workbench": {"kind": "preview"}},
            )
            # Keep the ROIs editable by mouse.
            layers.selection.active = self._roi_editor.shapes_layer
        else:
            layer.data = image
        layer.translate, layer.scale = video.translate[-2:], video.scale[-2:]
        # Right above the video (also after another video was selected), under the ROIs.
        layers.move(layers.index(layer), layers.index(video) + 1)
        self.times.append((time.perf_counter() - start, refit))
        method = self.method_box.currentText()
        self.status.setText(
            f"{method}: {self.samples_box.value()} sample frames; "
            f"preview {1000 * self.times[-1][0]:.0f} ms"
        )

    def _finished(self) -> None:
        self._busy = False
        self.busy_changed.emit()
        if self._dirty:
            self._dirty = False
            self.request()
