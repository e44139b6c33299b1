"""Predictions as Points + Tracks layer data: exact alignment, hollow low points, split tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_dlc_workbench.io.labels import LabelsError
from napari_dlc_workbench.io.predictions import read_predictions
from napari_dlc_workbench.napari_io.layers import bodypart_colors
from napari_dlc_workbench.napari_io.prediction_layer_types import make_tracks_layer
from napari_dlc_workbench.napari_io.predictions_layers import (
    prediction_layers,
    prediction_points,
    prediction_tracks,
    shown_mask,
    table_from_prediction_layer,
)
from napari_dlc_workbench.napari_io.reader import find_project, get_reader
from predictions_files import BODYPARTS3, smooth_values, write_config, write_predictions

from support import snapshot_tree

SAMPLED = (0, 1, 137, 298, 299)


def on_frame(data: np.ndarray, frame: int, column: int = 0) -> np.ndarray:
    return data[data[:, column] == frame]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with three bodyparts and pcutoff 0.6; returns its folder."""
    write_config(tmp_path / "proj", BODYPARTS3)
    return tmp_path / "proj"


def test_points_are_dlc_xy_at_every_sampled_frame(project: Path) -> None:
    values = smooth_values(300, 3)
    values[50:60, 1, 2] = 0.2
    h5 = write_predictions(project / "videos", "DSC_3189_#1", values, BODYPARTS3)
    preds = read_predictions(h5)
    data, kwargs, kind = prediction_points(preds, find_project(h5, levels=2))
    assert kind == "points" and data.shape == (900, 3)
    feats = kwargs["features"]
    for frame in SAMPLED:
        rows = data[:, 0] == frame
        np.testing.assert_array_equal(data[rows, 2], values[frame, :, 0])
        np.testing.assert_array_equal(data[rows, 1], values[frame, :, 1])
        np.testing.assert_array_equal(feats["likelihood"][rows], values[frame, :, 2])
        assert list(feats["label"][rows]) == BODYPARTS3
    assert kwargs["metadata"]["workbench"]["pcutoff"] == 0.6
    assert kwargs["size"] == 6  # the config's dotsize


def test_cropped_analysis_lands_in_full_frame_space(tmp_path: Path) -> None:
    values = smooth_values(300, 3)
    crop = (400, 800, 100, 500)  # DLC's x1, x2, y1, y2
    h5 = write_predictions(tmp_path, "DSC_3231", values, BODYPARTS3, crop=crop)
    (points, pkw, _), (tracks, _, _) = prediction_layers(read_predictions(h5))
    for frame in SAMPLED:
        np.testing.assert_array_equal(on_frame(points, frame)[:, 2], values[frame, :, 0] + 400)
        np.testing.assert_array_equal(on_frame(points, frame)[:, 1], values[frame, :, 1] + 100)
        vertex = on_frame(tracks, frame, column=1)  # one per keypoint, in keypoint order
        np.testing.assert_array_equal(vertex[:, 3], values[frame, :, 0] + 400)
        np.testing.assert_array_equal(vertex[:, 2], values[frame, :, 1] + 100)
    assert pkw["metadata"]["workbench"]["offset"] == [400.0, 100.0]
    dense = table_from_prediction_layer(points, pkw["features"], pkw["metadata"])
    np.testing.assert_array_equal(dense.xy, values[..., :2] + [400, 100])


def test_low_likelihood_points_are_hollow_and_can_be_hidden(project: Path) -> None:
    values = smooth_values(40, 3)
    values[:, 2, 2] = 0.6  # exactly the cutoff is not above it, as in DLC
    values[5, 0, 2] = 0.1
    h5 = write_predictions(project / "videos", "v", values, BODYPARTS3)
    data, kwargs, _ = prediction_points(read_predictions(h5), find_project(h5, levels=2))
    valid = kwargs["features"]["valid"].to_numpy()
    expected = values[..., 2].ravel() > 0.6
    np.testing.assert_array_equal(valid, expected)
    face, border = kwargs["face_color"], kwargs["border_color"]
    assert (face[~valid, 3] == 0).all() and (face[valid, 3] == 1).all()
    colors = bodypart_colors(BODYPARTS3, "rainbow")
    for k, bp in enumerate(BODYPARTS3):
        np.testing.assert_allclose(border[k::3], np.broadcast_to(colors[bp], (40, 4)), atol=1e-6)
    assert shown_mask(kwargs["features"], show_unreliable=True).all()
    np.testing.assert_array_equal(shown_mask(kwargs["features"], show_unreliable=False), valid)


