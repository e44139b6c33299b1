"""The Outliers dock: step through the queue by key, correct, export to DLC, reopen intact."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_dlc_workbench._qt import _devices, training_widget
from napari_dlc_workbench._qt.outliers_widget import OutliersWidget
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.images import frame_image_name
from napari_dlc_workbench.io.labels import read_labels
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.napari_io.outlier_layers import STATE_COLORS, is_outlier_layer
from napari_dlc_workbench.process.outliers import load_queue, sidecar_path
from napari_dlc_workbench.sample import BODYPARTS
from napari_dlc_workbench.sample.errors import inject_errors
from napari_dlc_workbench.sample.writer import load_ground_truth
from predictions_files import write_predictions

pytestmark = pytest.mark.napari

CLIP = "DSC_3189_#1"
SCORER = "Vlad&Genta"


def clip_truth(config: Path, raw: Path) -> np.ndarray:
    """Ground truth of well 1 in the clip's pixels, ``(60, 4, 2)``."""
    truth = load_ground_truth(raw / "DSC_3189_ground_truth.csv")[:, 0]
    labels = KeypointTable.from_dataframe(
        read_labels(config.parent / "labeled-data" / CLIP / f"CollectedData_{SCORER}.h5")
    )
    # The demo labelled frame 0 from the same truth, moved by the crop corner.
    offset = truth[0] - labels.data[0, :, :2]
    return truth - offset.mean(axis=0)


@pytest.fixture
def outlier_project(tiny_project: Path, tiny_project_source: Path) -> tuple[Path, Path, np.ndarray]:
    """``(config, predictions .h5, truth)``: the clip's predictions with injected errors."""
    truth = clip_truth(tiny_project, tiny_project_source.parent / "raw")
    data, _ = inject_errors(truth, 1, seed=3)
    h5 = write_predictions(tiny_project.parent / "videos", CLIP, data, list(BODYPARTS))
    return tiny_project, h5, truth


def open_dock(make_napari_viewer, qtbot, *args, **kwargs):
    viewer = make_napari_viewer(show=True)
    dock = OutliersWidget(viewer)
    viewer.window.add_dock_widget(dock)
    worker = dock.open(*args, **kwargs)
    assert worker is not None
    qtbot.waitUntil(lambda: not dock.busy, timeout=120_000)
    assert dock.session is not None, dock.status.text()
    return viewer, dock


