"""The ``analyze`` job: DLC's own predictions, progress, skip rule, snapshots, cancel (issue 7)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from napari_dlc_workbench.dlc.analysis import PARTIAL_PREFIX
from napari_dlc_workbench.dlc.runner import Job, run, start
from napari_dlc_workbench.io.predictions import parse_scorer, read_predictions
from napari_dlc_workbench.io.video import probe_video
from napari_dlc_workbench.model.jobs import JobEvent

pytestmark = pytest.mark.dlc


@pytest.fixture
def trained(
    tiny_trained_source: dict[str, Any], copy_project: Callable[[Path, Path], Path], tmp_path: Path
) -> Path:
    """A writable copy of the trained tiny project (snapshot-002 and snapshot-best-001)."""
    source = tiny_trained_source["config"].parent
    return copy_project(source, tmp_path / source.name)


def _analyze(config: Path, clip: Path, **kwargs: Any) -> tuple[JobEvent, list[JobEvent]]:
    events: list[JobEvent] = []
    final = run(
        Job("analyze", {"config": str(config), "videos": [str(clip)], "device": "cpu", **kwargs}),
        events.append,
        log_events=False,
    )
    assert final.kind == "finished", f"{final.message}\n{final.traceback}"
    return final, events


def test_analyze_writes_dlc_predictions_reports_frames_and_skips_next_time(trained: Path) -> None:
    clip = trained.parent / "videos" / "DSC_3189_#1.mp4"
    final, events = _analyze(trained, clip, snapshot="last", save_as_csv=True)
    result = final.result
    assert result["snapshot"] == "snapshot-002"
    [entry] = result["videos"]
    h5 = Path(entry["h5"])
    assert h5.parent == clip.parent and h5.name == f"DSC_3189_#1{result['scorer']}.h5"
    assert parse_scorer(result["scorer"]).snapshot_epoch == 2
    assert entry["skipped"] is False and entry["frames"] == probe_video(clip).n_frames == 60
    assert entry["seconds"] > 0 and Path(entry["csv"]).is_file()
    # DLC's own layout: read back by our reader and by pandas under DLC's key.
    predictions = read_predictions(h5)
    assert len(predictions.table) == 60 and predictions.meta["nframes"] == 60
    assert predictions.table.bodyparts == ("manubrium_base", "mouth", "prey", "tentacle_base")
    frame = pd.read_hdf(h5, key="df_with_missing")
    assert list(frame.columns.names) == ["scorer", "bodyparts", "coords"]
    assert not list(clip.parent.glob(f"{PARTIAL_PREFIX}*"))
    frames = [e for e in events if e.kind == "progress" and e.stage == "pose"]
    assert frames and frames[-1].step == frames[-1].total == 60
    assert all(0 < a.step < b.step for a, b in zip(frames, frames[1:], strict=False))
    assert any(e.metrics.get("fps", 0) > 0 and "eta_s" in e.metrics for e in frames)

    stamp = h5.stat().st_mtime_ns
    again, _ = _analyze(trained, clip, snapshot="snapshot-002")
    [entry] = again.result["videos"]
    assert entry["skipped"] is True and entry["frames"] == 60
    assert h5.stat().st_mtime_ns == stamp

    forced, _ = _analyze(trained, clip, snapshot="last", force=True)
    assert forced.result["videos"][0]["skipped"] is False
    assert h5.stat().st_mtime_ns != stamp


def test_best_snapshot_gets_its_own_file_and_filtered_twin(trained: Path) -> None:
    clip = trained.parent / "videos" / "DSC_3189_#2.mp4"
    final, _ = _analyze(trained, clip, snapshot="best", filter_predictions=True, filter_window=3)
    [entry] = final.result["videos"]
    assert final.result["snapshot"] == "snapshot-best-001"
    assert parse_scorer(final.result["scorer"]).is_best
    filtered = Path(entry["filtered_h5"])
    assert filtered.name == Path(entry["h5"]).name.replace(".h5", "_filtered.h5")
    assert len(read_predictions(filtered).table) == 60


def test_missing_snapshot_or_video_fails_naming_it_and_writes_nothing(trained: Path) -> None:
    videos = trained.parent / "videos"
    before = sorted(p.name for p in videos.iterdir())
    final = run(
        Job(
            "analyze",
            {
                "config": str(trained),
                "videos": [str(videos / "DSC_3189_#1.mp4")],
                "snapshot": "snapshot-099",
            },
        ),
        log_events=False,
    )
    assert final.kind == "error"
    assert "snapshot-099" in final.message and "snapshot-002" in final.message
    final = run(
        Job("analyze", {"config": str(trained), "videos": [str(videos / "nope.mp4")]}),
        log_events=False,
    )
    assert final.kind == "error" and "nope.mp4: file does not exist" in final.message
    assert sorted(p.name for p in videos.iterdir()) == before


def test_cancelled_analysis_leaves_no_predictions(trained: Path) -> None:
    clip = trained.parent / "videos" / "DSC_3189_#3.mp4"
    job = Job(
        "analyze",
        {
            "config": str(trained),
            "videos": [str(clip)],
            "device": "cpu",
            "batch_size": 1,
            "interval": 0,
        },
    )
    handle = start(job, log_events=False)
    for event in handle.events(timeout=300):
        if event.kind == "progress" and event.stage == "pose":
            handle.cancel()
    final = handle.wait()
    assert final.kind == "cancelled", final.message
    assert not list(clip.parent.glob("DSC_3189_#3DLC_*"))
    assert not list(clip.parent.glob(f"{PARTIAL_PREFIX}*"))
