"""Real DLC 3 training and evaluation on CPU, through the runner, on the tiny project.

The pytest process never imports torch or deeplabcut; every DLC call runs in a
child started by the runner.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from napari_dlc_workbench.dlc.runner import Job, start
from napari_dlc_workbench.dlc.training import read_learning_stats
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.model.jobs import JobEvent

pytestmark = pytest.mark.dlc

TRAIN = {"batch_size": 4, "device": "cpu", "save_epochs": 1}


def run_to_end(job: Job, timeout: float = 300) -> tuple[list[JobEvent], Any]:
    handle = start(job)
    events = list(handle.events(timeout=timeout))
    final = events[-1]
    assert final.kind == "finished", f"{final.message}\n{final.traceback}"
    return events, handle.result


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.fixture(scope="module")
def trained(
    tiny_project_source: Path,
    tmp_path_factory: pytest.TempPathFactory,
    copy_project: Callable[[Path, Path], Path],
) -> tuple[Path, list[JobEvent], dict[str, Any]]:
    """The tiny project trained 2 epochs from random weights, evaluated every epoch."""
    config = copy_project(
        tiny_project_source, tmp_path_factory.mktemp("trained") / tiny_project_source.name
    )
    job = Job("train", {"config": str(config), "epochs": 2, "eval_interval": 1, **TRAIN})
    events, result = run_to_end(job)
    return config, events, result


def test_training_events_arrive_in_order(trained: tuple[Path, list[JobEvent], dict]) -> None:
    _, events, _ = trained
    kinds = [e.kind for e in events if e.kind not in ("log", "progress")]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    epochs = [e for e in events if e.kind == "epoch"]
    assert [(e.epoch, e.epochs, e.stage) for e in epochs] == [(1, 2, "pose"), (2, 2, "pose")]
    assert all(e.loss is not None and math.isfinite(e.loss) and e.loss > 0 for e in epochs)
    # Each epoch is followed by the snapshots DLC saved at its end.
    for epoch in epochs:
        after = events[events.index(epoch) + 1 :]
        saved = [e for e in after if e.kind == "snapshot" and e.epoch == epoch.epoch]
        assert saved and all(
            Path(e.snapshot).name.endswith(f"-{epoch.epoch:03d}.pt") for e in saved
        )
    # Batch progress: throttled, but the last batch of each epoch is always reported.
    batches = [e for e in events if e.kind == "progress" and e.total]
    assert len({e.total for e in batches}) == 1
    for epoch in epochs:
        last = [e for e in batches if e.epoch == epoch.epoch and e.step == e.total]
        assert len(last) == 1 and events.index(last[0]) < events.index(epoch)
    assert any(e.kind == "log" and "starting from random weights" in e.message for e in events)


def test_epoch_events_carry_dlc_learning_stats(trained: tuple[Path, list[JobEvent], dict]) -> None:
    _, events, result = trained
    rows = read_learning_stats(result["train_folder"])
    assert [row["step"] for row in rows] == [1.0, 2.0]
    table = pd.read_csv(result["learning_stats"])
    assert {"losses/train.total_loss", "metrics/test.rmse", "metrics/test.mAP"} <= set(table)
    for event, row in zip([e for e in events if e.kind == "epoch"], rows, strict=True):
        expected = {k: v for k, v in row.items() if k != "step"}
        assert set(event.metrics) == set(expected)
        assert all(same(event.metrics[k], v) for k, v in expected.items())
        assert event.loss == row["losses/train.total_loss"]
        assert math.isfinite(event.metrics["metrics/test.rmse"])


def test_snapshots_and_the_random_start_are_on_disk(
    trained: tuple[Path, list[JobEvent], dict],
) -> None:
    _, events, result = trained
    folder = Path(result["train_folder"])
    assert result["init"] == "random" and "random weights" in result["warning"]
    assert Path(result["init_snapshot"]) == folder / "random-init.pt"
    assert "snapshot-002.pt" in result["snapshots"]
    assert result["last_snapshot"] == str(folder / "snapshot-002.pt")
    assert (result["first_epoch"], result["last_epoch"]) == (1, 2)
    for event in events:
        if event.kind == "snapshot":
            assert Path(event.snapshot).parent == folder
    assert events[-1].snapshot == str(folder / "snapshot-002.pt")


def test_evaluate_returns_dlc_own_table(trained: tuple[Path, list[JobEvent], dict]) -> None:
    config, _, _ = trained
    job = Job("evaluate", {"config": str(config), "snapshots": "snapshot-002", "device": "cpu"})
    events, result = run_to_end(job)
    assert [e.message for e in events if e.kind == "progress"] == ["evaluating snapshot-002.pt"]
    (snapshot,) = result["results"]
    assert (snapshot["snapshot"], snapshot["epochs"], snapshot["best"]) == (
        "snapshot-002",
        2,
        False,
    )
    assert snapshot["scorer"].endswith("shuffle1_snapshot_2")
    row = pd.read_csv(snapshot["results_csv"], float_precision="round_trip").iloc[0]
    assert set(snapshot["overall"]) == set(row.index)
    assert all(same(float(snapshot["overall"][k]), float(row[k])) for k in row.index)
    assert snapshot["overall"]["Training epochs"] == 2
    assert {"train rmse", "test rmse", "test rmse_pcutoff", "test mAP", "test mAR"} <= set(
        row.index
    )
    per_bodypart = pd.read_csv(snapshot["keypoint_csv"], index_col=0, float_precision="round_trip")
    assert list(snapshot["bodyparts"]) == list(per_bodypart.columns)
    for bodypart, values in snapshot["bodyparts"].items():
        assert values == {
            "Train error (px)": per_bodypart.at["Train error (px)", bodypart],
            "Test error (px)": per_bodypart.at["Test error (px)", bodypart],
        }


def test_cancel_after_an_epoch_then_resume(tiny_project: Path) -> None:
    kwargs = {"epochs": 30, "eval_interval": 100, "weights": "random", **TRAIN}
    job = Job("train", {"config": str(tiny_project), **kwargs})
    handle = start(job, grace=30)
    for event in handle.events(timeout=300):
        if event.kind == "epoch":
            handle.cancel()
            break
    final = handle.wait(timeout=60)
    # The child stopped on SIGTERM by itself (no SIGKILL) and said so.
    assert final.kind == "cancelled" and final.message == "stopped by signal SIGTERM"
    assert handle.returncode == 130
    assert final.snapshot is not None and Path(final.snapshot).is_file()
    done = int(Path(final.snapshot).stem.rsplit("-", 1)[1])
    assert done >= 1

    resumed = Job(
        "train", {"config": str(tiny_project), "resume": True, "epochs": done + 1, **TRAIN}
    )
    events, result = run_to_end(resumed)
    assert [e.epoch for e in events if e.kind == "epoch"] == [done + 1]
    assert (result["init"], result["init_snapshot"]) == ("resume", final.snapshot)
    assert (result["first_epoch"], result["last_epoch"]) == (done + 1, done + 1)
    steps = [row["step"] for row in read_learning_stats(result["train_folder"])]
    assert steps == [float(i) for i in range(1, done + 2)]
    # The config still describes the whole run, not the remainder DLC was given.
    pytorch_config = load_config(
        Path(result["train_folder"]) / "pytorch_config.yaml", validate=False
    )
    assert pytorch_config["train_settings"]["epochs"] == done + 1


def check_weights(config: str, snapshot: str) -> dict[str, Any]:
    """Child side: try the kinds of weights files users bring."""
    import torch
    from deeplabcut.pose_estimation_pytorch.config import read_config_as_dict

    from napari_dlc_workbench.dlc.training import train_folder
    from napari_dlc_workbench.dlc.weights import (
        WeightsError,
        initial_weights,
        pretrained_available,
        snapshot_from_file,
    )

    folder = train_folder(config)
    model_cfg = read_config_as_dict(folder / "pytorch_config.yaml")
    backbone = folder.parent / "backbone.pth"
    state = torch.load(snapshot, weights_only=True)["model"]
    torch.save(
        {"state_dict": {k[9:]: v for k, v in state.items() if k.startswith("backbone.")}}, backbone
    )
    garbage = folder.parent / "notes.pt"
    garbage.write_text("not weights")
    out: dict[str, Any] = {"pretrained": pretrained_available(model_cfg)}
    path, out["snapshot_note"] = snapshot_from_file(snapshot, model_cfg, folder)
    loaded = torch.load(path, weights_only=True)["model"]
    out["same_weights"] = all(torch.equal(loaded[k], state[k]) for k in state)
    out["backbone_note"] = snapshot_from_file(backbone, model_cfg, folder)[1]
    for name, bad in (("garbage", garbage), ("missing", folder / "nope.pt")):
        try:
            initial_weights(model_cfg, folder, bad)
        except WeightsError as exc:
            out[name] = str(exc)
    return out


def test_user_weights_files_are_checked(
    trained: tuple[Path, list[JobEvent], dict], child_env: dict[str, str]
) -> None:
    config, _, result = trained
    job = Job(
        "test_dlc_training:check_weights",
        {"config": str(config), "snapshot": result["last_snapshot"]},
        env=child_env,
    )
    _, out = run_to_end(job)
    available, why = out["pretrained"]
    assert not available and why  # offline, nothing cached
    assert out["snapshot_note"] == "snapshot-002.pt: whole model loaded"
    assert out["same_weights"]
    assert out["backbone_note"] == "backbone.pth: backbone loaded; heads start random"
    assert out["garbage"].startswith(str(Path(result["train_folder"]).parent / "notes.pt"))
    assert "not a PyTorch weights file" in out["garbage"]
    assert out["missing"].endswith("nope.pt: weights file not found")
