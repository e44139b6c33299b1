"""``dlc-workbench evaluate``: DLC's own numbers, explained, from the console script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from support import snapshot_tree

pytestmark = pytest.mark.dlc

EXE = Path(sys.executable).with_name("dlc-workbench")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


@pytest.fixture
def trained(
    tmp_path: Path,
    tiny_trained_source: dict[str, Any],
    copy_project: Callable[[Path, Path], Path],
) -> Path:
    source = tiny_trained_source["config"].parent
    return copy_project(source, tmp_path / source.name)


def test_evaluate_prints_dlc_table_with_explanations(trained: Path) -> None:
    done = cli("evaluate", str(trained), "--snapshot", "snapshot-002", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    results = next((trained.parent / "evaluation-results-pytorch").rglob("*snapshot_2-results.csv"))
    row = pd.read_csv(results, float_precision="round_trip").iloc[0]
    out = done.stdout
    assert out.startswith("snapshot-002 (2 epochs), shuffle 1")
    overall = next(line for line in out.splitlines() if line.startswith("error (RMSE), all"))
    assert overall.split()[4:8] == [
        f"{row['train rmse']:.2f}",
        "px",
        f"{row['test rmse']:.2f}",
        "px",
    ]
    per_bodypart = pd.read_csv(
        results.with_name(results.name.replace("-results", "-keypoint-results")), index_col=0
    )
    for bodypart in per_bodypart.columns:
        line = next(line for line in out.splitlines() if line.startswith(f"error: {bodypart} "))
        assert f"{per_bodypart.at['Test error (px)', bodypart]:.2f} px" in line
    assert "mAP (OKS):\n  Mean average precision" in out
    assert f"results: {results.parent}" in out


def test_evaluate_unknown_snapshot_fails_clearly_and_writes_nothing(trained: Path) -> None:
    before = snapshot_tree(trained.parent)
    done = cli("evaluate", str(trained), "--snapshot", "snapshot-999", "--brief")
    assert done.returncode == 1
    assert "no snapshot ['snapshot-999'] to evaluate" in done.stderr
    assert snapshot_tree(trained.parent) == before
