"""The lower half of the Training dock: where a run stands and what DLC said.

Epoch and batch bars, the ETA, the snapshot folder (copyable, with a button that
opens it) and the last snapshot, the status line, a warning (e.g. the offline
random-initialisation one) and DLC's output, which becomes the traceback when a
job fails. It only displays a :class:`..process.training_session.TrainingProgress`.
"""

from __future__ import annotations

from pathlib import Path

from qtpy import QtWidgets as qw
from qtpy.QtCore import Qt, QUrl
from qtpy.QtGui import QDesktopServices

from napari_dlc_workbench._qt._forms import note, row
from napari_dlc_workbench.process.training_session import TrainingProgress, format_duration

__all__ = ["LazyProgressBar", "TrainingStatusPanel"]


class LazyProgressBar(qw.QProgressBar):
    """A progress bar that repaints with the next paint of the window, not at once.

    ``QProgressBar.setValue`` repaints synchronously; in napari's window (which holds an
    OpenGL canvas) every repaint composes the whole window: ~20 ms with a software GL, per
    batch event. Disabled updates turn that repaint into a queued one.
    """

    def setValue(self, value: int) -> None:  # noqa: N802 - Qt API
        """Set the value; the bar is redrawn when Qt next paints."""
        if value == self.value():
            return
        self.setUpdatesEnabled(False)
        super().setValue(value)
        self.setUpdatesEnabled(True)  # schedules the update


class TrainingStatusPanel(qw.QWidget):
    """Progress, ETA, snapshots, status and DLC's output of the running job.

    Attributes
    ----------
    epoch_bar, batch_bar : QProgressBar
        Epochs of the run; batches of the current epoch.
    eta_label, snapshot_label, status : QLabel
        Time left, the newest snapshot, what is happening (red for errors).
    folder_edit : QLineEdit
        The shuffle's ``train`` folder (read-only, selectable).
    details : QPlainTextEdit
        DLC's output lines, or the traceback of a failed job; shown by ``details_button``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.epoch_bar, self.batch_bar = LazyProgressBar(), LazyProgressBar()
        self.epoch_bar.setFormat("epoch %v / %m")
        self.batch_bar.setFormat("batch %v / %m")
        self.eta_label, self.snapshot_label = qw.QLabel("ETA —"), qw.QLabel("last snapshot: —")
        self.folder_edit = qw.QLineEdit(readOnly=True, placeholderText="snapshot folder")
        self.folder_edit.setToolTip("DLC's train folder: snapshots, learning_stats.csv, train.txt")
        self.open_button = qw.QPushButton("Open")
        self.status = qw.QLabel("", wordWrap=True)
        self.warning = note("")
        self.warning.hide()
        self.details_button = qw.QToolButton(text="DLC output", checkable=True)
        self.details_button.setArrowType(Qt.RightArrow)
        self.details_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.details = qw.QPlainTextEdit(readOnly=True, visible=False)
        self.details.setMaximumBlockCount(2000)  # a long run prints a lot; keep the end
        self.details.setMinimumHeight(140)
        for label in (self.status, self.snapshot_label):
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout = qw.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.epoch_bar, self.batch_bar, self.eta_label,
                       row(self.folder_edit, self.open_button), self.snapshot_label,
                       self.status, self.warning, self.details_button, self.details):  # fmt: skip
            layout.addWidget(widget)
        self.open_button.clicked.connect(self.open_folder)
        self.details_button.toggled.connect(self._toggle_details)

    def _toggle_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setArrowType(Qt.DownArrow if shown else Qt.RightArrow)

    def say(self, text: str, error: bool = False) -> None:
        """Show ``text`` as the status line (red for an error)."""
        style = "color: #ff6060;" if error else ""
        if self.status.styleSheet() != style:  # restyling costs a relayout; most calls keep it
            self.status.setStyleSheet(style)
        if self.status.text() != text:
            self.status.setText(text)

    def new_run(self) -> None:
        """Forget the previous run's output and warning."""
        self.details.clear()
        self.details_button.setText("DLC output")
        self.warning.hide()

    def show_idle(self, folder: Path, snapshot: tuple[Path, int] | None, epochs: int) -> None:
        """Show a shuffle with no job running: its folder and last snapshot."""
        self.folder_edit.setText(str(folder))
        self.snapshot_label.setText(f"last snapshot: {snapshot[0].name if snapshot else '—'}")
        self.epoch_bar.setRange(0, max(epochs, 1))
        self.epoch_bar.setValue(min(snapshot[1], max(epochs, 1)) if snapshot else 0)
        self.batch_bar.setValue(0)

    def show_progress(self, progress: TrainingProgress) -> None:
        """Show where the job stands."""
        if progress.epochs:
            self.epoch_bar.setRange(0, progress.epochs)
        if progress.epoch is not None:
            self.epoch_bar.setValue(min(progress.epoch, self.epoch_bar.maximum()))
        if progress.total:
            self.batch_bar.setRange(0, progress.total)
            self.batch_bar.setValue(progress.step or 0)
        per_epoch = progress.epoch_seconds()
        each = f"  ({format_duration(per_epoch)} per epoch)" if per_epoch else ""
        self.eta_label.setText(f"ETA {format_duration(progress.eta())}{each}")
        if progress.snapshot:
            self.snapshot_label.setText(f"last snapshot: {Path(progress.snapshot).name}")
        if progress.warning:
            self.warning.setText(f"Warning: {progress.warning}")
            self.warning.show()
        if progress.error:
            self.say(f"{progress.job_name} failed: {progress.error}", error=True)
            self.details.setPlainText(progress.traceback or progress.error)
            self.details_button.setText("traceback")
        else:
            self.say(progress.status)

    def open_folder(self) -> None:
        """Open the train folder (or its nearest existing parent) in the file manager."""
        folder = Path(self.folder_edit.text())
        while folder != folder.parent and not folder.is_dir():
            folder = folder.parent  # the train folder appears with the training dataset
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
