from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from napari_dlc_workbench.cli import main
from napari_dlc_workbench.sample import load_ground_truth


def test_sample_command_writes_video_and_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["sample", "--preset", "tiny", "--out", str(tmp_path), "--name", "DSC_3231_roi_#5"])
        == 0
    )
    assert (tmp_path / "DSC_3231_roi_#5.mp4").stat().st_size > 0
    assert load_ground_truth(tmp_path / "DSC_3231_roi_#5_ground_truth.csv").shape == (40, 5, 4, 2)
    assert "DSC_3231_roi_#5.mp4" in capsys.readouterr().out


def test_unknown_arguments_are_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sample", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("dlc-workbench")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    for command in ("doctor", "sample", "demo"):
        assert command in out.stdout


def test_seek_copy_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from napari_dlc_workbench.io.video import seek_copy_path
    from video_clips import write_clip

    video = write_clip(tmp_path, "mpeg4_avi")
    assert main(["seek-copy", str(video), str(tmp_path / "missing.avi")]) == 1
    assert seek_copy_path(video).is_file()
    err = capsys.readouterr().err
    assert "300/300 frames" in err and "missing.avi: file does not exist" in err


def test_crop_command_and_like(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from napari_dlc_workbench.io.rois import save_rois
    from napari_dlc_workbench.io.video import probe_video
    from napari_dlc_workbench.model.roi import ROI, ROISet
    from napari_dlc_workbench.sample import SampleSpec, write_sample

    spec = SampleSpec.tiny()
    first = write_sample(tmp_path / "raw", spec, name="DSC_3190").video
    second = write_sample(tmp_path / "raw", spec, name="DSC_3191").video
    rois = save_rois(
        ROISet((ROI("#1", 0, 0, 64, 64), ROI("#2", 100, 50, 64, 64))), tmp_path / "rig.json"
    )
    args = [
        "crop",
        str(first),
        "--rois",
        str(rois),
        "--contrast",
        "enhance",
        "--out",
        str(tmp_path / "clips"),
    ]
    assert main(args) == 0
    assert "2 clips written, 0 already done, 0 videos failed" in capsys.readouterr().out
    assert probe_video(tmp_path / "clips" / "DSC_3190_#2.mp4").width == 64
    like = [
        "crop",
        str(second),
        "--like",
        str(tmp_path / "clips" / "DSC_3190.crops.json"),
        "--out",
        str(tmp_path / "clips"),
    ]
    assert main(like) == 0
    assert (tmp_path / "clips" / "DSC_3191_#1.mp4").is_file()
    assert main(["crop", str(first), "--out", str(tmp_path)]) == 2


def _fake_child(calls: list[list[str]], returncode: int):
    def run(command: list[str], check: bool = False) -> subprocess.CompletedProcess[str]:
        calls.append(list(command))
        return subprocess.CompletedProcess(command, returncode)

    return run


def test_demo_gui_reuses_a_finished_demo_and_opens_napari_in_a_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import napari_dlc_workbench.demo as demo

    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: pytest.fail("the demo ran again"))
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", _fake_child(calls, 3))
    (tmp_path / "demo-summary.json").write_text('{"status": "succeeded", "steps": []}')
    assert main(["demo", "--gui", "--out", str(tmp_path)]) == 3  # napari's exit status
    assert calls == [
        [sys.executable, "-m", "napari_dlc_workbench._qt.demo_gui", str(tmp_path.resolve())]
    ]


@pytest.mark.parametrize("status", ["failed", "stopped before training", "running"])
def test_demo_gui_runs_an_unfinished_demo_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    import napari_dlc_workbench.demo as demo

    ran: list[tuple[Path, str, int | None, bool]] = []
    monkeypatch.setattr(
        demo,
        "run_demo",
        lambda out, **kw: ran.append((out, kw["size"], kw["epochs"], kw["screenshots"])),
    )
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", _fake_child(calls, 0))
    (tmp_path / "demo-summary.json").write_text(json.dumps({"status": status, "steps": []}))
    assert main(["demo", "--gui", "--size", "tiny", "--out", str(tmp_path)]) == 0
    assert ran == [(tmp_path, "tiny", None, True)]
    assert len(calls) == 1
    # Without --gui the demo runs and nothing else starts.
    assert main(["demo", "--out", str(tmp_path), "--no-screenshots"]) == 0
    assert ran[-1] == (tmp_path, "small", None, False) and len(calls) == 1


def test_demo_gui_does_not_open_napari_when_the_demo_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import napari_dlc_workbench.demo as demo

    def fail(*args: object, **kwargs: object) -> None:
        raise demo.DemoError("demo step 'train' failed: boom")

    monkeypatch.setattr(demo, "run_demo", fail)
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", _fake_child(calls, 0))
    assert main(["demo", "--gui", "--out", str(tmp_path / "new")]) == 1
    assert calls == [] and "boom" in capsys.readouterr().err
