"""Reviewing an outlier queue: stepping, filters, edits, export bookkeeping, persistence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.io.predictions import read_predictions
from napari_dlc_workbench.process.corrections import ExportSummary, corrections_from_queue
from napari_dlc_workbench.process.outlier_review import (
    export_text,
    merge_reviewed,
    open_session,
    predicted_points,
)
from napari_dlc_workbench.process.outlier_scores import OutlierSettings
from napari_dlc_workbench.process.outlier_session import REVIEW_KEY, OutlierSession
from napari_dlc_workbench.process.outliers import load_queue, sidecar_path
from predictions_files import BODYPARTS3, smooth_values, write_predictions
from video_clips import write_clip

GLITCH, UNSURE, SECOND_GLITCH = 50, 120, 160


def _values() -> np.ndarray:
    values = smooth_values(200, 3)
    values[GLITCH, 0, :2] += [60.0, 0.0]  # the mouth jumps away for one frame
    values[UNSURE, 2, 2] = 0.05  # the tentacle base is unsure
    values[SECOND_GLITCH, 1, :2] += [0.0, 45.0]  # the prey jumps
    return values


@pytest.fixture
def h5(tmp_path: Path) -> Path:
    return write_predictions(tmp_path, "clip", _values(), BODYPARTS3)


def test_a_new_session_ranks_steps_and_filters(h5: Path) -> None:
    session = open_session(h5)
    assert sidecar_path(h5).is_file()
    frames = session.queue.frames
    assert {GLITCH, UNSURE, SECOND_GLITCH} <= set(frames)
    assert session.frame == frames[0]
    assert session.step(1) == frames[1] and session.frame == frames[1]
    assert session.step(-1) == frames[0]
    assert session.step(-1) is None and session.frame == frames[0]  # nothing before the first
    session.set_filters(reasons=["likelihood"])
    assert [r.frame for r in session.rows()] == [UNSURE]
    assert session.step(1) == UNSURE and session.step(1) is None
    session.set_filters(bodyparts=["prey"])
    assert SECOND_GLITCH in [r.frame for r in session.rows()]
    assert UNSURE not in [r.frame for r in session.rows()]
    session.set_filters()
    assert len(session.rows()) == len(frames)
    np.testing.assert_allclose(session.points(UNSURE), _values()[UNSURE, :, :2])
    assert session.likelihood(UNSURE)[2] == 0.05
    assert session.states(UNSURE) == ["predicted"] * 3


def test_edits_states_counters_and_reopening_restore_everything(h5: Path) -> None:
    session = open_session(h5)
    truth = smooth_values(200, 3)[GLITCH, :, :2]
    session.go_to(GLITCH)
    assert not session.set_points(GLITCH, dict(enumerate(session.points(GLITCH))))  # no move
    moved = {0: truth[0], 1: session.points(GLITCH)[1], 2: session.points(GLITCH)[2]}
    assert session.set_points(GLITCH, moved)
    assert session.accept_points(GLITCH, [1])
    assert session.states(GLITCH) == ["moved", "accepted", "predicted"]
    assert session.row(GLITCH).status == "pending" and session.row(GLITCH).points is not None
    assert session.delete_points(GLITCH, [2])
    assert session.states(GLITCH) == ["moved", "accepted", "deleted"]
    assert session.counts()["in_progress"] == 1
    assert session.accept_frame(GLITCH)
    row = session.row(GLITCH)
    assert row.status == "accepted" and row.points["tentacle base"] is None
    np.testing.assert_allclose(row.points["mouth"], truth[0])
    # Dragging a point of an accepted frame keeps it accepted with the new position.
    session.set_points(GLITCH, {0: truth[0] + 1, 1: session.points(GLITCH)[1]})
    np.testing.assert_allclose(session.row(GLITCH).points["mouth"], truth[0] + 1)
    assert session.row(GLITCH).status == "accepted"
    session.go_to(UNSURE)
    session.delete_points(UNSURE, [2])
    session.set_filters(reasons=["jump"], bodyparts=["mouth"])
    counts = session.counts()
    assert counts["accepted"] == 1 and counts["in_progress"] == 1
    assert counts["moved"] == 1 and counts["deleted"] == 2
    assert session.progress().startswith("1 of ") and "1 in progress" in session.progress()
    session.save()

    again = open_session(h5)
    assert again.frame == UNSURE
    assert again.reasons == {"jump"} and again.bodyparts == {"mouth"}
    assert again.states(GLITCH) == ["moved", "accepted", "deleted"]
    assert again.states(UNSURE) == ["predicted", "predicted", "deleted"]
    np.testing.assert_allclose(again.points(GLITCH)[0], truth[0] + 1)
    assert again.counts() == counts
    # The sidecar is still a plain queue for the backend (and the CLI) to read.
    assert load_queue(sidecar_path(h5)).row(GLITCH).status == "accepted"
    assert json.loads(sidecar_path(h5).read_text())[REVIEW_KEY]["frame"] == UNSURE


def test_moving_a_point_back_or_resetting_forgets_the_draft(h5: Path) -> None:
    session = open_session(h5)
    before = session.points(GLITCH)
    session.set_points(GLITCH, {0: [1.0, 2.0], 1: before[1], 2: before[2]})
    session.set_points(GLITCH, dict(enumerate(before)))
    assert session.row(GLITCH).points is None and session.states(GLITCH) == ["predicted"] * 3
    session.delete_points(GLITCH, [0])
    session.accept_points(GLITCH, [1])
    session.accept_frame(GLITCH)
    assert session.reset_frame(GLITCH)
    assert session.row(GLITCH).status == "pending" and session.row(GLITCH).points is None
    assert session.states(GLITCH) == ["predicted"] * 3
    assert not session.reset_frame(GLITCH)


def test_export_takes_accepted_frames_once_and_locks_them(h5: Path) -> None:
    session = open_session(h5)
    session.accept_frame(UNSURE)
    session.delete_points(GLITCH, [0])
    session.accept_frame(GLITCH)
    session.set_points(SECOND_GLITCH, {0: [5.0, 6.0]})  # in progress: not exported
    queue = session.to_export()
    assert [r.frame for r in queue.rows] == [GLITCH, UNSURE]
    # What the corrections backend reads from the queue is what the user sees.
    item = corrections_from_queue(queue, video="clip.mp4")
    assert list(item.corrected.index) == [GLITCH, UNSURE]
    np.testing.assert_allclose(item.corrected.data[0, :, :2], session.points(GLITCH))
    assert np.isnan(item.corrected.data[0, 0, :2]).all()
    session.mark_exported([GLITCH, UNSURE], 1)
    assert [r.frame for r in session.to_export().rows] == []
    assert not session.editable(GLITCH) and session.editable(SECOND_GLITCH)
    with pytest.raises(ValueError, match="exported into iteration 1"):
        session.set_points(GLITCH, {})
    with pytest.raises(ValueError, match="exported"):
        session.reset_frame(UNSURE)
    session.save()
    again = open_session(h5)
    assert again.exported == {GLITCH: 1, UNSURE: 1} and again.counts()["exported"] == 2
    assert "(2 exported)" in again.progress()


def test_recomputing_keeps_every_reviewed_frame(h5: Path) -> None:
    session = open_session(h5)
    session.delete_points(UNSURE, [2])
    session.accept_frame(UNSURE)
    session.set_points(GLITCH, {0: [1.0, 1.0], 1: [2.0, 2.0], 2: [3.0, 3.0]})
    session.save()
    jumps_only = OutlierSettings(kinds=("jump",))
    again = open_session(h5, settings=jumps_only, recompute=True)
    frames = again.queue.frames
    assert frames[-1] == UNSURE  # no longer flagged, kept after the new rows
    assert again.row(UNSURE).status == "accepted" and again.states(UNSURE)[2] == "deleted"
    np.testing.assert_allclose(again.points(GLITCH), [[1, 1], [2, 2], [3, 3]])
    assert len(set(frames)) == len(frames)


def test_predictions_analysed_again_are_rescored_with_corrections_kept(
    h5: Path, tmp_path: Path
) -> None:
    session = open_session(h5)
    session.delete_points(GLITCH, [0])
    session.accept_frame(GLITCH)
    session.save()
    # The video is analysed again by another snapshot, written over the same name.
    (tmp_path / "new").mkdir()
    other = write_predictions(tmp_path / "new", "clip", _values(), BODYPARTS3, scorer="DLC_other")
    shutil.copyfile(other, h5)
    again = open_session(h5)
    assert again.queue.scorer == "DLC_other"
    assert again.row(GLITCH).status == "accepted" and again.states(GLITCH)[0] == "deleted"


def test_points_of_a_cropped_analysis_are_on_the_full_frame(tmp_path: Path) -> None:
    values = _values()
    h5 = write_predictions(tmp_path, "clip", values, BODYPARTS3, crop=(100, 600, 40, 500))
    session = open_session(h5)
    np.testing.assert_allclose(session.points(GLITCH), values[GLITCH, :, :2] + [100, 40])
    dense = predicted_points(read_predictions(h5), ["prey", "mouth"])
    np.testing.assert_allclose(dense[3, 0], values[3, 1] + [100, 40, 0])
    with pytest.raises(ValueError, match="no keypoint 'tail'"):
        predicted_points(read_predictions(h5), ["tail"])


def test_a_session_refuses_points_of_another_shape(h5: Path) -> None:
    queue = load_queue(open_session(h5).path)
    with pytest.raises(ValueError, match="expected"):
        OutlierSession(queue, np.zeros((200, 2, 3)), h5)
    unreviewed = merge_reviewed(queue.top(2), queue.top(0))
    assert unreviewed.frames == queue.frames[:2]


def test_words_for_the_dock(h5: Path, tmp_path: Path) -> None:
    session = open_session(h5)
    reasons, parts = session.filter_choices()
    assert {"jump", "likelihood"} <= set(reasons) and "mouth" in parts
    assert session.status_text(GLITCH) == ""
    assert session.frame_text(GLITCH).startswith(f"Frame {GLITCH} (to review)\n")
    session.accept_points(GLITCH, [0])
    assert session.status_text(GLITCH) == "edited"
    assert "mouth: accepted · prey: predicted" in session.frame_text(GLITCH)
    session.accept_frame(GLITCH)
    assert session.status_text(GLITCH) == "accepted"
    session.mark_exported([GLITCH], 3)
    assert session.status_text(GLITCH) == "exported (iteration 3)"
    project = tmp_path / "project"
    summary = ExportSummary(
        project / "config.yaml",
        (2, 3),
        [
            {
                "folder": str(project / "labeled-data" / "clip"),
                "images_written": ["img050.png"],
                "images_kept": [],
                "rows_added": 1,
                "rows_replaced": 0,
            }
        ],
        [project / "labeled-data" / "clip" / "img050.png", project / "config.yaml"],
    )
    assert export_text(summary) == (
        "clip: 1 frames, 1 images written, 1 labelled frames added, 0 replaced.\n"
        "Iteration 2 → 3. Files: labeled-data/clip/img050.png, config.yaml."
    )


def test_predictions_without_outliers_give_an_empty_review(tmp_path: Path) -> None:
    h5 = write_predictions(tmp_path, "calm", smooth_values(100, 3), BODYPARTS3)
    session = open_session(h5)
    assert session.queue.rows == [] and session.frame is None
    assert session.step(1) is None and session.step(-1) is None
    assert session.progress().startswith("0 of 0 frames corrected")


def test_a_video_of_another_length_is_refused_before_anything_is_written(
    h5: Path, tmp_path: Path
) -> None:
    clip = write_clip(tmp_path, "h264_gop10", n_frames=30)
    with pytest.raises(ValueError, match="200 frames but the video .*h264_gop10.mp4 has 30"):
        open_session(h5, video=clip)
    assert not sidecar_path(h5).exists()