def test_tracks_split_where_unreliable_with_stable_ids(tmp_path: Path) -> None:
    values = smooth_values(100, 3)
    values[10:20, 0, 2] = 0.3  # mouth unreliable on frames 10..19
    values[50, 0, :2] = np.nan  # and without a prediction on frame 50
    values[:, 2, 2] = 0.1  # tentacle base never reliable: no track at all
    h5 = write_predictions(tmp_path, "v", values, BODYPARTS3)
    preds = read_predictions(h5)
    data, kwargs, kind = prediction_tracks(preds, tail_length=12)
    assert kind == "tracks" and kwargs["tail_length"] == 12
    feats = kwargs["features"]
    spans = {}
    for track in np.unique(data[:, 0]).astype(int):
        rows = data[:, 0] == track
        frames = data[rows, 1]
        assert (np.diff(frames) == 1).all()  # a track never bridges a gap
        assert len(set(feats["bodypart"][rows])) == 1
        spans[track] = (str(feats["bodypart"][rows].iloc[0]), frames[0], frames[-1])
    assert spans == {
        1: ("mouth", 0, 9),
        2: ("mouth", 20, 49),
        3: ("mouth", 51, 99),
        4: ("prey", 0, 99),
    }
    np.testing.assert_array_equal(prediction_tracks(preds)[0], data)  # same ids every time
    np.testing.assert_array_equal(on_frame(data, 30, column=1)[:, 2:], values[30, :2, 1::-1])


def test_tracks_are_coloured_by_bodypart_in_napari(tmp_path: Path) -> None:
    from napari.layers import Tracks

    values = smooth_values(30, 3)
    values[5:8, 1, 2] = 0.0
    h5 = write_predictions(tmp_path, "v", values, BODYPARTS3)
    data, kwargs, _ = prediction_tracks(read_predictions(h5))
    layer = Tracks(data, **kwargs)
    colors = bodypart_colors(BODYPARTS3, "rainbow")
    for k, bp in enumerate(BODYPARTS3):
        rows = layer.features["keypoint"].to_numpy() == k
        np.testing.assert_allclose(layer.track_colors[rows], np.tile(colors[bp], (rows.sum(), 1)))
    # The dock's one-pass build gives the same layer.
    fast = make_tracks_layer(data, kwargs)
    np.testing.assert_array_equal(fast.data, layer.data)
    np.testing.assert_array_equal(fast.track_colors, layer.track_colors)
    pd.testing.assert_frame_equal(fast.features, layer.features)
    assert (fast.name, fast.tail_length, fast.color_by) == (layer.name, 30, "bodypart_color")


def test_a_model_that_never_tracked_gives_points_and_no_tracks(tmp_path: Path) -> None:
    from napari.layers import Points

    values = smooth_values(20, 3)
    values[..., 2] = 0.1
    h5 = write_predictions(tmp_path, "v", values, BODYPARTS3)
    [(points, pkw, kind)] = get_reader(str(h5))(str(h5))
    assert kind == "points" and len(points) == 60 and not pkw["features"]["valid"].any()
    assert Points(points, **pkw).face_color[:, 3].max() == 0  # all hollow
    data, kwargs, _ = prediction_tracks(read_predictions(h5))
    assert data.shape == (0, 4)
    with pytest.raises(ValueError, match="no reliable frame"):
        make_tracks_layer(data, kwargs)


