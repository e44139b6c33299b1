"""The Trajectories dock in a real viewer: plots follow the slider and move it, both ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import QPointF, Qt
from qtpy.QtTest import QTest

from napari_dlc_workbench._qt.trajectories_widget import TrajectoriesWidget
from predictions_files import BODYPARTS3, smooth_values, write_config, write_predictions

pytestmark = pytest.mark.napari
PLUGIN = "napari-dlc-workbench"
N_FRAMES = 60


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Project with 3 bodyparts, a 60-frame clip and its predictions in ``videos/``."""
    from video_clips import write_clip

    folder = tmp_path / "Cladonema-Vlad-2025-06-13"
    write_config(folder, BODYPARTS3)
    write_clip(folder / "videos", "h264_gop10", n_frames=N_FRAMES)
    values = smooth_values(N_FRAMES, 3)
    values[20:30, 1, 2] = 0.1  # prey lost for 10 frames
    write_predictions(folder / "videos", "h264_gop10", values, BODYPARTS3)
    np.save(folder / "values.npy", values)
    return folder


def open_h5(qtbot, dock: TrajectoriesWidget, h5: Path) -> bool:
    """``dock.open_file(h5)``, waiting for its worker; whether the layers were added."""
    with qtbot.waitSignal(dock.opened, timeout=30_000) as blocker:
        dock.open_file(h5)
    return blocker.args[0]


def open_dock(make_napari_viewer, qtbot, project: Path):
    viewer = make_napari_viewer(show=True)
    viewer.open(project / "videos" / "h264_gop10.mp4", plugin=PLUGIN)
    dock = TrajectoriesWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Trajectories")
    [h5] = (project / "videos").glob("*DLC_*.h5")
    assert open_h5(qtbot, dock, h5), dock.status.text()
    return viewer, dock


def scene_to_widget(dock: TrajectoriesWidget, key: str, frame: float, y: float):
    plots = dock.plots
    scene = plots.plots[key].vb.mapViewToScene(QPointF(frame, y))
    return plots.view.mapFromScene(scene)


def test_marker_follows_the_slider(make_napari_viewer, qtbot, project: Path) -> None:
    viewer, dock = open_dock(make_napari_viewer, qtbot, project)
    assert [layer._type_string for layer in viewer.layers] == ["image", "tracks", "points"]
    assert dock.points_layer is viewer.layers[2] and dock.tracks_layer is viewer.layers[1]
    viewer.dims.set_current_step(0, 37)
    assert {m.value() for m in dock.plots.markers.values()} == {37}
    viewer.dims.set_current_step(0, 3)
    assert {m.value() for m in dock.plots.markers.values()} == {3}


def test_click_and_drag_on_the_plot_move_the_slider_once(
    make_napari_viewer, project: Path, qtbot
) -> None:
    viewer, dock = open_dock(make_napari_viewer, qtbot, project)
    qtbot.waitExposed(dock.plots.view)
    steps: list[int] = []
    viewer.dims.events.current_step.connect(lambda e: steps.append(int(e.value[0])))
    requested: list[int] = []
    dock.plots.frame_requested.connect(requested.append)

    pos = scene_to_widget(dock, "likelihood", 20.2, 0.5)
    QTest.mouseClick(dock.plots.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: viewer.dims.current_step[0] == 20)
    assert steps == [20] and requested == [20]  # one change, no echo back from the slider
    assert {m.value() for m in dock.plots.markers.values()} == {20}

    # Drag the x plot's marker from frame 20 to frame 45 with real mouse events.
    view = dock.plots.view.viewport()
    start = scene_to_widget(dock, "x", 20, 200)
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    for frame in (24, 30, 38, 45):
        QTest.mouseMove(view, scene_to_widget(dock, "x", frame, 200))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=scene_to_widget(dock, "x", 45, 200))
    assert viewer.dims.current_step[0] == 45
    assert steps[-1] == 45 and steps == sorted(set(steps))  # every step once, in order
    assert {m.value() for m in dock.plots.markers.values()} == {45}


def test_shading_summary_and_controls(make_napari_viewer, project: Path, qtbot) -> None:
    viewer, dock = open_dock(make_napari_viewer, qtbot, project)
    qtbot.waitExposed(dock.plots.view)
    values = np.load(project / "values.npy")
    table = dock.bodypart_table
    assert [table.item(r, 0).text() for r in range(3)] == BODYPARTS3
    assert table.item(1, 1).text() == f"{100 * 50 / 60:.1f} %"
    speed = np.median(np.linalg.norm(np.diff(values[:, 0, :2], axis=0), axis=1))
    assert table.item(0, 2).text() == f"{speed:.2f} px/frame"
    # Prey's shading covers exactly frames 20..29 on each plot.
    prey_shading = dock.plots.shading[3:6]
    # Each plot lays its bands out once its view range is known (after the dock is laid out).
    qtbot.waitUntil(lambda: all(shade.n_drawn for shade in prey_shading))
    for shade in prey_shading:
        [rect] = shade._rects
        assert (rect.left(), rect.right()) == (19.5, 29.5)
    assert dock.plots.cutoff_line.value() == 0.6

    dock.set_selected(["mouth"])
    assert len(dock.plots.curves) == 3
    x_curve = dock.plots.curves[0]
    np.testing.assert_array_equal(x_curve.yData, values[:, 0, 0])

    dock.show_low.setChecked(False)
    np.testing.assert_array_equal(dock.points_layer.shown, dock.points_layer.features["valid"])
    assert not dock.points_layer.shown[(dock.points_layer.data[:, 0] == 25)].all()
    dock.show_low.setChecked(True)
    assert dock.points_layer.shown.all()
    dock.tail_box.setValue(75)
    assert dock.tracks_layer.tail_length == 75


