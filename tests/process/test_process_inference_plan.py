"""The Inference dock's Qt-free logic: snapshots, skipped videos and why, job arguments, ETA."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from napari_dlc_workbench.io.config import ConfigError
from napari_dlc_workbench.io.video import VideoError
from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.process.inference_plan import (
    InferenceSettings,
    find_network,
    find_predictions,
    plan_inference,
    resolve_snapshot,
    snapshot_names,
)
from napari_dlc_workbench.process.inference_progress import (
    InferenceProgress,
    describe_state,
    format_fps,
)

CONFIG = """\
Task: Cladonema_starved
scorer: Vlad&Genta
date: Jun13
multianimalproject: false
video_sets:
bodyparts:
- mouth
- prey
iteration: 0
TrainingFraction:
- 0.95
"""
PREFIX = "DLC_CspnextS_Cladonema_starvedJun13shuffle1"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with shuffle 1 trained (snapshots 1, 2 and best-1), a videos folder."""
    folder = tmp_path / "Cladonema_starved-Vlad&Genta-2025-06-13"
    train = (
        folder / "dlc-models-pytorch/iteration-0/Cladonema_starvedJun13-trainset95shuffle1/train"
    )
    train.mkdir(parents=True)
    (folder / "config.yaml").write_text(CONFIG)
    (train / "pytorch_config.yaml").write_text("net_type: cspnext_s\nmethod: bu\n")
    for name in ("snapshot-001.pt", "snapshot-002.pt", "snapshot-best-001.pt", "other.pt"):
        (train / name).write_bytes(b"")
    (folder / "videos").mkdir()
    return folder / "config.yaml"


def clips(config: Path, *names: str) -> list[Path]:
    paths = [config.parent / "videos" / name for name in names]
    for path in paths:
        path.write_bytes(b"not decoded: frames_of is a fake")
    return paths


def frames_of(video: Path) -> int:
    if "broken" in video.name:
        raise VideoError(video, "moov atom not found")
    return 60 if "#1" in video.name else 90


def test_snapshots_are_listed_and_resolved_as_dlc_does(project: Path) -> None:
    network = find_network(project, 1)
    assert network.snapshots == ["snapshot-001", "snapshot-002", "snapshot-best-001"]
    assert resolve_snapshot("best", network.snapshots) == "snapshot-best-001"
    assert resolve_snapshot("last", network.snapshots) == "snapshot-002"
    assert resolve_snapshot("snapshot-001.pt", network.snapshots) == "snapshot-001"
    with pytest.raises(ValueError, match="no snapshot 'snapshot-099'.*snapshot-002"):
        resolve_snapshot("snapshot-099", network.snapshots)
    with pytest.raises(ValueError, match="no snapshot-best"):
        resolve_snapshot("best", ["snapshot-001"])
    with pytest.raises(ValueError, match="train this shuffle first"):
        resolve_snapshot("last", [])
    assert snapshot_names(project.parent / "nowhere") == []
    # Epochs sort as numbers, not as text.
    train = network.train_folder
    (train / "snapshot-1000.pt").write_bytes(b"")
    assert snapshot_names(train)[-2:] == ["snapshot-1000", "snapshot-best-001"]


def test_scorer_pattern_matches_dlc_names_only_for_that_snapshot(project: Path) -> None:
    network = find_network(project, 1)
    best = network.scorer_pattern("snapshot-best-001")
    assert best.fullmatch(f"{PREFIX}_snapshot_best-1")
    assert not best.fullmatch(f"{PREFIX}_snapshot_1")
    # DLC's Snapshot.uid() writes the epoch unpadded, whatever the file name's padding.
    assert not best.fullmatch(f"{PREFIX}_snapshot_best-001")
    assert not best.fullmatch("DLC_CspnextS_Cladonema_starvedJun13shuffle2_snapshot_best-1")
    assert not best.fullmatch("DLC_Resnet50_Cladonema_starvedJun13shuffle1_snapshot_best-1")
    # Top-down models name their detector snapshot too.
    assert network.scorer_pattern("snapshot-002").fullmatch(f"{PREFIX}_detector_best-90_snapshot_2")
    # Without pytorch_config.yaml the network's name is not known: any name matches.
    (network.train_folder / "pytorch_config.yaml").unlink()
    loose = find_network(project, 1).scorer_pattern("snapshot-002")
    assert loose.fullmatch("DLC_Resnet50_Cladonema_starvedJun13shuffle1_snapshot_2")


