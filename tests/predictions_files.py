"""Synthetic DLC predictions with known values, written exactly as DLC 3 writes them."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from napari_dlc_workbench.io.config import save_config

SCORER = "DLC_Resnet50_Cladonema_starvedJun13shuffle1_snapshot_110"
BODYPARTS3 = ["mouth", "prey", "tentacle base"]


def smooth_values(n_frames: int, n_keypoints: int, seed: int = 0) -> np.ndarray:
    """``(n_frames, n_keypoints, 3)`` x, y, likelihood: smooth paths inside 400 px, likelihood 0.9.

    Callers then lower the likelihood (or put NaN) where a test wants it.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (1, n_keypoints))
    values = np.empty((n_frames, n_keypoints, 3))
    values[..., 0] = 200 + 150 * np.sin(t / 40 + phase)
    values[..., 1] = 200 + 150 * np.cos(t / 55 + phase)
    values[..., 2] = 0.9
    return values


def write_predictions(
    folder: Path,
    stem: str,
    values: np.ndarray,
    bodyparts: list[str],
    *,
    scorer: str = SCORER,
    individuals: list[str] | None = None,
    crop: tuple[int, int, int, int] | None = None,
    index: np.ndarray | None = None,
) -> Path:
    """Write ``<stem><scorer>.h5`` + ``_meta.pickle`` as ``analyze_videos`` does.

    ``values`` is ``(n_frames, n_individuals * n_bodyparts, 3)`` in crop space when
    ``crop`` (DLC's ``x1, x2, y1, y2``) is given.
    """
    n_frames = len(values)
    cols = [[scorer], bodyparts, ["x", "y", "likelihood"]]
    names = ["scorer", "bodyparts", "coords"]
    if individuals:
        cols.insert(1, individuals)
        names.insert(1, "individuals")
    df = pd.DataFrame(
        values.reshape(n_frames, -1),
        columns=pd.MultiIndex.from_product(cols, names=names),
        index=range(n_frames) if index is None else index,
    )
    h5 = folder / f"{stem}{scorer}.h5"
    df.to_hdf(h5, key="df_with_missing", format="table", mode="w")
    meta = {
        "data": {
            "start": 0.0,
            "stop": 1.0,
            "run_duration": 1.0,
            "Scorer": scorer,
            "fps": 29.97,
            "batch_size": 8,
            "frame_dimensions": (1080, 1500),
            "nframes": n_frames,
            "iteration (active-learning)": 0,
            "cropping": crop is not None,
            "cropping_parameters": list(crop) if crop else [0, 1500, 0, 1080],
            "bodyparts": bodyparts,
        }
    }
    with (folder / f"{stem}{scorer}_meta.pickle").open("wb") as fh:
        pickle.dump(meta, fh, pickle.HIGHEST_PROTOCOL)
    return h5


def write_config(
    project: Path,
    bodyparts: list[str],
    *,
    pcutoff: float = 0.6,
    individuals: list[str] | None = None,
    colormap: str = "rainbow",
) -> Path:
    """A minimal DLC ``config.yaml`` in ``project`` (with ``videos/`` made)."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "videos").mkdir(exist_ok=True)
    cfg: dict = {
        "Task": "Cladonema_starved",
        "scorer": "Vlad",
        "date": "Jun13",
        "project_path": str(project),
        "video_sets": {},
        "skeleton": [],
        "colormap": colormap,
        "pcutoff": pcutoff,
        "dotsize": 6,
        "iteration": 0,
    }
    if individuals:
        cfg.update(
            multianimalproject=True,
            individuals=individuals,
            multianimalbodyparts=bodyparts,
            uniquebodyparts=[],
            bodyparts="MULTI!",
        )
    else:
        cfg.update(multianimalproject=False, bodyparts=bodyparts)
    path = project / "config.yaml"
    save_config(cfg, path)
    return path
