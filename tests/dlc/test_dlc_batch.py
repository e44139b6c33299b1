"""Batch analysis on a dask LocalCluster, and the ``analyze`` command (issue 7)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_dlc_workbench.cli import main
from napari_dlc_workbench.dlc.batch import BatchProgress, analyze_many
from napari_dlc_workbench.io.predictions import read_predictions

pytestmark = pytest.mark.dlc


@pytest.fixture
def trained(
    tiny_trained_source: dict[str, Any], copy_project: Callable[[Path, Path], Path], tmp_path: Path
) -> Path:
    source = tiny_trained_source["config"].parent
    return copy_project(source, tmp_path / source.name)


def _broken(videos: Path) -> Path:
    # Cut in half: the index at the end of the MP4 is gone, so no reader can open it.
    data = (videos / "DSC_3189_#5.mp4").read_bytes()
    broken = videos / "DSC_3189_#9.mp4"
    broken.write_bytes(data[: len(data) // 2])
    return broken


def test_two_workers_analyse_videos_a_broken_one_fails_alone_and_rerun_skips(
    trained: Path,
) -> None:
    videos = trained.parent / "videos"
    good = [videos / "DSC_3189_#1.mp4", videos / "DSC_3189_#2.mp4"]
    broken = _broken(videos)
    updates: list[BatchProgress] = []
    result = analyze_many(
        trained,
        [*good, broken],
        n_workers=2,
        threads_per_video=1,
        retries=1,
        on_progress=updates.append,
        snapshot="last",
        device="cpu",
    )
    status = {Path(o.video).name: o.status for o in result.outcomes}
    assert status == {
        "DSC_3189_#1.mp4": "analysed",
        "DSC_3189_#2.mp4": "analysed",
        "DSC_3189_#9.mp4": "failed",
    }
    assert "DSC_3189_#9.mp4: cannot open as a video" in result.failures[str(broken)]
    for outcome in result.outcomes[:2]:
        assert outcome.frames == 60 and len(read_predictions(outcome.h5).table) == 60
    assert updates[0].kind == "start" and updates[-1].finished == 3 and updates[-1].failed == 1
    assert any(u.kind == "frames" and u.frames_total == 60 for u in updates)
    manifest = json.loads(result.manifest.read_text())
    assert result.manifest.parent == trained.parent / "analysis-batches"
    assert manifest["snapshot"] == "snapshot-002"
    assert manifest["videos"][str(broken)]["status"] == "failed"
    assert manifest["videos"][str(good[0])]["h5"] == result.outcomes[0].h5

    stamps = [Path(o.h5).stat().st_mtime_ns for o in result.outcomes[:2]]
    again = analyze_many(trained, good, snapshot="last")  # nothing to do: no cluster
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]
    assert [o.frames for o in again.outcomes] == [60, 60]
    assert [Path(o.h5).stat().st_mtime_ns for o in again.outcomes] == stamps


def test_each_next_video_runs_in_a_child_started_ahead_with_the_same_result(
    trained: Path,
) -> None:
    videos = trained.parent / "videos"
    clips = [videos / f"DSC_3189_#{i}.mp4" for i in (1, 2)]
    options: dict[str, Any] = {"snapshot": "last", "device": "cpu", "threads_per_video": 1}
    result = analyze_many(trained, clips, n_workers=1, **options)
    assert [o.status for o in result.outcomes] == ["analysed"] * 2
    # One worker: the first video starts a fresh child, the next one runs in the spare
    # the first left (the tiny clips' ETA is under SPARE_LEAD_S at once).
    assert sorted(o.warm for o in result.outcomes) == [False, True]
    warm = next(o for o in result.outcomes if o.warm)
    before = read_predictions(warm.h5).table
    cold = analyze_many(trained, [warm.video], force=True, prewarm=False, **options)
    [outcome] = cold.outcomes
    assert outcome.status == "analysed" and not outcome.warm
    np.testing.assert_array_equal(read_predictions(outcome.h5).table.data, before.data)


def test_cancel_stops_running_videos_and_drops_queued_ones(trained: Path) -> None:
    videos = trained.parent / "videos"
    clips = [videos / f"DSC_3189_#{i}.mp4" for i in (3, 4, 5)]
    cancel = threading.Event()

    def on_progress(update: BatchProgress) -> None:
        if update.kind == "frames":
            cancel.set()

    result = analyze_many(
        trained,
        clips,
        n_workers=1,
        threads_per_video=1,
        on_progress=on_progress,
        cancel=cancel,
        device="cpu",
        batch_size=1,
    )
    assert result.cancelled
    assert [o.status for o in result.outcomes] == ["cancelled"] * 3
    assert not list(videos.glob("DSC_3189_#[345]DLC_*.h5"))


def test_missing_video_is_refused_before_anything_starts(tiny_project: Path) -> None:
    clip = tiny_project.parent / "videos" / "DSC_3189_#1.mp4"
    before = sorted(p.name for p in tiny_project.parent.rglob("*"))
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        analyze_many(tiny_project, [clip, clip.with_name("missing.mp4")])
    assert sorted(p.name for p in tiny_project.parent.rglob("*")) == before


def test_cli_analyze_exit_codes(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = trained.parent / "videos"
    assert main(["analyze", str(trained), str(videos / "missing.mp4")]) == 1
    assert "missing.mp4: no such video file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["analyze", str(trained), str(tmp_path / "empty")]) == 1
    assert "folder holds no video" in capsys.readouterr().err
    assert not (trained.parent / "analysis-batches").exists()

    broken = _broken(videos)
    args = ["analyze", str(trained), "--snapshot", "last", "--device", "cpu", "--workers", "1"]
    assert main([*args, str(videos / "DSC_3189_#1.mp4"), str(broken), "--retries", "0"]) == 1
    out = capsys.readouterr()
    assert "1 analysed, 0 skipped (done before), 1 failed" in out.out
    assert f"FAILED {broken}" in out.out
    assert "60/60 frames" in out.err
    assert main([*args, str(videos / "DSC_3189_#1.mp4")]) == 0
    assert "0 analysed, 1 skipped (done before), 0 failed" in capsys.readouterr().out


def test_cli_analyze_refuses_an_untrained_project(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tiny_project.parent / "videos" / "DSC_3189_#1.mp4"
    before = sorted(p.name for p in tiny_project.parent.rglob("*"))
    assert main(["analyze", str(tiny_project), str(clip)]) == 1
    assert (
        "no trained snapshot (snapshot-*.pt); train this shuffle first" in capsys.readouterr().err
    )
    assert sorted(p.name for p in tiny_project.parent.rglob("*")) == before
    assert not (tiny_project.parent / "analysis-batches").exists()
