"""napari Points and Tracks layers for long predictions: same layers, cheaper frame steps.

napari (0.9) recomputes a layer's data extent on every frame step, with a
``np.max(data, axis=0)`` that is slow on a tall, narrow array (about 25 ms for
100 000 frames x 4 keypoints, twice per step and layer), and redraws a Tracks
layer's thumbnail from every vertex on every step. Predictions do not change
while they are viewed, so :class:`PredictionPoints` and :class:`PredictionTracks`
keep the extent until the data changes, and the Tracks thumbnail until the data
or colours change. Everything else is napari's own layer: the type string is
``"points"``/``"tracks"``, so napari's visuals, controls, writers and
napari-deeplabcut treat them as the base classes.

:func:`make_prediction_layers` builds them from the layer data tuples of
:func:`~napari_dlc_workbench.napari_io.predictions_layers.prediction_layers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from napari.layers import Layer, Points, Tracks

from napari_dlc_workbench.napari_io.layers import LayerDataTuple

__all__ = ["PredictionPoints", "PredictionTracks", "make_prediction_layers", "make_tracks_layer"]


def _column_extent(data: np.ndarray, ndim: int) -> np.ndarray:
    """``[mins, maxs]`` per column; column by column, ~10x faster than ``axis=0`` here."""
    if not len(data):
        return np.full((2, ndim), np.nan)
    columns = np.asarray(data).T
    return np.array([[c.min() for c in columns], [c.max() for c in columns]], dtype=float)


class PredictionPoints(Points):
    """napari's Points layer with its data extent cached between data changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._cached_extent: np.ndarray | None = None
        super().__init__(*args, **kwargs)
        # Moving, adding or deleting points edits the data in place, then emits this.
        self.events.data.connect(self._forget_extent)

    def _forget_extent(self, _event: Any = None) -> None:
        self._cached_extent = None

    @property
    def _type_string(self) -> str:
        return "points"

    @Points.data.setter  # type: ignore[attr-defined, untyped-decorator]
    def data(self, data: Any) -> None:
        """Set the data as napari does, forgetting the cached extent."""
        self._cached_extent = None
        Points.data.fset(self, data)  # type: ignore[attr-defined]

    @property
    def _extent_data(self) -> np.ndarray:
        if self._cached_extent is None:
            self._cached_extent = _column_extent(self.data, self.ndim)
        return self._cached_extent.copy()  # napari modifies what it gets


class PredictionTracks(Tracks):
    """napari's Tracks layer with its extent and thumbnail cached between data changes.

    The thumbnail keeps napari's fade at the frame it was drawn on until the data
    or the colours change: the same picture of the tracks, without a pass over all
    vertices per frame step.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._cached_extent: np.ndarray | None = None
        self._thumbnail_key: tuple[Any, ...] | None = None
        super().__init__(*args, **kwargs)

    @property
    def _type_string(self) -> str:
        return "tracks"

    @Tracks.data.setter  # type: ignore[attr-defined, untyped-decorator]
    def data(self, data: Any) -> None:
        """Set the data as napari does, forgetting the cached extent and thumbnail."""
        self._cached_extent = None
        self._thumbnail_key = None
        Tracks.data.fset(self, data)  # type: ignore[attr-defined]

    @property
    def _extent_data(self) -> np.ndarray:
        if self._cached_extent is None:
            # napari's Tracks extent leaves out the track-id column.
            self._cached_extent = _column_extent(self.data, self.data.shape[1])[:, 1:]
        return self._cached_extent.copy()

    def _update_thumbnail(self) -> None:
        # The colours array is replaced whenever colour_by, the colormap or the
        # features change; the data setter resets the key.
        key = (self.track_colors, self.opacity, tuple(self._slice_input.displayed))
        old = self._thumbnail_key
        if old is not None and old[0] is key[0] and old[1:] == key[1:]:
            return
        super()._update_thumbnail()
        self._thumbnail_key = key


def make_tracks_layer(data: np.ndarray, kwargs: Mapping[str, Any]) -> PredictionTracks:
    """Build the Tracks layer of :func:`prediction_tracks` in one pass.

    ``Tracks(data, ...)`` indexes its data twice (once in its track manager, once
    more through its ``data`` setter): half a second of 100 000 frames. Building it
    empty and then setting ``data`` and ``features`` indexes once and gives the same
    layer.

    Parameters
    ----------
    data, kwargs
        The first two items of :func:`prediction_tracks`' tuple.

    Returns
    -------
    PredictionTracks

    Raises
    ------
    ValueError
        If ``data`` has no vertex (napari cannot show an empty Tracks layer).
    """
    if not len(data):
        raise ValueError("no reliable frame: napari cannot make an empty Tracks layer")
    rest = {k: v for k, v in kwargs.items() if k not in ("features", "color_by")}
    layer = PredictionTracks(np.zeros((1, 4)), **rest)
    layer.data = data
    layer.features = kwargs["features"]
    layer.color_by = kwargs["color_by"]
    return layer


def make_prediction_layers(tuples: Sequence[LayerDataTuple]) -> list[Layer]:
    """Layers from :func:`prediction_layers`' tuples: Points and Tracks as the classes above.

    Parameters
    ----------
    tuples : sequence of tuple
        ``(data, kwargs, kind)`` layer data tuples; other kinds go through ``Layer.create``.

    Returns
    -------
    list of napari.layers.Layer
    """
    layers: list[Layer] = []
    for data, kwargs, kind in tuples:
        if kind == "points":
            layers.append(PredictionPoints(data, **kwargs))
        elif kind == "tracks":
            layers.append(make_tracks_layer(data, kwargs))
        else:
            layers.append(Layer.create(data, kwargs, kind))
    return layers