def test_opening_reads_and_builds_in_a_worker(make_napari_viewer, qtbot, project: Path) -> None:
    viewer = make_napari_viewer()
    viewer.open(project / "videos" / "h264_gop10.mp4", plugin=PLUGIN)
    dock = TrajectoriesWidget(viewer)
    [h5] = (project / "videos").glob("*DLC_*.h5")
    with qtbot.waitSignal(dock.opened, timeout=30_000) as blocker:
        worker = dock.open_file(h5)
        # Back in the GUI thread at once: nothing added yet, a second open refused.
        assert worker is not None and len(viewer.layers) == 1 and dock.table is None
        assert not dock.open_button.isEnabled() and "Opening" in dock.status.text()
    assert blocker.args == [True] and dock.open_button.isEnabled()
    assert [layer._type_string for layer in viewer.layers] == ["image", "tracks", "points"]
    assert dock.status.text() == "" and len(dock.table) == N_FRAMES
    assert dock.open_file("") is None  # the file dialog cancelled


def test_a_dock_closed_while_its_file_opens_adds_nothing(
    make_napari_viewer, qtbot, project: Path
) -> None:
    from qtpy.QtCore import QCoreApplication, QEvent

    from napari_dlc_workbench._qt._forms import alive

    viewer = make_napari_viewer()
    dock = TrajectoriesWidget(viewer)
    [h5] = (project / "videos").glob("*DLC_*.h5")
    worker = dock.open_file(h5)
    dock.deleteLater()  # deleted before the worker's result can arrive (a queued signal)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not alive(dock)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30_000)
    qtbot.wait(100)  # the result went to a method of the deleted dock: Qt dropped it
    assert len(viewer.layers) == 0


def test_predictions_of_another_video_add_nothing(
    make_napari_viewer, qtbot, project: Path, tmp_path: Path
) -> None:
    viewer = make_napari_viewer()
    viewer.open(project / "videos" / "h264_gop10.mp4", plugin=PLUGIN)
    dock = TrajectoriesWidget(viewer)
    other = tmp_path / "other"
    other.mkdir()
    h5 = write_predictions(other, "h264_gop10", smooth_values(50, 3), BODYPARTS3)
    assert not open_h5(qtbot, dock, h5)
    assert "50 frames but the video h264_gop10 has 60" in dock.status.text()
    assert len(viewer.layers) == 1 and dock.table is None


def test_cropped_analysis_is_drawn_on_the_full_frame(make_napari_viewer, tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    values = smooth_values(30, 3)
    h5 = write_predictions(tmp_path, "DSC_3189", values, BODYPARTS3, crop=(400, 800, 100, 500))
    points, tracks = viewer.open(h5, plugin=PLUGIN)
    dock = TrajectoriesWidget(viewer)
    assert dock.points_layer is points and dock.tracks_layer is tracks
    np.testing.assert_array_equal(dock.table.xy, values[..., :2] + [400, 100])
    on7 = points.data[points.data[:, 0] == 7]
    np.testing.assert_array_equal(on7[:, 1:], values[7, :, 1::-1] + [100, 400])
    assert "cropped analysis, shown + (400, 100) px" in dock.source_label.text()


def test_a_tracks_layer_alone_reads_its_file_again(make_napari_viewer, tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    values = smooth_values(30, 3)
    values[10:15, 2, 2] = 0.2  # left out of the tracks, still plotted
    h5 = write_predictions(tmp_path, "DSC_3189", values, BODYPARTS3, crop=(10, 410, 20, 420))
    points, tracks = viewer.open(h5, plugin=PLUGIN)
    dock = TrajectoriesWidget(viewer)
    viewer.layers.remove(points)
    assert dock.table is None and dock.layer_box.count() == 1
    assert dock.use_layer(tracks)
    assert dock.points_layer is None and dock.tracks_layer is tracks
    np.testing.assert_array_equal(dock.table.data[..., 2], values[..., 2])
    np.testing.assert_array_equal(dock.table.xy, values[..., :2] + [10, 20])
    dock.tail_box.setValue(9)
    assert tracks.tail_length == 9


def test_a_model_that_never_tracked_is_shown_and_said(
    make_napari_viewer, qtbot, tmp_path: Path
) -> None:
    viewer = make_napari_viewer()
    dock = TrajectoriesWidget(viewer)
    values = smooth_values(25, 3)
    values[..., 2] = 0.05
    assert open_h5(qtbot, dock, write_predictions(tmp_path, "v", values, BODYPARTS3))
    assert [layer._type_string for layer in viewer.layers] == ["points"]
    assert dock.tracks_layer is None and "No frame is above the p-cutoff" in dock.status.text()
    assert {dock.bodypart_table.item(r, 1).text() for r in range(3)} == {"0.0 %"}
    assert {dock.bodypart_table.item(r, 2).text() for r in range(3)} == {"–"}
