from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from napari_dlc_workbench.io.config import (
    ConfigError,
    add_video_set,
    dump_config,
    load_config,
    save_config,
)

from support import snapshot_tree

USER_PROJECT = "Cladonema_starved-Vlad&Genta-2025-06-13"


def test_round_trip_is_byte_identical(openfield_source: Path, tmp_path: Path) -> None:
    original = (openfield_source / "config.yaml").read_bytes()
    cfg = load_config(openfield_source / "config.yaml")
    assert dump_config(cfg).encode() == original
    out = tmp_path / "config.yaml"
    save_config(cfg, out)
    assert out.read_bytes() == original


def test_changing_one_value_changes_only_that_line(openfield_source: Path, tmp_path: Path) -> None:
    original = (openfield_source / "config.yaml").read_text().splitlines()
    cfg = load_config(openfield_source / "config.yaml")
    cfg["iteration"] = 3
    cfg["pcutoff"] = 0.6
    out = tmp_path / "config.yaml"
    save_config(cfg, out)
    changed = out.read_text().splitlines()
    assert len(changed) == len(original)
    diff = [(a, b) for a, b in zip(original, changed, strict=True) if a != b]
    assert diff == [("pcutoff: 0.4", "pcutoff: 0.6"), ("iteration: 0", "iteration: 3")]
    # The comments DLC's template explains each block with are still there.
    assert "# Project path (change when moving around)" in changed


def test_save_keeps_backup_of_previous_version(openfield: Path) -> None:
    config = openfield / "config.yaml"
    before = config.read_bytes()
    cfg = load_config(config)
    cfg["iteration"] = 1
    save_config(cfg, config)
    backups = list((openfield / ".backups").glob("config.*.yaml"))
    assert [b.read_bytes() for b in backups] == [before]


def test_add_video_set_with_users_names(openfield: Path) -> None:
    config = openfield / "config.yaml"
    cfg = load_config(config)
    video = openfield / "videos" / "DSC_3231_roi_#5.avi"
    assert add_video_set(cfg, video, 400, 400)
    assert not add_video_set(cfg, video, 400, 400)
    save_config(cfg, config)
    again = load_config(config)
    assert again["video_sets"][str(video)]["crop"] == "0, 400, 0, 400"
    # DLC reads the same file: the key with '#' did not become a comment.
    import yaml

    plain = yaml.safe_load(config.read_text())
    assert str(video) in plain["video_sets"]


@pytest.mark.parametrize("name", [USER_PROJECT, "プロジェクト 日本語 & co"])
def test_paths_with_ampersand_spaces_and_japanese(
    openfield_source: Path, tmp_path: Path, name: str
) -> None:
    folder = tmp_path / name
    shutil.copytree(openfield_source, folder)
    (folder / "config.yaml").chmod(0o644)
    folder.chmod(0o755)
    cfg = load_config(folder / "config.yaml")
    cfg["project_path"] = str(folder)
    save_config(cfg, folder / "config.yaml")
    assert load_config(folder / "config.yaml")["project_path"] == str(folder)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config.yaml: config file does not exist") as info:
        load_config(tmp_path / "config.yaml")
    assert info.value.path == tmp_path / "config.yaml"
    assert list(tmp_path.iterdir()) == []


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("Task: x\nscorer: [unclosed\nbodyparts:\n- a\n")
    before = snapshot_tree(tmp_path)
    with pytest.raises(
        ConfigError, match=r"config.yaml: YAML syntax error \(line \d+, column \d+\)"
    ):
        load_config(config)
    assert snapshot_tree(tmp_path) == before


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(config)


def test_config_without_bodyparts(openfield: Path) -> None:
    config = openfield / "config.yaml"
    text = config.read_text().replace(
        "bodyparts:\n- snout\n- leftear\n- rightear\n- tailbase\n", ""
    )
    config.write_text(text)
    before = snapshot_tree(openfield)
    with pytest.raises(ConfigError, match="missing required key.*single-animal.*bodyparts"):
        load_config(config)
    assert snapshot_tree(openfield) == before


def test_multianimal_requires_individuals(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "Task: t\nscorer: s\nmultianimalproject: true\nvideo_sets: {}\nmultianimalbodyparts: [a]\n"
    )
    with pytest.raises(ConfigError, match="multi-animal project: individuals"):
        load_config(config)


def test_empty_bodyparts_and_duplicates(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("Task: t\nscorer: s\nvideo_sets:\nbodyparts: []\n")
    with pytest.raises(ConfigError, match="non-empty list"):
        load_config(config)
    config.write_text("Task: t\nscorer: s\nvideo_sets:\nbodyparts: [a, a]\n")
    with pytest.raises(ConfigError, match="twice"):
        load_config(config)


def test_invalid_save_writes_nothing(openfield: Path) -> None:
    config = openfield / "config.yaml"
    cfg = load_config(config)
    del cfg["scorer"]
    before = snapshot_tree(openfield)
    with pytest.raises(ConfigError, match="scorer"):
        save_config(cfg, config)
    assert snapshot_tree(openfield) == before
