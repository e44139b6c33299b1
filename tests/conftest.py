"""Fixtures shared by the whole suite: real DLC data copied into temp folders."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from support import copy_openfield, shared_dir


@pytest.fixture(scope="session")
def openfield_source() -> Path:
    return shared_dir() / "data" / "dlc-openfield"


@pytest.fixture
def openfield(tmp_path: Path, openfield_source: Path) -> Path:
    """A writable copy of the real openfield project; returns its folder."""
    return copy_openfield(openfield_source, tmp_path / "openfield-Pranav-2018-10-30")


@pytest.fixture
def in_child() -> Iterator[Callable[..., Any]]:
    """Call a function in a fresh (spawned) process and return its result.

    deeplabcut imports torch, and importing torch in a process that already made a
    napari GL context segfaults; the app runs DLC in child processes for that reason,
    and so do the tests, whatever order pytest runs them in.
    """
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:

        def call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return pool.submit(func, *args, **kwargs).result(timeout=600)

        yield call


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Give every test its own cache folder (video indexes, seek-friendly copies).

    Tests then never read an index another test left behind, and CI never writes into the
    machine user's ~/.cache.
    """
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("DLC_WORKBENCH_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def demo_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny demo's DLC project (5 clips, 4 labelled frames each), made once per session.

    Tests that write into it must work on a copy.
    """
    out = tmp_path_factory.mktemp("tiny-demo") / "demo"
    exe = Path(sys.executable).with_name("dlc-workbench")
    done = subprocess.run(
        [exe, "demo", "--size", "tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return next(out.glob("Cladonema_starved-*"))
