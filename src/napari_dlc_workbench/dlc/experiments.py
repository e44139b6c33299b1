"""What the learning curve and the preprocessing comparison share.

Both answer a user's question by training DLC several times with one thing varied
(the training frames; the images' preprocessing) and everything else kept: DLC's
own merge of the labelled frames, a reference shuffle's network and data settings,
and DLC's own evaluation of the last snapshot. These functions run in a job's child.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc.reporting import Reporter
from napari_dlc_workbench.io.atomic import atomic_write_bytes, atomic_write_text
from napari_dlc_workbench.io.config import load_config, save_config

__all__ = [
    "clean_json",
    "existing_shuffles",
    "figure_png",
    "finite_or_none",
    "labelled_rows",
    "find_reference_shuffle",
    "row_name",
    "train_and_evaluate",
    "use_reference_data",
    "write_results",
]

_SHUFFLE = re.compile(r"shuffle(\d+)$")


def existing_shuffles(project: str | os.PathLike[str]) -> set[int]:
    """Every shuffle number a project uses, in any iteration, engine or fraction.

    Parameters
    ----------
    project : path
        The project folder.

    Returns
    -------
    set of int
        Numbers found in ``training-datasets`` file names and in the model and
        evaluation folders of DLC 2 and 3.
    """
    project = Path(project)
    found: set[int] = set()
    patterns = [
        "training-datasets/iteration-*/*/*",
        "dlc-models*/iteration-*/*",
        "evaluation-results*/iteration-*/*",
    ]
    for pattern in patterns:
        for path in project.glob(pattern):
            stem = path.stem if path.is_file() else path.name
            match = _SHUFFLE.search(stem)
            if match:
                found.add(int(match.group(1)))
    return found


def finite_or_none(value: Any) -> Any:
    """Return ``value``, or None for a NaN or infinite float (JSON has neither)."""
    # DLC leaves e.g. rmse_pcutoff empty when nothing passes the cutoff.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def clean_json(value: Any) -> Any:
    """Return ``value`` with string keys and None for every non-finite float, nested."""
    if isinstance(value, Mapping):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    return finite_or_none(value)


def labelled_rows(dlc_cfg: Mapping[str, Any]) -> list[str]:
    """Return the labelled frames as DLC's ``create_training_dataset`` merges them, in order.

    Raises
    ------
    ValueError
        If there is none.
    """
    # DLC's own merge, written to a scratch folder: the row order (and so the
    # meaning of trainIndices/testIndices) is exactly create_training_dataset's.
    from deeplabcut.generate_training_dataset.trainingsetmanipulation import (
        merge_annotateddatasets,
    )

    with tempfile.TemporaryDirectory(prefix="dlc-workbench-merge-") as scratch:
        data = merge_annotateddatasets(dlc_cfg, Path(scratch))
    if data is None or len(data) == 0:
        raise ValueError(
            f"{dlc_cfg['project_path']}: no labelled frames found in labeled-data/ for the "
            "videos of config.yaml"
        )
    return [row_name(row) for row in data.index]


def row_name(row: Any) -> str:
    """Return a merged-labels row index as one ``folder/.../image`` string."""
    return "/".join(map(str, row)) if isinstance(row, tuple) else str(row)


def find_reference_shuffle(
    project: Path, dlc_cfg: Mapping[str, Any], fraction: float, shuffle: int | None
) -> tuple[int | None, Any]:
    """Return the number and ``pytorch_config.yaml`` of the shuffle an experiment copies.

    Its net_type is the experiment's default and its data settings (augmentation,
    cropping) are reused, so only what the experiment varies differs. ``shuffle``
    names it; else the lowest existing shuffle with a PyTorch config; ``(None, None)``
    when there is none.
    """
    from deeplabcut.core.engine import Engine
    from deeplabcut.utils.auxiliaryfunctions import get_model_folder

    candidates = [shuffle] if shuffle is not None else sorted(existing_shuffles(project))
    for number in candidates:
        folder = project / get_model_folder(fraction, number, dlc_cfg, engine=Engine.PYTORCH)
        path = folder / "train" / "pytorch_config.yaml"
        if path.is_file():
            return number, load_config(path, validate=False)
    if shuffle is not None:
        raise FileNotFoundError(f"shuffle {shuffle} has no PyTorch pytorch_config.yaml")
    return None, None


def use_reference_data(path: Path, reference: Mapping[str, Any]) -> None:
    """Give the ``pytorch_config.yaml`` at ``path`` the reference's ``data`` settings."""
    cfg = load_config(path, validate=False)
    cfg["data"] = reference["data"]
    save_config(cfg, path, validate=False)


