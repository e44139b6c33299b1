"""`dlc-workbench demo --gui` and the docs' screenshots: every dock loaded with the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.napari


@pytest.fixture(autouse=True)
def _no_device_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Training and Inference docks probe torch in a child at start: not needed here.
    from napari_dlc_workbench._qt import _devices

    monkeypatch.setattr(_devices, "_PROBED", [([("cpu", "cpu")], "torch: not probed")])


def test_open_demo_loads_every_dock(make_napari_viewer, demo_tiny_trained: Path) -> None:
    from napari.layers import Image, Points, Shapes, Tracks

    from napari_dlc_workbench._qt.demo_gui import DOCKS, open_demo

    viewer = make_napari_viewer()
    docks = open_demo(viewer, demo_tiny_trained)
    assert list(docks) == list(DOCKS)
    for name, widget in docks.items():
        assert type(widget).__module__.startswith("napari_dlc_workbench._qt."), name
        assert docks.dock_widgets[name].widget() is not None
    config = next(demo_tiny_trained.glob("*/config.yaml"))
    assert docks.notes == []

    # Crop & contrast: the raw recording with the five wells and the contrast preview.
    crop = docks["crop_contrast"]
    assert crop.video_box.currentText() == "DSC_3189"
    assert crop.table.rowCount() == 5 and len(crop.shapes_layer.data) == 5
    assert crop.settings().method == "enhance" and crop.preview_layer is not None
    assert isinstance(crop.shapes_layer, Shapes)
    # Labeling: clip #1's labelled frames, every one complete.
    labeling = docks["labeling"]
    assert labeling.layer is not None and len(labeling.layer.data) > 0
    assert labeling.target.folder.name == "DSC_3189_#1"
    # Training, Evaluation, Inference: the project, its evaluated snapshot.
    assert Path(docks["training"].config_edit.text()) == config
    assert docks["training"].state is not None and docks["training"].curve.epochs
    evaluation = docks["evaluation"]
    assert evaluation.config == config and evaluation.result is not None
    assert evaluation.table.rowCount() > 0 and evaluation.descriptions
    inference = docks["inference"]
    assert Path(inference.config_edit.text()) == config
    assert [v.name for v in inference.videos] == ["DSC_3189_#1.mp4"]
    assert inference.snapshot_box.count() > 0
    # Clip #1's predictions as Points + Tracks, plotted in Trajectories.
    # (Tracks only when a point is above the p-cutoff: 3 epochs from random weights are not.)
    predictions = docks.scene("trajectories")
    assert [type(layer) for layer in predictions][:2] == [Image, Points]
    assert all(isinstance(layer, Tracks) for layer in predictions[2:])
    trajectories = docks["trajectories"]
    assert trajectories.points_layer is predictions[1]
    assert trajectories.tracks_layer is (predictions[2] if len(predictions) > 2 else None)
    assert len(trajectories.plots.curves) > 0
    # Outliers: the queue of clip #1 with its frame under review.
    outliers = docks["outliers"]
    assert outliers.session is not None and outliers.table.rowCount() == len(
        outliers.session.rows()
    )
    assert outliers.layer is not None

    # Raising a dock shows its scene only.
    docks.show("labeling")
    assert all(layer.visible for layer in docks.scene("labeling"))
    assert not any(layer.visible for layer in docks.scene("crop_contrast"))
    docks.show("crop_contrast")
    assert all(layer.visible for layer in docks.scene("crop_contrast"))
    assert not labeling.layer.visible


def test_open_demo_before_training_says_what_is_missing(
    make_napari_viewer, demo_tiny: Path
) -> None:
    from napari_dlc_workbench._qt.demo_gui import open_demo

    viewer = make_napari_viewer()
    docks = open_demo(viewer, demo_tiny.parent)
    assert docks["labeling"].layer is not None
    assert docks["evaluation"].result is None
    assert any("not analysed" in note for note in docks.notes)
    assert docks["outliers"].session is None


def test_open_demo_refuses_a_folder_that_is_not_a_demo(make_napari_viewer, tmp_path: Path) -> None:
    from napari_dlc_workbench._qt.demo_gui import DemoGuiError, main, open_demo

    with pytest.raises(DemoGuiError, match="no DLC project"):
        open_demo(make_napari_viewer(), tmp_path)
    assert main([str(tmp_path / "missing")]) == 1


def test_make_screenshots_writes_every_dock(demo_tiny_trained: Path, tmp_path: Path) -> None:
    from imageio.v3 import imread

    from napari_dlc_workbench._qt.demo_gui import DOCKS, WINDOW_SIZE
    from napari_dlc_workbench._qt.screenshots import make_screenshots

    written = make_screenshots(demo_tiny_trained, tmp_path / "shots", log=lambda _: None)
    assert [p.name for p in written] == [f"{name}.png" for name in DOCKS]
    for path in written:
        image = imread(path)
        assert image.shape[1::-1] == WINDOW_SIZE, path.name
        assert path.stat().st_size < 400_000, path.name
        assert image.std() > 10, path.name  # not a blank window
        canvas = image[100:-100, 400:-700]  # the canvas: data drawn, not only black
        assert canvas.std() > 5, path.name
