"""Evaluate snapshots with DLC 3 and read the numbers back from DLC's own files.

``deeplabcut.evaluate_network`` (PyTorch engine) writes, per snapshot, into
``evaluation-results-pytorch/iteration-N/<Task><date>-trainset<P>shuffle<K>/``:

- ``<scorer>-results.csv``: one row; index columns ``%Training dataset``,
  ``Shuffle number``, ``Training epochs``, ``Detector epochs (TD only)``,
  ``pcutoff``; then ``train rmse``, ``train rmse_pcutoff``, ``train mAP``,
  ``train mAR`` and the same four for ``test`` (pixels; rounded to 2 decimals
  by DLC; ``rmse_pcutoff`` is empty when no prediction passes the cutoff);
- ``<scorer>-keypoint-results.csv`` (with ``per_keypoint_evaluation``): rows
  ``Train error (px)`` and ``Test error (px)``, one column per bodypart (RMSE,
  unrounded). DLC computes no per-bodypart mAP or cutoff RMSE;
- ``<scorer>.h5``: the predictions; and ``../CombinedEvaluation-results.csv``,
  all results of the iteration.

``<scorer>`` is e.g. ``DLC_CspnextS_Cladonema_starvedNov29shuffle1_snapshot_2``.
The table shown to users is read from these files, never recomputed, so it is
the table DLC users know.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc._env import import_deeplabcut
from napari_dlc_workbench.dlc.reporting import Reporter
from napari_dlc_workbench.io.config import load_config

__all__ = ["evaluate", "read_evaluation_results"]


def _plain(value: Any) -> Any:
    # numpy scalars -> Python numbers, so the result travels as JSON
    return value.item() if hasattr(value, "item") else value


def read_evaluation_results(
    results_csv: str | os.PathLike[str], keypoint_csv: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Read DLC's evaluation CSVs for one snapshot (pandas only, no DLC import).

    Parameters
    ----------
    results_csv : path
        ``<scorer>-results.csv``.
    keypoint_csv : path, optional
        ``<scorer>-keypoint-results.csv``; skipped when None or missing.

    Returns
    -------
    dict
        ``overall``: every column of the results row under DLC's name
        (``"test rmse"``, ``"train mAP"``, ``"pcutoff"``, ``"Training epochs"``...;
        empty cells are NaN); ``bodyparts``: ``{bodypart: {"Train error (px)": v,
        "Test error (px)": v}}``, empty without a keypoint file.

    Raises
    ------
    ValueError
        If the results file does not hold exactly one row.
    """
    import pandas as pd

    table = pd.read_csv(results_csv, float_precision="round_trip")
    if len(table) != 1:
        raise ValueError(f"{results_csv}: expected one row of results, found {len(table)}")
    overall = {str(k): _plain(v) for k, v in table.iloc[0].items()}
    bodyparts: dict[str, dict[str, float]] = {}
    if keypoint_csv is not None and Path(keypoint_csv).is_file():
        per_bodypart = pd.read_csv(keypoint_csv, index_col=0, float_precision="round_trip")
        for bodypart in per_bodypart.columns:
            bodyparts[str(bodypart)] = {
                str(row): _plain(per_bodypart.at[row, bodypart]) for row in per_bodypart.index
            }
    return {"overall": overall, "bodyparts": bodyparts}


def _detector_snapshot(cfg: Any, loader: Any) -> Any:
    # Mirrors evaluate_network: top-down models use the configured detector
    # snapshot when there is one, and its epochs are part of the scorer name.
    from deeplabcut.pose_estimation_pytorch.apis.utils import get_model_snapshots
    from deeplabcut.pose_estimation_pytorch.task import Task

    index = cfg.get("detector_snapshotindex")
    if loader.pose_task != Task.TOP_DOWN or index is None:
        return None
    if not get_model_snapshots("all", loader.model_folder, Task.DETECT):
        return None
    return get_model_snapshots(index, loader.model_folder, Task.DETECT)[0]


