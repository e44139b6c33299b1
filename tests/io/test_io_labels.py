from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.labels import (
    LabelsError,
    check_against_config,
    read_labels,
    write_labels,
)

from support import snapshot_tree

BODYPARTS = ["manubrium base", "mouth", "prey", "tentacle base"]


def labels_frame(
    stem: str, n: int, bodyparts: list[str], scorer: str = "Vlad", seed: int = 0
) -> pd.DataFrame:
    """Labels built the way DLC's labelling tools build them."""
    rng = np.random.default_rng(seed)
    cols = pd.MultiIndex.from_product(
        [[scorer], bodyparts, ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    index = pd.MultiIndex.from_tuples([("labeled-data", stem, f"img{i:04d}.png") for i in range(n)])
    values = rng.uniform(0, 400, (n, len(cols)))
    values[1, 2:4] = np.nan  # one bodypart not visible on one frame
    return pd.DataFrame(values, index=index, columns=cols)


def multianimal_frame(scorer: str = "Vlad") -> pd.DataFrame:
    inds, parts, unique = ["well1", "well2"], ["mouth", "prey"], ["light"]
    cols = pd.MultiIndex.from_tuples(
        [(scorer, i, b, c) for i in inds for b in parts for c in "xy"]
        + [(scorer, "single", b, c) for b in unique for c in "xy"],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    index = pd.MultiIndex.from_tuples([("labeled-data", "v", f"img{i:03d}.png") for i in range(3)])
    values = np.arange(3 * len(cols), dtype=float).reshape(3, -1)
    values[0, :4] = np.nan
    return pd.DataFrame(values, index=index, columns=cols)


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.index) == list(b.index)
    assert list(a.columns) == list(b.columns)
    assert list(a.columns.names) == list(b.columns.names)
    assert (a.dtypes == np.float64).all() and (b.dtypes == np.float64).all()
    np.testing.assert_array_equal(np.isnan(a.to_numpy()), np.isnan(b.to_numpy()))
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_openfield_round_trip_is_lossless(openfield_source: Path, tmp_path: Path) -> None:
    source = openfield_source / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    raw = pd.read_hdf(source)
    df = read_labels(source)
    # Same numbers as the file, rows as DLC 3's tuples.
    np.testing.assert_array_equal(df.to_numpy(), raw.to_numpy())
    assert list(df.index) == [tuple(p.split("/")) for p in raw.index]
    h5, csv = write_labels(df, tmp_path, "Pranav")
    assert h5.name == "CollectedData_Pranav.h5" and csv.name == "CollectedData_Pranav.csv"
    assert_same(read_labels(h5), df)
    assert_same(read_labels(csv), df)
    # Readers other than ours: the key DLC reads and pandas' own CSV reading.
    assert_same(pd.read_hdf(h5, key="df_with_missing"), df)
    from_csv = pd.read_csv(csv, header=[0, 1, 2], index_col=[0, 1, 2])
    np.testing.assert_allclose(from_csv.to_numpy(), df.to_numpy(), rtol=0, atol=1e-12)


def test_csv_and_h5_of_the_real_project_agree(openfield_source: Path) -> None:
    folder = openfield_source / "labeled-data" / "m4s1"
    assert_same(
        read_labels(folder / "CollectedData_Pranav.csv"),
        read_labels(folder / "CollectedData_Pranav.h5"),
    )


def test_users_names_survive(tmp_path: Path) -> None:
    folder = (
        tmp_path / "Cladonema_starved-Vlad&Genta-2025-06-13" / "labeled-data" / "DSC_3231_roi_#5"
    )
    folder.mkdir(parents=True)
    df = labels_frame("DSC_3231_roi_#5", 20, BODYPARTS)
    h5, csv = write_labels(df, folder, "Vlad&Genta")
    assert h5.name == "CollectedData_Vlad&Genta.h5"
    back = read_labels(csv)
    assert back.index[0] == ("labeled-data", "DSC_3231_roi_#5", "img0000.png")
    assert list(back.columns.get_level_values("bodyparts").unique()) == BODYPARTS
    assert back.columns.get_level_values("scorer")[0] == "Vlad&Genta"
    assert_same(read_labels(h5), back)


def test_string_index_and_other_single_key_are_read(tmp_path: Path) -> None:
    df = labels_frame("v", 4, ["a", "b"])
    old = df.copy()
    old.index = ["/".join(k) for k in df.index]
    old.to_hdf(tmp_path / "CollectedData_old.h5", key="calib", mode="w")
    assert_same(read_labels(tmp_path / "CollectedData_old.h5"), df)
    windows = old.copy()
    windows.index = ["\\".join(k) for k in df.index]
    windows.to_hdf(tmp_path / "win.h5", key="df_with_missing", format="table", mode="w")
    assert_same(read_labels(tmp_path / "win.h5"), df)


def test_multianimal_with_unique_bodyparts_round_trip(tmp_path: Path) -> None:
    df = multianimal_frame()
    h5, csv = write_labels(df, tmp_path, "Vlad")
    for path in (h5, csv):
        back = read_labels(path)
        assert_same(back, df)
        assert back.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    cfg = {
        "multianimalproject": True,
        "individuals": ["well1", "well2"],
        "multianimalbodyparts": ["mouth", "prey"],
        "uniquebodyparts": ["light"],
    }
    check_against_config(read_labels(h5), cfg, h5)
    cfg["uniquebodyparts"] = []
    with pytest.raises(LabelsError, match="not in config.yaml: single/light"):
        check_against_config(read_labels(h5), cfg, h5)


def test_write_drops_likelihood_and_sets_scorer(tmp_path: Path) -> None:
    df = labels_frame("v", 3, ["a"], scorer="DLC_Resnet50_xshuffle1_snapshot_010")
    cols = pd.MultiIndex.from_tuples(
        [(s, b, "likelihood") for s, b, _ in df.columns[::2]], names=df.columns.names
    )
    with_l = pd.concat([df, pd.DataFrame(0.9, index=df.index, columns=cols)], axis=1)
    h5, _ = write_labels(with_l, tmp_path, "Vlad")
    back = pd.read_hdf(h5, key="df_with_missing")
    assert list(back.columns.get_level_values("coords")) == ["x", "y"]
    assert set(back.columns.get_level_values("scorer")) == {"Vlad"}


def test_reading_predictions_as_labels_is_refused(tmp_path: Path) -> None:
    df = labels_frame("v", 3, ["a"])
    cols = pd.MultiIndex.from_tuples(
        [("s", "a", c) for c in ("x", "y", "likelihood")], names=df.columns.names
    )
    pd.DataFrame(np.ones((3, 3)), index=df.index, columns=cols).to_hdf(
        tmp_path / "CollectedData_s.h5", key="df_with_missing"
    )
    with pytest.raises(LabelsError, match="CollectedData_s.h5: has a likelihood column"):
        read_labels(tmp_path / "CollectedData_s.h5")


def test_wrong_hdf_key_layout(tmp_path: Path) -> None:
    df = labels_frame("v", 3, ["a"])
    path = tmp_path / "CollectedData_Vlad.h5"
    df.to_hdf(path, key="foo", mode="w")
    df.to_hdf(path, key="bar", mode="a")
    before = snapshot_tree(tmp_path)
    with pytest.raises(
        LabelsError, match=r"CollectedData_Vlad.h5: HDF5 file holds several tables \['bar', 'foo'\]"
    ):
        read_labels(path)
    assert snapshot_tree(tmp_path) == before


def test_not_a_dlc_table(tmp_path: Path) -> None:
    path = tmp_path / "CollectedData_Vlad.h5"
    pd.DataFrame({"a": [1.0]}).to_hdf(path, key="df_with_missing")
    with pytest.raises(LabelsError, match="not in DLC's keypoint layout"):
        read_labels(path)


@pytest.mark.parametrize("cut", [0, 100, 0.5])
def test_empty_or_truncated_h5(tmp_path: Path, cut: float) -> None:
    good = tmp_path / "good.h5"
    labels_frame("v", 50, BODYPARTS).to_hdf(good, key="df_with_missing", mode="w")
    data = good.read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    bad = tmp_path / "CollectedData_Vlad.h5"
    bad.write_bytes(data[:n])
    before = snapshot_tree(tmp_path)
    with pytest.raises(
        LabelsError, match=r"CollectedData_Vlad.h5: (file is empty|not a readable HDF5)"
    ):
        read_labels(bad)
    assert snapshot_tree(tmp_path) == before


def test_csv_that_is_not_dlc(tmp_path: Path) -> None:
    path = tmp_path / "CollectedData_x.csv"
    path.write_text("frame,x,y\n1,2,3\n")
    with pytest.raises(LabelsError, match="first line must start with 'scorer,'"):
        read_labels(path)


def test_bodyparts_that_do_not_match_config(openfield: Path) -> None:
    cfg = load_config(openfield / "config.yaml")
    folder = openfield / "labeled-data" / "m4s1"
    df = read_labels(folder / "CollectedData_Pranav.h5")
    check_against_config(df, cfg, folder / "CollectedData_Pranav.h5")
    renamed = df.rename(columns={"snout": "nose"}, level="bodyparts")
    with pytest.raises(
        LabelsError,
        match=r"bodyparts do not match the config \(missing snout; not in config.yaml: nose\)",
    ):
        check_against_config(renamed, cfg, folder / "CollectedData_Pranav.h5")


def test_bad_writes_change_nothing(tmp_path: Path) -> None:
    df = labels_frame("v", 3, ["a"])
    write_labels(df, tmp_path, "Vlad")
    before = snapshot_tree(tmp_path)
    frames = df.reset_index(drop=True)
    with pytest.raises(LabelsError, match="rows must be image paths"):
        write_labels(frames, tmp_path, "Vlad")
    dup = pd.concat([df, df.iloc[:1]])
    with pytest.raises(LabelsError, match="img0000.png appears twice"):
        write_labels(dup, tmp_path, "Vlad")
    with pytest.raises(LabelsError, match="refusing to write"):
        write_labels(pd.DataFrame({"x": [1.0]}), tmp_path, "Vlad")
    assert snapshot_tree(tmp_path) == before


def _save_forever(folder: str, ready: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    # Big enough that one save takes a while, so the kill lands mid-write.
    big = labels_frame("v", 20000, BODYPARTS + [f"extra{i}" for i in range(12)], seed=1)
    i = 0
    while True:
        write_labels(big, folder, "Vlad", keep_backups=1)
        i += 1
        ready.set()


def test_sigkill_during_save_leaves_previous_file_intact(tmp_path: Path) -> None:
    original = labels_frame("v", 10, BODYPARTS)
    h5, csv = write_labels(original, tmp_path, "Vlad")
    ctx = mp.get_context("spawn")
    killed_mid_write = False
    for delay in (0.05, 0.3, 0.9):
        ready = ctx.Event()
        child = ctx.Process(target=_save_forever, args=(str(tmp_path), ready))
        child.start()
        time.sleep(delay) if delay < 0.5 else ready.wait(60)
        time.sleep(delay / 3)
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        for path in (h5, csv):
            df = read_labels(path)  # never half-written
            assert len(df) in (10, 20000)
            if len(df) == 10:
                assert_same(df, original)
        leftovers = [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]
        killed_mid_write = killed_mid_write or bool(leftovers)
        for p in tmp_path.iterdir():
            if ".tmp" in p.name:
                p.unlink()
    # At least one kill landed while a temporary file was being written.
    assert killed_mid_write


def test_dropped_points_lists_what_a_save_would_lose(tmp_path: Path) -> None:
    from napari_dlc_workbench.io.labels import dropped_points

    df = labels_frame("v", 4, BODYPARTS)
    h5, _ = write_labels(df, tmp_path, "Vlad")
    assert dropped_points(df, h5) == []
    assert dropped_points(df, tmp_path / "missing.h5") == []
    fewer = df.copy()
    fewer.iloc[2, 0:2] = np.nan  # manubrium base on img0002 removed
    more = fewer.copy()
    more.iloc[1, 2:4] = 5.0  # a new point elsewhere does not hide the loss
    assert dropped_points(more, h5) == ["img0002.png: manubrium base"]
    assert dropped_points(df.iloc[:3], h5) == [f"img0003.png: {bp}" for bp in BODYPARTS]
