"""Real DeepLabCut: our labels are accepted, and the demo runs end to end (tiny size)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from napari_dlc_workbench.cli import main
from napari_dlc_workbench.demo import demo_finished
from napari_dlc_workbench.dlc.project import create_training_dataset
from napari_dlc_workbench.io.labels import read_labels, write_labels

pytestmark = pytest.mark.dlc


def test_dlc_accepts_openfield_labels_written_by_us(openfield: Path, in_child) -> None:
    folder = openfield / "labeled-data" / "m4s1"
    df = read_labels(folder / "CollectedData_Pranav.h5")
    for old in folder.glob("CollectedData_*"):
        old.unlink()
    write_labels(df, folder, "Pranav")
    split = in_child(create_training_dataset, openfield / "config.yaml", net_type="resnet_50")
    assert split["n_train"] + split["n_test"] == 116
    # DLC merged our file into its training set unchanged.
    merged = next((openfield / "training-datasets").rglob("CollectedData_Pranav.h5"))
    pd.testing.assert_frame_equal(
        pd.read_hdf(merged).sort_index(), df.sort_index(), check_names=False
    )


def run_demo(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("dlc-workbench")
    return subprocess.run(
        [exe, "demo", "--size", "tiny", "--out", str(out), *options],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_demo_tiny_runs_and_reports(demo_tiny_trained: Path, tmp_path: Path) -> None:
    out = demo_tiny_trained  # `dlc-workbench demo --size tiny`, run once per session
    stdout = (out.parent / "demo-stdout.txt").read_text()
    assert "[demo] summary:" in stdout
    # The last line tells the user where the report is.
    report = (out / "report.html").resolve()
    assert stdout.strip().splitlines()[-1] == f"[demo] report: {report}"
    summary = json.loads((out / "demo-summary.json").read_text())
    steps = {s["step"]: s for s in summary["steps"]}
    split = steps["create training dataset (DeepLabCut)"]
    assert split["n_train"] + split["n_test"] == 20  # 4 frames x 5 wells
    assert steps["crop wells with contrast"]["clips"] == [f"DSC_3189_#{i}.mp4" for i in range(1, 6)]
    project = next(out.glob("Cladonema_starved-Vlad&Genta-*"))
    for well in range(1, 6):
        folder = project / "labeled-data" / f"DSC_3189_#{well}"
        labels = read_labels(folder / "CollectedData_Vlad&Genta.h5")
        # Clip #1 also holds the frames corrected in the demo's correction iteration.
        assert labels.shape[1] == 8 and labels.notna().all().all()
        assert len(labels) == 4 if well > 1 else len(labels) > 4
        # Labels are in the clip's own (cropped) pixel space.
        assert labels.to_numpy().min() >= 0 and labels.to_numpy().max() < 160
    trained = steps["train offline from random weights (DeepLabCut)"]
    assert (trained["epochs"], trained["init"], trained["snapshot"]) == (
        3,
        "random",
        "snapshot-003.pt",
    )
    evaluated = steps["evaluate (DeepLabCut)"]
    row = pd.read_csv(evaluated["results_csv"]).iloc[0]
    assert evaluated["snapshot"] == "snapshot-003"
    assert evaluated["test_rmse"] == round(float(row["test rmse"]), 2)
    assert set(evaluated["test_rmse_per_bodypart"]) == {
        "manubrium_base",
        "mouth",
        "prey",
        "tentacle_base",
    }
    # One correction iteration: outlier frames of clip #1 corrected from ground truth,
    # exported as iteration 1, retrained from the previous snapshot and evaluated.
    corrected = steps["find outliers and correct them from ground truth"]
    assert corrected["iteration"] == [0, 1] and 0 < len(corrected["corrected"]) <= 10
    new_labels = read_labels(
        project / "labeled-data" / "DSC_3189_#1" / "CollectedData_Vlad&Genta.h5"
    )
    assert len(new_labels) == 4 + len(corrected["corrected"])
    assert steps["create the next training dataset (DeepLabCut)"]["n_train"] + steps[
        "create the next training dataset (DeepLabCut)"
    ]["n_test"] == 20 + len(corrected["corrected"])
    assert steps["retrain from the previous snapshot (DeepLabCut)"]["epochs"] == 4  # 3 + 1
    after = steps["evaluate after the correction (DeepLabCut)"]
    assert "iteration-1" in after["results_csv"] and after["test_rmse"] is not None
    # A learning curve after the first evaluation: 50 % and 100 % of 16 training frames,
    # tested on the same 4 held-out frames.
    curve = steps["learning curve (DeepLabCut)"]
    assert [p["n_train"] for p in curve["points"]] == [8, 16] and curve["n_test"] == 4
    assert all(p["test_rmse"] is not None for p in curve["points"])
    assert Path(curve["plot"]).is_file()
    # How little preprocessing: the same 20 frames without and with the contrast step.
    compared = steps["compare preprocessing: no contrast vs enhanced (DeepLabCut)"]
    assert [v["name"] for v in compared["variants"]] == ["none", "exported"]
    assert compared["n_train"] + compared["n_test"] == 20
    assert all(v["test_rmse"] is not None for v in compared["variants"])
    assert Path(compared["plot"]).is_file()
    # Outlier precision against the generator's ground truth, with the base rate.
    precision = corrected["precision"]
    assert precision["n_frames"] == 60 and precision["flagged"] == corrected["flagged"]
    assert 0 <= precision["base_rate"] <= 1 and 0 <= precision["precision_flagged"] <= 1
    assert len(corrected["errors"]) == 60
    assert summary["status"] == "succeeded"
    # The self-contained report shows every step's figures.
    page = report.read_text(encoding="utf-8")
    assert 'src="http' not in page and 'href="http' not in page
    sources = re.findall(r'<img alt="([^"]*)" src="([^"]*)"', page)
    assert len(sources) == page.count("<img ")
    assert sources and all(src.startswith("data:image/png;base64,") for _, src in sources)
    shown = {alt for alt, _ in sources}
    assert {
        "crop and contrast",
        "training loss",
        "learning curve",
        "preprocessing",
        "outlier precision",
        "test RMSE per bodypart before and after the correction",
    } <= shown
    assert "figure unavailable" not in page
    assert "<h2>Timings</h2>" in page
    for step in summary["steps"]:
        assert f"<td>{step['step']}</td>" in page
    assert "Outlier precision" in page and "base rate" in page
    shots = steps["screenshots of the docks"]
    # Taken in a child (under xvfb-run without a display), embedded in the report.
    assert "skipped" in shots or (
        shots["screenshots"] and all(Path(n).stem in shown for n in shots["screenshots"])
    )
    # Running again replaces the demo's own output (in a copy: the session shares `out`).
    out = Path(shutil.copytree(out, tmp_path / "demo out"))
    assert run_demo(out, "--epochs", "0").returncode == 0
    again = json.loads((out / "demo-summary.json").read_text())
    assert again["status"] == "stopped before training"
    assert not demo_finished(out)  # `demo --gui` runs it again instead of opening it untrained
    assert [s["step"] for s in again["steps"]][-1] == "create training dataset (DeepLabCut)"
    assert "crop and contrast" in (out / "report.html").read_text(encoding="utf-8")
    assert not list(out.glob("*/dlc-models-pytorch/*/*/train/snapshot-*.pt"))


def test_demo_refuses_a_folder_it_did_not_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "precious.txt").write_text("user data")
    assert main(["demo", "--size", "tiny", "--out", str(tmp_path)]) == 1
    assert "was not made by the demo" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "user data"
