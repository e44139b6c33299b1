"""Plugins › DLC Workbench › Inference: analyse videos with a trained network.

Run plans the videos first (:mod:`..process.inference_plan`, in a worker
thread: it reads each video's header): videos whose predictions for the chosen
snapshot exist are shown as skipped unless "re-analyse" is ticked, unreadable
ones as failed. The rest go to DLC in a child process, never in napari's
(torch after a GL context segfaults): one runner job (``dlc.runner``, job
``"analyze"``) for all of them, or with "Analyse on a dask cluster" one dask
task per video (``dlc.batch.analyze_many``). Events reach the dock through Qt
signals; the GUI thread never waits. A finished video whose video layer is open
gets its predictions as Points + Tracks layers on that layer's frames.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

from qtpy import QtWidgets as qw

from napari_dlc_workbench._cli_analyze import collect_videos
from napari_dlc_workbench._qt import _devices
from napari_dlc_workbench._qt import _inference_jobs as jobs
from napari_dlc_workbench._qt._forms import browse, buttons, check, pick_config, row, spin
from napari_dlc_workbench._qt.inference_panel import InferencePanel
from napari_dlc_workbench._qt.video_predictions import (
    layers_of,
    load_predictions,
    video_layer,
    video_of,
)
from napari_dlc_workbench.dlc import runner
from napari_dlc_workbench.io.config import ConfigError, load_config
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES
from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.napari_io.reader import find_project
from napari_dlc_workbench.process import inference_plan as ip
from napari_dlc_workbench.process.inference_progress import InferenceProgress
from napari_dlc_workbench.process.training_session import config_from_metadata, device_choices

__all__ = ["InferenceWidget"]


class InferenceWidget(qw.QWidget):
    """Dock widget: analyse videos with a trained DLC network, see them as layers.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer; an open layer of a DLC project prefills the project, the
        selected video layer the videos.

    Attributes
    ----------
    plan : InferencePlan or None
        The last run's plan.
    progress : InferenceProgress or None
        The last run's state per video.
    handle : JobHandle or None
        The runner job running now.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.videos: list[Path] = []
        self.plan: ip.InferencePlan | None = None
        self.progress: InferenceProgress | None = None
        self.handle: runner.JobHandle | None = None
        self._busy = False
        self._shown: set[Path] = set()  # predictions loaded during the current run
        self._relay: jobs.Relay | None = None
        self._cancel = threading.Event()
        self._handles: list[runner.JobHandle] = []  # also seen by the destroyed hook
        self._build()
        self.destroyed.connect(functools.partial(jobs.stop, self._handles, self._cancel))
        napari_viewer.layers.events.inserted.connect(self._on_inserted)
        for layer in list(napari_viewer.layers):
            self._on_inserted(layer)
        _devices.probe_devices_once(self._on_probe)
        self._update_buttons()

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.config_edit = qw.QLineEdit(placeholderText="project config.yaml")
        self.shuffle_box, self.snapshot_box = spin(1, 999, 1, 1), qw.QComboBox()
        self.batch_box = spin(1, 1024, 8, 1)
        self.device_box, self.device_label = qw.QComboBox(), qw.QLabel("checking devices…")
        _devices.set_choices(self.device_box, device_choices(None))
        self.filter_box, self.window_box = check("median filter", False), spin(3, 99, 5, 2)
        self.window_box.setToolTip("window in frames (odd); writes <...>_filtered.h5 too")
        self.csv_box = check("save as CSV too", False)
        self.force_box = check("re-analyse videos already done", False)
        self.cluster_box = check("Analyse on a dask cluster", False)
        self.scheduler_edit = qw.QLineEdit("local", placeholderText="local or tcp://host:8786")
        self.cluster_box.setToolTip(
            "one task per video on dask.distributed: 'local' runs several at once on this "
            "computer, an address uses a running scheduler (e.g. a SLURM cluster)"
        )
        self.show_box = check("show predictions of open videos when done", True)
        self.layer_button, self.files_button, self.folder_button, self.clear_button = buttons(
            "Video layer", "Files…", "Folder…", "Clear"
        )
        self.run_button, self.cancel_button, self.load_button = buttons(
            "Run", "Cancel", "Show predictions"
        )
        self.load_button.setToolTip("open the selected videos' predictions as layers")
        self.panel = panel = InferencePanel((self.run_button, self.cancel_button, self.load_button))
        # The panel's controls, also as the dock's attributes: scripts and tests read them.
        self.table, self.bar, self.eta_label = panel.table, panel.bar, panel.eta_label
        self.status, self.details = panel.status, panel.details
        self.device_label.setWordWrap(True)
        form = qw.QFormLayout()
        form.addRow("project", row(self.config_edit, browse(lambda: self.browse_config())))
        form.addRow("shuffle", row(self.shuffle_box, qw.QLabel("snapshot"), self.snapshot_box))
        form.addRow("device", row(self.device_box, qw.QLabel("batch size"), self.batch_box))
        form.addRow("", self.device_label)
        form.addRow("filter", row(self.filter_box, qw.QLabel("window"), self.window_box))
        form.addRow("", self.csv_box)
        form.addRow("", self.force_box)
        form.addRow("", row(self.cluster_box, self.scheduler_edit))
        form.addRow("", self.show_box)
        layout = qw.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(
            row(self.layer_button, self.files_button, self.folder_button, self.clear_button)
        )
        layout.addWidget(panel, 1)
        self.config_edit.editingFinished.connect(lambda: self.set_config(self.config_edit.text()))
        self.shuffle_box.valueChanged.connect(lambda _: self.refresh())
        self.layer_button.clicked.connect(lambda: self.add_video_layer())
        self.files_button.clicked.connect(lambda: self._browse_videos(folder=False))
        self.folder_button.clicked.connect(lambda: self._browse_videos(folder=True))
        self.clear_button.clicked.connect(lambda: self.set_videos([]))
        self.run_button.clicked.connect(lambda: self.run())
        self.cancel_button.clicked.connect(self.cancel)
        self.load_button.clicked.connect(lambda: self.show_selected())

    def _on_probe(self, result: Any) -> None:
        _devices.show_probe(self.device_box, self.device_label, result)

    # -- project and videos --------------------------------------------------------------
    def _on_inserted(self, event: Any) -> None:
        layer = getattr(event, "value", event)
        source = video_of(layer)
        if source is not None and not self.videos and not self.running:
            self.set_videos([source])
        if self.config_edit.text():
            return
        path = config_from_metadata(layer.metadata)
        if path is None and source is not None:
            project = find_project(source)
            path = project.config_path if project is not None else None
        if path is not None:
            self.set_config(path)

    def browse_config(self) -> None:
        """Pick a project's ``config.yaml`` with a file dialog."""
        if path := pick_config(self, self.config_edit.text()):
            self.set_config(path)

    def set_config(self, path: str | Path) -> bool:
        """Analyse with this project's networks (other docks call it after training).

        Returns
        -------
        bool
            Whether it is a readable DLC project with this shuffle; otherwise the dock says why.
        """
        self.config_edit.setText(str(path))
        try:
            batch = load_config(path).get("batch_size")
        except ConfigError as exc:
            self._say(str(exc), error=True)
            self.snapshot_box.clear()
            self._update_buttons()
            return False
        if isinstance(batch, int) and batch > 0:
            self.batch_box.setValue(batch)
        return self.refresh()

    def refresh(self) -> bool:
        """List the shuffle's snapshots again (after training, say)."""
        current = self.snapshot_box.currentData()
        self.snapshot_box.clear()
        try:
            network = ip.find_network(self.config_edit.text(), self.shuffle_box.value())
        except ConfigError as exc:
            self._say(str(exc), error=True)
            self._update_buttons()
            return False
        names = network.snapshots
        for choice in ("best", "last"):
            try:
                self.snapshot_box.addItem(
                    f"{choice} ({ip.resolve_snapshot(choice, names)})", choice
                )
            except ValueError:
                continue
        for name in reversed(names):
            self.snapshot_box.addItem(name, name)
        self.snapshot_box.setCurrentIndex(max(self.snapshot_box.findData(current), 0))
        self._say(
            "" if names else f"{network.train_folder}: no snapshot yet; train this shuffle first",
            error=not names,
        )
        self._update_buttons()
        return bool(names)

    def add_video_layer(self) -> None:
        """Add the video of the selected (else the first) video layer to the list."""
        active = self.viewer.layers.selection.active
        layers = [active, *self.viewer.layers]
        found = next((v for v in map(video_of, filter(None, layers)) if v), None)
        if found is None:
            self._say(
                "no video layer is open (open a video with the DLC Workbench reader)", error=True
            )
            return
        self.set_videos([*self.videos, found])

    def _browse_videos(self, folder: bool) -> None:
        if folder:
            path = qw.QFileDialog.getExistingDirectory(self, "folder of videos")
            picked = [path] if path else []
        else:
            pattern = "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ")"
            picked, _ = qw.QFileDialog.getOpenFileNames(self, "videos", "", pattern)
        if picked:
            self.set_videos([*self.videos, *map(Path, picked)])

    def set_videos(self, items: list[str | Path]) -> bool:
        """Analyse these videos; folders stand for the videos directly inside them.

        Returns
        -------
        bool
            Whether every item was found (and no run is under way).
        """
        if self.running:
            return False
        try:
            self.videos = collect_videos([Path(item) for item in items])
        except FileNotFoundError as exc:
            self._say(str(exc), error=True)
            return False
        self.progress = None
        self._show_table()
        self._update_buttons()
        return True

    def settings(self) -> ip.InferenceSettings:
        """Return the controls' values."""
        return ip.InferenceSettings(
            config=Path(self.config_edit.text()),
            shuffle=self.shuffle_box.value(),
            snapshot=self.snapshot_box.currentData() or "best",
            batch_size=self.batch_box.value(),
            device=self.device_box.currentData() or "auto",
            filter_predictions=self.filter_box.isChecked(),
            filter_window=self.window_box.value(),
            save_as_csv=self.csv_box.isChecked(),
            force=self.force_box.isChecked(),
            scheduler=self.scheduler_edit.text().strip() if self.cluster_box.isChecked() else None,
        )

    # -- running -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a run (planning included) is under way."""
        return self._busy

    def run(self) -> None:
        """Plan the videos in a worker thread, then analyse those still to do."""
        if self.running or not self.videos:
            return
        self._busy = True
        self._cancel.clear()
        self._shown.clear()
        self.details.clear()
        self._say("checking the videos…")
        settings, videos = self.settings(), list(self.videos)
        jobs.start_worker(jobs.guarded, ip.plan_inference, settings, videos, returned=self._on_plan)
        self._update_buttons()

    def _on_plan(self, plan: Any) -> None:
        if isinstance(plan, jobs.Failure):
            self._end(f"nothing started: {plan}", error=True)
            return
        self.plan, self.progress = plan, InferenceProgress(plan)
        self._show_progress()
        if self._cancel.is_set() or not plan.todo:
            self.progress.fail_rest("cancelled", status="cancelled")
            self._end(plan.describe())
            return
        self._say(plan.describe() + " — starting DeepLabCut…")
        if plan.settings.scheduler is not None:
            self._relay = jobs.Relay()
            self._relay.update.connect(self._on_batch)
            args = (plan, self._relay, self._cancel)
            jobs.start_worker(jobs.guarded, jobs.run_batch, *args, returned=self._on_batch_done)
            return
        try:
            self.handle = runner.start(
                runner.Job("analyze", plan.job_kwargs()), nice=runner.GUI_NICE
            )
        except (OSError, ValueError) as exc:
            self.progress.fail_rest(str(exc))
            self._end(f"analysis could not start: {exc}", error=True)
            return
        self._handles[:] = [self.handle]
        jobs.start_worker(jobs.follow, self.handle, yielded=self._on_event)

    def _on_event(self, event: JobEvent) -> None:
        if self.handle is None or event.job_id != self.handle.job.id or self.progress is None:
            return  # a late event of a job this dock no longer follows
        if event.kind in ("log", "error"):
            self.details.appendPlainText(event.message)
        self.progress.feed_event(event)
        self._show_progress()
        if event.terminal:
            self.handle = None
            self._handles.clear()
            self._end(f"{event.kind}: {self.progress.summary()}", error=event.kind == "error")

    def _on_batch(self, update: Any) -> None:
        if self.progress is not None and self._busy:
            if update.kind != "frames":
                self.details.appendPlainText(update.message)
            self.progress.feed_batch(update)
            self._show_progress()

    def _on_batch_done(self, result: Any) -> None:
        if self.progress is None:
            return
        if isinstance(result, jobs.Failure):
            self.progress.fail_rest(str(result))
            self._end(f"the batch could not run: {result}", error=True)
            return
        self.progress.finish_batch(result)
        self.details.appendPlainText(result.summary())
        self._end(("cancelled: " if result.cancelled else "finished: ") + self.progress.summary())

    def cancel(self) -> None:
        """Stop the run: the child stops (its partial output is removed), queued videos are dropped."""
        self._cancel.set()
        if self.handle is not None:
            self.handle.cancel()
        if self._busy:
            self._say("cancelling…")

    def _end(self, text: str, error: bool = False) -> None:
        self._busy = False
        self._show_progress()
        self._say(text, error)
        self._update_buttons()

    # -- results -------------------------------------------------------------------------
    def _load_finished(self) -> None:
        if self.progress is None or not self.show_box.isChecked():
            return
        shown_videos = {video_of(layer) for layer in self.viewer.layers}
        for state in self.progress.states.values():
            h5 = state.h5
            if state.status not in ("done", "skipped") or h5 is None or h5 in self._shown:
                continue
            # Analysed now: (re)load; skipped: only if its layers are not there already.
            fresh = state.status == "done" or not layers_of(self.viewer, h5)
            if fresh and state.video in shown_videos:
                self.load_predictions(state.video, h5)

    def show_selected(self) -> None:
        """Open the selected rows' predictions, opening their videos first when needed."""
        rows = self.panel.selected_rows()
        states = self.progress.states if self.progress else {}
        for number in rows:
            video = self.videos[number]
            state = states.get(video)
            pattern = self.plan.pattern if self.plan else None
            h5 = state.h5 if state and state.h5 else pattern and ip.find_predictions(video, pattern)
            if not h5:
                self._say(f"{video.name}: no predictions for this snapshot yet", error=True)
                continue
            if video_layer(self.viewer, video) is None:
                self.viewer.open(video, plugin="napari-dlc-workbench")
            self.load_predictions(video, Path(h5))

    def load_predictions(self, video: Path, h5: Path) -> None:
        """Add ``h5`` as Points + Tracks on ``video``'s layer (read in a worker thread)."""
        self._shown.add(h5)
        load_predictions(self.viewer, video, h5, lambda text: self._say(text, error=True))

    # -- display -------------------------------------------------------------------------
    def _show_table(self) -> None:
        self.panel.show_videos(self.videos, self.progress)

    def _show_progress(self) -> None:
        if self.progress is not None:
            self.panel.show_progress(self.videos, self.progress, self._busy)
            self._load_finished()

    def _say(self, text: str, error: bool = False) -> None:
        self.panel.say(text, error)

    def _update_buttons(self) -> None:
        busy = self.running
        self.run_button.setEnabled(not busy and bool(self.videos) and self.snapshot_box.count() > 0)
        self.cancel_button.setEnabled(busy)
        for widget in (self.config_edit, self.shuffle_box, self.layer_button, self.files_button,
                       self.folder_button, self.clear_button):  # fmt: skip
            widget.setEnabled(not busy)

    # -- closing -------------------------------------------------------------------------
    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Cancel a running analysis when napari's window closes."""
        window = self.window()
        if window is self or not window.isVisible():
            self.cancel()
        super().hideEvent(event)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Cancel a running analysis when the dock (floating or alone) is closed."""
        self.cancel()
        super().closeEvent(event)