def test_review_correct_export_and_reopen(make_napari_viewer, qtbot, outlier_project, monkeypatch):
    config, h5, truth = outlier_project
    viewer, dock = open_dock(make_napari_viewer, qtbot, h5, config=config)
    session, layer = dock.session, dock.layer
    frames = session.queue.frames
    assert len(frames) >= 3 and sidecar_path(h5).is_file()
    assert session.queue.video == str(config.parent / "videos" / f"{CLIP}.mp4")
    video = viewer.layers[CLIP]
    assert video.data.shape[0] == 60
    assert is_outlier_layer(layer) and viewer.layers.selection.active is layer
    assert dock.table.rowCount() == len(frames) and session.frame == frames[0]
    assert viewer.dims.current_step[0] == frames[0]
    assert np.all(layer.data[:, 0] == frames[0]) and len(layer.data) == 4

    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.keyClick(canvas, Qt.Key.Key_Space)
    assert session.frame == frames[1] and viewer.dims.current_step[0] == frames[1]
    assert np.all(layer.data[:, 0] == frames[1])
    qtbot.keyClick(canvas, Qt.Key.Key_Space, Qt.KeyboardModifier.ShiftModifier)
    assert session.frame == frames[0] and viewer.dims.current_step[0] == frames[0]
    # Step by key to the best-ranked frame that is not labelled yet (the demo labelled 4).
    labelled = {0, 20, 39, 59}
    target = next(f for f in frames if f not in labelled)
    while session.frame != target:
        qtbot.keyClick(canvas, Qt.Key.Key_Space)
    assert viewer.dims.current_step[0] == target
    assert load_queue(sidecar_path(h5)).rows and dock.session.status_text(target) == ""

    # Drag keypoint 0 onto the truth (what napari does at the end of a drag), then
    # keypoint 1 is not visible (H) and keypoint 2 is right as predicted (C).
    data = layer.data.copy()
    row0 = int(np.flatnonzero(layer.features["keypoint"] == 0)[0])
    data[row0, 1:] = truth[target, 0, ::-1]
    layer.data = data
    assert session.states(target)[0] == "moved"
    np.testing.assert_allclose(layer.border_color[row0], STATE_COLORS["moved"])
    layer.selected_data = {int(np.flatnonzero(layer.features["keypoint"] == 1)[0])}
    qtbot.keyClick(canvas, Qt.Key.Key_H)
    assert session.states(target)[:2] == ["moved", "deleted"] and len(layer.data) == 3
    layer.selected_data = {int(np.flatnonzero(layer.features["keypoint"] == 2)[0])}
    qtbot.keyClick(canvas, Qt.Key.Key_C)
    assert session.states(target) == ["moved", "deleted", "accepted", "predicted"]
    qtbot.keyClick(canvas, Qt.Key.Key_A)
    assert session.row(target).status == "accepted"
    assert dock.progress_label.text().startswith("1 of ")
    # Every change is on disk already.
    saved = load_queue(sidecar_path(h5)).row(target)
    assert saved.status == "accepted" and saved.points[BODYPARTS[1]] is None
    np.testing.assert_allclose(saved.points[BODYPARTS[0]], truth[target, 0])

    assert dock.export_button.isEnabled()
    dock.export()
    qtbot.waitUntil(lambda: not dock.busy, timeout=120_000)
    assert dock.summary is not None, dock.status.text()
    assert dock.summary.iteration == (0, 1) and "Iteration 0 → 1" in dock.summary_label.text()
    assert load_config(config)["iteration"] == 1
    folder = config.parent / "labeled-data" / CLIP
    image = frame_image_name(target, 60)
    assert (folder / image).is_file()
    df = read_labels(folder / f"CollectedData_{SCORER}.h5")
    labels = df.loc[("labeled-data", CLIP, image)]
    np.testing.assert_allclose(
        [labels[(SCORER, BODYPARTS[0], c)] for c in "xy"], truth[target, 0], atol=1e-9
    )
    assert np.isnan(labels[(SCORER, BODYPARTS[1], "x")])
    assert len(df) == 5  # the demo's 4 labelled frames and this one
    assert dock.session.status_text(target) == "exported (iteration 1)"
    assert not dock.export_button.isEnabled()

    # Another frame is left half done when napari closes.
    dock.step(1)
    later = session.frame
    assert later != target
    # napari's own Delete removes two points; a click in add mode brings the first back.
    dock.layer.selected_data = {0, 1}
    dock.layer.remove_selected()
    assert session.states(later)[:2] == ["deleted", "deleted"] and len(dock.layer.data) == 2
    dock.layer.add([[later, 30.0, 40.0]])
    assert session.states(later)[:2] == ["moved", "deleted"]
    np.testing.assert_allclose(session.points(later)[0], [40.0, 30.0])

    monkeypatch.setattr(_devices, "_PROBED", [([("CPU", "cpu")], "torch: not probed")])
    training = dock.retrain()
    assert isinstance(training, training_widget.TrainingWidget)
    assert training.config_edit.text() == str(config)

    # A new napari: the open predictions layer prefills the dock; queue, position and
    # edits come back from the sidecar, and the exported frame stays as exported.
    viewer2 = make_napari_viewer(show=True)
    viewer2.open(str(h5), plugin="napari-dlc-workbench")
    dock2 = OutliersWidget(viewer2)
    viewer2.window.add_dock_widget(dock2)
    assert dock2.predictions_edit.text() == str(h5)
    assert Path(dock2.config_edit.text()) == config
    dock2.open()
    qtbot.waitUntil(lambda: not dock2.busy, timeout=120_000)
    again = dock2.session
    assert again is not None, dock2.status.text()
    assert again.queue.frames == frames and again.frame == later
    assert viewer2.dims.current_step[0] == later
    assert not viewer2.layers[h5.stem].visible  # its uncorrected points would hide the edits
    assert again.states(later)[:2] == ["moved", "deleted"]
    assert again.status_text(later) == "edited"
    assert again.states(target) == ["moved", "deleted", "accepted", "predicted"]
    dock2.go_to(target)
    data = dock2.layer.data.copy()
    data[0, 1:] += 5
    dock2.layer.data = data  # an exported frame is a DLC label now: the drag is undone
    assert "exported into iteration 1" in dock2.status.text()
    np.testing.assert_allclose(again.points(target)[0], truth[target, 0])
    np.testing.assert_allclose(dock2.layer.data[0, 1:], truth[target, 0, ::-1])


def test_bad_predictions_and_failed_export_change_nothing(
    make_napari_viewer, qtbot, outlier_project, tmp_path
):
    config, h5, _ = outlier_project
    viewer = make_napari_viewer()
    dock = OutliersWidget(viewer)
    assert dock.open() is None and "Choose a predictions" in dock.status.text()
    labels = config.parent / "labeled-data" / CLIP / f"CollectedData_{SCORER}.h5"
    dock.open(labels)  # labels, not predictions
    qtbot.waitUntil(lambda: not dock.busy, timeout=60_000)
    assert dock.session is None and "Not opened" in dock.status.text()
    assert "no likelihood" in dock.status.text()

    dock.open(h5, config=config)
    qtbot.waitUntil(lambda: not dock.busy, timeout=60_000)
    frame = next(f for f in dock.session.queue.frames if f not in {0, 20, 39, 59})
    dock.go_to(frame)
    dock.accept_frame()
    before = sorted(p.name for p in (config.parent / "labeled-data" / CLIP).iterdir())
    # A video typed in after opening was never checked against the predictions.
    dock.video_edit.setText(str(tmp_path / "other.mp4"))
    assert dock.export() is None and "The video changed" in dock.status.text()
    dock.video_edit.setText(dock.session.queue.video)
    # The video is gone: the export is refused, the corrections stay.
    moved = tmp_path / "elsewhere.mp4"
    shutil.move(config.parent / "videos" / f"{CLIP}.mp4", moved)
    dock.export()
    qtbot.waitUntil(lambda: not dock.busy, timeout=60_000)
    assert "Not exported" in dock.status.text() and dock.summary is None
    assert sorted(p.name for p in (config.parent / "labeled-data" / CLIP).iterdir()) == before
    assert load_config(config)["iteration"] == 0
    assert dock.session.row(frame).status == "accepted" and not dock.session.exported
