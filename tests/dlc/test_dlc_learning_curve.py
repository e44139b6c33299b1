"""The learning curve job with real DLC 3 on CPU, through the runner, on the tiny project.

The pytest process never imports torch or deeplabcut; DLC runs in the job's child.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from napari_dlc_workbench.dlc.learning_curve import existing_shuffles
from napari_dlc_workbench.dlc.runner import Job, start
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.model.jobs import JobEvent

pytestmark = pytest.mark.dlc

HERE = Path(__file__).resolve().parent
SETTINGS = {"epochs": 1, "batch_size": 4, "device": "cpu"}


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def run_job(kwargs: dict[str, Any], timeout: float = 600) -> tuple[list[JobEvent], JobEvent]:
    handle = start(Job("learning_curve", kwargs))
    events = list(handle.events(timeout=timeout))
    return events, events[-1]


def same(a: Any, b: float) -> bool:
    return (a is None and math.isnan(b)) or (a is not None and float(a) == float(b))


@pytest.fixture(scope="module")
def curve(
    tiny_project_source: Path,
    tmp_path_factory: pytest.TempPathFactory,
    copy_project: Callable[[Path, Path], Path],
) -> dict[str, Any]:
    """A two-point curve (50 % and 100 % of 16 training frames, 4 test frames)."""
    config = copy_project(
        tiny_project_source, tmp_path_factory.mktemp("curve") / tiny_project_source.name
    )
    config_bytes = config.read_bytes()
    shuffles_before = existing_shuffles(config.parent)
    kwargs = {"config": str(config), "fractions": [1.0, 0.5], "test_fraction": 0.2, **SETTINGS}
    events, final = run_job(kwargs)
    assert final.kind == "finished", f"{final.message}\n{final.traceback}"
    return {
        "config": config,
        "config_bytes": config_bytes,
        "shuffles_before": shuffles_before,
        "events": events,
        "result": final.result,
    }


def split_of(config: Path, shuffle: int) -> tuple[list[int], list[int], float]:
    # DLC's own record of the split: Documentation_data-<Task>_<P>shuffle<K>.pickle
    cfg = load_config(config)
    (path,) = config.parent.glob(
        f"training-datasets/iteration-0/*/Documentation_data-*_95shuffle{shuffle}.pickle"
    )
    with path.open("rb") as stream:
        _, train, test, fraction = pickle.load(stream)
    assert cfg["TrainingFraction"] == [0.95]
    return sorted(int(i) for i in train), sorted(int(i) for i in test), fraction


def test_two_points_on_one_test_set(curve: dict[str, Any]) -> None:
    config, result = curve["config"], curve["result"]
    points = result["points"]
    assert [(p["fraction"], p["n_train"], p["n_test"]) for p in points] == [
        (0.5, 8, 4),
        (1.0, 16, 4),
    ]
    # New shuffles, numbered after every shuffle the project had.
    assert result["shuffles"] == [p["shuffle"] for p in points]
    assert min(result["shuffles"]) == max(curve["shuffles_before"]) + 1
    (small_train, small_test, fraction), (large_train, large_test, _) = (
        split_of(config, s) for s in result["shuffles"]
    )
    assert fraction == 0.95  # filed under the project's fraction, thanks to the padding
    assert small_test == large_test and len(small_test) == 4
    assert set(small_train) < set(large_train) and len(large_train) == 16
    assert not set(large_train) & set(small_test)
    # The test frames reported are the rows DLC's indices point at.
    (merged,) = config.parent.glob("training-datasets/iteration-0/*/CollectedData_*.csv")
    rows = pd.read_csv(merged, header=[0, 1, 2], index_col=[0, 1, 2]).index
    assert result["test_frames"] == ["/".join(rows[i]) for i in small_test]
    # config.yaml is untouched: no extra TrainingFraction was needed.
    assert config.read_bytes() == curve["config_bytes"]


def test_values_are_dlc_own_results(curve: dict[str, Any]) -> None:
    for point in curve["result"]["points"]:
        # round_trip: the exact float DLC wrote, as read_evaluation_results reads it
        row = pd.read_csv(point["results_csv"], float_precision="round_trip").iloc[0]
        assert row["Shuffle number"] == point["shuffle"]
        assert row["Training epochs"] == point["epochs"] == 1
        for key, column in (
            ("test_rmse", "test rmse"),
            ("train_rmse", "train rmse"),
            ("test_rmse_pcutoff", "test rmse_pcutoff"),
            ("test_mAP", "test mAP"),
        ):
            assert same(point[key], row[column]), (key, point[key], row[column])
        keypoints = pd.read_csv(
            point["results_csv"].replace("-results.csv", "-keypoint-results.csv"),
            index_col=0,
            float_precision="round_trip",
        )
        assert point["bodyparts"] == {
            name: keypoints.at["Test error (px)", name] for name in keypoints.columns
        }


def test_files_written(curve: dict[str, Any]) -> None:
    result, project = curve["result"], curve["config"].parent
    folder = project / "learning-curve" / "iteration-0"
    assert result["files"] == {
        "json": str(folder / "learning-curve.json"),
        "csv": str(folder / "learning-curve.csv"),
        "plot": str(folder / "learning-curve.png"),
    }
    assert Path(result["files"]["plot"]).read_bytes().startswith(b"\x89PNG")
    assert json.loads(Path(result["files"]["json"]).read_text()) == result
    table = pd.read_csv(result["files"]["csv"])
    assert list(table["test_rmse"]) == [p["test_rmse"] for p in result["points"]]
    assert isinstance(result["flattened"], bool) and result["note"]


def test_subsets_train_like_the_reference_shuffle(curve: dict[str, Any]) -> None:
    result, project = curve["result"], curve["config"].parent
    assert (result["reference_shuffle"], result["net_type"]) == (1, "cspnext_s")
    for shuffle in result["shuffles"]:
        (path,) = project.glob(
            f"dlc-models-pytorch/iteration-0/*shuffle{shuffle}/train/pytorch_config.yaml"
        )
        cfg = load_config(path, validate=False)
        assert cfg["net_type"] == "cspnext_s"
        assert cfg["data"]["train"]["crop_sampling"] is None  # as the tiny project's shuffle 1


def test_events_say_which_subset_runs(curve: dict[str, Any]) -> None:
    events = curve["events"]
    subsets = [e for e in events if e.kind == "progress" and e.stage == "subset"]
    assert [(e.step, e.total) for e in subsets] == [(1, 2), (2, 2)]
    assert "8 training frames (50 % of 16)" in subsets[0].message
    epochs = [e for e in events if e.kind == "epoch"]
    order = [events.index(e) for e in (subsets[0], epochs[0], subsets[1], epochs[1])]
    assert len(epochs) == 2 and order == sorted(order)
    # The labels did not change since shuffle 1 was made: no warning about its rows.
    assert not [e for e in events if e.kind == "log" and "labelled frames changed" in e.message]


def merged_rows_check(config: str) -> list[bool]:
    """Child side: compare the merged labels file with fresh and with altered row lists."""
    from deeplabcut.utils import auxiliaryfunctions

    from napari_dlc_workbench.dlc.experiments import labelled_rows
    from napari_dlc_workbench.dlc.learning_curve import _merged_rows_changed

    cfg = auxiliaryfunctions.read_config(config)
    rows = labelled_rows(cfg)
    project = Path(config).parent
    return [_merged_rows_changed(project, cfg, r) for r in (rows, rows[:-1], rows[::-1])]


def test_changed_labels_are_noticed(curve: dict[str, Any], child_env: dict[str, str]) -> None:
    job = Job(
        "test_dlc_learning_curve:merged_rows_check",
        {"config": str(curve["config"])},
        # This module's folder too: the child imports the helper above by module name.
        env={"PYTHONPATH": os.pathsep.join([str(HERE), child_env["PYTHONPATH"]])},
    )
    handle = start(job)
    final = handle.wait(timeout=300)
    assert final.kind == "finished", f"{final.message}\n{final.traceback}"
    assert final.result == [False, True, True]


def test_bad_requests_fail_before_writing(tiny_project: Path) -> None:
    before = tree(tiny_project.parent)
    for fractions, message in (
        ([0.05, 1.0], "too few labelled frames: 0.05 of the 19 training frames is 1"),
        ([0.0, 1.0], "fractions must lie in (0, 1]"),
    ):
        _, final = run_job({"config": str(tiny_project), "fractions": fractions, **SETTINGS})
        assert final.kind == "error" and message in final.message, final.message
    assert tree(tiny_project.parent) == before
