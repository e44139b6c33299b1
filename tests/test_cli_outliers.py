"""``dlc-workbench outliers`` and ``export-corrections``: the outlier dock without a screen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.cli import main
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.process.outliers import load_queue, save_queue, sidecar_path
from napari_dlc_workbench.sample import BODYPARTS

from support import snapshot_tree

SCORER = "DLC_Resnet50_Cladonema_starvedNov29shuffle1_snapshot_010"
STEM = "DSC_3189_#1"


def _write_predictions(h5: Path, n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(1)
    data = np.empty((n, 4, 3))
    data[..., 0] = 60 + np.arange(4) * 10 + rng.normal(0, 0.3, (n, 4))
    data[..., 1] = 80 + rng.normal(0, 0.3, (n, 4))
    data[..., 2] = 0.95
    data[12, 1, :2] += 40  # a glitch of the mouth
    data[33, 3, 2] = 0.05  # tentacle base unsure
    table = KeypointTable(SCORER, list(range(n)), [("", b) for b in BODYPARTS], data, True)
    table.to_dataframe().to_hdf(h5, key="df_with_missing", mode="w")
    return data


def test_outliers_prints_the_queue_and_saves_the_sidecar_safely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h5 = tmp_path / f"{STEM}{SCORER}.h5"
    _write_predictions(h5)
    assert main(["outliers", str(h5), "--json", "--top", "5"]) == 0
    queue = json.loads(capsys.readouterr().out)
    assert [r["frame"] for r in queue["rows"]] == [12, 33]
    assert queue["rows"][0]["bodyparts"][0] == "mouth"
    assert queue["rows"][1]["reasons"]["likelihood"] == pytest.approx(0.95 / 0.4)

    assert main(["outliers", str(h5), "--methods", "likelihood", "--save"]) == 0
    text = capsys.readouterr().out
    assert "33" in text and "likelihood" in text and "tentacle_base" in text
    saved = load_queue(sidecar_path(h5))
    assert saved.frames == [33] and saved.settings["kinds"] == ["likelihood"]

    saved.rows[0].accept({"tentacle_base": (1.0, 2.0)})
    save_queue(saved)
    before = snapshot_tree(tmp_path)
    assert main(["outliers", str(h5), "--save"]) == 1  # would drop a reviewed frame
    assert "holds 1 reviewed frames" in capsys.readouterr().err
    assert snapshot_tree(tmp_path) == before
    assert main(["outliers", str(h5), "--save", "--force"]) == 0
    sidecar = sidecar_path(h5)
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["review"] = {"frame": 12}  # the dock's edits in progress
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    assert main(["outliers", str(h5), "--save"]) == 1
    assert "dock's review" in capsys.readouterr().err

    assert main(["outliers", str(tmp_path / "missing.h5")]) == 1
    assert "missing.h5: file does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["outliers", str(h5), "--methods", "wobble"])


def test_export_corrections_from_a_sidecar(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tiny_project.parent / "videos"
    h5 = videos / f"{STEM}{SCORER}.h5"
    data = _write_predictions(h5)
    assert main(["outliers", str(h5), "--save"]) == 0
    queue = load_queue(sidecar_path(h5))
    assert queue.video == str(videos / f"{STEM}.mp4")

    assert main(["export-corrections", str(h5), "--config", str(tiny_project)]) == 1
    assert "no accepted row" in capsys.readouterr().err

    fixed = data[12, :, :2].copy()
    fixed[1] -= 40
    queue.row(12).accept(dict(zip(BODYPARTS, fixed.tolist(), strict=True)))
    save_queue(queue)
    capsys.readouterr()
    code = main(
        ["export-corrections", str(sidecar_path(h5)), "--config", str(tiny_project), "--json"]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["iteration"] == [0, 1]
    assert summary["videos"][0]["images_written"] == ["img12.png"]
    assert load_config(tiny_project)["iteration"] == 1
