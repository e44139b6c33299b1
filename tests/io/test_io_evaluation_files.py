"""Finding and reading DLC's evaluation files without importing DLC."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_dlc_workbench.io import evaluation_files as ef
from napari_dlc_workbench.io.config import load_config, save_config
from napari_dlc_workbench.io.labels import LabelsError, read_labels

from support import snapshot_tree


@pytest.fixture(scope="module")
def trained(tiny_trained_source: dict) -> dict:
    config = tiny_trained_source["config"]
    return {"config": config, "files": ef.shuffle_files(config, 1), **tiny_trained_source}


def test_paths_are_the_ones_dlc_wrote(trained):
    files, evaluation = trained["files"], trained["evaluation"]
    assert str(files.train_folder) == trained["train"]["train_folder"]
    assert str(files.evaluation_folder) == evaluation["evaluation_folder"]
    assert files.documentation.is_file() and files.ground_truth.is_file()
    (result,) = evaluation["results"]
    assert result["scorer"].startswith(files.scorer_prefix)


def test_snapshots_and_which_of_them_were_evaluated(trained):
    files = trained["files"]
    snapshots = ef.list_snapshots(files.train_folder)
    names = [s.name for s in snapshots]
    assert set(names) == {Path(n).stem for n in trained["train"]["snapshots"]}
    assert names == ["snapshot-best-001", "snapshot-002"]
    # DLC's snapshotindex: -1 is the best snapshot when there is one (best_in_last)
    assert files.snapshotindex == -1
    assert ef.default_snapshot(snapshots, -1).name == "snapshot-best-001"
    assert ef.default_snapshot(snapshots, "best").name == "snapshot-best-001"
    assert ef.default_snapshot(snapshots, 0).name == "snapshot-002"
    assert ef.default_snapshot(snapshots, 2) is None
    assert ef.default_snapshot(snapshots[1:], -1).name == "snapshot-002"
    assert ef.default_snapshot(snapshots[1:], "best") is None
    (result,) = trained["evaluation"]["results"]
    found = ef.find_evaluation(files, snapshots[1])
    assert found.scorer == result["scorer"]
    assert str(found.results_csv) == result["results_csv"]
    assert str(found.keypoint_csv) == result["keypoint_csv"]
    assert found.predictions.is_file()
    assert ef.describe_snapshots(snapshots, snapshots[0]) == [
        "snapshot-best-001 (1 epoch, best, DLC's default)",
        "snapshot-002 (2 epochs, last)",
    ]
    best = next(s for s in snapshots if s.best)
    assert best.uid == f"best-{best.epochs}"
    assert ef.find_evaluation(files, best) is None  # only snapshot-002 was evaluated


def _files(folder: Path, **changes) -> ef.ShuffleFiles:
    fields = dict.fromkeys(
        (
            "config",
            "train_folder",
            "evaluation_folder",
            "dataset_folder",
            "documentation",
            "ground_truth",
        ),
        folder,
    )
    fields.update(shuffle=1, train_fraction=0.95, scorer_prefix="DLC_Resnet50_TaskNov1shuffle1_")
    return ef.ShuffleFiles(**{**fields, **changes})


def test_snapshot_2_is_not_snapshot_12(tmp_path):
    files = _files(tmp_path)
    for scorer in (
        "DLC_Resnet50_TaskNov1shuffle1_snapshot_12",
        "DLC_Other_TaskNov1shuffle1_snapshot_2",
    ):
        (tmp_path / f"{scorer}-results.csv").write_text("x\n")
    snap = ef.SnapshotFile(tmp_path / "snapshot-002.pt", 2, False)
    assert ef.find_evaluation(files, snap) is None
    name = "DLC_Resnet50_TaskNov1shuffle1_detector_best-40_snapshot_2"
    (tmp_path / f"{name}-results.csv").write_text("x\n")
    assert ef.find_evaluation(files, snap).scorer == name


def test_fraction_is_truncated_as_dlc_does(tmp_path, trained, copy_project):
    config = copy_project(trained["config"].parent, tmp_path / "copy")
    cfg = load_config(config)
    cfg["TrainingFraction"] = [0.57]
    save_config(cfg, config)
    files = ef.shuffle_files(config, 3)
    assert files.train_folder.parent.name.endswith("-trainset56shuffle3")
    assert files.documentation.name.endswith("_56shuffle3.pickle")
    with pytest.raises(ValueError, match="has no index 1"):
        ef.shuffle_files(config, 1, trainingsetindex=1)


def test_split_equals_dlcs_pickle(trained):
    files = trained["files"]
    with files.documentation.open("rb") as fh:
        _, train, test, _ = pickle.load(fh)  # the test's own fixture: trusted
    split = ef.read_split(files)
    assert split == {"train": sorted(map(int, train)), "test": sorted(map(int, test))}
    assert len(split["test"]) >= 1 and not set(split["train"]) & set(split["test"])


def test_a_tampered_documentation_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (sys.exit, ("pwned",))

    path = tmp_path / "Documentation_data-T_95shuffle1.pickle"
    path.write_bytes(pickle.dumps([[], np.arange(3), np.arange(1), 0.95, Evil()]))
    files = _files(tmp_path, documentation=path)
    with pytest.raises(LabelsError, match="not a readable DLC documentation"):
        ef.read_split(files)
    path.write_bytes(pickle.dumps({"not": "a list"}))
    with pytest.raises(LabelsError, match="expected \\[data"):
        ef.read_split(files)
    path.unlink()
    with pytest.raises(LabelsError, match="create the training dataset"):
        ef.read_split(files)


def test_ground_truth_and_predictions_tables(trained):
    files = trained["files"]
    truth = ef.read_ground_truth(files)
    for video in {key[1] for key in truth.index}:
        labels = read_labels(
            files.config.parent / "labeled-data" / video / "CollectedData_Vlad&Genta.h5"
        )
        for key in labels.index:
            row = truth.index.index(tuple(key))
            np.testing.assert_array_equal(truth.xy[row].ravel(), labels.loc[key].to_numpy(float))
    (result,) = trained["evaluation"]["results"]
    h5 = Path(result["results_csv"].replace("-results.csv", ".h5"))
    predictions = ef.read_evaluation_predictions(h5)
    raw = pd.read_hdf(h5)
    assert predictions.index == [tuple(k) for k in raw.index] == truth.index
    np.testing.assert_array_equal(predictions.data.reshape(len(raw), -1), raw.to_numpy(float))
    assert predictions.has_likelihood and predictions.bodyparts == truth.bodyparts
    with pytest.raises(LabelsError, match="no likelihood"):
        ef.read_evaluation_predictions(files.ground_truth)


def test_reading_writes_nothing(trained):
    before = snapshot_tree(trained["config"].parent)
    files = ef.shuffle_files(trained["config"], 1)
    for snap in ef.list_snapshots(files.train_folder):
        ef.find_evaluation(files, snap)
    ef.read_split(files)
    ef.read_ground_truth(files)
    assert snapshot_tree(trained["config"].parent) == before