def test_find_predictions_ignores_other_videos_snapshots_and_filtered_twins(project: Path) -> None:
    [video] = clips(project, "DSC_3189_#1.mp4")
    folder = video.parent
    pattern = find_network(project, 1).scorer_pattern("snapshot-002")
    for name in (
        f"DSC_3189_#1{PREFIX}_snapshot_1.h5",
        f"DSC_3189_#10{PREFIX}_snapshot_2.h5",
        f"DSC_3189_#1{PREFIX}_snapshot_2_filtered.h5",
        f"DSC_3189_#1{PREFIX}_snapshot_2.csv",
    ):
        (folder / name).write_bytes(b"")
    assert find_predictions(video, pattern) is None
    (folder / f"DSC_3189_#1{PREFIX}_snapshot_2.h5").write_bytes(b"")
    assert find_predictions(video, pattern) == folder / f"DSC_3189_#1{PREFIX}_snapshot_2.h5"
    assert find_predictions(video, pattern, destfolder=project.parent / "missing") is None


def test_plan_says_what_is_analysed_skipped_or_unreadable_and_why(project: Path) -> None:
    one, two, broken = clips(project, "DSC_3189_#1.mp4", "DSC_3189_#2.mp4", "broken.mp4")
    done = one.parent / f"DSC_3189_#1{PREFIX}_snapshot_best-1.h5"
    done.write_bytes(b"")
    missing = one.parent / "gone.mp4"
    settings = InferenceSettings(config=project, snapshot="best")
    plan = plan_inference(settings, [one, two, two, broken, missing], frames_of=frames_of)
    assert plan.snapshot == "snapshot-best-001"
    actions = [(v.video.name, v.action) for v in plan.videos]
    assert actions == [
        ("DSC_3189_#1.mp4", "skip"),
        ("DSC_3189_#2.mp4", "analyse"),
        ("broken.mp4", "fail"),
        ("gone.mp4", "fail"),
    ]
    assert plan.videos[0].reason == f"done before: {done.name}" and plan.videos[0].h5 == done
    assert "moov atom not found" in plan.videos[2].reason
    assert plan.videos[3].reason == "no such video file"
    assert [v.video for v in plan.todo] == [two]
    assert plan.describe() == (
        "1 to analyse with snapshot-best-001, 1 skipped (done before; tick 're-analyse' "
        "to redo), 2 unreadable"
    )
    # Another snapshot has no predictions yet; "re-analyse" redoes a finished video.
    last = plan_inference(
        InferenceSettings(config=project, snapshot="last"), [one], frames_of=frames_of
    )
    assert [v.action for v in last.videos] == ["analyse"]
    forced = plan_inference(
        InferenceSettings(config=project, force=True), [one], frames_of=frames_of
    )
    assert forced.videos[0].action == "analyse" and done.name in forced.videos[0].reason
    # Filtering asked for, filtered twin missing: the job only filters.
    filtered = plan_inference(
        InferenceSettings(config=project, filter_predictions=True), [one], frames_of=frames_of
    )
    assert filtered.videos[0].action == "filter"
    done.with_name(done.stem + "_filtered.h5").write_bytes(b"")
    filtered = plan_inference(
        InferenceSettings(config=project, filter_predictions=True), [one], frames_of=frames_of
    )
    assert filtered.videos[0].action == "skip"


def test_bad_settings_and_projects_are_refused_before_anything_runs(
    project: Path, tmp_path: Path
) -> None:
    [video] = clips(project, "DSC_3189_#1.mp4")
    for bad, message in (
        ({"batch_size": 0}, "batch size"),
        ({"filter_predictions": True, "filter_window": 4}, "odd window"),
        ({"scheduler": " "}, "scheduler address"),
        ({"snapshot": "snapshot-050"}, "no snapshot 'snapshot-050'"),
        ({"shuffle": 2}, "train this shuffle first"),
    ):
        with pytest.raises(ValueError, match=message):
            plan_inference(InferenceSettings(config=project, **bad), [video], frames_of=frames_of)
    with pytest.raises(ConfigError):
        plan_inference(InferenceSettings(config=tmp_path / "config.yaml"), [video])


