"""The plugin's readers, writer and sample data in a real napari viewer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.io.labels import read_labels

from dlc_files import write_dlc_predictions

pytestmark = pytest.mark.napari
PLUGIN = "napari-dlc-workbench"


def test_open_config_labels_and_predictions(
    make_napari_viewer, openfield: Path, tmp_path: Path
) -> None:
    viewer = make_napari_viewer()
    [config_layer] = viewer.open(openfield / "config.yaml", plugin=PLUGIN)
    assert config_layer._type_string == "points" and len(config_layer.data) == 0
    assert config_layer.name == "CollectedData_Pranav"

    h5 = openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    [labels] = viewer.open(h5, plugin=PLUGIN)
    df = read_labels(h5)
    assert len(labels.data) == np.isfinite(df.to_numpy()).sum() // 2
    assert set(labels.features["label"]) == {"snout", "leftear", "rightear", "tailbase"}
    assert (labels.features["id"] == "").all()
    assert labels.metadata["header"]["names"] == ["scorer", "bodyparts", "coords"]

    preds_h5, values = write_dlc_predictions(tmp_path, "DSC_3231_roi_#5")
    preds, tracks = viewer.open(preds_h5, plugin=PLUGIN)
    assert tracks._type_string == "tracks"
    on5 = preds.data[preds.data[:, 0] == 5]
    np.testing.assert_allclose(on5[:, 2], values[5, 0, :, 0])
    np.testing.assert_allclose(
        preds.features["likelihood"][preds.data[:, 0] == 5], values[5, 0, :, 2]
    )


def test_edit_in_viewer_and_save_with_plugin_writer(make_napari_viewer, openfield: Path) -> None:
    viewer = make_napari_viewer()
    h5 = openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    [labels] = viewer.open(h5, plugin=PLUGIN)
    # Move the first point as a drag would; delete one and click it back elsewhere.
    data = labels.data.copy()
    data[0, 1:] = (123.0, 45.0)
    labels.data = data
    frame = 115
    on_frame = np.flatnonzero(labels.data[:, 0] == frame)
    removed = str(labels.features["label"][on_frame[-1]])
    labels.selected_data = {int(on_frame[-1])}
    labels.remove_selected()
    labels.feature_defaults["label"] = removed
    labels.add([[frame, 10.0, 20.0]])
    assert labels.features["label"].iloc[-1] == removed

    import napari

    saved = napari.save_layers(str(h5), [labels], plugin=PLUGIN)
    assert saved == [str(h5), str(h5.with_suffix(".csv"))]
    df = read_labels(h5)
    first_bp = labels.features["label"][0]
    assert df.iloc[0][("Pranav", first_bp, "x")] == 45.0
    row = df.loc[("labeled-data", "m4s1", f"img{frame:04d}.png")]
    assert (row[("Pranav", removed, "x")], row[("Pranav", removed, "y")]) == (20.0, 10.0)
    assert len(df) == 116


def test_sample_data_and_screenshot(make_napari_viewer, tmp_path: Path) -> None:
    viewer = make_napari_viewer(show=True)
    layers = viewer.open_sample(PLUGIN, "cladonema")
    names = [layer.name for layer in layers]
    assert names == ["Cladonema sample (small)", "wells", "ground truth"]
    video, wells, truth = layers
    assert video.data.shape == (300, 432, 600)
    assert len(wells.data) == 5
    assert set(truth.features["id"]) == {"#1", "#2", "#3", "#4", "#5"}
    viewer.dims.set_point(0, 150)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    from imageio.v3 import imwrite

    imwrite(tmp_path / "sample.png", shot)
    assert shot.ndim == 3 and shot[..., :3].std() > 5  # real pixels, not a blank canvas


def test_open_video_lazily_and_step_the_slider(make_napari_viewer, tmp_path: Path) -> None:
    from video_clips import read_number, write_clip

    video = write_clip(tmp_path, "h264_bframes_gop250")
    viewer = make_napari_viewer(show=True)
    [layer] = viewer.open(video, plugin=PLUGIN)
    assert layer.rgb and layer.data.shape == (300, 96, 160, 3)
    assert type(layer.data).__module__.startswith("dask")  # lazy: nothing decoded up front
    for frame in (0, 1, 137, 136, 299, 250):
        viewer.dims.set_point(0, frame)
        shown = np.asarray(layer._slice.image.raw)
        assert read_number(shown) == frame
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot[..., :3].std() > 5


def test_open_labeled_data_folder_with_its_labels(make_napari_viewer, openfield: Path) -> None:
    viewer = make_napari_viewer()
    layers = viewer.open(openfield / "labeled-data" / "m4s1", plugin=PLUGIN)
    assert [type(layer).__name__ for layer in layers] == ["Image", "Points"]
    images, labels = layers
    assert images.data.shape == (116, 480, 640, 3)
    assert labels.metadata["paths"] == images.metadata["paths"]