def test_layers_follow_the_config_order_whatever_the_file_order(project: Path) -> None:
    values = smooth_values(20, 3)
    reordered = BODYPARTS3[::-1]
    h5 = write_predictions(project / "videos", "v", values, reordered)
    (points, kwargs, _), (tracks, tkw, _) = get_reader(str(h5))(str(h5))
    assert list(kwargs["features"]["label"][:3]) == BODYPARTS3
    np.testing.assert_array_equal(on_frame(points, 4)[:, 2], values[4, ::-1, 0])
    assert list(tkw["features"]["bodypart"].cat.categories) == BODYPARTS3
    # The file's own column order is kept for writing back.
    assert [bp for _, bp in kwargs["metadata"]["workbench"]["keypoints"]] == reordered


def test_nan_points_are_left_out(tmp_path: Path) -> None:
    values = smooth_values(10, 3)
    values[3, 1, :] = np.nan
    h5 = write_predictions(tmp_path, "v", values, BODYPARTS3)
    (points, kwargs, _), (tracks, _, _) = prediction_layers(read_predictions(h5))
    assert len(points) == 29 and np.isfinite(points).all() and np.isfinite(tracks).all()
    assert list(kwargs["features"]["label"][points[:, 0] == 3]) == ["mouth", "tentacle base"]


def test_multianimal_predictions(tmp_path: Path) -> None:
    values = smooth_values(15, 6)
    h5 = write_predictions(tmp_path, "v", values, BODYPARTS3, individuals=["#1", "#2"])
    (points, kwargs, _), (tracks, tkw, _) = prediction_layers(read_predictions(h5))
    rows = points[:, 0] == 7
    assert list(kwargs["features"]["id"][rows]) == ["#1"] * 3 + ["#2"] * 3
    np.testing.assert_array_equal(points[rows, 2], values[7, :, 0])
    assert len(np.unique(tracks[:, 0])) == 6
    assert set(tkw["features"]["individual"]) == {"#1", "#2"}


def test_edited_layer_gives_the_edited_table(tmp_path: Path) -> None:
    values = smooth_values(12, 3)
    h5 = write_predictions(tmp_path, "v", values, BODYPARTS3)
    data, kwargs, _ = prediction_points(read_predictions(h5))
    data = data.copy()
    data[3 * 5 + 1, 1:] = (11.0, 22.0)  # frame 5, prey moved to (x=22, y=11)
    keep = np.ones(len(data), bool)
    keep[3 * 7 + 2] = False  # frame 7, tentacle base deleted
    table = table_from_prediction_layer(data[keep], kwargs["features"][keep], kwargs["metadata"])
    assert len(table) == 12 and table.keypoints == [("", bp) for bp in BODYPARTS3]
    assert tuple(table.xy[5, 1]) == (22.0, 11.0)
    assert np.isnan(table.data[7, 2]).all()
    np.testing.assert_array_equal(table.data[0], values[0])


def test_bodyparts_that_differ_from_the_config_are_refused(project: Path) -> None:
    h5 = write_predictions(
        project / "videos", "v", smooth_values(10, 3), ["mouth", "prey", "tentacle"]
    )
    before = snapshot_tree(project)
    with pytest.raises(LabelsError, match=r"bodyparts do not match .*missing tentacle base"):
        get_reader(str(h5))(str(h5))
    assert snapshot_tree(project) == before


def test_predictions_of_another_video_are_refused(tmp_path: Path) -> None:
    from video_clips import write_clip

    video = write_clip(tmp_path, "h264_gop10", n_frames=40)
    h5 = write_predictions(tmp_path, "h264_gop10", smooth_values(35, 3), BODYPARTS3)
    with pytest.raises(LabelsError, match="35 frames but the video h264_gop10.mp4 has 40"):
        get_reader(str(h5))(str(h5))
    preds = read_predictions(h5)
    with pytest.raises(LabelsError, match="another video"):
        prediction_layers(preds, n_video_frames=36)
    assert len(prediction_layers(preds, n_video_frames=35)) == 2
    assert video.is_file()
