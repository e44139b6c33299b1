"""The Labeling dock: one click per keypoint, safe saves, DLC and napari-deeplabcut read the result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from qtpy.QtCore import QPoint, Qt
from qtpy.QtWidgets import QMessageBox

from napari_dlc_workbench._qt.labeling_widget import LabelingWidget
from napari_dlc_workbench.io.atomic import list_backups
from napari_dlc_workbench.io.config import load_config, save_config
from napari_dlc_workbench.io.labels import read_labels
from napari_dlc_workbench.process import labeling_store
from napari_dlc_workbench.process.labeling import MISSING, NOT_VISIBLE, PLACED

from support import snapshot_tree

pytestmark = pytest.mark.napari

BODYPARTS = ["manubrium_base", "mouth", "prey", "tentacle_base"]
SCORER = "Vlad&Genta"
SKELETON = [["manubrium_base", "mouth"], ["mouth", "prey"], ["manubrium_base", "tentacle_base"]]
IMAGES = ["img00.png", "img20.png", "img39.png", "img59.png"]

DLC_SCRIPT = """
import json, sys
import deeplabcut
from napari_dlc_workbench.dlc.project import create_training_dataset
config = sys.argv[1]
deeplabcut.check_labels(config, visualizeindividuals=False)
split = create_training_dataset(config, shuffle=2)
print("RESULT " + json.dumps(split))
"""


@pytest.fixture
def project(tmp_path: Path, demo_tiny: Path) -> Path:
    """A writable copy of the demo project, with a skeleton; returns its folder."""
    dest = tmp_path / demo_tiny.name
    shutil.copytree(demo_tiny, dest)
    config = dest / "config.yaml"
    config.write_text(config.read_text().replace(str(demo_tiny), str(dest)))
    cfg = load_config(config)
    cfg["skeleton"] = SKELETON
    save_config(cfg, config)
    return dest


def fresh_folder(project: Path, well: int = 1) -> Path:
    """A labeled-data folder with its frames and no labels yet."""
    folder = project / "labeled-data" / f"DSC_3189_#{well}"
    for path in folder.glob("CollectedData_*"):
        path.unlink()
    return folder


def open_dock(make_napari_viewer, folder: Path, show: bool = False):
    viewer = make_napari_viewer(show=show)
    dock = LabelingWidget(viewer)
    viewer.window.add_dock_widget(dock)
    assert dock.open_folder(folder), dock.status.text()
    return viewer, dock, dock.layer


def position(frame: int, k: int) -> tuple[float, float]:
    """(y, x) of bodypart ``k`` on ``frame``: distinct, inside the 160 px clip."""
    return 20.0 + 30.0 * k + frame, 25.0 + 20.5 * k + 2 * frame


def sorted_rows(points: np.ndarray) -> np.ndarray:
    return points[np.lexsort(points.T[::-1])]


def test_one_click_per_point_saves_reloads_and_dlc_accepts(make_napari_viewer, qtbot, project):
    folder = fresh_folder(project)
    viewer, dock, layer = open_dock(make_napari_viewer, folder, show=True)
    assert [la.name for la in viewer.layers] == [
        "DSC_3189_#1",
        "skeleton (DSC_3189_#1)",
        f"CollectedData_{SCORER}",
    ]
    assert dock.frame == 0 and layer.mode == "add"
    for frame in range(3):
        assert dock.frame == frame
        for k, bp in enumerate(BODYPARTS):
            assert dock.session.current == ("", bp)
            assert layer.feature_defaults["label"][0] == bp
            layer.add([[dock.frame, *position(frame, k)]])
            assert layer.features["label"].iloc[-1] == bp
            if k < 3:  # advanced to the next bodypart, same frame
                assert dock.session.current == ("", BODYPARTS[k + 1]) and dock.frame == frame
        assert dock.session.is_complete(frame)
        assert dock.frame == frame + 1  # auto-advanced to the next unlabelled frame
    assert dock.session.actions.as_dict() == {
        "clicks": 12,
        "keys": 0,
        "points": 12,
        "actions_per_point": 1.0,
    }
    assert layer.name == f"CollectedData_{SCORER} *"
    cycle = layer.metadata["face_color_cycles"]["label"]
    for color, label in zip(layer.face_color, layer.features["label"], strict=True):
        np.testing.assert_allclose(color, cycle[label])
    assert dock.skeleton_layer.data.shape == (9, 2, 3)  # 3 pairs on 3 frames
    # Last frame: three clicks and "prey" not visible (H), in any order.
    for k in (0, 1, 3):
        dock.session.select(("", BODYPARTS[k]))
        dock._apply_defaults()
        layer.add([[3, *position(3, k)]])
    dock.session.select(("", "prey"))
    dock.mark_not_visible()
    assert dock.session.checklist(3) == [
        (("", "manubrium_base"), PLACED),
        (("", "mouth"), PLACED),
        (("", "prey"), NOT_VISIBLE),
        (("", "tentacle_base"), PLACED),
    ]
    assert "All 4 frames are labelled" in dock.status.text()
    texts = [dock.checklist.item(i).text() for i in range(dock.checklist.count())]
    assert texts[2].startswith("✗") and texts[0].startswith("✓")

    # Ctrl+S on the canvas saves through the dock, not napari's "Save Selected Layers".
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_S, Qt.ControlModifier)
    assert dock.status.text().startswith("Saved"), dock.status.text()
    assert layer.name == f"CollectedData_{SCORER}"
    df = read_labels(folder / f"CollectedData_{SCORER}.h5")
    assert list(df.index) == [("labeled-data", "DSC_3189_#1", name) for name in IMAGES]
    for frame, image in enumerate(IMAGES):
        for k, bp in enumerate(BODYPARTS):
            row = df.loc[("labeled-data", "DSC_3189_#1", image)]
            value = (row[(SCORER, bp, "x")], row[(SCORER, bp, "y")])
            expected = (np.nan, np.nan) if (frame, bp) == (3, "prey") else position(frame, k)[::-1]
            np.testing.assert_array_equal(value, expected)
    assert read_labels(folder / f"CollectedData_{SCORER}.csv").equals(df)

    # Reopened: the same points, and "prey" on the last frame is still "not visible".
    _, dock2, layer2 = open_dock(make_napari_viewer, folder)
    np.testing.assert_array_equal(sorted_rows(layer2.data), sorted_rows(layer.data))
    assert dock2.session.state(3, ("", "prey")) == NOT_VISIBLE
    assert dock2.session.n_complete() == 4 and not dock2.session.dirty

    # DeepLabCut itself draws the labels and builds a training set from the folder.
    done = subprocess.run(
        [sys.executable, "-c", DLC_SCRIPT, str(project / "config.yaml")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    split = json.loads(done.stdout.split("RESULT ")[-1])
    assert split["n_train"] + split["n_test"] == 20  # 4 frames x 5 clips
    drawn = project / "labeled-data" / "DSC_3189_#1_labeled"
    assert sorted(p.name for p in drawn.glob("*.png")) == [
        name.replace(".png", "_bodypart.png") for name in IMAGES
    ]


def test_real_mouse_clicks_place_the_current_bodypart(make_napari_viewer, qtbot, project):
    viewer, dock, layer = open_dock(make_napari_viewer, fresh_folder(project), show=True)
    canvas = viewer.window._qt_viewer.canvas

    def click(y: float, x: float) -> None:
        px, py = canvas.view.scene.transform.map([x, y, 0, 1])[:2]
        qtbot.mouseClick(canvas.native, Qt.MouseButton.LeftButton, pos=QPoint(round(px), round(py)))

    qtbot.wait(100)
    click(40, 50)
    click(60, 70)
    assert list(layer.features["label"]) == BODYPARTS[:2]
    np.testing.assert_allclose(layer.data[0], [0, 40, 50], atol=1.5)
    # Selecting a point makes napari copy its label into the defaults; the next
    # click must still place the current bodypart.
    layer.mode = "select"
    layer.selected_data = {0}
    assert layer.feature_defaults["label"][0] == "manubrium_base"
    layer.mode = "add"
    click(80, 90)
    assert layer.features["label"].iloc[-1] == "prey"
    assert dock.session.current == ("", "tentacle_base")


def test_keys_copy_undo_not_visible_and_drag(make_napari_viewer, qtbot, project):
    viewer, dock, layer = open_dock(make_napari_viewer, fresh_folder(project), show=True)
    canvas = viewer.window._qt_viewer.canvas.native

    def key(code, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        qtbot.keyClick(canvas, code, modifier)

    for k in range(4):
        layer.add([[0, *position(0, k)]])
    assert dock.frame == 1
    key(Qt.Key.Key_C)  # copy frame 0's points onto frame 1
    on1 = layer.data[layer.data[:, 0] == 1]
    np.testing.assert_array_equal(on1[:, 1:], layer.data[layer.data[:, 0] == 0][:, 1:])
    assert list(layer.features["label"][layer.data[:, 0] == 1]) == BODYPARTS
    assert dock.session.is_complete(1) and dock.skeleton_layer.data.shape == (6, 2, 3)
    key(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the copy
    assert len(layer.data) == 4 and not dock.session.placed(1)
    assert dock.session.current == ("", "manubrium_base")
    key(Qt.Key.Key_Down)
    assert dock.session.current == ("", "mouth")
    key(Qt.Key.Key_Up)
    key(Qt.Key.Key_H)  # manubrium base not visible on frame 1; mouth is next
    assert dock.session.state(1, ("", "manubrium_base")) == NOT_VISIBLE
    assert dock.session.current == ("", "mouth")
    key(Qt.Key.Key_Right)
    assert dock.frame == 2
    key(Qt.Key.Key_Left)
    assert dock.frame == 1
    key(Qt.Key.Key_N)
    assert dock.frame == 2
    key(Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert dock.frame == 1
    assert dock.session.actions.keys == 9
    # Undo brings a "not visible" mark back too.
    key(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert dock.session.state(1, ("", "manubrium_base")) == MISSING
    # A drag (select mode) moves a point: counted, undoable, redrawn in the skeleton.
    layer.mode = "select"
    moved = layer.data.copy()
    moved[1, 1:] = (100.0, 110.0)
    layer.data = moved
    assert dock.session.actions.clicks == 5
    assert np.any(np.all(dock.skeleton_layer.data[:, 0, 1:] == (100.0, 110.0), axis=1))
    dock.undo()
    np.testing.assert_array_equal(layer.data[1, 1:], position(0, 1))


def test_autosave_on_frame_change_and_by_timer(make_napari_viewer, qtbot, project):
    folder = fresh_folder(project, well=2)
    h5 = folder / f"CollectedData_{SCORER}.h5"
    viewer, dock, layer = open_dock(make_napari_viewer, folder)
    layer.add([[0, 10.0, 12.0]])
    assert not h5.exists()
    dock.go_to(2)
    qtbot.waitUntil(h5.exists, timeout=5000)
    assert dock.status.text().startswith("Autosaved") and not layer.name.endswith("*")
    layer.add([[2, 30.0, 40.0]])
    dock.autosave_box.setValue(1)
    qtbot.waitUntil(lambda: not layer.name.endswith("*"), timeout=5000)
    assert np.isfinite(read_labels(h5).to_numpy()).sum() == 4
    # Closing napari's window (the dock is hidden) saves unsaved points, and so does
    # removing the layer.
    layer.add([[2, 50.0, 60.0]])
    dock.hide()
    assert np.isfinite(read_labels(h5).to_numpy()).sum() == 6 and not layer.name.endswith("*")
    layer.add([[3, 70.0, 80.0]])
    viewer.layers.remove(layer)
    assert np.isfinite(read_labels(h5).to_numpy()).sum() == 8 and dock.layer is None


def test_dock_uses_labels_opened_by_the_reader(make_napari_viewer, openfield):
    viewer = make_napari_viewer()
    viewer.open(openfield / "labeled-data" / "m4s1", plugin="napari-dlc-workbench")
    dock = LabelingWidget(viewer)
    layer = viewer.layers["CollectedData_Pranav"]
    assert dock.layer is layer and dock.session.n_frames == 116
    assert dock.frame == 0 and layer.mode == "add"
    layer.add([[0, 10.0, 20.0]])  # moves frame 0's snout: one click, one point
    assert layer.features["label"].iloc[-1] == "snout"
    assert (layer.features["label"][layer.data[:, 0] == 0] == "snout").sum() == 1
    assert dock.save()
    row = read_labels(openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5").iloc[0]
    assert (row[("Pranav", "snout", "x")], row[("Pranav", "snout", "y")]) == (20.0, 10.0)


def test_openfield_move_one_point_changes_only_that_value(make_napari_viewer, openfield):
    folder = openfield / "labeled-data" / "m4s1"
    h5, csv = folder / "CollectedData_Pranav.h5", folder / "CollectedData_Pranav.csv"
    before = read_labels(h5)
    _, dock, layer = open_dock(make_napari_viewer, folder)
    assert dock.session.n_frames == 116 and dock.session.n_complete() == 116
    i = int(np.flatnonzero(layer.data[:, 0] == 5)[0])
    bodypart = layer.features["label"].iloc[i]
    moved = layer.data.copy()
    moved[i, 1:] += (3.25, -2.5)
    layer.data = moved
    assert layer.name == "CollectedData_Pranav *"
    assert dock.save(), dock.status.text()
    for after in (read_labels(h5), read_labels(csv)):
        changed = np.argwhere(after.to_numpy() != before.to_numpy())
        cols = {after.columns[c] for _, c in changed}
        assert {after.index[r] for r, _ in changed} == {("labeled-data", "m4s1", "img0005.png")}
        assert cols == {("Pranav", bodypart, "x"), ("Pranav", bodypart, "y")}
        row = after.loc[("labeled-data", "m4s1", "img0005.png")]
        assert row[("Pranav", bodypart, "y")] == moved[i, 1]
    assert list_backups(h5) and list_backups(csv)
    assert read_labels(list_backups(h5)[-1]).equals(before)

    ndlc_io = pytest.importorskip("napari_deeplabcut.core.io")
    [(their_data, _, _)] = ndlc_io.read_hdf_single(h5)
    np.testing.assert_array_equal(sorted_rows(their_data), sorted_rows(layer.data))


def test_config_bodyparts_differ_from_the_file(make_napari_viewer, project):
    folder = project / "labeled-data" / "DSC_3189_#2"
    config = project / "config.yaml"
    cfg = load_config(config)
    cfg["bodyparts"] = ["manubrium_base", "mouth", "prey", "tentacle_tip"]
    save_config(cfg, config)
    before = snapshot_tree(folder)
    viewer = make_napari_viewer()
    dock = LabelingWidget(viewer)
    assert not dock.open_folder(folder)
    assert "bodyparts do not match" in dock.status.text()
    assert "tentacle_base" in dock.status.text() and len(viewer.layers) == 0
    assert snapshot_tree(folder) == before


def test_config_edited_while_labelling_keeps_the_points(make_napari_viewer, project):
    folder = project / "labeled-data" / "DSC_3189_#2"
    _, dock, layer = open_dock(make_napari_viewer, folder)
    before = snapshot_tree(folder)
    layer.data = layer.data + np.array([0, 1.0, 1.0])
    config = project / "config.yaml"
    cfg = load_config(config)
    cfg["bodyparts"] = ["manubrium_base", "mouth"]
    save_config(cfg, config)
    assert not dock.save()
    assert "bodyparts do not match" in dock.status.text()
    assert "points are still in the layer" in dock.status.text()
    assert snapshot_tree(folder) == before
    assert len(layer.data) == 16 and layer.name.endswith(" *")


def test_image_sizes_that_do_not_match(make_napari_viewer, project):
    folder = project / "labeled-data" / "DSC_3189_#3"
    Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(folder / "img20.png")
    before = snapshot_tree(project / "labeled-data")
    viewer = make_napari_viewer()
    dock = LabelingWidget(viewer)
    assert not dock.open_folder(folder)
    assert "img20.png is 100×80 px, expected 160×160 px" in dock.status.text()
    # The video next to it is 160 px: its labeled-data frames must be too.
    assert not dock.open_video(project / "videos" / "DSC_3189_#3.mp4")
    assert "frames do not match the video" in dock.status.text()
    assert len(viewer.layers) == 0
    assert snapshot_tree(project / "labeled-data") == before


def test_unwritable_folder_loses_nothing(make_napari_viewer, qtbot, project, monkeypatch):
    folder = fresh_folder(project, well=4)
    viewer, dock, layer = open_dock(make_napari_viewer, folder)
    for k in range(3):
        layer.add([[0, *position(0, k)]])

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", str(folder))

    monkeypatch.setattr(labeling_store, "write_labels", refuse)
    assert not dock.save()
    assert "PermissionError" in dock.status.text() and "still in the layer" in dock.status.text()
    assert len(layer.data) == 3 and layer.name.endswith(" *")
    # Removing the layer cannot lose its unsaved points either: it comes back.
    viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: layer in viewer.layers, timeout=5000)
    assert dock.layer is layer and len(layer.data) == 3
    monkeypatch.undo()
    # The folder replaced by a file (a vanished network share, a read-only mount).
    shutil.move(folder, folder.with_name("moved away"))
    folder.write_text("not a folder")
    assert not dock.save(auto=True)
    assert "Not saved" in dock.status.text() and len(layer.data) == 3
    folder.unlink()
    shutil.move(folder.with_name("moved away"), folder)
    assert dock.save()
    assert np.isfinite(read_labels(folder / f"CollectedData_{SCORER}.h5").to_numpy()).sum() == 6


def test_a_save_that_drops_points_asks_first(make_napari_viewer, project, monkeypatch):
    folder = project / "labeled-data" / "DSC_3189_#2"
    h5 = folder / f"CollectedData_{SCORER}.h5"
    _, dock, layer = open_dock(make_napari_viewer, folder)
    layer.selected_data = {0}
    layer.remove_selected()
    before = snapshot_tree(folder)
    assert not dock.save(auto=True)
    assert "Autosave paused" in dock.status.text()
    asked = []

    def answer(reply):
        def question(parent, title, text, *args):
            asked.append(text)
            return reply

        return staticmethod(question)

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert not dock.save()
    assert "img00.png: manubrium_base" in asked[-1]
    assert snapshot_tree(folder) == before
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    assert dock.save()
    after = read_labels(h5)
    assert np.isnan(after.iloc[0][(SCORER, "manubrium_base", "x")])
    assert np.isfinite(read_labels(list_backups(h5)[-1]).to_numpy()).all()


def test_video_mode_shows_labels_on_video_frames(make_napari_viewer, project):
    folder = project / "labeled-data" / "DSC_3189_#5"
    h5 = folder / f"CollectedData_{SCORER}.h5"
    viewer = make_napari_viewer()
    dock = LabelingWidget(viewer)
    assert dock.open_video(project / "videos" / "DSC_3189_#5.mp4"), dock.status.text()
    layer = dock.layer
    assert viewer.layers[0].data.shape[0] == 60 and dock.session.n_frames == 60
    assert sorted(set(layer.data[:, 0].astype(int))) == [0, 20, 39, 59]
    df = read_labels(h5)
    row = df.loc[("labeled-data", "DSC_3189_#5", "img20.png")]
    on20 = layer.data[layer.data[:, 0] == 20]
    mouth = on20[list(layer.features["label"][layer.data[:, 0] == 20]).index("mouth")]
    assert (mouth[2], mouth[1]) == (row[(SCORER, "mouth", "x")], row[(SCORER, "mouth", "y")])
    assert dock.frame == 1  # the first frame without labels
    layer.add([[1, 50.0, 60.0]])
    before = snapshot_tree(folder)
    assert not dock.save()
    assert "img01.png; extract them first" in dock.status.text()
    assert len(layer.data) == 17 and snapshot_tree(folder) == before
    dock.undo()
    assert dock.save(), dock.status.text()
    assert read_labels(h5).equals(df)


def test_multianimal_project_labels_each_individual(make_napari_viewer, tmp_path):
    project = tmp_path / "jelly-multi"
    folder = project / "labeled-data" / "tank"
    folder.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((64, 80), 40 * i, np.uint8)).save(folder / f"img{i}.png")
    (project / "config.yaml").write_text(
        "Task: jelly\nscorer: lab\ndate: Jan1\nmultianimalproject: true\n"
        f"project_path: {project}\nvideo_sets:\n  {project}/videos/tank.mp4:\n"
        "    crop: 0, 80, 0, 64\nbodyparts: MULTI!\nindividuals: [a, b]\n"
        "multianimalbodyparts: [mouth, prey]\nuniquebodyparts: [tank_corner]\n"
        "skeleton: [[mouth, prey]]\ncolormap: viridis\n"
    )
    viewer, dock, layer = open_dock(make_napari_viewer, folder)
    assert dock.form.isRowVisible(dock.individual_box)
    expected = [("a", "mouth"), ("a", "prey"), ("b", "mouth"), ("b", "prey")]
    expected.append(("single", "tank_corner"))
    for k, keypoint in enumerate(expected):
        assert dock.session.current == keypoint
        assert (dock.individual_box.currentText(), dock.bodypart_box.currentText()) == keypoint
        layer.add([[0, 5.0 + 10 * k, 6.0 + 10 * k]])
    assert dock.frame == 1 and dock.skeleton_layer.data.shape == (2, 2, 3)
    assert dock.save(), dock.status.text()
    df = read_labels(folder / "CollectedData_lab.h5")
    assert df.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.loc[("labeled-data", "tank", "img0.png"), ("lab", "b", "prey", "x")] == 36.0
    assert (
        df.loc[("labeled-data", "tank", "img0.png"), ("lab", "single", "tank_corner", "y")] == 45.0
    )


def test_dock_is_a_plugin_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-dlc-workbench", "Labeling")
    assert isinstance(widget, LabelingWidget)
    assert "Ctrl+S" in widget.toolTip() and "N / Shift+N" in widget.toolTip()
