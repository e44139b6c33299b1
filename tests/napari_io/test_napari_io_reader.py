from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_dlc_workbench.io.labels import LabelsError, read_labels
from napari_dlc_workbench.napari_io.reader import get_reader
from napari_dlc_workbench.napari_io.writer import write_points

from dlc_files import write_dlc_predictions
from support import snapshot_tree


def open_layers(path: Path) -> list[tuple]:
    reader = get_reader(str(path))
    assert reader is not None, path
    return reader(str(path))


def test_declines_what_is_not_dlc(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("a: 1\n")
    (tmp_path / "x.txt").write_text("")
    assert get_reader(str(tmp_path / "other.yaml")) is None
    assert get_reader(str(tmp_path / "x.txt")) is None
    assert get_reader(str(tmp_path)) is None
    assert get_reader([str(tmp_path / "a.h5"), str(tmp_path / "b.h5")]) is None


def test_config_opens_as_empty_keypoints_layer(openfield: Path) -> None:
    [(data, kwargs, kind)] = open_layers(openfield / "config.yaml")
    assert kind == "points" and len(data) == 0
    assert kwargs["name"] == "CollectedData_Pranav"
    assert list(kwargs["features"]["label"].cat.categories) == [
        "snout",
        "leftear",
        "rightear",
        "tailbase",
    ]
    assert kwargs["metadata"]["project"] == str(openfield)
    assert set(kwargs["face_color_cycle"]) == {"snout", "leftear", "rightear", "tailbase"}


def test_labels_open_on_the_folder_frames(openfield: Path) -> None:
    h5 = openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    [(data, kwargs, kind)] = open_layers(h5)
    df = read_labels(h5)
    assert kind == "points"
    assert data.shape == (int(np.isfinite(df.to_numpy()).sum() // 2), 3)
    meta = kwargs["metadata"]
    assert meta["paths"][0] == "labeled-data/m4s1/img0000.png" and len(meta["paths"]) == 116
    # Frame 7 is img0007.png: its points are the file's row for that image.
    row = df.loc[("labeled-data", "m4s1", "img0007.png")]
    on7 = data[data[:, 0] == 7]
    labels7 = list(kwargs["features"]["label"][data[:, 0] == 7])
    for (y, x), bp in zip(on7[:, 1:], labels7, strict=True):
        assert (x, y) == (row[("Pranav", bp, "x")], row[("Pranav", bp, "y")])


def test_labels_layer_saves_back_identically(openfield: Path) -> None:
    h5 = openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    before = read_labels(h5)
    [(data, kwargs, _)] = open_layers(h5)
    written = write_points(
        str(h5), data, {"metadata": kwargs["metadata"], "features": kwargs["features"]}
    )
    assert written == [str(h5), str(h5.with_suffix(".csv"))]
    after = read_labels(h5)
    pd.testing.assert_frame_equal(after, before)


def test_moved_point_is_saved(openfield: Path) -> None:
    h5 = openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    [(data, kwargs, _)] = open_layers(h5)
    data = data.copy()
    data[0, 1:] = (100.5, 200.25)  # frame 0, first bodypart, [y, x]
    write_points(str(h5), data, {"metadata": kwargs["metadata"], "features": kwargs["features"]})
    row = read_labels(h5).iloc[0]
    bp = kwargs["features"]["label"][0]
    assert (row[("Pranav", bp, "x")], row[("Pranav", bp, "y")]) == (200.25, 100.5)


def test_labels_with_wrong_bodyparts_are_refused(openfield: Path) -> None:
    h5 = openfield / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    df = read_labels(h5).rename(columns={"tailbase": "tail"}, level="bodyparts")
    df.to_hdf(h5, key="df_with_missing", mode="w")
    before = snapshot_tree(openfield)
    with pytest.raises(LabelsError, match="CollectedData_Pranav.h5: bodyparts do not match"):
        open_layers(h5)
    assert snapshot_tree(openfield) == before


def test_predictions_open_in_full_frame_space(tmp_path: Path) -> None:
    h5, values = write_dlc_predictions(tmp_path, "DSC_3189", crop=(400, 800, 100, 500))
    [(data, kwargs, kind), (_, _, tracks_kind)] = open_layers(h5)
    assert (kind, tracks_kind) == ("points", "tracks")
    assert kwargs["metadata"]["workbench"]["kind"] == "predictions"
    frame3 = data[data[:, 0] == 3]
    np.testing.assert_allclose(frame3[:, 2], values[3, 0, :, 0] + 400)
    np.testing.assert_allclose(frame3[:, 1], values[3, 0, :, 1] + 100)
    np.testing.assert_allclose(
        kwargs["features"]["likelihood"][data[:, 0] == 3], values[3, 0, :, 2]
    )
    assert kwargs["metadata"]["workbench"]["meta"]["fps"] == 29.97


def test_predictions_layer_cannot_be_saved_as_labels(tmp_path: Path) -> None:
    h5, _ = write_dlc_predictions(tmp_path, "v")
    (data, kwargs, _), _tracks = open_layers(h5)
    target = tmp_path / "CollectedData_me.h5"
    with pytest.raises(LabelsError, match="rows must be image paths"):
        write_points(
            str(target), data, {"metadata": kwargs["metadata"], "features": kwargs["features"]}
        )
    assert not target.exists()


def test_unknown_h5_is_sniffed(tmp_path: Path) -> None:
    h5, _ = write_dlc_predictions(tmp_path, "v")
    renamed = h5.rename(tmp_path / "results.h5")
    (_, kwargs, _), _tracks = open_layers(renamed)
    assert kwargs["metadata"]["workbench"]["kind"] == "predictions"
