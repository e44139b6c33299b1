"""The Training dock's Qt-free logic: shuffles on disk, jobs to run, the curve, the ETA."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from napari_dlc_workbench.io.config import ConfigError
from napari_dlc_workbench.io.evaluation_files import model_folder
from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.process.training_session import (
    LOSS_KEY,
    RMSE_KEY,
    ShuffleState,
    TrainingCurve,
    TrainingProgress,
    TrainingSettings,
    config_from_metadata,
    device_choices,
    format_duration,
    resume_job,
    shuffle_state,
    start_jobs,
)

CONFIG = """\
Task: Cladonema_starved
scorer: Vlad&Genta
date: Jun13
multianimalproject: false
video_sets:
bodyparts:
- mouth
- prey
iteration: 2
TrainingFraction:
- 0.8
- 0.95
"""

PYTORCH_CONFIG = """\
net_type: resnet_50
device: auto
runner:
  eval_interval: 10
  snapshots:
    save_epochs: 25
train_settings:
  batch_size: 8
  epochs: 200
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with a config.yaml (name with '&', like the users') and no models."""
    folder = tmp_path / "Cladonema_starved-Vlad&Genta-2025-06-13"
    folder.mkdir()
    (folder / "config.yaml").write_text(CONFIG)
    return folder / "config.yaml"


def make_shuffle(config: Path, percent: int, shuffle: int) -> Path:
    train = (
        config.parent
        / "dlc-models-pytorch"
        / "iteration-2"
        / f"Cladonema_starvedJun13-trainset{percent}shuffle{shuffle}"
        / "train"
    )
    train.mkdir(parents=True)
    (train / "pytorch_config.yaml").write_text(PYTORCH_CONFIG)
    return train


def test_model_folder_is_named_as_dlc_names_it() -> None:
    cfg = {"Task": "Cladonema_starved", "date": "Jun13", "iteration": 0}
    assert model_folder(cfg, 0.95, 1) == Path(
        "dlc-models-pytorch/iteration-0/Cladonema_starvedJun13-trainset95shuffle1"
    )
    # DLC truncates (int), it does not round: 0.57 * 100 = 56.99999999999999.
    assert model_folder(cfg, 0.57, 3).name == "Cladonema_starvedJun13-trainset56shuffle3"


def test_shuffle_state_reads_an_existing_dataset(project: Path) -> None:
    train = make_shuffle(project, 95, 1)
    state = shuffle_state(project, 1, 0.95)
    assert state == ShuffleState(
        train,
        True,
        1,
        "resnet_50",
        {"epochs": 200, "batch_size": 8, "save_epochs": 25, "eval_interval": 10, "device": "auto"},
    )
    assert "resnet_50" in state.describe()


def test_shuffle_state_without_dataset(project: Path) -> None:
    make_shuffle(project, 95, 1)
    missing = shuffle_state(project, 2, 0.95)
    assert not missing.exists and missing.trainingsetindex == 1
    assert missing.train_folder.parent.name.endswith("trainset95shuffle2")
    assert "Start creates it" in missing.describe()
    # A fraction that is not in config.yaml has no index, even if a folder exists.
    make_shuffle(project, 50, 1)
    assert shuffle_state(project, 1, 0.5) == ShuffleState(
        shuffle_state(project, 1, 0.5).train_folder, False, None
    )


def test_shuffle_state_reports_a_bad_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        shuffle_state(tmp_path / "config.yaml", 1, 0.95)


def test_start_creates_the_dataset_only_when_missing(project: Path) -> None:
    settings = TrainingSettings(project, shuffle=2, train_fraction=0.95, epochs=3, batch_size=4,
                                device="cpu", save_epochs=1, weights="random")  # fmt: skip
    jobs = start_jobs(settings, shuffle_state(project, 2, 0.95))
    assert jobs == [
        (
            "create_training_dataset",
            {"config": str(project), "net_type": "cspnext_s", "shuffle": 2, "train_fraction": 0.95},
        ),
        (
            "train",
            {
                "config": str(project),
                "shuffle": 2,
                "trainingsetindex": 0,
                "epochs": 3,
                "batch_size": 4,
                "device": "cpu",
                "save_epochs": 1,
                "eval_interval": 1,
                "weights": "random",
            },  # fmt: skip
        ),
    ]
    make_shuffle(project, 95, 2)
    existing = TrainingSettings(project, shuffle=2, net_type="resnet_50")
    ((name, kwargs),) = start_jobs(existing, shuffle_state(project, 2, 0.95))
    assert name == "train" and kwargs["trainingsetindex"] == 1 and "resume" not in kwargs


def test_start_refuses_to_replace_a_dataset_of_another_network(project: Path) -> None:
    make_shuffle(project, 95, 1)
    with pytest.raises(ValueError, match="shuffle 1 was created for resnet_50"):
        start_jobs(TrainingSettings(project, net_type="cspnext_s"), shuffle_state(project, 1, 0.95))


def test_resume_asks_for_the_total_epochs(project: Path) -> None:
    make_shuffle(project, 80, 1)
    settings = TrainingSettings(project, train_fraction=0.8, epochs=300, net_type="resnet_50")
    name, kwargs = resume_job(settings, shuffle_state(project, 1, 0.8))
    assert name == "train" and kwargs["resume"] is True
    assert kwargs["epochs"] == 300 and kwargs["trainingsetindex"] == 0
    assert "weights" not in kwargs  # a resume continues from its snapshot
    with pytest.raises(ValueError, match="no training dataset"):
        resume_job(settings, shuffle_state(project, 4, 0.8))


def test_config_from_layer_metadata(project: Path, tmp_path: Path) -> None:
    assert config_from_metadata({"project": str(project.parent)}) == project
    assert config_from_metadata({"workbench": {"source": str(project)}}) == project
    labels = project.parent / "labeled-data" / "v" / "CollectedData_x.h5"
    assert config_from_metadata({"workbench": {"source": str(labels)}}) is None
    assert config_from_metadata({"project": str(tmp_path / "gone")}) is None
    assert config_from_metadata({}) is None


def epoch(n: int, loss: float, rmse: float | None = None, t: float = 0.0, **kw) -> JobEvent:
    metrics = {LOSS_KEY: loss} | ({RMSE_KEY: rmse} if rmse is not None else {})
    return JobEvent("epoch", job_name="train", stage="pose", epoch=n, epochs=kw.get("epochs", 5),
                    loss=loss, metrics=metrics, timestamp=t)  # fmt: skip


def test_curve_from_learning_stats_rows() -> None:
    rows = [
        {"step": 1.0, LOSS_KEY: 0.5, RMSE_KEY: math.nan},
        {"step": 2.0, LOSS_KEY: 0.25, RMSE_KEY: 9.5},
    ]
    curve = TrainingCurve.from_rows(rows)
    assert curve.epochs == [1, 2] and curve.loss == [0.5, 0.25]
    assert math.isnan(curve.rmse[0]) and curve.rmse[1] == 9.5
    assert curve.evaluated() == ([2], [9.5])
    assert len(TrainingCurve.from_rows([])) == 0


def test_curve_from_events_replaces_epochs_a_resume_trains_again() -> None:
    curve = TrainingCurve()
    for n, loss in [(1, 0.9), (2, 0.8), (3, 0.7)]:
        assert curve.add_event(epoch(n, loss, rmse=10.0 - n))
    assert not curve.add_event(JobEvent("progress", epoch=3, step=1, total=4))
    assert not curve.add_event(JobEvent("epoch", stage="detector", epoch=1, loss=5.0))
    # Resumed from snapshot-002: epoch 3 is trained again and replaces the old point.
    curve.add_event(epoch(3, 0.65))
    assert curve.epochs == [1, 2, 3] and curve.loss == [0.9, 0.8, 0.65]
    assert math.isnan(curve.rmse[2])


def test_progress_batches_eta_and_snapshots() -> None:
    progress = TrainingProgress(window=2)
    start = JobEvent("progress", job_name="train", stage="pose", epoch=0, epochs=5,
                     message="training the pose model: epochs 1-5", timestamp=100.0)  # fmt: skip
    progress.feed(JobEvent("started", job_name="train", timestamp=90.0))
    progress.feed(start)
    assert progress.eta() is None and progress.status.startswith("training the pose model")
    progress.feed(JobEvent("progress", job_name="train", stage="pose", epoch=1, epochs=5,
                           step=2, total=4, timestamp=105.0))  # fmt: skip
    assert (progress.step, progress.total) == (2, 4) and "batch 2/4" in progress.status
    progress.feed(epoch(1, 0.9, t=110.0))
    progress.feed(JobEvent("snapshot", stage="pose", epoch=1, snapshot="/t/snapshot-001.pt"))
    assert progress.durations == [10.0] and progress.eta() == 40.0
    progress.feed(epoch(2, 0.8, t=130.0))
    assert progress.epoch_seconds() == 15.0 and progress.eta() == 45.0
    progress.feed(JobEvent("progress", stage="pose", epoch=3, epochs=5, step=2, total=4,
                           timestamp=137.0))  # fmt: skip
    assert progress.eta() == pytest.approx(2.5 * 15.0)  # half of epoch 3 is done
    progress.feed(JobEvent("log", message="warning: starting from random weights: ..."))
    assert progress.warning == "starting from random weights: ..."
    progress.feed(JobEvent("cancelled", job_name="train", snapshot="/t/snapshot-002.pt"))
    assert progress.snapshot == "/t/snapshot-002.pt" and progress.eta() is None
    assert progress.status == "train: cancelled; snapshot-002.pt kept, Resume continues"
    assert progress.error == ""


def test_progress_keeps_dlc_error_and_traceback() -> None:
    progress = TrainingProgress()
    progress.feed(JobEvent("error", job_name="train", message="FileNotFoundError: no snapshot",
                           traceback="Traceback (most recent call last):\n..."))  # fmt: skip
    assert progress.error == "FileNotFoundError: no snapshot"
    assert progress.traceback.startswith("Traceback")
    assert progress.status == "train: error"


def test_progress_reads_the_finished_result() -> None:
    progress = TrainingProgress()
    progress.feed(epoch(3, 0.5, t=1.0, epochs=3))
    result = {"last_snapshot": "/t/snapshot-003.pt", "warning": "starting from random weights"}
    progress.feed(JobEvent("finished", job_name="train", result=result))
    assert progress.snapshot == "/t/snapshot-003.pt"
    assert progress.warning == "starting from random weights"
    assert progress.status == "train: finished at epoch 3"


def test_detector_epochs_only_change_the_status() -> None:
    progress = TrainingProgress()
    progress.feed(JobEvent("epoch", stage="detector", epoch=2, epochs=10, loss=1.0, timestamp=5.0))
    assert progress.status == "training the detector: epoch 2/10"
    assert progress.epoch is None and progress.durations == []


def test_device_choices_from_doctor_probe() -> None:
    assert [v for _, v in device_choices(None)] == ["auto", "cpu"]
    assert [v for _, v in device_choices({"available": False, "devices": []})] == ["auto", "cpu"]
    gpus = {"available": True, "devices": [{"name": "RTX 4090"}, {"name": "A100"}]}
    choices = device_choices(gpus)
    assert [v for _, v in choices] == ["auto", "cpu", "cuda:0", "cuda:1"]
    assert choices[2][0] == "cuda:0 (RTX 4090)"
    assert [v for _, v in device_choices({"mps": True})] == ["auto", "cpu", "mps"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (math.nan, "—"),
        (0.4, "0 s"),
        (59.4, "59 s"),
        (65, "1 min 05 s"),
        (7620, "2 h 07 min"),
    ],  # fmt: skip
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text