def test_job_and_batch_arguments_pin_the_planned_snapshot(project: Path) -> None:
    one, two = clips(project, "DSC_3189_#1.mp4", "DSC_3189_#2.mp4")
    settings = InferenceSettings(
        config=project,
        snapshot="last",
        batch_size=16,
        device="cpu",
        filter_predictions=True,
        filter_window=7,
        save_as_csv=True,
    )
    plan = plan_inference(settings, [one, two], frames_of=frames_of)
    kwargs = plan.job_kwargs()
    assert json.loads(json.dumps(kwargs)) == kwargs  # the runner sends JSON
    assert kwargs == {
        "config": str(project),
        "videos": [str(one), str(two)],
        "shuffle": 1,
        "snapshot": "snapshot-002",
        "batch_size": 16,
        "device": "cpu",
        "save_as_csv": True,
        "filter_predictions": True,
        "filter_window": 7,
        "force": False,
    }
    auto = plan_inference(InferenceSettings(config=project), [one], frames_of=frames_of)
    assert auto.job_kwargs()["device"] is None  # the shuffle's own setting
    batch = plan_inference(
        InferenceSettings(config=project, device="cuda:0", scheduler="local"),
        [one, two],
        frames_of=frames_of,
    ).batch_kwargs()
    assert batch["scheduler"] == "local" and batch["n_workers"] == 1
    assert batch["videos"] == [one, two] and batch["snapshot"] == "snapshot-best-001"
    remote = plan_inference(
        InferenceSettings(config=project, scheduler=" tcp://10.0.0.5:8786 "),
        [one],
        frames_of=frames_of,
    ).batch_kwargs()
    assert remote["scheduler"] == "tcp://10.0.0.5:8786" and "n_workers" not in remote


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def event(kind: str, **fields) -> JobEvent:
    return JobEvent(kind, job_name="analyze", **fields)


def frames(number: int, done: int, total: int, fps: float | None = None) -> JobEvent:
    metrics = {"video": float(number), "videos": 2.0}
    if fps:
        metrics["fps"] = fps
    return event("progress", stage="pose", step=done, total=total, metrics=metrics)


def test_progress_follows_a_runner_job_video_by_video(project: Path) -> None:
    one, two, old = clips(project, "DSC_3189_#1.mp4", "DSC_3189_#2.mp4", "DSC_3189_#3.mp4")
    (old.parent / f"DSC_3189_#3{PREFIX}_snapshot_best-1.h5").write_bytes(b"")
    plan = plan_inference(InferenceSettings(config=project), [one, two, old], frames_of=frames_of)
    clock = Clock()
    progress = InferenceProgress(plan, clock)
    assert progress.states[old].status == "skipped"
    assert progress.frames_total == 60 + 90 and progress.frames_done == 0
    assert progress.eta() is None  # no speed known yet
    progress.feed_event(event("started"))
    progress.feed_event(event("progress", stage="videos", step=0, total=2))
    progress.feed_event(frames(1, 10, 60, fps=10.0))
    state = progress.states[one]
    assert (state.status, state.frames, state.total) == ("running", 10, 60)
    assert progress.eta() == pytest.approx((50 + 90) / 10.0)  # from DLC's speed at first
    clock.now += 4.0
    progress.feed_event(frames(1, 30, 60, fps=6.0))
    # Then from the run's own throughput: 20 frames in 4 s.
    assert progress.eta() == pytest.approx((30 + 90) / 5.0)
    assert describe_state(state) == "running 30/60" and format_fps(state.fps) == "6.0"
    clock.now += 6.0
    h5 = one.parent / f"DSC_3189_#1{PREFIX}_snapshot_best-1.h5"
    h5.write_bytes(b"")
    message = "DSC_3189_#1.mp4: analysed"
    progress.feed_event(
        event("progress", stage="videos", step=1, total=2, message=message, metrics={"video": 1.0})
    )
    assert (state.status, state.frames, state.h5) == ("done", 60, h5)
    assert progress.eta() == pytest.approx(90 / 5.0)
    progress.feed_event(frames(2, 45, 90))
    progress.feed_event(event("cancelled", message="stopped (exit status -15)"))
    assert progress.states[two].status == "cancelled"
    assert progress.over and progress.summary() == "1 done, 1 skipped, 1 cancelled"


