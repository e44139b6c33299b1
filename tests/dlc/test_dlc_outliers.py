"""DLC's own outlier detectors, run in a child process on a predictions file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_dlc_workbench.model.keypoints import KeypointTable

from support import snapshot_tree

SCORER = "DLC_Resnet50_Cladonema_starvedJun13shuffle1_snapshot_110"
BODYPARTS = ["manubrium_base", "mouth", "prey", "tentacle_base"]


def _predictions(folder: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(150.0)
    data = np.empty((150, 4, 3))
    data[..., 0] = 100 + 20 * np.sin(t / 15)[:, None] + np.arange(4) * 30
    data[..., 1] = 150 + 10 * np.cos(t / 20)[:, None] + rng.normal(0, 0.5, (150, 4))
    data[..., 2] = rng.uniform(0.5, 1.0, (150, 4))
    data[[20, 90], [1, 3], 2] = [0.005, 0.0001]  # below DLC's p_bound (0.01)
    data[60, 2, 2] = 0.02  # not below it
    data[40, 0, :2] += [60.0, 0.0]  # a glitch of 60 px: jumps in at 40, back at 41
    data[110, 2, :2] += [10.0, 10.0]  # 14 px: below epsilon (20)
    table = KeypointTable(SCORER, list(range(150)), [("", b) for b in BODYPARTS], data, True)
    h5 = folder / f"clip{SCORER}.h5"
    table.to_dataframe().to_hdf(h5, key="df_with_missing", mode="w")
    return h5, data


def test_dlc_methods_choose_frames_with_their_own_defaults(
    tmp_path: Path, in_child: Callable[..., Any]
) -> None:
    from napari_dlc_workbench.dlc.outliers_dlc import dlc_outlier_frames

    h5, data = _predictions(tmp_path)
    before = snapshot_tree(tmp_path)
    result = in_child(dlc_outlier_frames, str(h5), ["uncertain", "jump"])
    assert snapshot_tree(tmp_path) == before  # DLC's extraction step wrote nothing
    assert result["defaults"] == {
        "epsilon": 20,
        "p_bound": 0.01,
        "ARdegree": 3,
        "MAdegree": 1,
        "alpha": 0.01,
        "deeplabcut": result["defaults"]["deeplabcut"],
    }
    assert result["defaults"]["deeplabcut"].startswith("3.0")
    assert result["uncertain"]["frames"] == [20, 90]
    step = np.zeros((150, 4))
    step[1:] = (np.diff(data[..., :2], axis=0) ** 2).sum(axis=2)
    assert result["jump"]["frames"] == sorted(np.flatnonzero((step > 400).any(axis=1)).tolist())
    assert {40, 41} <= set(result["jump"]["frames"]) and 110 not in result["jump"]["frames"]
    assert result["n_frames"] == 150 and pd.read_hdf(h5).shape == (150, 12)
    # "fitting" compares each keypoint with SARIMAX fits (two per keypoint, slow on a CPU):
    # one keypoint suffices to see the glitch chosen.
    fitting = in_child(
        dlc_outlier_frames, str(h5), ["fitting"], comparisonbodyparts=["manubrium_base"]
    )
    assert 40 in fitting["fitting"]["frames"]
    # Fewer than 2 x numframes2pick frames exceed epsilon: DLC takes the 40 most deviant.
    assert len(fitting["fitting"]["frames"]) == 40


def test_dlc_parameters_are_passed_through(tmp_path: Path, in_child: Callable[..., Any]) -> None:
    from napari_dlc_workbench.dlc.outliers_dlc import dlc_outlier_frames

    h5, _ = _predictions(tmp_path)
    result = in_child(dlc_outlier_frames, str(h5), ["uncertain", "jump"], p_bound=0.05, epsilon=10)
    assert result["parameters"]["p_bound"] == 0.05 and result["parameters"]["epsilon"] == 10
    assert result["uncertain"]["frames"] == [20, 60, 90]
    assert 110 in result["jump"]["frames"] and "fitting" not in result
