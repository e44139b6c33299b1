"""The lower half of the Inference dock: one row per video, frames, frames/s, ETA, messages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qtpy import QtWidgets as qw
from qtpy.QtCore import Qt

from napari_dlc_workbench._qt._forms import row
from napari_dlc_workbench.process.inference_progress import (
    InferenceProgress,
    describe_state,
    format_fps,
)
from napari_dlc_workbench.process.training_session import format_duration

__all__ = ["COLUMNS", "InferencePanel"]

COLUMNS = ("video", "status", "frames", "frames/s")


class InferencePanel(qw.QWidget):
    """Per-video table, a frames progress bar with frames/s and ETA, status and log lines.

    Parameters
    ----------
    buttons : sequence of QWidget
        The dock's run buttons, shown in a row under the table.

    Attributes
    ----------
    table : QTableWidget
        One row per video: name, status, frames done/total, frames/s.
    bar : QProgressBar
        Frames analysed of the frames to analyse in this run.
    eta_label, status : QLabel
        Speed and time left; the run's state in words (red for errors).
    details : QPlainTextEdit
        DeepLabCut's output lines and error messages.
    """

    def __init__(self, buttons: Sequence[qw.QWidget] = ()) -> None:
        super().__init__()
        self.table = qw.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(qw.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(qw.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.bar, self.eta_label = qw.QProgressBar(), qw.QLabel("")
        self.bar.setFormat("%v / %m frames")
        self.status = qw.QLabel("", wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.details = qw.QPlainTextEdit(readOnly=True, maximumBlockCount=500)
        self.details.setMaximumHeight(90)
        layout = qw.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(row(*buttons))
        layout.addWidget(row(self.bar, self.eta_label))
        layout.addWidget(self.status)
        layout.addWidget(self.details)

    def selected_rows(self) -> list[int]:
        """Return the rows selected in the table, in order."""
        return sorted({index.row() for index in self.table.selectedIndexes()})

    def show_videos(self, videos: list[Path], progress: InferenceProgress | None) -> None:
        """Fill the table: one row per video, with its state in ``progress`` when known."""
        states = progress.states if progress is not None else {}
        self.table.setRowCount(len(videos))
        for number, video in enumerate(videos):
            state = states.get(video)
            cells = (
                video.name,
                describe_state(state) if state else "",
                f"{state.frames}/{state.total or '?'}" if state else "",
                format_fps(state.fps) if state else "",
            )
            for column, text in enumerate(cells):
                item = self.table.item(number, column)
                if item is None:
                    item = qw.QTableWidgetItem()
                    self.table.setItem(number, column, item)
                item.setText(text)
            self.table.item(number, 0).setToolTip(str(video))
            self.table.item(number, 1).setToolTip(state.message if state else "")
        self.table.resizeColumnToContents(0)

    def show_progress(self, videos: list[Path], progress: InferenceProgress, running: bool) -> None:
        """Show the table, the frames bar, frames/s and (while ``running``) the ETA."""
        self.show_videos(videos, progress)
        self.bar.setRange(0, max(progress.frames_total, 1))
        self.bar.setValue(min(progress.frames_done, progress.frames_total))
        fps = f"{progress.fps:.1f} frames/s, " if progress.fps else ""
        left = format_duration(progress.eta()) if running else "—"
        self.eta_label.setText(f"{fps}ETA {left}")

    def say(self, text: str, error: bool = False) -> None:
        """Show ``text`` as the run's state, in red for an error."""
        self.status.setText(text)
        self.status.setStyleSheet("color: #e05050;" if error else "")
