"""Writers of DLC files the way DLC itself writes them, for tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

SCORER = "DLC_Resnet50_Cladonema_starvedJun13shuffle1_snapshot_110"
BODYPARTS = ["manubrium base", "mouth", "prey", "tentacle base"]


def write_dlc_predictions(
    folder: Path,
    stem: str,
    scorer: str = SCORER,
    n_frames: int = 30,
    individuals: list[str] | None = None,
    key: str = "df_with_missing",
    crop: tuple[int, int, int, int] | None = None,
) -> tuple[Path, np.ndarray]:
    """Write predictions exactly as DLC 3's ``create_df_from_prediction`` does."""
    rng = np.random.default_rng(3)
    n_ind = len(individuals) if individuals else 1
    values = rng.uniform(0, 400, (n_frames, n_ind, len(BODYPARTS), 3))
    values[..., 2] = rng.uniform(0, 1, values.shape[:-1])
    cols = [[scorer], BODYPARTS, ["x", "y", "likelihood"]]
    names = ["scorer", "bodyparts", "coords"]
    if individuals:
        cols.insert(1, individuals)
        names.insert(1, "individuals")
    df = pd.DataFrame(
        values.reshape(n_frames, -1),
        columns=pd.MultiIndex.from_product(cols, names=names),
        index=range(n_frames),
    )
    h5 = folder / f"{stem}{scorer}.h5"
    df.to_hdf(h5, key=key, format="table", mode="w")
    meta = {
        "data": {
            "Scorer": scorer,
            "fps": 29.97,
            "frame_dimensions": (400, 400),
            "nframes": n_frames,
            "cropping": crop is not None,
            "cropping_parameters": list(crop) if crop else [0, 400, 0, 400],
            "bodyparts": BODYPARTS,
        }
    }
    with (folder / f"{stem}{scorer}_meta.pickle").open("wb") as fh:
        pickle.dump(meta, fh, pickle.HIGHEST_PROTOCOL)
    return h5, values
