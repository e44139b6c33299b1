"""The Training dock: a real DLC run in a child, a live curve, Cancel and Resume, a free GUI."""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import pytest
from qtpy.QtCore import QTimer

from napari_dlc_workbench._qt import _devices, training_widget
from napari_dlc_workbench._qt.training_widget import TrainingWidget
from napari_dlc_workbench.dlc.runner import Job
from napari_dlc_workbench.dlc.training import last_snapshot, read_learning_stats
from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.process.training_session import LOSS_KEY, RMSE_KEY

pytestmark = pytest.mark.napari


class TickRecorder:
    """A 20 ms QTimer; the longest gap between its ticks shows whether the GUI thread blocked."""

    def __init__(self) -> None:
        self.timer = QTimer(interval=20)
        self.timer.timeout.connect(self._tick)
        self.last: float | None = None
        self.max_gap = 0.0
        self.ticks = 0

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last, self.ticks = now, self.ticks + 1

    def start(self) -> None:
        self.last = None
        self.timer.start()


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_plot_matches_csv(dock: TrainingWidget, folder: Path) -> int:
    """The plotted points are exactly the rows of DLC's learning_stats.csv; returns their number."""
    rows = read_learning_stats(folder)
    epochs, loss = (list(v) for v in dock.plot.loss_line.get_data())
    assert epochs == [row["step"] for row in rows[: len(epochs)]]
    assert loss == [row[LOSS_KEY] for row in rows[: len(epochs)]]
    rmse_epochs, rmse = (list(v) for v in dock.plot.rmse_line.get_data())
    evaluated = [row for row in rows[: len(epochs)] if math.isfinite(row[RMSE_KEY])]
    assert rmse_epochs == [row["step"] for row in evaluated]
    assert rmse == [row[RMSE_KEY] for row in evaluated]
    return len(epochs)


@pytest.mark.dlc
def test_start_cancel_resume_keeps_the_gui_free(make_napari_viewer, qtbot, tiny_project: Path):
    viewer = make_napari_viewer()
    dock = TrainingWidget(viewer)
    viewer.window.add_dock_widget(dock)
    assert dock.set_config(tiny_project), dock.status.text()
    assert dock.state.exists and dock.net_box.currentText() == "cspnext_s"
    assert not dock.resume_button.isEnabled()  # no snapshot yet
    dock.epochs_box.setValue(3)
    dock.batch_box.setValue(4)
    dock.device_box.setCurrentIndex(dock.device_box.findData("cpu"))
    dock.save_box.setValue(1)
    dock.eval_box.setValue(1)
    folder = dock.state.train_folder
    ticks = TickRecorder()
    ticks.start()

    dock.start_button.click()
    assert dock.running and not dock.start_button.isEnabled()
    pid = dock.handle.pid
    qtbot.waitUntil(lambda: len(dock.plot.loss_line.get_xdata()) >= 1, timeout=300_000)
    assert assert_plot_matches_csv(dock, folder) >= 1
    assert len(dock.plot.rmse_line.get_xdata()) >= 1  # evaluated every epoch
    assert dock.eta_label.text() != "ETA —"

    dock.cancel_button.click()
    stopped = time.perf_counter()
    qtbot.waitUntil(lambda: not dock.running, timeout=20_000)
    assert time.perf_counter() - stopped < 15
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the child and everything it started are gone
    assert "cancelled" in dock.status.text(), dock.status.text()
    kept = last_snapshot(folder)
    assert kept is not None and 1 <= kept[1] < 3
    assert dock.snapshot_label.text() == f"last snapshot: {kept[0].name}"
    assert dock.resume_button.isEnabled()
    gap_during_run = ticks.max_gap
    assert ticks.ticks > 50 and gap_during_run < 0.5, gap_during_run

    dock.resume_button.click()
    qtbot.waitUntil(lambda: not dock.running, timeout=300_000)
    assert "finished" in dock.status.text(), (dock.status.text(), dock.details.toPlainText())
    assert [row["step"] for row in read_learning_stats(folder)] == [1.0, 2.0, 3.0]
    assert assert_plot_matches_csv(dock, folder) == 3
    assert last_snapshot(folder)[1] == 3
    assert dock.epoch_bar.value() == 3
    assert ticks.max_gap < 0.5, ticks.max_gap
    ticks.timer.stop()
    # doctor's probe ran in the background meanwhile and named what torch can use here.
    qtbot.waitUntil(lambda: dock.device_label.text().startswith("doctor: torch"), timeout=60_000)
    assert dock.device_box.findData("cpu") >= 0 and dock.device_box.findData("auto") >= 0


@pytest.mark.dlc
def test_opening_a_trained_shuffle_shows_its_curve(
    make_napari_viewer, tiny_trained_source: dict, copy_project, tmp_path: Path
):
    config = copy_project(tiny_trained_source["config"].parent, tmp_path / "trained")
    viewer = make_napari_viewer()
    dock = TrainingWidget(viewer)
    assert dock.set_config(config)
    folder = Path(tiny_trained_source["train"]["train_folder"].replace(
        str(tiny_trained_source["config"].parent), str(config.parent)))  # fmt: skip
    assert dock.state.train_folder == folder
    assert assert_plot_matches_csv(dock, folder) == 2
    assert dock.snapshot_label.text() == "last snapshot: snapshot-002.pt"
    assert dock.resume_button.isEnabled() and dock.start_button.isEnabled()
    assert dock.folder_edit.text() == str(folder)


