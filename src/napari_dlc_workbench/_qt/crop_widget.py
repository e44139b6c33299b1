"""Plugins › DLC Workbench › Crop & contrast: wells as rectangles, live contrast, clip export.

The dock picks the video and stacks three sections, each in its own module:

- :mod:`.crop_rois`: ROIs as rectangles on a Shapes layer ``ROIs (<video>)``, snapped
  inside the frame after each edit, and their table;
- :mod:`.crop_preview`: the contrast settings and the ``contrast preview`` layer;
- :mod:`.crop_export_panel`: the export of one clip per well, alone, in a batch or
  with the recipe of an earlier export.

Everything computed comes from :mod:`..process.crop_session`; decoding, fitting
and exporting run in ``thread_worker`` jobs, never in the GUI thread, and each
can be cancelled.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy import QtWidgets as qw

from napari_dlc_workbench._qt._forms import row
from napari_dlc_workbench._qt.crop_export_panel import ExportPanel
from napari_dlc_workbench._qt.crop_preview import METHODS, PREVIEW, ContrastPreview
from napari_dlc_workbench._qt.crop_rois import RoiEditor
from napari_dlc_workbench.model.roi import ROISet
from napari_dlc_workbench.process import crop_session as cs
from napari_dlc_workbench.process.contrast import ContrastSettings
from napari_dlc_workbench.process.crop_export import ExportOptions

if TYPE_CHECKING:
    import napari

__all__ = ["METHODS", "PREVIEW", "CropContrastWidget"]


class CropContrastWidget(qw.QWidget):
    """Dock widget: draw the wells, preview the contrast, export one clip per well.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose videos (opened with this plugin) are offered.

    Attributes
    ----------
    roi_editor : RoiEditor
        The "ROIs" section.
    contrast_group : ContrastPreview
        The "Contrast" section.
    export_panel : ExportPanel
        The "Export" section.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.video_box = qw.QComboBox()
        self.roi_editor = RoiEditor(napari_viewer)
        self.contrast_group = ContrastPreview(napari_viewer, self.roi_editor)
        self.export_panel = ExportPanel(self.roi_editor, self.contrast_group)
        layout = qw.QVBoxLayout(self)
        layout.addWidget(row(qw.QLabel("video"), self.video_box))
        for section in (self.roi_editor, self.contrast_group, self.export_panel):
            layout.addWidget(section)
        layout.addStretch(1)
        self._expose_controls()
        self.video_box.currentIndexChanged.connect(self._select_video)
        self.roi_editor.changed.connect(self.contrast_group.request)
        self.roi_editor.message.connect(self.export_panel.say)
        napari_viewer.layers.events.inserted.connect(self._refresh_videos)
        napari_viewer.layers.events.removed.connect(self._refresh_videos)
        napari_viewer.dims.events.current_step.connect(self.contrast_group.request)
        self._refresh_videos()

    def _expose_controls(self) -> None:
        # The sections' controls, also as attributes of the dock: scripts and tests drive them.
        rois, contrast, export = self.roi_editor, self.contrast_group, self.export_panel
        self.add_button, self.save_button = rois.add_button, rois.save_button
        self.load_button, self.fixed_box = rois.load_button, rois.fixed_box
        self.width_box, self.height_box, self.table = rois.width_box, rois.height_box, rois.table
        self.method_box, self.saturated_box = contrast.method_box, contrast.saturated_box
        self.normalize_box, self.gamma_box = contrast.normalize_box, contrast.gamma_box
        self.tiles_box, self.clip_box = contrast.tiles_box, contrast.clip_box
        self.samples_box, self.after_box = contrast.samples_box, contrast.after_box
        self.contrast_status = contrast.status
        self.out_edit, self.config_edit = export.out_edit, export.config_edit
        self.codec_box, self.link_box, self.link_note = (
            export.codec_box,
            export.link_box,
            export.link_note,
        )
        self.export_button, self.batch_button = export.export_button, export.batch_button
        self.apply_button, self.cancel_button = export.apply_button, export.cancel_button
        self.status = export.status
        # (seconds, refitted?) per preview update, from request to the layer showing it.
        self.preview_times: deque[tuple[float, bool]] = contrast.times
        self._sync_timer = rois._sync_timer

    # -- videos --------------------------------------------------------------------------
    def _refresh_videos(self, *_: Any) -> None:
        videos = [la for la in self.viewer.layers if cs.video_source(la.metadata) is not None]
        self.contrast_group.release_readers({cs.video_source(la.metadata) for la in videos})
        if [self.video_box.itemData(i) for i in range(self.video_box.count())] == videos:
            self.roi_editor.forget_deleted_layer()
            return
        current = self.roi_editor.video
        self.video_box.blockSignals(True)
        self.video_box.clear()
        for layer in videos:
            self.video_box.addItem(layer.name, layer)
        self.video_box.setCurrentIndex(videos.index(current) if current in videos else 0)
        self.video_box.blockSignals(False)
        self._select_video()

    def _select_video(self, *_: Any) -> None:
        if self.roi_editor.set_video(self.video_box.currentData()):
            self.export_panel.update_out_placeholder()

    # -- the sections' state and actions, as the dock's ---------------------------------
    @property
    def _rois(self) -> ROISet:
        return self.roi_editor.rois

    @property
    def _video(self) -> Any:
        return self.roi_editor.video

    @property
    def _preview_busy(self) -> bool:
        return self.contrast_group.busy

    @property
    def shapes_layer(self) -> Any:
        """The selected video's ``ROIs (<video>)`` Shapes layer, or None."""
        return self.roi_editor.shapes_layer

    @property
    def preview_layer(self) -> Any:
        """The ``contrast preview`` Image layer, or None."""
        return self.contrast_group.layer

    @property
    def preview_worker(self) -> Any:
        """The latest contrast fit/preview job."""
        return self.contrast_group.worker

    @property
    def export_worker(self) -> Any:
        """The latest export job."""
        return self.export_panel.worker

    @property
    def exporting(self) -> bool:
        """True from the press of an export button until its job has finished."""
        return self.export_panel.exporting

    def settings(self) -> ContrastSettings:
        """Return the contrast settings the controls describe."""
        return self.contrast_group.settings()

    def set_settings(self, settings: ContrastSettings) -> None:
        """Set the contrast controls (e.g. to an earlier export's ``.crops.json`` settings)."""
        self.contrast_group.set_settings(settings)

    def add_roi(self) -> None:
        """Add a rectangle of the fixed size at the centre of the view."""
        self.roi_editor.add_roi()

    def save_rois(self, path: str | Path | None = None) -> None:
        """Save the ROIs as JSON (asks for the file when ``path`` is None)."""
        self.roi_editor.save_rois(path)

    def load_rois(self, path: str | Path | None = None) -> None:
        """Load ROIs (a saved set or an export's ``.crops.json``) onto the selected video."""
        self.roi_editor.load_rois(path)

    def export_video(self) -> None:
        """Export the selected video's ROIs with the current settings."""
        self.export_panel.export_video()

    def batch(self, videos: list[str] | None = None) -> None:
        """Export the current ROIs and settings from several videos (asks for them)."""
        self.export_panel.batch(videos)

    def apply_recipe(self, recipe: str | None = None, videos: list[str] | None = None) -> None:
        """Crop new videos with the ROIs and settings of an earlier export's ``.crops.json``."""
        self.export_panel.apply_recipe(recipe, videos)

    def start_export(
        self,
        videos: list[Any],
        rois: ROISet,
        contrast: ContrastSettings | None,
        options: ExportOptions | None = None,
        link_only: bool | None = None,
    ) -> None:
        """Run an export job in the background with a progress bar."""
        self.export_panel.start_export(videos, rois, contrast, options, link_only)

    def cancel(self) -> None:
        """Stop the running export and contrast fit (partial clips are removed)."""
        self.export_panel.cancel()
