"""The Crop & contrast dock: ROIs on a Shapes layer, live contrast preview, clip export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench._qt.crop_widget import PREVIEW, CropContrastWidget
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.video import load_index, probe_video
from napari_dlc_workbench.sample import SampleSpec, write_sample

pytestmark = pytest.mark.napari

SPEC = SampleSpec.tiny()  # 240 x 176 px, 40 frames


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_sample(tmp_path / "raw", SPEC, name="DSC_3189").video


def open_dock(make_napari_viewer, video: Path, size: int = 64):
    viewer = make_napari_viewer()
    [layer] = viewer.open(video, plugin="napari-dlc-workbench")
    widget = CropContrastWidget(viewer)
    widget.width_box.setValue(size)
    widget.height_box.setValue(size)
    return viewer, layer, widget


def wait_preview(qtbot, widget: CropContrastWidget, count: int) -> None:
    # An update has been shown and no other is queued or running.
    qtbot.waitUntil(
        lambda: len(widget.preview_times) >= count and not widget._preview_busy, timeout=30000
    )


def edit_shapes(qtbot, widget: CropContrastWidget, data: list[np.ndarray]) -> None:
    # As napari's mouse tools do: new vertices, then a "changed" data event.
    widget.shapes_layer.data = data
    assert widget._sync_timer.isActive()  # snapping waits until napari's handler returns
    qtbot.waitUntil(lambda: not widget._sync_timer.isActive(), timeout=5000)


def camera(viewer):
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera


def table_rows(widget: CropContrastWidget) -> list[list[str]]:
    t = widget.table
    return [[t.item(r, c).text() for c in range(5)] for r in range(t.rowCount())]


def test_rois_snap_rename_preview_and_export(make_napari_viewer, qtbot, video, tmp_path) -> None:
    viewer, layer, widget = open_dock(make_napari_viewer, video)
    assert widget.video_box.currentData() is layer
    camera(viewer).center = (0, 88.0, 120.0)
    widget.add_button.click()
    widget.add_button.click()
    shapes = widget.shapes_layer
    assert shapes.name == "ROIs (DSC_3189)"
    assert list(shapes.features["name"]) == ["roi1", "roi2"]
    assert [r.crop_string for r in widget._rois] == ["88, 152, 56, 120"] * 2

    # A drag: napari moves the vertices by fractional, odd amounts and then emits "changed".
    moved = [d.copy() for d in shapes.data]
    moved[1] += np.array([33.4, -101.3])  # partly left of the frame
    edit_shapes(qtbot, widget, moved)
    roi2 = widget._rois.rois[1]
    assert (roi2.x, roi2.y, roi2.w, roi2.h) == (0, 88, 64, 64)  # inside, even, fixed size
    np.testing.assert_array_equal(shapes.data[1], roi2.corners())
    assert table_rows(widget)[1] == ["roi2", "0", "64", "88", "152"]

    # A resize is undone by the fixed size (kept centred); without it, only made even.
    resized = [d.copy() for d in shapes.data]
    resized[1] = np.array([[90, 0], [90, 81], [171, 81], [171, 0]], float)
    edit_shapes(qtbot, widget, resized)
    assert widget._rois.rois[1].crop_string == "8, 72, 98, 162"
    widget.fixed_box.setChecked(False)
    edit_shapes(qtbot, widget, resized)
    assert widget._rois.rois[1].crop_string == "0, 80, 90, 170"

    # Renaming in the table renames the feature and the rectangle's text.
    widget.table.item(0, 0).setText("#1")
    assert list(shapes.features["name"]) == ["#1", "roi2"]
    assert list(shapes.text.values) == ["#1", "roi2"]
    widget.table.item(1, 0).setText("#1")  # taken: refused, table restored
    assert table_rows(widget)[1][0] == "roi2" and "unique" in widget.status.toPlainText()

    widget.method_box.setCurrentText("ImageJ enhance")
    wait_preview(qtbot, widget, 1)
    preview = viewer.layers[PREVIEW]
    assert viewer.layers.index(preview) == viewer.layers.index(layer) + 1
    assert viewer.layers.index(shapes) > viewer.layers.index(preview)

    def check_preview(step: int) -> None:
        raw = np.asarray(layer.data[step])
        shown = np.asarray(preview.data)
        inside = np.zeros(raw.shape[:2], bool)
        for roi in widget._rois:
            inside[roi.slices] = True
            assert not np.array_equal(shown[roi.slices], raw[roi.slices]), roi
        np.testing.assert_array_equal(shown[~inside], raw[~inside])

    first = viewer.dims.current_step[0]
    check_preview(first)
    viewer.dims.set_current_step(0, (first + 13) % SPEC.n_frames)
    wait_preview(qtbot, widget, 2)
    check_preview((first + 13) % SPEC.n_frames)
    assert not widget.preview_times[-1][1]  # a new frame only applies the tables

    widget.after_box.setChecked(False)
    assert not preview.visible
    widget.after_box.setChecked(True)
    assert preview.visible

    widget.out_edit.setText(str(tmp_path / "clips"))
    widget.export_button.click()
    assert not widget.export_button.isEnabled() and widget.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.exporting, timeout=60000)
    assert "2 clips written" in widget.status.toPlainText(), widget.status.toPlainText()
    for roi in widget._rois:
        clip = tmp_path / "clips" / f"DSC_3189_{roi.name}.mp4"
        info = probe_video(clip)
        assert (info.width, info.height, len(load_index(clip))) == (roi.w, roi.h, SPEC.n_frames)
    record = json.loads((tmp_path / "clips" / "DSC_3189.crops.json").read_text("utf-8"))
    assert record["contrast"]["method"] == "enhance"
    assert widget.export_button.isEnabled() and not widget.cancel_button.isEnabled()


def test_mouse_drag_and_draw_are_snapped_when_released(make_napari_viewer, qtbot, video) -> None:
    from qtpy.QtCore import QEvent, QPointF, Qt
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication

    viewer, _, widget = open_dock(make_napari_viewer, video)
    viewer.window._qt_window.resize(1000, 700)
    viewer.window._qt_window.show()
    viewer.reset_view()
    widget.add_button.click()
    shapes = widget.shapes_layer
    viewer.layers.selection.active = shapes
    canvas = viewer.window._qt_viewer.canvas.native

    def pixel(row: float, col: float) -> QPointF:
        centre, zoom = np.asarray(camera(viewer).center[-2:]), camera(viewer).zoom
        return QPointF(
            (col - centre[1]) * zoom + canvas.width() / 2,
            (row - centre[0]) * zoom + canvas.height() / 2,
        )

    def send(kind, row: float, col: float, buttons) -> None:
        button = Qt.NoButton if kind == QEvent.MouseMove else Qt.LeftButton
        pos = pixel(row, col)
        event = QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button, buttons, Qt.NoModifier)
        QApplication.sendEvent(canvas, event)
        qtbot.wait(5)

    def drag(start: tuple[float, float], end: tuple[float, float]) -> None:
        send(QEvent.MouseButtonPress, *start, Qt.LeftButton)
        for k in range(1, 9):
            send(QEvent.MouseMove, *(np.add(start, np.subtract(end, start) * k / 8)), Qt.LeftButton)
        send(QEvent.MouseButtonRelease, *end, Qt.NoButton)
        qtbot.waitUntil(lambda: not widget._sync_timer.isActive(), timeout=5000)

    shapes.mode = "select"
    drag((56 + 32, 88 + 32), (56 + 32 + 17.3, 88 + 32 - 23.7))
    assert widget._rois.rois[0].crop_string == "64, 128, 72, 136"
    np.testing.assert_array_equal(shapes.data[0], widget._rois.rois[0].corners())
    shapes.mode = "add_rectangle"  # napari's own drawing tool: fixed size, centred, named
    drag((10.3, 150.2), (60.7, 231.9))
    assert [(r.name, r.crop_string) for r in widget._rois][1] == ("roi2", "158, 222, 4, 68")
    assert list(shapes.features["name"]) == ["roi1", "roi2"]
    widget.fixed_box.setChecked(False)
    drag((100.3, 10.2), (150.7, 45.9))
    assert widget._rois.rois[2].crop_string == "10, 46, 100, 150"


def test_cancel_leaves_no_clip(make_napari_viewer, qtbot, video, tmp_path) -> None:
    viewer, _, widget = open_dock(make_napari_viewer, video)
    widget.add_button.click()
    widget.out_edit.setText(str(tmp_path / "clips"))
    widget.export_video()
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.exporting, timeout=60000)
    assert "cancelled" in widget.status.toPlainText()
    assert not list((tmp_path / "clips").glob("*.mp4"))


def test_rois_follow_to_another_video_save_load_and_recipe(
    make_napari_viewer, qtbot, video, tmp_path
) -> None:
    other = write_sample(tmp_path / "raw", SPEC, name="DSC_3190").video
    viewer, _, widget = open_dock(make_napari_viewer, video)
    widget.add_button.click()
    widget.table.item(0, 0).setText("#5")
    widget.save_rois(tmp_path / "rig.json")
    [second] = viewer.open(other, plugin="napari-dlc-workbench")
    widget.video_box.setCurrentIndex(1)
    assert widget.video_box.currentData() is second
    assert widget.shapes_layer.name == "ROIs (DSC_3190)"
    assert list(widget.shapes_layer.features["name"]) == ["#5"]  # same rig, same wells
    viewer.layers.remove(widget.shapes_layer)
    assert len(widget._rois) == 0 and widget.table.rowCount() == 0
    widget.width_box.setValue(100)  # the loaded wells keep their own size
    widget.load_rois(tmp_path / "rig.json")
    assert [(r.name, r.w, r.h) for r in widget._rois] == [("#5", 64, 64)]
    assert widget.width_box.value() == 64 and widget.fixed_box.isChecked()
    assert viewer.layers["ROIs (DSC_3190)"].nshapes == 1

    # Export the first video with CLAHE, then apply that recipe to the second one.
    widget.video_box.setCurrentIndex(0)
    widget.method_box.setCurrentText("CLAHE")
    widget.tiles_box.setValue(2)
    widget.codec_box.setCurrentIndex(1)  # ffv1
    widget.out_edit.setText(str(tmp_path / "clips"))
    widget.export_video()
    qtbot.waitUntil(lambda: not widget.exporting, timeout=60000)
    recipe = tmp_path / "clips" / "DSC_3189.crops.json"
    assert recipe.is_file(), widget.status.toPlainText()
    widget.apply_recipe(str(recipe), [str(other), str(tmp_path / "missing.mp4")])
    qtbot.waitUntil(lambda: not widget.exporting, timeout=60000)
    text = widget.status.toPlainText()
    assert "1 clips written" in text and "missing.mp4" in text, text  # errors do not stop it
    clip = tmp_path / "clips" / "DSC_3190_#5.mkv"
    assert probe_video(clip).width == 64
    assert (
        json.loads((tmp_path / "clips" / "DSC_3190.crops.json").read_text())["contrast"]["method"]
        == "clahe"
    )


def test_no_reencode_registers_crop_strings(make_napari_viewer, qtbot, video, openfield) -> None:
    viewer, _, widget = open_dock(make_napari_viewer, video)
    widget.add_button.click()
    widget.method_box.setCurrentText("equalize")
    wait_preview(qtbot, widget, 1)
    widget.link_box.setChecked(True)
    assert not widget.contrast_group.isEnabled() and widget.link_note.isVisibleTo(widget)
    qtbot.waitUntil(lambda: PREVIEW not in viewer.layers, timeout=5000)
    widget.export_video()
    assert "config.yaml" in widget.status.toPlainText()  # links need a DLC project
    widget.config_edit.setText(str(openfield / "config.yaml"))
    assert widget.out_edit.placeholderText() == str(openfield / "videos")
    widget.export_video()
    qtbot.waitUntil(lambda: not widget.exporting, timeout=60000)
    [roi] = widget._rois
    cfg = load_config(openfield / "config.yaml")
    entry = cfg["video_sets"][str(openfield / "videos" / f"DSC_3189_{roi.name}.mp4")]
    assert entry["crop"] == roi.crop_string