def train_and_evaluate(
    config: str | os.PathLike[str],
    shuffle: int,
    *,
    report: Reporter,
    trainingsetindex: int = 0,
    **train_options: Any,
) -> dict[str, Any]:
    """Train a shuffle, evaluate its last snapshot, and return DLC's own numbers.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    shuffle : int
        A shuffle with a training dataset.
    report : Reporter
        Receives the training and evaluation events.
    trainingsetindex : int
        Which ``TrainingFraction``.
    **train_options
        Passed to :func:`napari_dlc_workbench.dlc.training.train` (``epochs``,
        ``weights``...).

    Returns
    -------
    dict
        ``snapshot``, ``epochs``, ``test_rmse``, ``train_rmse``, ``test_rmse_pcutoff``,
        ``test_mAP``, ``bodyparts`` (test error per bodypart), ``results_csv`` and
        ``train_seconds``.
    """
    from napari_dlc_workbench.dlc.evaluation import evaluate
    from napari_dlc_workbench.dlc.training import train

    clock = time.monotonic()
    trained = train(
        config, shuffle, trainingsetindex=trainingsetindex, report=report, **train_options
    )
    seconds = time.monotonic() - clock
    if trained["last_snapshot"] is None:
        raise RuntimeError(f"shuffle {shuffle}: training wrote no snapshot to evaluate")
    last = Path(trained["last_snapshot"])
    (result,) = evaluate(
        config, shuffle, trainingsetindex=trainingsetindex, snapshots=last.stem, report=report
    )["results"]
    overall = result["overall"]
    return {
        "snapshot": last.name,
        "epochs": result["epochs"],
        "test_rmse": overall.get("test rmse"),
        "train_rmse": overall.get("train rmse"),
        "test_rmse_pcutoff": overall.get("test rmse_pcutoff"),
        "test_mAP": overall.get("test mAP"),
        "bodyparts": {
            name: values.get("Test error (px)") for name, values in result["bodyparts"].items()
        },
        "results_csv": result["results_csv"],
        "train_seconds": round(seconds, 1),
    }


def figure_png(figure: Any) -> bytes:
    """Return a matplotlib figure, laid out tight, as PNG bytes."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_results(
    folder: str | os.PathLike[str],
    stem: str,
    summary: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    plot: bytes,
) -> dict[str, str]:
    """Write ``<stem>.json``, ``.csv`` and ``.png`` atomically into ``folder``.

    Parameters
    ----------
    folder : path
        Created if missing.
    stem : str
        File name without suffix.
    summary : mapping
        The JSON document (the file paths are added); NaN values become ``null``.
    rows : sequence of mapping
        One CSV row each: ``columns``, then the test error of each bodypart found in
        the rows' ``bodyparts``; NaN and None become empty cells.
    columns : sequence of str
        Keys of the rows.
    plot : bytes
        The PNG.

    Returns
    -------
    dict
        ``json``, ``csv`` and ``plot``: the paths written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"{stem}.{suffix}" for kind, suffix in _SUFFIXES.items()}
    bodyparts = sorted({name for row in rows for name in (row.get("bodyparts") or {})})
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*columns, *(f"test error {name} (px)" for name in bodyparts)])
    for row in rows:
        errors = row.get("bodyparts") or {}
        cells = [row.get(c) for c in columns] + [errors.get(name) for name in bodyparts]
        writer.writerow(["" if finite_or_none(v) is None else v for v in cells])
    files = {kind: str(path) for kind, path in paths.items()}
    atomic_write_bytes(paths["plot"], plot)
    atomic_write_text(paths["csv"], text.getvalue())
    atomic_write_text(
        paths["json"], json.dumps(clean_json({**summary, "files": files}), indent=2) + "\n"
    )
    return files


_SUFFIXES = {"json": "json", "csv": "csv", "plot": "png"}
