"""A tiny real DLC project for the job tests: made once per session, copied per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from napari_dlc_workbench.io.config import load_config, save_config

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def tiny_project_source(demo_tiny: Path) -> Path:
    """The demo's tiny project (160x160 clips, a few labelled frames, shuffle 1, cspnext_s)."""
    project = demo_tiny
    # DLC's default training crop (448 px) pads each 160 px frame to 448 px:
    # five times the work per image on a CPU, for nothing in these tests.
    pytorch_config = next(
        project.glob("dlc-models-pytorch/iteration-0/*/train/pytorch_config.yaml")
    )
    cfg = load_config(pytorch_config, validate=False)
    cfg["data"]["train"]["crop_sampling"] = None
    save_config(cfg, pytorch_config, validate=False)
    return project


def _copy_project(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    for path in [dest / "config.yaml", *dest.glob("dlc-models-pytorch/**/*.yaml")]:
        path.write_text(path.read_text().replace(str(source), str(dest)))
    return dest / "config.yaml"


@pytest.fixture(scope="session")
def copy_project() -> Callable[[Path, Path], Path]:
    """``copy_project(source, dest)``: copy a DLC project, paths pointed at the copy.

    Returns the copy's ``config.yaml``.
    """
    return _copy_project


@pytest.fixture
def tiny_project(tmp_path: Path, tiny_project_source: Path) -> Path:
    """A writable copy of the tiny project; returns its ``config.yaml``."""
    return _copy_project(tiny_project_source, tmp_path / tiny_project_source.name)


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment that lets a job's child import helper functions from these tests."""
    return {"PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
