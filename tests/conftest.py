"""Fixtures shared by the whole suite: real DLC data and tiny projects copied into temp folders."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from support import copy_openfield, shared_dir

TESTS = Path(__file__).resolve().parent


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
        [exe, "demo", "--size", "tiny", "--epochs", "0", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return next(out.glob("Cladonema_starved-*"))


@pytest.fixture(scope="session")
def tiny_project_source(demo_tiny: Path) -> Path:
    """The demo's tiny project (160x160 clips, 20 labelled frames, shuffle 1, cspnext_s).

    Its training dataset exists, no network is trained yet, and the demo turned DLC's 448 px
    training crop off (it would pad each 160 px frame to 448 px: five times the work).
    """
    return demo_tiny


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
    """Environment that lets a job's child import helper functions from these tests.

    The job tests in ``tests/dlc`` name their own functions (``test_dlc_runner:...``).
    """
    return {"PYTHONPATH": os.pathsep.join([str(TESTS / "dlc"), str(TESTS), str(TESTS.parent)])}


@pytest.fixture(scope="session")
def tiny_trained_source(
    tiny_project_source: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The tiny project trained 2 epochs from random weights (shuffle 1) and evaluated.

    Made once per session through the runner (DLC runs in children only). Returns
    ``config`` (the copy's ``config.yaml``), ``train`` (the train job's result) and
    ``evaluation`` (the evaluate job's result for ``snapshot-002``). Read-only: copy it
    with ``copy_project`` before writing.
    """
    from napari_dlc_workbench.dlc.runner import Job, run

    config = _copy_project(
        tiny_project_source, tmp_path_factory.mktemp("tiny-trained") / tiny_project_source.name
    )
    train = run(
        Job(
            "train",
            {
                "config": str(config),
                "epochs": 2,
                "eval_interval": 1,
                "batch_size": 4,
                "device": "cpu",
                "save_epochs": 1,
            },
        ),
        log_events=False,
    )
    assert train.kind == "finished", f"{train.message}\n{train.traceback}"
    evaluation = run(
        Job("evaluate", {"config": str(config), "snapshots": "snapshot-002", "device": "cpu"}),
        log_events=False,
    )
    assert evaluation.kind == "finished", f"{evaluation.message}\n{evaluation.traceback}"
    return {"config": config, "train": train.result, "evaluation": evaluation.result}


@pytest.fixture(scope="session")
def demo_tiny_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole tiny demo (``dlc-workbench demo --size tiny``), run once per session.

    Unlike ``demo_tiny`` it trains and evaluates, analyses clip ``#1`` and runs the
    correction iteration. Returns the demo folder (``--out``). Read-only: the docks
    opened on it save only the Outliers dock's queue sidecar, as for a user.
    """
    out = tmp_path_factory.mktemp("tiny-demo-trained") / "demo out"  # a space, as users have
    exe = Path(sys.executable).with_name("dlc-workbench")
    done = subprocess.run(
        [exe, "demo", "--size", "tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # What the user saw, for tests of the demo's own messages (outside the demo folder).
    (out.parent / "demo-stdout.txt").write_text(done.stdout)
    return out
