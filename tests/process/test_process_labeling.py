"""The labelling session: one click per keypoint, frame completeness, undo, skeleton, sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_dlc_workbench.io.atomic import list_backups
from napari_dlc_workbench.io.config import load_config, save_config
from napari_dlc_workbench.io.labels import LabelsError, read_labels
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.model.project import Project
from napari_dlc_workbench.process.labeling import (
    MISSING,
    NOT_VISIBLE,
    PLACED,
    LabelingSession,
)
from napari_dlc_workbench.process.labeling_frames import (
    image_size_problems,
    points_outside,
    rows_with_images,
    skeleton_vectors,
    video_row_keys,
)
from napari_dlc_workbench.process.labeling_store import (
    labels_for_save,
    load_not_visible,
    not_visible_path,
    open_folder_target,
    open_video_target,
    save_labels,
    save_not_visible,
)

BPS = ["manubrium base", "mouth", "prey", "tentacle base"]
KPS = [("", bp) for bp in BPS]


class Layer:
    """Points data and features as a napari layer would hold them, and clicks on it."""

    def __init__(self) -> None:
        self.data = np.zeros((0, 3))
        self.labels: list[str] = []
        self.ids: list[str] = []

    def click(self, session: LabelingSession, frame: int, y: float, x: float) -> None:
        ind, bp = session.current
        self.data = np.vstack([self.data, [frame, y, x]])
        self.labels.append(bp)
        self.ids.append(ind)
        session.sync(self.data, self.labels, self.ids)
        session.actions.clicks += 1
        session.actions.points += 1
        session.mark_changed()
        session.advance(frame)


def test_one_click_per_keypoint_advances_and_completes_frames() -> None:
    session = LabelingSession(KPS, n_frames=5)
    layer = Layer()
    assert session.current == ("", "manubrium base")
    assert session.checklist(0) == [(kp, MISSING) for kp in KPS]
    for k, bp in enumerate(BPS):
        assert session.current == ("", bp)
        layer.click(session, 0, 10.0 + k, 20.0)
    assert session.is_complete(0)
    assert session.advance(0) is None
    assert session.checklist(0) == [(kp, PLACED) for kp in KPS]
    assert session.next_unlabeled_frame(0) == 1
    assert session.previous_unlabeled_frame(0) == 4  # wraps
    assert session.actions.per_point() == 1.0
    assert session.dirty
    session.mark_saved()
    assert not session.dirty


def test_advance_wraps_and_skips_placed_and_not_visible() -> None:
    session = LabelingSession(KPS, n_frames=3)
    session.sync([[1, 5, 5]], ["mouth"], [""])
    session.toggle_not_visible(1, ("", "prey"))
    session.select(("", "tentacle base"))
    assert session.advance(1) == ("", "manubrium base")  # wrapped past the end
    assert session.enter_frame(1) == ("", "manubrium base")
    assert session.state(1, ("", "prey")) == NOT_VISIBLE
    session.sync([[1, 5, 5], [1, 1, 1], [1, 2, 2]], ["mouth", "manubrium base", "tentacle base"])
    assert session.is_complete(1)  # prey not visible, the rest placed
    assert session.enter_frame(1) == ("", "manubrium base")  # complete: kept
    # Placing a not-visible keypoint clears the mark.
    session.sync([[1, 7, 7]], ["prey"], [""])
    assert session.state(1, ("", "prey")) == PLACED and not session.hidden
    assert session.step(-1) == ("", "tentacle base")
    with pytest.raises(KeyError):
        session.select(("", "tail"))


def test_unlabeled_frame_search_and_none_when_all_complete() -> None:
    session = LabelingSession([("", "a")], n_frames=4)
    session.sync([[0, 1, 1], [2, 1, 1]], ["a", "a"])
    assert session.next_unlabeled_frame(0) == 1
    assert session.next_unlabeled_frame(1) == 3
    assert session.next_unlabeled_frame(3) == 1
    assert session.previous_unlabeled_frame(1) == 3
    session.sync([[f, 1, 1] for f in range(4)], ["a"] * 4)
    assert session.next_unlabeled_frame(0) is None
    assert session.n_complete() == 4
    assert session.labelled_frames() == [0, 1, 2, 3]


def test_copy_from_previous_frame_fills_only_missing_keypoints() -> None:
    session = LabelingSession(KPS, n_frames=4)
    data = np.array([[0, 1, 1], [0, 2, 2], [0, 3, 3], [2, 9, 9]], float)
    labels = ["manubrium base", "mouth", "prey", "mouth"]
    session.sync(data, labels, None)
    session.toggle_not_visible(2, ("", "prey"))
    assert session.previous_labelled_frame(2) == 0
    assert session.previous_labelled_frame(0) is None
    picked = session.points_copied_from(data, labels, None, source=0, target=2)
    assert picked.tolist() == [0]  # mouth is placed and prey not visible on frame 2


def test_replaced_by_finds_the_older_point_of_the_same_keypoint() -> None:
    data = np.array([[0, 1, 1], [1, 2, 2], [0, 3, 3], [0, 4, 4]], float)
    labels = ["mouth", "mouth", "prey", "mouth"]
    assert LabelingSession.replaced_by(data, labels, None, new=-1) == [0]
    ids = ["a", "b", "a", "b"]
    assert LabelingSession.replaced_by(data, labels, ids, new=3) == []


def test_undo_is_bounded_and_restores_not_visible_marks() -> None:
    session = LabelingSession(KPS, n_frames=2, undo_limit=3)
    for k in range(5):
        session.push_undo(np.full((k, 3), k, float), {"label": ["x"] * k})
        session.toggle_not_visible(0, KPS[k % 4])
    snaps = [session.pop_undo() for _ in range(4)]
    assert [len(s.data) for s in snaps[:3]] == [4, 3, 2] and snaps[3] is None
    assert not session.can_undo
    # The third-newest snapshot was taken after toggling marks 0 and 1.
    assert session.hidden == {(0, KPS[0]), (0, KPS[1])}
    assert session.dirty


def test_multianimal_keypoints_are_individual_and_bodypart() -> None:
    kps = [("jelly1", "mouth"), ("jelly1", "prey"), ("jelly2", "mouth"), ("jelly2", "prey")]
    session = LabelingSession(kps, n_frames=1)
    session.sync([[0, 1, 1], [0, 2, 2]], ["mouth", "mouth"], ["jelly1", "jelly2"])
    assert session.enter_frame(0) == ("jelly1", "prey")
    assert session.advance(0) == ("jelly2", "prey")


def test_skeleton_vectors_join_placed_pairs_per_frame_and_individual() -> None:
    data = np.array([[0, 10, 20], [0, 30, 50], [1, 1, 1], [2, 5, 5], [2, 6, 8]], float)
    labels = ["mouth", "prey", "mouth", "mouth", "prey"]
    vec = skeleton_vectors(data, labels, None, [("mouth", "prey"), ("tail", "mouth")])
    np.testing.assert_array_equal(vec, [[[0, 10, 20], [0, 20, 30]], [[2, 5, 5], [0, 1, 3]]])
    ids = ["a", "b", "a", "a", "a"]  # frame 0's ends belong to different animals
    assert len(skeleton_vectors(data, labels, ids, [("mouth", "prey")])) == 1
    assert skeleton_vectors(np.zeros((0, 3)), [], None, [("a", "b")]).shape == (0, 2, 3)


def test_video_row_keys_keep_existing_names() -> None:
    existing = [("labeled-data", "v", "img7.png")]
    keys = video_row_keys("v", 12, existing)
    assert keys[3] == ("labeled-data", "v", "img03.png") and keys[7] == existing[0]
    with pytest.raises(ValueError, match="not frames of this 12-frame video"):
        video_row_keys("v", 12, [("labeled-data", "v", "img12.png")])


def test_rows_with_images_drops_empty_rows_and_reports_orphans() -> None:
    data = np.full((4, 1, 3), np.nan)
    data[1, 0, :2] = (1, 2)
    data[2, 0, :2] = (3, 4)
    index = [("labeled-data", "v", f"img{i}.png") for i in range(4)]
    table = KeypointTable("me", index, [("", "mouth")], data)
    kept, orphans = rows_with_images(table, ["img0.png", "img1.png"], keep=[index[3]])
    assert kept.index == [index[0], index[1], index[3]]
    assert orphans == [index[2]]


def test_image_sizes_and_points_outside(tmp_path: Path) -> None:
    files = []
    for name, shape in [("img0.png", (4, 6)), ("img1.png", (4, 6)), ("img2.png", (5, 6))]:
        Image.fromarray(np.zeros(shape, np.uint8)).save(tmp_path / name)
        files.append(tmp_path / name)
    assert image_size_problems(files) == ["img2.png is 6×5 px, expected 6×4 px"]
    assert len(image_size_problems(files, expected=(5, 6))) == 2
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert "cannot be read" in image_size_problems([tmp_path / "bad.png"])[0]
    assert points_outside([[0, 1, 1], [0, 5, 1], [0, 1, -1]], height=4, width=6) == 2


def test_not_visible_sidecar_round_trip(tmp_path: Path) -> None:
    keys = [("labeled-data", "v", f"img{i}.png") for i in range(3)]
    path = not_visible_path(tmp_path, "me")
    assert save_not_visible(path, set(), keys) is None and not path.exists()
    hidden = {(2, ("", "prey")), (0, ("", "mouth"))}
    save_not_visible(path, hidden, keys)
    assert json.loads(path.read_text())["not_visible"]["img2.png"] == [["", "prey"]]
    assert load_not_visible(path, keys, KPS) == hidden
    # Frames are found by image name, whatever their position now; unknown marks go.
    moved = [keys[2], keys[0]]
    assert load_not_visible(path, moved, [("", "prey")]) == {(0, ("", "prey"))}
    path.write_text("{broken")
    assert load_not_visible(path, keys, KPS) == set()
    assert load_not_visible(tmp_path / "missing.json", keys, KPS) == set()


def test_checklist_lines_progress_and_points_of() -> None:
    session = LabelingSession(KPS, n_frames=2)
    data, labels = [[0, 1, 1], [1, 2, 2]], ["mouth", "mouth"]
    session.sync(data, labels, None)
    session.toggle_not_visible(0, ("", "prey"))
    assert [text for _, text in session.checklist_lines(0)] == [
        "·  manubrium base  (missing)",
        "✓  mouth",
        "✗  prey  (not visible)",
        "·  tentacle base  (missing)",
    ]
    assert session.progress(0) == "frame 0 · 0/2 frames complete · saved"
    session.select(("", "mouth"))
    assert session.points_of(data, labels, None, 1).tolist() == [False, True]


def openfield_project(folder: Path) -> Project:
    config = folder / "config.yaml"
    return Project.from_config(load_config(config), config)


def test_open_folder_target_checks_sizes_config_and_missing_images(openfield: Path) -> None:
    folder = openfield / "labeled-data" / "m4s1"
    project = openfield_project(openfield)
    target, table, warnings = open_folder_target(folder, project)
    assert len(target.row_keys) == 116 and target.video is None and warnings == []
    assert target.h5 == folder / "CollectedData_Pranav.h5"
    assert table.to_dataframe().equals(read_labels(target.h5))
    (folder / "img0115.png").rename(folder / "elsewhere.bak")
    with pytest.raises(LabelsError, match=r"labelled images missing from the folder: \['img0115"):
        open_folder_target(folder, project)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(folder / "img0115.png")
    with pytest.raises(LabelsError, match="img0115.png is 10×10 px, expected 640×480 px"):
        open_folder_target(folder, project)


def test_open_video_target_maps_images_to_frames(openfield: Path) -> None:
    project = openfield_project(openfield)
    video = openfield / "videos" / "m4s1.mp4"
    target, table, _ = open_video_target(video, project, 2000, (480, 640, 3))
    assert len(target.row_keys) == 2000 and target.video == video
    assert target.row_keys[115] == ("labeled-data", "m4s1", "img0115.png")
    assert target.row_keys[116] == ("labeled-data", "m4s1", "img0116.png")
    with pytest.raises(LabelsError, match="not frames of this 100-frame video"):
        open_video_target(video, project, 100, (480, 640))
    with pytest.raises(LabelsError, match="frames do not match the video"):
        open_video_target(video, project, 2000, (240, 320))
    _, _, warnings = open_video_target(video, project, 2000, (480, 640))
    assert warnings == []


def test_labels_for_save_drops_empty_video_rows_and_checks_config(openfield: Path) -> None:
    project = openfield_project(openfield)
    video = openfield / "videos" / "m4s1.mp4"
    target, table, _ = open_video_target(video, project, 200, (480, 640))
    data, feats = table.to_points(target.row_keys)
    frames = KeypointTable.from_points(
        data, feats, scorer="Pranav", keypoints=table.keypoints, paths=target.row_keys,
        keep_empty_rows=True,
    )  # fmt: skip
    assert len(frames) == 200
    df, lost = labels_for_save(frames, target)
    assert df.equals(read_labels(target.h5)) and lost == []
    # A point on frame 150, which was never extracted, cannot be saved.
    frames.data[150, 0, :2] = (5.0, 6.0)
    with pytest.raises(LabelsError, match="img150.png; extract them first"):
        labels_for_save(frames, target)
    frames.data[150] = np.nan
    frames.data[3, 1, :2] = np.nan
    df, lost = labels_for_save(frames, target)
    assert lost == [f"img0003.png: {table.keypoints[1][1]}"]
    h5, csv = save_labels(df, target, {(3, table.keypoints[1])})
    assert np.isnan(read_labels(h5).iloc[3, 2]) and list_backups(csv)
    assert load_not_visible(target.sidecar, target.row_keys, table.keypoints) == {
        (3, table.keypoints[1])
    }
    cfg = load_config(project.config_path)
    cfg["bodyparts"] = ["snout"]
    save_config(cfg, project.config_path)
    with pytest.raises(LabelsError, match="bodyparts do not match"):
        labels_for_save(frames, target)
