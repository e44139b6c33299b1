from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_dlc_workbench.model.keypoints import KeypointError, KeypointTable

BODYPARTS = ["manubrium_base", "mouth", "prey", "tentacle_base"]


def labels(n: int = 5) -> pd.DataFrame:
    cols = pd.MultiIndex.from_product(
        [["Vlad"], BODYPARTS, ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    index = pd.MultiIndex.from_tuples(
        [("labeled-data", "DSC_3189_#1", f"img{i:03d}.png") for i in range(n)]
    )
    values = np.arange(n * 8, dtype=float).reshape(n, 8)
    values[2, 4:6] = np.nan
    return pd.DataFrame(values, index=index, columns=cols)


def test_dataframe_round_trip_is_exact() -> None:
    df = labels()
    table = KeypointTable.from_dataframe(df)
    assert table.keypoints == [("", bp) for bp in BODYPARTS]
    assert table.data.shape == (5, 4, 3)
    assert np.isnan(table.likelihood).all() and not table.has_likelihood
    pd.testing.assert_frame_equal(table.to_dataframe(), df)


def test_multianimal_dense_view() -> None:
    cols = pd.MultiIndex.from_tuples(
        [
            ("s", i, b, c)
            for i in ("w1", "w2")
            for b in ("mouth", "prey")
            for c in ("x", "y", "likelihood")
        ]
        + [("s", "single", "light", c) for c in ("x", "y", "likelihood")],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    df = pd.DataFrame(np.arange(2 * 15, dtype=float).reshape(2, 15), columns=cols)
    table = KeypointTable.from_dataframe(df)
    assert table.individuals == ("w1", "w2", "single")
    assert table.bodyparts == ("mouth", "prey", "light")
    dense = table.dense()
    assert dense.shape == (2, 3, 3, 3)
    assert np.isnan(dense[:, 0, 2]).all()  # w1 has no unique bodypart
    assert dense[0, 2, 2, 0] == 12.0
    pd.testing.assert_frame_equal(table.to_dataframe(), df)
    assert table.column("light", "single") == 4


def test_points_round_trip() -> None:
    table = KeypointTable.from_dataframe(labels())
    paths = table.display_keys()
    data, features = table.to_points(paths)
    assert data.shape == (19, 3)  # 20 points, one not visible
    # [frame, y, x] with x, y from the table.
    assert tuple(data[0]) == (0.0, 1.0, 0.0)
    assert list(features["label"][:4]) == BODYPARTS
    np.testing.assert_array_equal(features["likelihood"], 1.0)
    back = KeypointTable.from_points(
        data, features, scorer="Vlad", keypoints=table.keypoints, paths=paths
    )
    assert back.equals(table)


def test_from_points_errors() -> None:
    keypoints = [("", "mouth")]
    paths = [("labeled-data", "v", "img0.png")]
    with pytest.raises(KeypointError, match="'mouth' is placed twice on frame 0"):
        KeypointTable.from_points(
            np.zeros((2, 3)),
            {"label": ["mouth", "mouth"]},
            scorer="s",
            keypoints=keypoints,
            paths=paths,
        )
    with pytest.raises(KeypointError, match="'nose': not in the config"):
        KeypointTable.from_points(
            np.zeros((1, 3)), {"label": ["nose"]}, scorer="s", keypoints=keypoints, paths=paths
        )
    with pytest.raises(KeypointError, match="frame 3 but only 1 frames"):
        KeypointTable.from_points(
            np.array([[3.0, 1, 1]]),
            {"label": ["mouth"]},
            scorer="s",
            keypoints=keypoints,
            paths=paths,
        )


def test_keep_empty_rows_keeps_unlabelled_images() -> None:
    paths = [("labeled-data", "v", f"img{i}.png") for i in range(3)]
    table = KeypointTable.from_points(
        np.array([[1.0, 5, 6]]),
        {"label": ["mouth"]},
        scorer="s",
        keypoints=[("", "mouth")],
        paths=paths,
        keep_empty_rows=True,
    )
    assert table.index == paths
    assert np.isnan(table.data[[0, 2]]).all()
    assert tuple(table.xy[1, 0]) == (6.0, 5.0)


def test_bad_layouts() -> None:
    with pytest.raises(KeypointError, match="MultiIndex"):
        KeypointTable.from_dataframe(pd.DataFrame({"x": [1.0]}))
    cols = pd.MultiIndex.from_tuples([("a", "b", "x"), ("c", "b", "y")])
    with pytest.raises(KeypointError, match="one scorer"):
        KeypointTable.from_dataframe(pd.DataFrame([[1.0, 2.0]], columns=cols))
    cols = pd.MultiIndex.from_tuples([("a", "b", "x"), ("a", "b", "z")])
    with pytest.raises(KeypointError, match="coords level"):
        KeypointTable.from_dataframe(pd.DataFrame([[1.0, 2.0]], columns=cols))
    with pytest.raises(KeypointError, match="shape"):
        KeypointTable("s", [0], [("", "a")], np.zeros((2, 1, 3)))


def test_natural_frame_order() -> None:
    index = pd.MultiIndex.from_tuples([("labeled-data", "v", f"img{i}.png") for i in (10, 2, 1)])
    cols = pd.MultiIndex.from_product(
        [["s"], ["a"], ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    table = KeypointTable.from_dataframe(pd.DataFrame(np.ones((3, 2)), index=index, columns=cols))
    assert [k[2] for k in table.display_keys()] == ["img1.png", "img2.png", "img10.png"]
    np.testing.assert_array_equal(table.frame_numbers(), [2, 1, 0])
