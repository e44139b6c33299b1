"""Helpers shared by the tests (importable from any test folder as ``support``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from napari_dlc_workbench.io.config import load_config, save_config

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The read-only ``shared/`` folder beside the repository (CI lays it there)."""
    env = os.environ.get("DLC_WORKBENCH_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared", REPO / "shared"]
    for candidate in candidates:
        if (candidate / "data" / "dlc-openfield").is_dir():
            return candidate
    pytest.skip("shared/data/dlc-openfield not found beside the repository")


def copy_openfield(source: Path, dest: Path) -> Path:
    """Copy the openfield project to ``dest`` and make it a valid project there.

    As shipped, ``project_path`` and ``video_sets`` are placeholders and the video
    name does not match the labeled folder ``m4s1``; DLC's own example fixes both
    the same way before use.
    """
    shutil.copytree(source, dest)
    for path in dest.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    dest.chmod(0o755)
    config = dest / "config.yaml"
    cfg = load_config(config)
    cfg["project_path"] = str(dest)
    video_sets = cfg["video_sets"]
    crop = next(iter(video_sets.values()))
    video_sets.clear()
    video_sets[str(dest / "videos" / "m4s1.mp4")] = crop
    save_config(cfg, config)
    shutil.rmtree(dest / ".backups", ignore_errors=True)
    return dest


def snapshot_tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: compare before/after a failed call."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