def evaluate(
    config: str | os.PathLike[str],
    shuffle: int = 1,
    *,
    trainingsetindex: int = 0,
    snapshots: str | Sequence[str] | None = None,
    snapshotindex: int | str | None = None,
    device: str | None = None,
    per_keypoint: bool = True,
    pcutoff: float | None = None,
    plotting: bool | str = False,
    modelprefix: str = "",
    report: Reporter | None = None,
) -> dict[str, Any]:
    """Run ``deeplabcut.evaluate_network`` for one shuffle and return DLC's table.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    shuffle, trainingsetindex : int
        Which training dataset.
    snapshots : str or sequence of str, optional
        Snapshot names to evaluate (``"snapshot-050"``, with or without ``.pt``).
    snapshotindex : int or {"all", "best"}, optional
        Used when ``snapshots`` is None: DLC's index into the sorted snapshots
        (-1, the default of ``config.yaml``, is the last, or the best when one
        exists).
    device : str, optional
        Torch device; the shuffle's ``pytorch_config.yaml`` value if omitted.
    per_keypoint : bool
        Also have DLC write the per-bodypart RMSE file.
    pcutoff : float, optional
        Likelihood cutoff; the project's ``pcutoff`` if omitted.
    plotting : bool or str
        DLC's ``plotting``: labelled images into the evaluation folder.
    modelprefix : str
        DLC's model prefix.
    report : Reporter, optional
        Receives a progress event per snapshot.

    Returns
    -------
    dict
        ``evaluation_folder`` and ``results``: one dict per snapshot with
        ``snapshot`` (name), ``epochs``, ``best``, ``scorer``, ``results_csv``,
        ``keypoint_csv`` and the :func:`read_evaluation_results` content.

    Raises
    ------
    napari_dlc_workbench.io.config.ConfigError
        ``config.yaml`` missing, not YAML, or lacking required keys.
    FileNotFoundError
        If there is no snapshot to evaluate, or DLC wrote no results file.
    """
    report = report or Reporter()
    load_config(config)  # a missing or broken file fails here, named, before DLC's slow import
    dlc = import_deeplabcut()
    from deeplabcut.pose_estimation_pytorch.apis.utils import (
        get_model_snapshots,
        get_scorer_name,
        get_scorer_uid,
    )
    from deeplabcut.pose_estimation_pytorch.data import DLCLoader
    from deeplabcut.utils import auxiliaryfunctions

    cfg = auxiliaryfunctions.read_config(str(config))
    loader = DLCLoader(
        config=str(config),
        shuffle=shuffle,
        trainset_index=trainingsetindex,
        modelprefix=modelprefix,
    )
    if isinstance(snapshots, str):
        snapshots = [snapshots]
    names = None if snapshots is None else [Path(s).name.removesuffix(".pt") for s in snapshots]
    index = cfg.get("snapshotindex", -1) if snapshotindex is None else snapshotindex
    chosen = get_model_snapshots(index, loader.model_folder, loader.pose_task, names)
    if not chosen or (names is not None and len(chosen) != len(names)):
        raise FileNotFoundError(
            f"{loader.model_folder}: no snapshot {names or index} to evaluate "
            f"(found {sorted(p.name for p in Path(loader.model_folder).glob('snapshot-*.pt'))})"
        )
    detector = _detector_snapshot(cfg, loader)
    started = time.time()
    for number, snapshot in enumerate(chosen, start=1):
        report.emit(
            "progress",
            step=number,
            total=len(chosen),
            epoch=snapshot.epochs,
            message=f"evaluating {snapshot.path.name}",
        )
        dlc.evaluate_network(
            str(config),
            shuffles=[shuffle],
            trainingsetindex=trainingsetindex,
            snapshots_to_evaluate=[snapshot.path.stem],
            per_keypoint_evaluation=per_keypoint,
            plotting=plotting,
            pcutoff=pcutoff,
            modelprefix=modelprefix,
            device=device,
        )
    folder = Path(loader.evaluation_folder)
    results = []
    for snapshot in chosen:
        scorer = get_scorer_name(
            cfg,
            shuffle,
            loader.train_fraction,
            snapshot_uid=get_scorer_uid(snapshot, detector),
            modelprefix=modelprefix,
        )
        results_csv = folder / f"{scorer}-results.csv"
        keypoint_csv = folder / f"{scorer}-keypoint-results.csv"
        # An old file from an earlier evaluation must not pass for this one's.
        if not results_csv.is_file() or results_csv.stat().st_mtime < started - 1:
            raise FileNotFoundError(f"{results_csv}: DeepLabCut wrote no evaluation results")
        results.append(
            {
                "snapshot": snapshot.path.stem,
                "epochs": snapshot.epochs,
                "best": snapshot.best,
                "scorer": scorer,
                "results_csv": str(results_csv),
                "keypoint_csv": str(keypoint_csv) if per_keypoint else None,
                **read_evaluation_results(results_csv, keypoint_csv if per_keypoint else None),
            }
        )
    return {"evaluation_folder": str(folder), "results": results}
