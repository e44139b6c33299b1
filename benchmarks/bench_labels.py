"""Cost of exact, safe labels I/O against plain pandas, measured in the same run.

``write_labels`` validates the layout, normalises the index, writes the ``.csv`` and the
``.h5`` through temporary files with fsync, and keeps a backup; ``read_labels`` validates and
normalises. The baselines are bare ``df.to_hdf(...); df.to_csv(...)`` and ``pd.read_hdf``
of the same frame. Sizes: the users' 140 labelled images and a large 20 000-image set.

Run as ``python benchmarks/bench_labels.py``; prints one JSON object.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from napari_dlc_workbench.io.labels import read_labels, write_labels

BODYPARTS = ["manubrium base", "mouth", "prey", "tentacle base"]


def best_of(repeats: int, func: Callable[[], object]) -> float:
    """Seconds of the fastest call: the one least disturbed by other load."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def labels(n: int) -> pd.DataFrame:
    cols = pd.MultiIndex.from_product(
        [["Vlad&Genta"], BODYPARTS, ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    index = pd.MultiIndex.from_tuples(
        [
            ("labeled-data", f"DSC_{3190 + i // 20}_#{i % 5 + 1}", f"img{i:04d}.png")
            for i in range(n)
        ]
    )
    return pd.DataFrame(np.random.default_rng(0).uniform(0, 400, (n, 8)), index=index, columns=cols)


def measure(n: int, folder: Path) -> dict[str, float]:
    df = labels(n)
    base = folder / f"base{n}"
    ours = folder / f"ours{n}"
    base.mkdir()
    ours.mkdir()

    def plain_write() -> None:
        df.to_hdf(base / "CollectedData_x.h5", key="df_with_missing", mode="w")
        df.to_csv(base / "CollectedData_x.csv")

    write_base = best_of(5, plain_write)
    write_ours = best_of(5, lambda: write_labels(df, ours, "x", keep_backups=1))
    read_base = best_of(5, lambda: pd.read_hdf(base / "CollectedData_x.h5"))
    read_ours = best_of(5, lambda: read_labels(ours / "CollectedData_x.h5"))
    return {
        "rows": n,
        "write_pandas_ms": round(write_base * 1e3, 2),
        "write_ours_ms": round(write_ours * 1e3, 2),
        "write_ratio": round(write_ours / write_base, 2),
        "read_pandas_ms": round(read_base * 1e3, 2),
        "read_ours_ms": round(read_ours * 1e3, 2),
        "read_ratio": round(read_ours / read_base, 2),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(n, Path(tmp)) for n in (140, 20000)]
    print(json.dumps({"machine": platform.machine(), "labels_io": results}, indent=2))


if __name__ == "__main__":
    main()
