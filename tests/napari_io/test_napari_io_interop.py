"""Layers and files move between this plugin and napari-deeplabcut 0.4 unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.io.labels import read_labels
from napari_dlc_workbench.napari_io.reader import get_reader
from napari_dlc_workbench.napari_io.writer import write_points

ndlc_io = pytest.importorskip("napari_deeplabcut.core.io")


def sorted_rows(points: np.ndarray) -> np.ndarray:
    return points[np.lexsort(points.T[::-1])]


def test_napari_deeplabcut_builds_the_same_table_from_our_layer(openfield: Path) -> None:
    h5 = openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    [(data, kwargs, _)] = get_reader(str(h5))(str(h5))
    props = {key: list(kwargs["features"][key]) for key in ("label", "id", "likelihood")}
    theirs = ndlc_io.form_df(data, kwargs["metadata"], props)
    ours = read_labels(h5)
    if "individuals" in theirs.columns.names:
        theirs = theirs.droplevel("individuals", axis=1)
    theirs = theirs.reindex(columns=ours.columns).loc[ours.index]
    np.testing.assert_array_equal(theirs.to_numpy(), ours.to_numpy())


def test_files_we_write_read_the_same_in_napari_deeplabcut(openfield: Path) -> None:
    h5 = openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    [(data, kwargs, _)] = get_reader(str(h5))(str(h5))
    write_points(str(h5), data, {"metadata": kwargs["metadata"], "features": kwargs["features"]})
    [(their_data, their_kwargs, _)] = ndlc_io.read_hdf_single(h5)
    np.testing.assert_array_equal(sorted_rows(their_data), sorted_rows(data))


def test_napari_deeplabcut_layer_saves_through_our_writer(openfield: Path) -> None:
    h5 = openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    before = read_labels(h5)
    [(data, kwargs, _)] = ndlc_io.read_hdf_single(h5)
    props = kwargs["properties"]
    attributes = {"metadata": kwargs["metadata"], "features": props}
    write_points(str(h5), data, attributes)
    after = read_labels(h5)
    np.testing.assert_array_equal(after.loc[before.index].to_numpy(), before.to_numpy())
