"""``dlc-workbench analyze`` argument handling that needs no DeepLabCut (issue 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_dlc_workbench._cli_analyze import collect_videos
from napari_dlc_workbench.cli import build_parser


def test_folders_expand_to_their_videos_without_outputs_or_hidden_files(tmp_path: Path) -> None:
    for name in (
        "b.mp4",
        "a.AVI",
        "notes.txt",
        ".a.partial.mp4",
        "aDLC_Resnet50_xJan1shuffle1_snapshot_010_labeled.mp4",
    ):
        (tmp_path / name).write_bytes(b"x")
    extra = tmp_path / "elsewhere.mov"
    extra.write_bytes(b"x")
    found = collect_videos([tmp_path, extra, tmp_path / "b.mp4"])
    assert [p.name for p in found] == ["a.AVI", "b.mp4", "elsewhere.mov"]


def test_missing_items_and_empty_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="gone.mp4: no such video file or folder"):
        collect_videos([tmp_path / "gone.mp4"])
    with pytest.raises(FileNotFoundError, match="folder holds no video"):
        collect_videos([tmp_path])


def test_options_are_parsed_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["analyze", "config.yaml", "v.mp4", "--snapshot", "snapshot-050", "--workers", "3"]
    )
    assert (args.snapshot, args.workers, args.retries, args.scheduler) == (
        "snapshot-050",
        3,
        1,
        "local",
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["analyze", "config.yaml", "v.mp4", "--snapshot", "newest"])
    assert "use best, last or a name like snapshot-050" in capsys.readouterr().err
