"""How little preprocessing still works: project copies re-made from the recordings, and DLC.

The tiny demo's project: five 160x160 clips cut with contrast "enhance" from one
recording, 4 labelled frames each; the clips' export record is in the demo's
``clips/`` folder (the project holds copies of the clips, as DLC's copy_videos makes).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from napari_dlc_workbench.cli import main
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.process.preprocessing_variants import (
    PRESETS,
    VariantError,
    labelled_clips,
    make_variant_project,
)

pytestmark = pytest.mark.dlc


@pytest.fixture
def records(demo_tiny: Path) -> Path:
    return demo_tiny.parent / "clips"


def tree(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` and its modification time."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def images(project: Path) -> dict[str, np.ndarray]:
    return {
        str(p.relative_to(project)): iio.imread(p)
        for p in sorted((project / "labeled-data").glob("*/img*.png"))
    }


def test_copies_remake_the_same_frames_with_other_contrast(
    tiny_project: Path, records: Path, tmp_path: Path
) -> None:
    project = tiny_project.parent
    before = tree(project)
    clips = labelled_clips(tiny_project, [records])
    assert [c.stem for c in clips] == [f"DSC_3189_#{i}" for i in range(1, 6)]
    assert {c.contrast.method for c in clips} == {"enhance"} and clips[0].frames
    assert clips[0].source.name == "DSC_3189.mp4" and clips[0].roi.w == 160

    same = make_variant_project(tiny_project, tmp_path / "exported", None, record_folders=[records])
    plain = make_variant_project(
        tiny_project, tmp_path / "none", PRESETS["none"], record_folders=[records]
    )
    original = images(project)
    # Made again with the recorded settings, every labelled image is the same, bit for bit.
    remade = images(same.parent)
    assert remade.keys() == original.keys() and len(original) == 20
    assert all(np.array_equal(remade[k], original[k]) for k in original)
    # Without contrast the same frames come out duller.
    dull = images(plain.parent)
    assert dull.keys() == original.keys()
    assert np.mean([dull[k].std() for k in dull]) < 0.5 * np.mean(
        [original[k].std() for k in original]
    )
    for copy in (same, plain):
        for labels in project.glob("labeled-data/*/CollectedData_*"):
            assert (copy.parent / labels.relative_to(project)).read_bytes() == labels.read_bytes()
        cfg = load_config(copy)
        assert cfg["project_path"] == str(copy.parent)
        assert [Path(v).parent for v in cfg["video_sets"]] == [copy.parent.parent / "videos"] * 5
    assert tree(project) == before  # the project was only read


def test_clips_without_an_export_record_are_refused_before_anything_is_written(
    tiny_project: Path, records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(VariantError, match="no export record"):
        labelled_clips(tiny_project)
    out = tmp_path / "comparison"
    assert main(["compare-preprocessing", str(tiny_project), "--out", str(out)]) == 1
    assert "DSC_3189_#1.mp4: no export record" in capsys.readouterr().err
    assert (
        main(
            ["compare-preprocessing", str(tiny_project), "--out", str(out), "--variants", "sharpen"]
        )
        == 1
    )
    assert "unknown preprocessing 'sharpen'" in capsys.readouterr().err
    assert not out.exists()
    (out / "mine").mkdir(parents=True)
    with pytest.raises(VariantError, match="not empty"):
        make_variant_project(tiny_project, out, None, record_folders=[records])
    assert [p.name for p in out.iterdir()] == ["mine"]


def test_compare_trains_each_variant_on_the_same_split(
    tiny_project: Path, records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "comparison"
    args = [
        "compare-preprocessing",
        str(tiny_project),
        "--out",
        str(out),
        "--records",
        str(records),
    ]
    assert main([*args, "--variants", "none", "exported", "--epochs", "1", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "none" in printed and "exported" in printed and "the same for every variant" in printed
    result = json.loads((out / "preprocessing.json").read_text())
    assert [v["name"] for v in result["variants"]] == ["none", "exported"]
    assert result["n_train"] + result["n_test"] == 20 and result["n_test"] >= 1
    for variant in result["variants"]:
        assert variant["epochs"] == 1 and variant["test_rmse"] > 0
        assert set(variant["bodyparts"]) == {"manubrium_base", "mouth", "prey", "tentacle_base"}
    assert result["variants"][0]["contrast"]["method"] == "none"
    assert result["variants"][1]["contrast"] == "exported"
    # DLC's own split of each copy: the same test images.
    tests = []
    for variant in result["variants"]:
        docs = Path(variant["config"]).parent.glob(
            "training-datasets/*/*/Documentation_data-*.pickle"
        )
        [doc] = list(docs)
        with doc.open("rb") as handle:
            meta = pickle.load(handle)
        tests.append(sorted(int(i) for i in meta[2]))  # DLC: (data, train, test, fraction)
    assert tests[0] == tests[1] and len(tests[0]) == result["n_test"]
    assert (out / "preprocessing.png").read_bytes()[:4] == b"\x89PNG"
    # Running it again replaces its own output (DLC runs in a child: importing torch here,
    # after the Qt tests' GL context, would crash pytest).
    assert main([*args, "--variants", "clahe", "--epochs", "1", "--device", "cpu"]) == 0
    again = json.loads((out / "preprocessing.json").read_text())
    assert [v["name"] for v in again["variants"]] == ["clahe"] and not (out / "exported").exists()
