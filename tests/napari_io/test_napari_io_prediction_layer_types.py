"""Predictions layers with cached extent and thumbnail behave as napari's own layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from napari.layers import Points, Tracks

from napari_dlc_workbench.io.predictions import read_predictions
from napari_dlc_workbench.napari_io.prediction_layer_types import (
    PredictionPoints,
    PredictionTracks,
    make_prediction_layers,
)
from napari_dlc_workbench.napari_io.predictions_layers import prediction_layers
from predictions_files import BODYPARTS3, smooth_values, write_predictions


@pytest.fixture
def tuples(tmp_path: Path) -> list:
    values = smooth_values(40, 3)
    values[10:14, 2, 2] = 0.05  # an unreliable run splits a track
    h5 = write_predictions(tmp_path, "v", values, BODYPARTS3, crop=(30, 190, 20, 180))
    return prediction_layers(read_predictions(h5))


def test_same_layers_as_napari_builds_from_the_tuples(tuples: list) -> None:
    points, tracks = make_prediction_layers(tuples)
    assert isinstance(points, PredictionPoints) and isinstance(tracks, PredictionTracks)
    plain_points, plain_tracks = (
        Points(tuples[0][0], **tuples[0][1]),
        Tracks(tuples[1][0], **tuples[1][1]),
    )
    for ours, theirs in ((points, plain_points), (tracks, plain_tracks)):
        np.testing.assert_array_equal(ours.data, theirs.data)
        np.testing.assert_array_equal(ours.extent.data, theirs.extent.data)
        np.testing.assert_array_equal(ours.extent.world, theirs.extent.world)
        assert ours._type_string == theirs._type_string
        assert ours.as_layer_data_tuple()[2] == theirs.as_layer_data_tuple()[2]
    np.testing.assert_array_equal(tracks.track_colors, plain_tracks.track_colors)
    np.testing.assert_array_equal(points.face_color, plain_points.face_color)


def test_extent_follows_every_kind_of_edit(tuples: list) -> None:
    points, tracks = make_prediction_layers(tuples)
    before = points.extent.data.copy()
    points.add([[5, 500.0, 600.0]])  # added in place, then events.data
    assert points.extent.data[1, 1:].tolist() == [500.0, 600.0]
    points.selected_data = {len(points.data) - 1}
    points.remove_selected()
    np.testing.assert_array_equal(points.extent.data, before)
    points.data = points.data * 2  # replaced through the setter
    np.testing.assert_array_equal(points.extent.data, before * 2)
    moved = tracks.data.copy()
    moved[:, 2:] += 1000
    tracks.data = moved
    assert tracks.extent.data[0, 1] == moved[:, 2].min()


def test_tracks_thumbnail_is_kept_across_frames_and_redrawn_on_colour_change(
    tuples: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tracks,) = make_prediction_layers(tuples[1:])
    plain = Tracks(tuples[1][0], **tuples[1][1])
    drawn: list[Tracks] = []
    original = Tracks._update_thumbnail
    monkeypatch.setattr(
        Tracks, "_update_thumbnail", lambda self: drawn.append(self) or original(self)
    )
    tracks._update_thumbnail()
    drawn.clear()
    for frame in (3, 17, 29):
        for layer in (tracks, plain):
            layer._slice_dims(_dims_at(layer, frame))
    assert drawn == [plain] * 3  # napari redraws its own on every step, ours is kept
    tracks.color_by = "likelihood"
    drawn.clear()
    tracks._update_thumbnail()
    assert drawn == [tracks]
    assert tracks.thumbnail.any()


def _dims_at(layer: Tracks, frame: int):
    from napari.components import Dims

    dims = Dims(ndim=layer.ndim, ndisplay=2)
    dims.range = [(0, 40, 1), *dims.range[1:]]
    dims.set_point(0, frame)
    return dims
