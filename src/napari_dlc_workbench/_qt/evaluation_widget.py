"""Plugins › DLC Workbench › Evaluation: DLC's numbers explained, and the worst images shown.

The dock evaluates a snapshot with DLC in a child process (``dlc.runner``, job
``"evaluate"``; DLC is never imported here: torch after a GL context
segfaults), or reads the results DLC already wrote for it. The table holds
DLC's own numbers (:mod:`..model.evaluation_table`), each row explained in its
tooltip and in the text panel below it. "Show test frames" adds the evaluated
images worst first with labels, predictions and error arrows
(:mod:`..napari_io.evaluation`); the list beside them jumps between images.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from qtpy import QtWidgets as qw
from qtpy.QtCore import Qt

from napari_dlc_workbench._qt._forms import browse, buttons, check, if_alive, pick_config, row, spin
from napari_dlc_workbench._qt._progress import GuiProgress
from napari_dlc_workbench.dlc.runner import GUI_NICE, Job, JobHandle, start
from napari_dlc_workbench.io import evaluation_files as ef
from napari_dlc_workbench.model.evaluation_table import (
    AnimalSize,
    build_rows,
    format_value,
    header,
    verdict,
)
from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.napari_io import evaluation as glue

__all__ = ["EvaluationWidget"]

COLUMNS = ("metric", "train", "test", "test ÷ animal size")
DEVICES = ("auto", "cpu", "cuda", "mps")


class EvaluationWidget(qw.QWidget):
    """Dock widget: evaluate a snapshot, read its metrics, look at its worst images.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer the evaluated images are added to.

    Attributes
    ----------
    result : dict or None
        The shown snapshot's results (``overall``, ``bodyparts``, ``snapshot``...).
    rows : list of MetricRow
        The table's rows.
    worker : Any
        The running (or last) evaluation's thread worker.
    descriptions : list of str
        One line per frame of the evaluation layers, worst first.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.result: dict[str, Any] | None = None
        self.rows: list[Any] = []
        self.size: AnimalSize | None = None
        self.counts: dict[str, int] | None = None
        self.worker: Any = None
        self.handle: JobHandle | None = None
        self.descriptions: list[str] = []
        self._build()
        napari_viewer.layers.events.inserted.connect(self._prefill)
        napari_viewer.dims.events.current_step.connect(self._on_frame)
        self._prefill()

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.config_edit = qw.QLineEdit(placeholderText="<project>/config.yaml")
        self.shuffle_box = spin(1, 9999, 1, 1)
        self.snapshot_box = qw.QComboBox()
        self.device_box = qw.QComboBox(editable=True)
        self.device_box.addItems(list(DEVICES))
        self.device_box.setToolTip("auto: the device in the shuffle's pytorch_config.yaml")
        self.evaluate_button, self.cancel_button, self.show_button = buttons(
            "Evaluate", "Cancel", "Show test frames"
        )
        self.cancel_button.setEnabled(False)
        self.train_box = check("with train frames", False)
        self.status = qw.QLabel("", wordWrap=True)
        self.table = qw.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(qw.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(qw.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.explanation = qw.QTextBrowser()
        self.frames_list = qw.QListWidget()
        form = qw.QFormLayout()
        form.addRow("config.yaml", row(self.config_edit, browse(lambda: self._browse())))
        form.addRow("shuffle", self.shuffle_box)
        form.addRow("snapshot", self.snapshot_box)
        form.addRow("device", self.device_box)
        layout = qw.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(row(self.evaluate_button, self.cancel_button))
        layout.addWidget(self.status)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.explanation, 2)
        layout.addWidget(row(self.show_button, self.train_box))
        layout.addWidget(self.frames_list, 2)
        self.config_edit.editingFinished.connect(self.refresh)
        self.shuffle_box.valueChanged.connect(self.refresh)
        self.snapshot_box.activated.connect(lambda *_: self.load_existing())
        self.evaluate_button.clicked.connect(lambda: self.evaluate())
        self.cancel_button.clicked.connect(self.cancel)
        self.show_button.clicked.connect(lambda: self.show_frames())
        self.table.currentCellChanged.connect(lambda r, *_: self._explain(r))
        self.frames_list.currentRowChanged.connect(self.go_to)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #ff6060;" if error else "")
        self.status.setText(text)

    # -- project and snapshot ------------------------------------------------------------
    def _prefill(self, *_: Any) -> None:
        # A project opened in napari (its config.yaml, labels) tells which one to evaluate.
        if self.config_edit.text():
            return
        for layer in self.viewer.layers:
            folder = layer.metadata.get("project") if hasattr(layer, "metadata") else None
            if folder and (Path(folder) / "config.yaml").is_file():
                self.set_config(Path(folder) / "config.yaml")
                return

    def _browse(self) -> None:
        if path := pick_config(self, self.config_edit.text()):
            self.set_config(path)

    def set_config(self, path: str | Path) -> None:
        """Evaluate the project of ``path`` (its ``config.yaml``); load existing results."""
        self.config_edit.setText(str(path))
        self.refresh()

    @property
    def config(self) -> Path | None:
        """The chosen ``config.yaml``, or None when the field is empty."""
        text = self.config_edit.text().strip()
        return Path(text) if text else None

    def _files(self) -> ef.ShuffleFiles:
        if self.config is None:
            raise ValueError("choose the project's config.yaml")
        return ef.shuffle_files(self.config, self.shuffle_box.value())

    def refresh(self, *_: Any) -> None:
        """List the shuffle's snapshots (DLC's default chosen) and load its results if any."""
        current = self.snapshot_box.currentData()
        self.snapshot_box.clear()
        try:
            files = self._files()
        except (ValueError, OSError) as exc:
            self._clear()
            self._say(f"Cannot use this project: {exc}", error=True)
            self._update_busy()
            return
        snapshots = ef.list_snapshots(files.train_folder)
        default = ef.default_snapshot(snapshots, files.snapshotindex)
        for snap, label in zip(snapshots, ef.describe_snapshots(snapshots, default), strict=True):
            self.snapshot_box.addItem(label, snap.name)
        names = [s.name for s in snapshots]
        if snapshots:
            # the one DLC evaluates and analyses by default, as config.yaml says
            chosen = current if current in names else (default or snapshots[-1]).name
            self.snapshot_box.setCurrentIndex(names.index(chosen))
            self.load_existing()
        else:
            self._clear()
            self._say(f"No snapshot in {files.train_folder}: train this shuffle first.", True)
        self._update_busy()

    # -- results -------------------------------------------------------------------------
    def load_existing(self) -> bool:
        """Show DLC's results for the chosen snapshot if they are on disk (DLC not run).

        Returns
        -------
        bool
            Whether results were found and shown.
        """
        name = self.snapshot_box.currentData() or ""
        try:
            result = glue.read_results(self._files(), name) if name else None
        except (ValueError, OSError) as exc:
            self._clear()
            self._say(f"Cannot read the evaluation: {exc}", error=True)
            return False
        if result is None:
            self._clear()
            self._say(f"{name or 'This snapshot'} has no evaluation yet: press Evaluate.")
            return False
        self.show_result(result)
        self._say(f"Results of {name} read from {Path(result['results_csv']).name}.")
        return True

    def show_result(self, result: dict[str, Any]) -> None:
        """Fill the table with one snapshot's results (``read_evaluation_results`` + names)."""
        self.size, self.counts = glue.table_context(self._files())
        self.result = result
        self.rows = build_rows(result, self.size, self.counts)
        self.table.setRowCount(len(self.rows))
        for r, metric in enumerate(self.rows):
            share = metric.relative(self.size)
            cells = (
                metric.label,
                format_value(metric.train, metric.unit),
                format_value(metric.test, metric.unit),
                f"{100 * share:.0f}%" if math.isfinite(share) else "",
            )
            for c, text in enumerate(cells):
                item = qw.QTableWidgetItem(text)
                item.setToolTip(metric.explanation)
                if c:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self._explain(-1)

    def _explain(self, row_index: int) -> None:
        if not self.rows:
            self.explanation.clear()
            return
        if 0 <= row_index < len(self.rows):
            metric = self.rows[row_index]
            self.explanation.setPlainText(f"{metric.label}\n\n{metric.explanation}")
            return
        head = header(self.result or {}, self.size, self.counts)
        text = f"{head}\n\n{verdict(self.rows, self.size)}\n\nClick a row to see what it means."
        self.explanation.setPlainText(text)

    def _clear(self) -> None:
        self.result, self.rows = None, []
        self.table.setRowCount(0)
        self.explanation.clear()

    # -- evaluation job ------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while an evaluation job runs."""
        return self.handle is not None

    def evaluate(self) -> bool:
        """Run DLC's evaluation of the chosen snapshot in a child process.

        Returns
        -------
        bool
            Whether a job was started; otherwise the dock says why.
        """
        from napari.qt.threading import thread_worker

        snapshot = self.snapshot_box.currentData()
        if self.busy or self.config is None or not snapshot:
            self._say("Choose a project with a trained snapshot first.", error=True)
            return False
        device = self.device_box.currentText().strip()
        kwargs = {
            "config": str(self.config),
            "shuffle": self.shuffle_box.value(),
            "snapshots": snapshot,
            "device": None if device in ("", "auto") else device,
        }
        try:
            handle = start(Job("evaluate", kwargs), log_events=True, nice=GUI_NICE)
        except (OSError, ValueError) as exc:
            self._say(f"Could not start DeepLabCut: {exc}", error=True)
            return False
        self.handle = handle
        bar = GuiProgress(1, f"Evaluating {snapshot}")

        @thread_worker
        def follow() -> Any:
            for event in handle.events():
                if event.kind == "progress" and event.total:
                    bar.update(event.step - 1, event.total)
                yield event

        self.worker = bar.close_when_finished(follow())
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(
            if_alive(self, lambda exc: self._say(f"Evaluation failed: {exc}", True))
        )
        self.worker.finished.connect(self._job_done)
        self._say(f"Evaluating {snapshot} with DeepLabCut (starting; torch takes a while)…")
        self.worker.start()
        self._update_busy()
        return True

    def _on_event(self, event: JobEvent) -> None:
        if event.kind == "log" and event.message.strip():
            self._say(f"DeepLabCut ({event.elapsed:.0f} s): {event.message.strip()[-160:]}")
        elif event.kind == "progress":
            self._say(f"{event.message} ({event.elapsed:.0f} s)")
        elif event.kind == "finished":
            results = (event.result or {}).get("results") or []
            if results:
                self.show_result(results[0])
            self._say(f"Evaluated {self.snapshot_box.currentData()} in {event.elapsed:.0f} s.")
        elif event.kind == "error":
            self._say(f"Evaluation failed: {event.message}", error=True)
        elif event.kind == "cancelled":
            self._say("Evaluation cancelled; earlier results on disk are unchanged.")

    def _job_done(self) -> None:
        self.handle = None
        self._update_busy()

    def cancel(self) -> None:
        """Stop the running evaluation (its child process is terminated)."""
        if self.handle is not None:
            self.handle.cancel()

    def _update_busy(self) -> None:
        ready = self.snapshot_box.count() > 0
        self.evaluate_button.setEnabled(ready and not self.busy)
        self.cancel_button.setEnabled(self.busy)
        self.show_button.setEnabled(ready)

    # -- evaluated images ----------------------------------------------------------------
    def show_frames(self) -> list[Any]:
        """Add the evaluated test (and train) images worst first, with labels and errors.

        Returns
        -------
        list of napari layers
            Image, error Vectors, ground-truth Points, prediction Points; empty
            when the snapshot has no results (the dock says why).
        """
        splits = ("test", "train") if self.train_box.isChecked() else ("test",)
        try:
            if self.config is None or not self.snapshot_box.currentData():
                raise FileNotFoundError("choose a project with an evaluated snapshot first")
            view = glue.load_evaluation_view(
                self.config, self.snapshot_box.currentData(), self.shuffle_box.value(), 0, splits
            )
        except (ValueError, OSError) as exc:
            self._say(f"No frames to show: {exc}", error=True)
            return []
        if not view.images:
            self._say("This shuffle has no test images to show.", error=True)
            return []
        layers = glue.add_evaluation_layers(self.viewer, view)
        self.descriptions = glue.frame_descriptions(view)
        self.frames_list.blockSignals(True)
        self.frames_list.clear()
        self.frames_list.addItems(self.descriptions)
        self.frames_list.blockSignals(False)
        self.go_to(0)
        self._say(f"{len(view.images)} images, worst first; pick one in the list.")
        return layers

    def go_to(self, frame: int) -> None:
        """Show the ``frame``-th worst image."""
        if 0 <= frame < len(self.descriptions):
            self.viewer.dims.set_current_step(0, frame)
            self._on_frame()

    def _on_frame(self, *_: Any) -> None:
        if not self.descriptions:
            return
        frame = int(self.viewer.dims.current_step[0])
        # Only while an evaluation layer is visible: the overlay belongs to its images.
        shown = any(
            la.visible and (la.metadata.get("workbench") or {}).get("kind") == glue.EVALUATION_KIND
            for la in self.viewer.layers
        )
        overlay = self.viewer.text_overlay
        overlay.visible = shown and 0 <= frame < len(self.descriptions)
        overlay.position, overlay.font_size = "top_left", 10
        if overlay.visible:
            # one line per part: the canvas beside a dock is narrow
            text = self.descriptions[frame].replace(": ", "\n", 1)
            overlay.text = text.replace(", worst", "\nworst", 1)
            if self.frames_list.currentRow() != frame:
                self.frames_list.blockSignals(True)
                self.frames_list.setCurrentRow(frame)
                self.frames_list.blockSignals(False)
