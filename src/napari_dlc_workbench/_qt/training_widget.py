"""Plugins › DLC Workbench › Training: train a shuffle and watch it learn.

Start creates the shuffle's training dataset when it is missing, then trains;
Cancel stops the child (it finishes a snapshot it is writing first); Resume
continues from the last snapshot up to the epochs asked. Every DLC call runs in
a child process started by :mod:`..dlc.runner` (torch must never be imported in
napari's process); its events are read in a ``thread_worker`` and reach this
dock through Qt signals, so the GUI thread never waits on DLC. What the dock
computes (jobs to run, the curve, the ETA) is in :mod:`..process.training_session`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from qtpy import QtWidgets as qw
from qtpy.QtCore import QEvent, Qt

from napari_dlc_workbench._qt import _devices
from napari_dlc_workbench._qt._forms import browse, buttons, pick_config, row, spin
from napari_dlc_workbench._qt._plot import LearningCurvePlot
from napari_dlc_workbench._qt.training_status import TrainingStatusPanel
from napari_dlc_workbench.dlc import runner
from napari_dlc_workbench.dlc.nets import DEFAULT_NET, available_nets, net_method
from napari_dlc_workbench.dlc.training import last_snapshot, read_learning_stats
from napari_dlc_workbench.io.config import ConfigError, load_config
from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.process import training_session as ts

__all__ = ["WEIGHTS_HELP", "WEIGHTS_NOTE", "TrainingWidget"]

WEIGHTS_HELP = (
    "auto: DLC's pretrained backbone weights if they are on this computer, else random "
    "weights. Offline (nothing is downloaded unless you set HF_HUB_OFFLINE=0) a new network "
    "usually starts from random weights: the job then warns that accuracy needs hundreds "
    "of epochs instead of tens. A local file (a DLC snapshot of the same network, or "
    "backbone weights .pth/.safetensors) avoids that."
)
WEIGHTS_NOTE = (
    "Offline, auto usually means random weights: expect hundreds of epochs instead of tens. "
    "A local weights file avoids that (hover for details)."
)


_WORKERS: set[Any] = set()


def _keep(worker: Any) -> Any:
    # A worker must outlive a dock closed while it runs: Qt would delete its signals.
    _WORKERS.add(worker)
    worker.finished.connect(lambda: _WORKERS.discard(worker))
    return worker


def _follow(handle: runner.JobHandle) -> Any:
    # Runs in a worker thread: blocks on the job's event queue, never on the GUI.
    try:
        yield from handle.events()
    finally:
        if not handle.done:  # the worker was stopped (napari closing): stop the job too
            handle.cancel()


def _cancel_jobs(handles: list[runner.JobHandle], *_: Any) -> None:
    for handle in handles:
        handle.cancel()


class TrainingWidget(qw.QWidget):
    """Dock widget: train a DLC shuffle in a child process, with a live learning curve.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer; an open layer of a DLC project prefills the project.

    Attributes
    ----------
    handle : JobHandle or None
        The job running now.
    curve : TrainingCurve
        What the plot shows.
    progress : TrainingProgress
        The current job's state (batches, ETA, snapshot, errors).
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.handle: runner.JobHandle | None = None
        self.state: ts.ShuffleState | None = None
        self.curve = ts.TrainingCurve()
        self.progress = ts.TrainingProgress()
        self.device_text = "checking devices…"
        self._queue: list[ts.JobSpec] = []
        self._handles: list[runner.JobHandle] = []  # also seen by the destroyed hook
        self._build()
        self.destroyed.connect(functools.partial(_cancel_jobs, self._handles))
        napari_viewer.layers.events.inserted.connect(self._on_inserted)
        for layer in list(napari_viewer.layers):
            self._on_inserted(layer)
        _devices.probe_devices_once(self._on_probe)
        self._update_buttons()

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.config_edit = qw.QLineEdit(placeholderText="project config.yaml")
        self.shuffle_box = spin(1, 999, 1, 1)
        self.fraction_box = spin(0.05, 0.99, 0.95, 0.05, decimals=2)
        self.net_box = qw.QComboBox()
        for net in available_nets() or [DEFAULT_NET]:
            self.net_box.addItem(net)
            self.net_box.setItemData(self.net_box.count() - 1, net_method(net), Qt.ToolTipRole)
        self.net_box.setCurrentText(DEFAULT_NET)
        self.epochs_box, self.batch_box = spin(1, 100000, 200, 10), spin(1, 1024, 8, 1)
        self.save_box, self.eval_box = spin(1, 100000, 25, 5), spin(1, 100000, 1, 1)
        self.eval_box.setToolTip("test images are evaluated every N epochs (RMSE points)")
        self.device_box, self.device_label = qw.QComboBox(), qw.QLabel(self.device_text)
        _devices.set_choices(self.device_box, ts.device_choices(None))
        self.weights_box = qw.QComboBox()
        self.weights_box.addItem("auto", "auto")
        self.weights_box.addItem("random", "random")
        self.weights_box.addItem("local file…", "")
        self.weights_box.setToolTip(WEIGHTS_HELP)
        self.weights_note = qw.QLabel(WEIGHTS_NOTE, wordWrap=True, toolTip=WEIGHTS_HELP)
        self.dataset_label = qw.QLabel("")
        self.start_button, self.cancel_button, self.resume_button = buttons(
            "Start", "Cancel", "Resume"
        )
        self.plot = LearningCurvePlot(self.viewer)
        self.panel = panel = TrainingStatusPanel()
        # The panel's controls, also as the dock's attributes: scripts and tests read them.
        self.epoch_bar, self.batch_bar = panel.epoch_bar, panel.batch_bar
        self.eta_label = panel.eta_label
        self.folder_edit, self.snapshot_label = panel.folder_edit, panel.snapshot_label
        self.status, self.warning, self.details = panel.status, panel.warning, panel.details
        self.device_label.setWordWrap(True)
        self.dataset_label.setWordWrap(True)
        self.device_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form = qw.QFormLayout()
        form.addRow("project", row(self.config_edit, browse(lambda: self.browse_config())))
        form.addRow(
            "shuffle", row(self.shuffle_box, qw.QLabel("train fraction"), self.fraction_box)
        )
        form.addRow("network", self.net_box)
        form.addRow("", self.dataset_label)
        form.addRow("epochs", row(self.epochs_box, qw.QLabel("batch size"), self.batch_box))
        form.addRow("save every", row(self.save_box, qw.QLabel("test every"), self.eval_box))
        form.addRow("device", self.device_box)
        form.addRow("", self.device_label)
        form.addRow("weights", self.weights_box)
        layout = qw.QVBoxLayout(self)
        layout.addLayout(form)
        self.weights_note.setStyleSheet("font-size: small;")
        for widget in (self.weights_note, row(self.start_button, self.cancel_button, self.resume_button),
                       self.plot, panel):  # fmt: skip
            layout.addWidget(widget)
        layout.addStretch(1)
        self.config_edit.editingFinished.connect(lambda: self.set_config(self.config_edit.text()))
        self.shuffle_box.valueChanged.connect(lambda _: self.refresh(prefill=True))
        self.fraction_box.valueChanged.connect(lambda _: self.refresh(prefill=True))
        self.weights_box.activated.connect(self._on_weights)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)

    def _on_probe(self, result: Any) -> None:
        self.device_text = _devices.show_probe(self.device_box, self.device_label, result)

    # -- project -------------------------------------------------------------------------
    def _on_inserted(self, event: Any) -> None:
        layer = getattr(event, "value", event)
        if not self.config_edit.text() and (path := ts.config_from_metadata(layer.metadata)):
            self.set_config(path)

    def browse_config(self) -> None:
        """Pick a project's ``config.yaml`` with a file dialog."""
        if path := pick_config(self, self.config_edit.text()):
            self.set_config(path)

    def set_config(self, path: str | Path) -> bool:
        """Train this project (other docks call it, e.g. to retrain after corrections).

        Parameters
        ----------
        path : path
            The project's ``config.yaml``.

        Returns
        -------
        bool
            Whether it is a readable DLC project; otherwise the dock says why.
        """
        self.config_edit.setText(str(path))
        try:
            fractions = list(load_config(path).get("TrainingFraction") or [0.95])
        except ConfigError as exc:
            self._say(str(exc), error=True)
            self.state = None
            self._update_buttons()
            return False
        self.fraction_box.blockSignals(True)
        self.fraction_box.setValue(float(fractions[0]))
        self.fraction_box.blockSignals(False)
        self._say("")
        return self.refresh(prefill=True)

    def settings(self) -> ts.TrainingSettings:
        """Return the controls' values."""
        return ts.TrainingSettings(
            config=Path(self.config_edit.text()),
            shuffle=self.shuffle_box.value(),
            train_fraction=round(self.fraction_box.value(), 2),
            net_type=self.net_box.currentText(),
            epochs=self.epochs_box.value(),
            batch_size=self.batch_box.value(),
            device=self.device_box.currentData() or "auto",
            save_epochs=self.save_box.value(),
            eval_interval=self.eval_box.value(),
            weights=self.weights_box.currentData() or "auto",
        )

    def refresh(self, prefill: bool = False) -> bool:
        """Look at the shuffle on disk again: dataset, snapshots, ``learning_stats.csv``.

        Parameters
        ----------
        prefill : bool
            Also set network, epochs and batch size from an existing dataset.
        """
        settings = self.settings()
        try:
            self.state = ts.shuffle_state(
                settings.config, settings.shuffle, settings.train_fraction
            )
        except ConfigError as exc:
            self.state = None
            self._say(str(exc), error=True)
            self._update_buttons()
            return False
        state = self.state
        self.dataset_label.setText(state.describe())
        if prefill and state.exists:
            if state.net_type and self.net_box.findText(state.net_type) < 0:
                self.net_box.addItem(state.net_type)
            self.net_box.setCurrentText(state.net_type or self.net_box.currentText())
            for key, box in (("epochs", self.epochs_box), ("batch_size", self.batch_box)):
                if isinstance(state.settings.get(key), int):
                    box.setValue(state.settings[key])
        if self.handle is None:
            self.curve = ts.TrainingCurve.from_rows(read_learning_stats(state.train_folder))
            self._plot()
            found = last_snapshot(state.train_folder) if state.exists else None
            self.panel.show_idle(state.train_folder, found, self.epochs_box.value())
        self._update_buttons()
        return True

    def _on_weights(self, index: int) -> None:
        if self.weights_box.itemData(index):
            return
        path, _ = qw.QFileDialog.getOpenFileName(
            self, "weights file", "", "Weights (*.pt *.pth *.safetensors)"
        )
        if path:
            self.set_weights(path)
        else:
            self.weights_box.setCurrentIndex(0)

    def set_weights(self, path: str | Path) -> None:
        """Start fresh runs from this weights file (see ``dlc/weights.py`` for the formats)."""
        self.weights_box.insertItem(self.weights_box.count() - 1, Path(path).name, str(path))
        self.weights_box.setCurrentIndex(self.weights_box.count() - 2)

    # -- jobs ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a job of this dock is running."""
        return self.handle is not None

    def start(self) -> None:
        """Create the training dataset if needed, then train from the chosen weights."""
        if self.running or not self.refresh():
            return
        try:
            jobs = ts.start_jobs(self.settings(), self.state)
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self.curve = ts.TrainingCurve()  # the child moves the previous run aside
        self._plot()
        self._run(jobs)

    def resume(self) -> None:
        """Continue from the last snapshot until the epochs set (in all) are trained."""
        if self.running or not self.refresh():
            return
        try:
            job = ts.resume_job(self.settings(), self.state)
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self._run([job])

    def cancel(self) -> None:
        """Stop the running job; the child finishes a snapshot it is writing, Resume continues."""
        self._queue.clear()
        if self.handle is not None:
            self.handle.cancel()
            self._say("cancelling… (a snapshot being written is finished first)")

    def _run(self, jobs: list[ts.JobSpec]) -> None:
        self._queue = list(jobs)
        self.panel.new_run()
        self._next_job()

    def _next_job(self) -> None:
        from napari.qt.threading import create_worker

        name, kwargs = self._queue.pop(0)
        self.progress = ts.TrainingProgress()
        try:
            handle = runner.start(runner.Job(name, kwargs), nice=runner.GUI_NICE)
        except (OSError, ValueError) as exc:
            self._say(f"{name} could not start: {exc}", error=True)
            self._update_buttons()
            return
        self.handle = handle
        self._handles[:] = [handle]
        if name == "train":
            self.epoch_bar.setRange(0, kwargs["epochs"])
        self._say(f"{name}: starting DeepLabCut…")
        worker = _keep(create_worker(_follow, handle, _start_thread=False))
        worker.yielded.connect(self._on_event)
        worker.start()
        self._update_buttons()

    def _on_event(self, event: JobEvent) -> None:
        if self.handle is None or event.job_id != self.handle.job.id:
            return  # a late event of a job this dock no longer follows
        if event.kind == "log":
            self.details.appendPlainText(event.message)
        self.progress.feed(event)
        if self.curve.add_event(event):
            self._plot()
        self.panel.show_progress(self.progress)
        if event.terminal:
            self._finished(event)

    def _finished(self, event: JobEvent) -> None:
        self.handle = None
        self._handles.clear()
        self.refresh()  # the dataset, snapshots and curve on disk are what counts now
        if event.kind == "finished" and self._queue:
            self._next_job()
        else:
            self._queue.clear()

    # -- display -------------------------------------------------------------------------
    def _plot(self) -> None:
        self.plot.set_data(self.curve.epochs, self.curve.loss, self.curve.rmse)

    def _say(self, text: str, error: bool = False) -> None:
        self.panel.say(text, error)

    def _update_buttons(self) -> None:
        running, state = self.running, self.state
        self.start_button.setEnabled(not running and state is not None)
        self.cancel_button.setEnabled(running)
        has_snapshot = bool(state and state.exists and last_snapshot(state.train_folder))
        self.resume_button.setEnabled(not running and has_snapshot)
        for box in (self.config_edit, self.shuffle_box, self.fraction_box, self.net_box):
            box.setEnabled(not running)

    # -- closing -------------------------------------------------------------------------
    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Cancel a running job when the dock is closed or napari's window closes."""
        window = self.window()
        if window is self or not window.isVisible():
            self.cancel()
        super().hideEvent(event)

    def event(self, event: Any) -> bool:
        """Cancel a running job when napari takes the dock out of its window (its close button)."""
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.cancel()
        return super().event(event)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Cancel a running job when the dock (floating or alone) is closed."""
        self.cancel()
        super().closeEvent(event)
