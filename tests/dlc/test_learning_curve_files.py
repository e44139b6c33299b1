"""The learning curve's file side, without DLC: shuffle numbering and the files written."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from napari_dlc_workbench.dlc.learning_curve import (
    existing_shuffles,
    output_folder,
    plot_learning_curve,
    write_learning_curve,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_shuffle_ever_used_is_found(tmp_path: Path) -> None:
    sets = tmp_path / "training-datasets" / "iteration-0" / "UnaugmentedDataSet_TaskNov29"
    sets.mkdir(parents=True)
    (sets / "Documentation_data-Task_95shuffle1.pickle").write_bytes(b"")
    (sets / "Task_Vlad&Genta.x95shuffle4.mat").write_bytes(b"")  # a dot in the scorer
    (sets / "CollectedData_Vlad&Genta.h5").write_bytes(b"")
    (tmp_path / "dlc-models" / "iteration-2" / "TaskNov29-trainset80shuffle7").mkdir(parents=True)
    (tmp_path / "dlc-models-pytorch" / "iteration-1" / "TaskNov29-trainset95shuffle3").mkdir(
        parents=True
    )
    (
        tmp_path / "evaluation-results-pytorch" / "iteration-0" / "TaskNov29-trainset95shuffle12"
    ).mkdir(parents=True)
    (tmp_path / "labeled-data" / "shuffle99").mkdir(parents=True)  # not a shuffle folder
    assert existing_shuffles(tmp_path) == {1, 3, 4, 7, 12}
    assert existing_shuffles(tmp_path / "empty") == set()


def test_curve_files_hold_the_numbers(tmp_path: Path) -> None:
    points = [
        {
            "fraction": 0.5,
            "n_train": 8,
            "n_test": 4,
            "shuffle": 2,
            "snapshot": "snapshot-001.pt",
            "epochs": 1,
            "test_rmse": 29.96,
            "train_rmse": 32.61,
            "test_rmse_pcutoff": math.nan,
            "test_mAP": 0.0,
            "bodyparts": {"mouth": 26.6, "prey": 46.6},
        },
        {
            "fraction": 1.0,
            "n_train": 16,
            "n_test": 4,
            "shuffle": 3,
            "snapshot": "snapshot-001.pt",
            "epochs": 1,
            "test_rmse": 17.96,
            "train_rmse": 19.25,
            "test_rmse_pcutoff": 12.5,
            "test_mAP": 3.1,
            "bodyparts": {"mouth": 14.9, "prey": 29.3},
        },
    ]
    folder = output_folder(tmp_path, 0)
    assert folder == tmp_path / "learning-curve" / "iteration-0"
    summary = {"points": points, "flattened": False, "note": "still improving", "seed": 0}
    files = write_learning_curve(summary, folder)
    assert Path(files["plot"]).read_bytes().startswith(PNG)
    document = json.loads(Path(files["json"]).read_text())
    assert document["points"][0]["test_rmse_pcutoff"] is None  # JSON has no NaN
    assert document["points"][1]["bodyparts"] == {"mouth": 14.9, "prey": 29.3}
    assert document["files"] == files and document["note"] == "still improving"
    with open(files["csv"], newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [float(r["test_rmse"]) for r in rows] == [29.96, 17.96]
    assert [r["test_rmse_pcutoff"] for r in rows] == ["", "12.5"]
    assert [float(r["test error prey (px)"]) for r in rows] == [46.6, 29.3]
    # Writing again keeps the previous version as a backup (io.atomic).
    write_learning_curve(summary, folder)
    assert len(list((folder / ".backups").glob("learning-curve.*.json"))) == 1


def test_plot_copes_with_missing_values() -> None:
    points = [
        {"fraction": 0.5, "n_train": 4, "test_rmse": None, "train_rmse": 3.0, "bodyparts": {}},
        {"fraction": 1.0, "n_train": 8, "test_rmse": 2.0, "train_rmse": None},
    ]
    assert plot_learning_curve(points, "a title").startswith(PNG)
