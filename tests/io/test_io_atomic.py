from __future__ import annotations

from pathlib import Path

import pytest

from napari_dlc_workbench.io.atomic import (
    atomic_path,
    atomic_write_text,
    list_backups,
)


def test_write_then_overwrite_keeps_backup(tmp_path: Path) -> None:
    target = tmp_path / "labels.csv"
    atomic_write_text(target, "one")
    assert target.read_text() == "one"
    assert list_backups(target) == []
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [b.read_text() for b in list_backups(target)] == ["one"]


def test_backups_are_bounded(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    for i in range(8):
        atomic_write_text(target, str(i), keep_backups=3)
    assert [b.read_text() for b in list_backups(target)] == ["4", "5", "6"]
    assert target.read_text() == "7"


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("precious")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_writer_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with pytest.raises(RuntimeError, match="no file"), atomic_path(target):
        pass
    assert not target.exists()


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "a.txt", "x")


def test_temp_file_sits_beside_target_with_same_suffix(tmp_path: Path) -> None:
    target = tmp_path / "CollectedData_me.h5"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.suffix == ".h5"
        assert not tmp.exists()
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"