def test_a_broken_config_is_reported_and_nothing_starts(
    make_napari_viewer, tmp_path: Path, no_probe: None
):
    bad = tmp_path / "config.yaml"
    bad.write_text("Task: [unclosed\n")
    viewer = make_napari_viewer()
    dock = TrainingWidget(viewer)
    assert not dock.set_config(bad)
    assert str(bad) in dock.status.text()
    assert not dock.start_button.isEnabled() and not dock.resume_button.isEnabled()
    dock.start()
    assert not dock.running


@pytest.fixture
def no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Docks of tests that run no DLC skip doctor's probe (a child importing torch)."""
    monkeypatch.setattr(_devices, "_PROBED", [([("cpu", "cpu")], "not probed")])


class ScriptedHandle:
    """Stands in for a JobHandle: plays a fixed list of events, records cancel()."""

    def __init__(self, job: Job, kinds: list[JobEvent]) -> None:
        self.job, self.pid, self.done, self.cancelled = job, 0, False, False
        self._events = [e.with_job(job.id, job.name) for e in kinds]

    def events(self):
        yield from self._events
        self.done = True

    def cancel(self) -> None:
        self.cancelled = True


def test_start_on_a_new_shuffle_creates_the_dataset_then_trains_and_shows_errors(
    make_napari_viewer, qtbot, tiny_project: Path, monkeypatch: pytest.MonkeyPatch, no_probe: None
):
    started: list[Job] = []
    traceback = "Traceback (most recent call last):\n  ...\nRuntimeError: CUDA out of memory"
    scripts = {
        "create_training_dataset": [JobEvent("started"), JobEvent("finished", result={})],
        "train": [
            JobEvent("started"),
            JobEvent("log", message="warning: starting from random weights: ..."),
            JobEvent("error", message="RuntimeError: CUDA out of memory", traceback=traceback),
        ],
    }

    def fake_start(job: Job, **_: object) -> ScriptedHandle:
        started.append(job)
        return ScriptedHandle(job, scripts[job.name])

    monkeypatch.setattr(training_widget.runner, "start", fake_start)
    viewer = make_napari_viewer()
    dock = TrainingWidget(viewer)
    assert dock.set_config(tiny_project)
    dock.shuffle_box.setValue(2)
    assert not dock.state.exists and "Start creates it" in dock.dataset_label.text()
    dock.start_button.click()
    qtbot.waitUntil(lambda: not dock.running and len(started) == 2, timeout=10_000)
    assert [job.name for job in started] == ["create_training_dataset", "train"]
    assert started[0].kwargs == {"config": str(tiny_project), "net_type": "cspnext_s",
                                 "shuffle": 2, "train_fraction": 0.95}  # fmt: skip
    assert started[1].kwargs["shuffle"] == 2 and started[1].kwargs["trainingsetindex"] == 0
    assert dock.status.text() == "train failed: RuntimeError: CUDA out of memory"
    assert "ff6060" in dock.status.styleSheet()
    assert dock.warning.text() == "Warning: starting from random weights: ..."
    assert dock.details.isHidden() and dock.details.toPlainText() == traceback
    dock.panel.details_button.click()  # the traceback expands on demand
    assert not dock.details.isHidden()
    assert dock.start_button.isEnabled() and not dock.cancel_button.isEnabled()


class BlockingHandle(ScriptedHandle):
    """A job that runs until cancel() is called, then reports ``cancelled``."""

    def __init__(self, job: Job) -> None:
        super().__init__(job, [JobEvent("started")])
        self._stop = threading.Event()

    def events(self):
        yield from self._events
        self._stop.wait(30)
        yield JobEvent("cancelled").with_job(self.job.id, self.job.name)
        self.done = True

    def cancel(self) -> None:
        self.cancelled = True
        self._stop.set()


@pytest.mark.parametrize("how", ["remove the dock", "close the viewer"])
def test_closing_the_dock_or_the_viewer_cancels_the_job(
    make_napari_viewer,
    qtbot,
    tiny_project: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    no_probe: None,
):
    handles: list[BlockingHandle] = []
    monkeypatch.setattr(
        training_widget.runner,
        "start",
        lambda job, **_: handles.append(BlockingHandle(job)) or handles[-1],
    )
    viewer = make_napari_viewer(show=True)
    dock = TrainingWidget(viewer)
    viewer.window.add_dock_widget(dock)
    assert dock.set_config(tiny_project)
    dock.start_button.click()
    qtbot.waitUntil(lambda: "starting" in dock.status.text())
    assert dock.running and not handles[0].cancelled
    if how == "remove the dock":
        viewer.window.remove_dock_widget(dock)
    else:
        viewer.close()
    assert handles[0].cancelled


def test_start_refuses_a_shuffle_of_another_network(
    make_napari_viewer, tiny_project: Path, monkeypatch: pytest.MonkeyPatch, no_probe: None
):
    monkeypatch.setattr(training_widget.runner, "start", pytest.fail)
    dock = TrainingWidget(make_napari_viewer())
    assert dock.set_config(tiny_project)
    dock.net_box.setCurrentText("resnet_50")
    dock.start()
    assert "shuffle 1 was created for cspnext_s" in dock.status.text()
    assert not dock.running