def test_failures_are_given_to_their_videos(project: Path) -> None:
    one, two = clips(project, "DSC_3189_#1.mp4", "DSC_3189_#2.mp4")
    plan = plan_inference(InferenceSettings(config=project), [one, two], frames_of=frames_of)
    progress = InferenceProgress(plan)
    progress.feed_event(frames(1, 60, 60))
    progress.feed_event(event("log", message=f"failed: {one}: RuntimeError: CUDA out of memory"))
    assert progress.states[one].status == "failed"
    assert progress.states[one].message == "RuntimeError: CUDA out of memory"
    progress.feed_event(frames(2, 10, 90))
    final = event("error", message=f"1 of 2 videos failed (1 done):\n{one}: RuntimeError: boom")
    progress.feed_event(final)
    # The second video had no result of its own: the job's first line says why.
    assert progress.states[two].status == "failed"
    assert progress.states[two].message == "1 of 2 videos failed (1 done):"
    # A job that cannot start at all fails every video with its message.
    progress = InferenceProgress(plan)
    progress.feed_event(event("error", message="FileNotFoundError: no trained snapshot"))
    assert {s.message for s in progress.states.values()} == {
        "FileNotFoundError: no trained snapshot"
    }


def test_the_finished_event_is_the_truth(project: Path) -> None:
    one, two = clips(project, "DSC_3189_#1.mp4", "DSC_3189_#2.mp4")
    plan = plan_inference(InferenceSettings(config=project), [one, two], frames_of=frames_of)
    progress = InferenceProgress(plan)
    h5 = one.parent / "written.h5"
    result = {
        "videos": [
            {"video": str(one), "h5": str(h5), "frames": 59, "fps": 12.5, "skipped": False},
            {"video": str(two), "h5": str(h5), "frames": 90, "fps": None, "skipped": True},
        ]
    }
    progress.feed_event(event("finished", result=result))
    first, second = progress.states[one], progress.states[two]
    assert (first.status, first.frames, first.total, first.h5, first.fps) == (
        "done", 59, 59, h5, 12.5,
    )  # fmt: skip
    assert (second.status, second.message) == ("skipped", "done before")
    assert progress.eta() == 0.0


def update(video: Path, kind: str, **fields) -> SimpleNamespace:
    values = {"video": str(video), "kind": kind, "status": "", "message": ""}
    values.update({"frames": None, "frames_total": None, "fps": None, "eta_s": None}, **fields)
    return SimpleNamespace(**values)


def test_progress_follows_a_dask_batch_in_any_order(project: Path) -> None:
    one, two, three = clips(project, "DSC_3189_#1.mp4", "DSC_3189_#2.mp4", "DSC_3189_#3.mp4")
    plan = plan_inference(
        InferenceSettings(config=project, scheduler="local", filter_predictions=True),
        [one, two, three],
        frames_of=frames_of,
    )
    clock = Clock()
    progress = InferenceProgress(plan, clock)
    progress.feed_batch(update(two, "frames", frames=30, frames_total=90, fps=3.0))
    progress.feed_batch(update(one, "frames", frames=20, frames_total=60, fps=2.0))
    assert progress.fps == pytest.approx(5.0)  # side by side, the speeds add up
    assert progress.eta() == pytest.approx((40 + 60 + 90) / 5.0)
    progress.feed_batch(update(two, "done", status="failed", message="VideoFailed: boom"))
    assert describe_state(progress.states[two]) == "failed: VideoFailed: boom"
    progress.feed_batch(update(one, "done", status="analysed"))
    assert progress.states[one].status == "done" and progress.states[one].frames == 60
    h5 = three.parent / "three.h5"
    result = SimpleNamespace(
        outcomes=[
            SimpleNamespace(video=str(one), status="analysed", h5=str(h5), frames=60, seconds=6.0, message=""),
            SimpleNamespace(video=str(two), status="failed", h5=None, frames=None, seconds=0.0, message="VideoFailed: boom"),
        ]
    )  # fmt: skip
    progress.finish_batch(result)
    assert progress.states[one].h5 == h5 and progress.states[one].fps == pytest.approx(10.0)
    assert (progress.states[three].status, progress.states[three].message) == (
        "failed",
        "not analysed",
    )
    assert progress.summary() == "1 done, 2 failed"


def test_a_video_only_filtered_counts_as_done(project: Path) -> None:
    [one] = clips(project, "DSC_3189_#1.mp4")
    (one.parent / f"DSC_3189_#1{PREFIX}_snapshot_best-1.h5").write_bytes(b"")
    settings = InferenceSettings(config=project, filter_predictions=True)
    plan = plan_inference(settings, [one], frames_of=frames_of)
    progress = InferenceProgress(plan)
    entry = {"video": str(one), "h5": "x.h5", "frames": 60, "skipped": True}
    progress.feed_event(event("finished", result={"videos": [entry]}))
    assert (progress.states[one].status, progress.states[one].message) == ("done", "filtered")
