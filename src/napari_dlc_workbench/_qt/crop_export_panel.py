"""The export section of the Crop & contrast dock: one clip per well, in the background.

Exports the selected video, a batch of videos, or new videos with the recipe of
an earlier export (its ``.crops.json``). Each job runs in a ``thread_worker``
with a napari progress bar and can be cancelled; what it does is
:func:`..process.crop_session.run_export`. With "no re-encode" nothing is
written but the crop strings, registered in the DLC project's ``config.yaml``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy import QtWidgets as qw

from napari_dlc_workbench._qt._forms import browse, buttons, check, fill_form, if_alive, note, row
from napari_dlc_workbench._qt._progress import GuiProgress
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES
from napari_dlc_workbench.model.roi import ROIError, ROISet
from napari_dlc_workbench.process import crop_session as cs
from napari_dlc_workbench.process.contrast import ContrastSettings
from napari_dlc_workbench.process.crop_export import ExportOptions, load_recipe

if TYPE_CHECKING:
    from napari_dlc_workbench._qt.crop_preview import ContrastPreview
    from napari_dlc_workbench._qt.crop_rois import RoiEditor

__all__ = ["ExportPanel"]

SAME_SETTINGS_NOTE = (
    "Clips trained with contrast enhancement must be analysed with the same settings "
    "— use 'Apply to new videos'."
)
LINK_NOTE = "No re-encode: DLC crops the raw video itself, so contrast cannot be baked in."
_VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ")"


class ExportPanel(qw.QGroupBox):
    """The "Export" group: where to, how, the export buttons and the status box.

    Parameters
    ----------
    rois : RoiEditor
        The ROI section: the selected video and its ROIs are exported.
    contrast : ContrastPreview
        The contrast section: its settings are baked into the clips; "no re-encode"
        turns it off, and "Cancel" also stops its fit.
    """

    def __init__(self, rois: RoiEditor, contrast: ContrastPreview) -> None:
        super().__init__("Export")
        self._roi_editor, self._contrast = rois, contrast
        self._stop = threading.Event()
        self._exporting = False
        self.worker: Any = None
        self.out_edit, self.config_edit = qw.QLineEdit(), qw.QLineEdit()
        self.config_edit.setPlaceholderText("optional: clips are added to video_sets")
        self.codec_box = qw.QComboBox()
        self.codec_box.addItem("H.264 (.mp4)", "h264")
        self.codec_box.addItem("FFV1 lossless (.mkv)", "ffv1")
        self.link_box = check("no re-encode (DLC crop strings)", False)
        self.link_note = note(LINK_NOTE)
        self.link_note.setVisible(False)
        self.export_button, self.batch_button = buttons("Export this video", "Batch…")
        self.apply_button, self.cancel_button = buttons("Apply to new videos…", "Cancel")
        self.cancel_button.setEnabled(False)
        self.status = qw.QPlainTextEdit(readOnly=True, maximumHeight=90)
        fill_form(
            self,
            ("output folder", row(self.out_edit, browse(self._choose_out))),
            ("config.yaml", row(self.config_edit, browse(self._choose_config))),
            ("codec", self.codec_box),
            self.link_box,
            self.link_note,
            note(SAME_SETTINGS_NOTE),
            row(self.export_button, self.batch_button),
            row(self.apply_button, self.cancel_button),
            self.status,
        )
        self.link_box.toggled.connect(self._on_link_toggled)
        self.config_edit.textChanged.connect(self.update_out_placeholder)
        self.export_button.clicked.connect(self.export_video)
        self.batch_button.clicked.connect(lambda: self.batch())
        self.apply_button.clicked.connect(lambda: self.apply_recipe())
        self.cancel_button.clicked.connect(self.cancel)
        contrast.busy_changed.connect(self._update_busy)

    # -- where to ------------------------------------------------------------------------
    def config(self) -> Path | None:
        """Return the DLC project's ``config.yaml`` the clips are added to, or None."""
        text = self.config_edit.text().strip()
        return Path(text) if text else None

    def update_out_placeholder(self, *_: Any) -> None:
        """Show the default output folder (for the selected video and project)."""
        default = cs.default_out_dir(self._roi_editor.source(), self.config())
        self.out_edit.setPlaceholderText(str(default) if default else "open a video first")

    def out_dir(self) -> Path | None:
        """Return the output folder: the one typed in, else the default."""
        text = self.out_edit.text().strip()
        return Path(text) if text else cs.default_out_dir(self._roi_editor.source(), self.config())

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

    def _on_link_toggled(self, on: bool) -> None:
        self._contrast.set_linked(on)
        self.link_note.setVisible(on)

    # -- jobs ----------------------------------------------------------------------------
    def export_video(self) -> None:
        """Export the selected video's ROIs with the current settings."""
        if self._roi_editor.video is None:
            self.say("Open a video with this plugin first.")
            return
        self.start_export(
            [self._roi_editor.source()], self._roi_editor.rois, self._contrast.settings()
        )

    def batch(self, videos: list[str] | None = None) -> None:
        """Export the current ROIs and settings from several videos (asks for them)."""
        source = self._roi_editor.source()
        if videos is None:
            start = str(source.parent) if source else ""
            videos, _ = qw.QFileDialog.getOpenFileNames(
                self, "Videos to crop", start, _VIDEO_FILTER
            )
        if videos:
            self.start_export(videos, self._roi_editor.rois, self._contrast.settings())

    def apply_recipe(self, recipe: str | None = None, videos: list[str] | None = None) -> None:
        """Crop new videos with the ROIs and settings of an earlier export's ``.crops.json``."""
        if recipe is None:
            recipe, _ = qw.QFileDialog.getOpenFileName(
                self, "Earlier export", "", "Crop records (*.crops.json)"
            )
        if recipe and videos is None:
            source = self._roi_editor.source()
            start = str(source.parent) if source else ""
            videos, _ = qw.QFileDialog.getOpenFileNames(self, "New videos", start, _VIDEO_FILTER)
        if not recipe or not videos:
            return
        try:
            rois, contrast, options = load_recipe(recipe)
        except ROIError as exc:
            self.say(str(exc))
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

        out = self.out_dir()
        try:
            job = cs.ExportJob(
                tuple(Path(v) for v in videos),
                rois,
                out if out is not None else Path(),
                contrast,
                options or ExportOptions(codec=self.codec_box.currentData()),
                self.config(),
                self.link_box.isChecked() if link_only is None else link_only,
            )
            if out is None:
                raise ValueError("choose an output folder")
        except (ROIError, ValueError) as exc:
            self.say(str(exc))
            return
        self._stop.clear()
        bar = GuiProgress(1000 * len(job.videos), "Crop & contrast")

        def tick(i: int, n: int, frame: int, n_frames: int, video: Path) -> None:
            done = 1000 * i + 1000 * frame // max(n_frames, 1)
            bar.update(done, desc=f"{video.name} ({i + 1}/{n})")

        @thread_worker
        def work() -> str:
            return cs.run_export(job, progress=tick, cancel=self._stop.is_set)[1]

        self.worker = bar.close_when_finished(work())
        self.worker.returned.connect(self.say)
        self.worker.errored.connect(if_alive(self, lambda exc: self.say(f"Failed: {exc}")))
        self.worker.finished.connect(self._export_finished)
        self._exporting = True
        self.say(f"Exporting {len(job.videos)} video(s) to {job.out_dir} …")
        self.worker.start()
        self._update_busy()

    def cancel(self) -> None:
        """Stop the running export and contrast fit (partial clips are removed)."""
        self._stop.set()
        self._contrast.cancel()

    @property
    def exporting(self) -> bool:
        """True from the press of an export button until its job has finished."""
        return self._exporting

    def _export_finished(self) -> None:
        self._exporting = False
        self._update_busy()

    def _update_busy(self, *_: Any) -> None:
        busy = self._exporting
        for button in (self.export_button, self.batch_button, self.apply_button):
            button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy or self._contrast.busy)

    def say(self, text: str) -> None:
        """Show ``text`` in the status box."""
        self.status.setPlainText(text)
