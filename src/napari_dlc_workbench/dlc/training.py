"""Train a shuffle with DLC 3 (PyTorch): offline start, live progress, resume.

:func:`train` runs inside a job's child process (``Job("train", {...})``) and
calls ``deeplabcut.train_network``. What DLC writes, in the shuffle's
``dlc-models-pytorch/iteration-N/<Task><date>-trainset<P>shuffle<K>/train/``:

- ``snapshot-NNN.pt`` every ``save_epochs`` epochs and at the last epoch, plus
  ``snapshot-best-NNN.pt`` for the best ``test.mAP`` so far (only on evaluation
  epochs, every ``runner.eval_interval``); the newest ``max_snapshots`` regular
  ones are kept. A snapshot is ``{"metadata": {"epoch", "metrics", "losses"},
  "model", "scheduler"}`` (``optimizer`` only with ``save_optimizer_state``).
- ``learning_stats.csv``, rewritten after every epoch: ``step`` (the epoch),
  ``losses/train.<loss>`` and, on evaluation epochs, ``losses/eval.<loss>`` and
  ``metrics/test.{rmse,rmse_pcutoff,mAP,mAR}``.
- ``train.txt`` (the log) and ``pytorch_config.yaml`` (with the overrides given
  here written into it, as DLC does).

The parent only needs :func:`read_learning_stats`, which imports nothing heavy.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc._env import import_deeplabcut
from napari_dlc_workbench.dlc.reporting import Reporter
from napari_dlc_workbench.io.atomic import atomic_write_text
from napari_dlc_workbench.io.config import load_config, save_config

__all__ = [
    "LEARNING_STATS",
    "last_snapshot",
    "read_learning_stats",
    "train",
    "train_folder",
]

LEARNING_STATS = "learning_stats.csv"
PREVIOUS_RUNS = "previous-runs"
_SNAPSHOT = re.compile(r"^snapshot(-best)?-(\d+)\.pt$")


def read_learning_stats(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """Read DLC's ``learning_stats.csv`` (a train folder or the file itself).

    Parameters
    ----------
    path : path
        The file, or the ``train`` folder holding it.

    Returns
    -------
    list of dict
        One dict per epoch, in file order: ``step`` (the epoch) and every
        column DLC wrote, as floats; cells DLC left empty (no evaluation that
        epoch) are NaN. Empty if the file does not exist yet.
    """
    path = Path(path)
    if path.is_dir():
        path = path / LEARNING_STATS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        values = {}
        for key, cell in row.items():
            try:
                values[key] = float(cell) if cell not in ("", None) else math.nan
            except ValueError:
                values[key] = math.nan
        rows.append(values)
    return rows


def last_snapshot(folder: str | os.PathLike[str]) -> tuple[Path, int] | None:
    """Find the pose snapshot trained for the most epochs in a ``train`` folder.

    Parameters
    ----------
    folder : path
        The shuffle's ``train`` folder.

    Returns
    -------
    tuple of (Path, int) or None
        The snapshot (a regular one when it ties with ``best``) and its epoch.
    """
    found = []
    for path in Path(folder).glob("snapshot-*.pt"):
        match = _SNAPSHOT.match(path.name)
        if match:
            found.append((int(match.group(2)), match.group(1) is None, path))
    if not found:
        return None
    epoch, _, path = max(found)
    return path, epoch


def train_folder(
    config: str | os.PathLike[str],
    shuffle: int = 1,
    trainingsetindex: int = 0,
    modelprefix: str = "",
) -> Path:
    """Locate the shuffle's ``train`` folder as DLC's own loader does (imports DLC).

    Raises
    ------
    FileNotFoundError
        If the shuffle has no PyTorch training dataset.
    """
    import_deeplabcut()
    from deeplabcut.core.engine import Engine
    from deeplabcut.utils import auxiliaryfunctions

    cfg = auxiliaryfunctions.read_config(str(config))
    fraction = cfg["TrainingFraction"][trainingsetindex]
    folder = (
        Path(config).parent
        / auxiliaryfunctions.get_model_folder(
            fraction, shuffle, cfg, engine=Engine.PYTORCH, modelprefix=modelprefix
        )
        / "train"
    )
    if not (folder / "pytorch_config.yaml").is_file():
        raise FileNotFoundError(
            f"{folder / 'pytorch_config.yaml'}: shuffle {shuffle} has no PyTorch training "
            "dataset; create the training dataset first"
        )
    return folder


def _archive_previous_run(folder: Path) -> Path | None:
    # A fresh run in a folder that holds another run's snapshots would mix the two:
    # DLC appends to learning_stats.csv, overwrites snapshot-NNN.pt of the same
    # epochs and prunes the old ones. Move them aside instead; nothing is deleted.
    old = [p for p in folder.glob("snapshot-*.pt") if p.is_file()]
    old += [p for p in folder.glob("learning_stats*.csv") if p.is_file()]
    if not old:
        return None
    target = folder / PREVIOUS_RUNS / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    target.mkdir(parents=True, exist_ok=False)
    for path in old:
        shutil.move(str(path), str(target / path.name))
    return target


def _truncate_learning_stats(folder: Path, epoch: int) -> None:
    # Rows after the snapshot we resume from describe epochs that will be
    # trained again; DLC would append the new ones after them.
    path = folder / LEARNING_STATS
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = lines[:1]
    for line in lines[1:]:
        head = line.split(",", 1)[0].strip()
        if head.isdigit() and int(head) <= epoch:
            kept.append(line)
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(kept))


def _set_configured_epochs(path: Path, epochs: int) -> None:
    cfg = load_config(path, validate=False)
    if cfg["train_settings"]["epochs"] != epochs:
        cfg["train_settings"]["epochs"] = epochs
        save_config(cfg, path, validate=False)


def _start_of_run(
    model_cfg: Mapping[str, Any],
    folder: Path,
    *,
    weights: str | os.PathLike[str],
    snapshot_path: str | os.PathLike[str] | None,
    report: Reporter,
) -> dict[str, Any]:
    from napari_dlc_workbench.dlc.weights import initial_weights

    archived = _archive_previous_run(folder)
    if archived is not None:
        report.emit("log", message=f"previous run moved to {archived}")
    if snapshot_path is not None:
        source = Path(snapshot_path)
        if archived is not None and (archived / source.name).is_file() and not source.exists():
            source = archived / source.name  # it was one of the files just moved aside
        return {"init": "snapshot", "init_snapshot": str(source), "warning": ""}
    seed = (model_cfg.get("train_settings") or {}).get("seed")
    start = initial_weights(model_cfg, folder, weights, seed=seed)
    if start.warning:
        report.emit("log", message=f"warning: {start.warning}")
    return {
        "init": start.source,
        "init_snapshot": None if start.snapshot is None else str(start.snapshot),
        "warning": start.warning,
    }


def train(
    config: str | os.PathLike[str],
    shuffle: int = 1,
    *,
    trainingsetindex: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: str | None = "auto",
    save_epochs: int | None = None,
    max_snapshots: int | None = None,
    eval_interval: int | None = None,
    weights: str | os.PathLike[str] = "auto",
    snapshot_path: str | os.PathLike[str] | None = None,
    resume: bool = False,
    detector_epochs: int | None = None,
    modelprefix: str = "",
    pytorch_cfg_updates: Mapping[str, Any] | None = None,
    report: Reporter | None = None,
) -> dict[str, Any]:
    """Train (or resume training) a shuffle with ``deeplabcut.train_network``.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    shuffle, trainingsetindex : int
        Which training dataset.
    epochs : int, optional
        Fresh run: epochs to train. ``resume=True``: the epoch to reach in all
        (e.g. 200 to finish a run cancelled at epoch 57). Default: the
        ``train_settings.epochs`` of ``pytorch_config.yaml``.
    batch_size, save_epochs, max_snapshots : int, optional
        Overrides of the config's values (DLC writes them into it).
    device : str, optional
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda:0"``...;
        None uses the config's ``device``.
    eval_interval : int, optional
        Evaluate on the test split every this many epochs (test metrics in
        ``learning_stats.csv`` and in epoch events); config value if omitted.
    weights : {"auto", "pretrained", "random"} or path
        Start of a fresh run, see :mod:`napari_dlc_workbench.dlc.weights`.
    snapshot_path : path, optional
        Start from this DLC snapshot instead (DLC's own semantics: a snapshot
        with an epoch in its metadata is continued, ``epochs`` more).
    resume : bool
        Continue from the last snapshot in the train folder (e.g. after a
        cancelled run); the epoch count continues from it.
    detector_epochs : int, optional
        Top-down models only: epochs for the detector (0 skips it).
    modelprefix : str
        DLC's model prefix.
    pytorch_cfg_updates : Mapping, optional
        Further dotted-key overrides, as DLC's ``pytorch_cfg_updates``.
    report : Reporter, optional
        Receives progress, epoch and snapshot events.

    Returns
    -------
    dict
        ``train_folder``, ``learning_stats`` (path), ``snapshots`` (file names),
        ``last_snapshot`` (path), ``first_epoch``/``last_epoch`` trained by this
        run (None if none: a resume of a finished run),
        ``init`` (``pretrained``, ``random``, ``file``, ``snapshot`` or ``resume``),
        ``init_snapshot`` and ``warning``.

    Raises
    ------
    napari_dlc_workbench.io.config.ConfigError
        ``config.yaml`` missing, not YAML, or lacking required keys.
    FileNotFoundError
        No training dataset, or nothing to resume.
    napari_dlc_workbench.dlc.weights.WeightsError
        A weights file that does not fit.
    """
    from napari_dlc_workbench.dlc._progress import training_progress

    report = report or Reporter()
    load_config(config)  # a missing or broken file fails here, named, before DLC's slow import
    dlc = import_deeplabcut()
    from deeplabcut.pose_estimation_pytorch.config import read_config_as_dict

    folder = train_folder(config, shuffle, trainingsetindex, modelprefix)
    model_cfg = read_config_as_dict(folder / "pytorch_config.yaml")
    target = int(model_cfg["train_settings"]["epochs"]) if epochs is None else int(epochs)
    run_epochs = target
    if resume:
        found = last_snapshot(folder)
        if found is None:
            raise FileNotFoundError(f"{folder}: no snapshot-*.pt to resume from")
        snapshot, trained = found
        _truncate_learning_stats(folder, trained)
        start = {"init": "resume", "init_snapshot": str(snapshot), "warning": ""}
        run_epochs -= trained
        snapshot_path = snapshot
        if run_epochs <= 0:
            report.emit("log", message=f"{snapshot.name}: already trained {trained} epochs")
            return _summary(folder, start, [])
    else:
        start = _start_of_run(
            model_cfg, folder, weights=weights, snapshot_path=snapshot_path, report=report
        )
        snapshot_path = start["init_snapshot"]

    updates = dict(pytorch_cfg_updates or {})
    if eval_interval is not None:
        updates["runner.eval_interval"] = int(eval_interval)
    if resume and detector_epochs is None:
        detector_epochs = 0  # a top-down detector is not trained again on resume
    try:
        with training_progress(report) as done:
            dlc.train_network(
                str(config),
                shuffle=shuffle,
                trainingsetindex=trainingsetindex,
                modelprefix=modelprefix,
                epochs=run_epochs,
                batch_size=batch_size,
                save_epochs=save_epochs,
                max_snapshots_to_keep=max_snapshots,
                detector_epochs=detector_epochs,
                device=device,
                snapshot_path=None if snapshot_path is None else str(snapshot_path),
                pytorch_cfg_updates=updates or None,
            )
    finally:
        if resume:
            # DLC writes the epochs it is given (the remainder) into the config;
            # the config keeps describing the whole run, so a later resume finds it.
            _set_configured_epochs(folder / "pytorch_config.yaml", target)
    return _summary(folder, start, done.get("pose", []))


def _summary(folder: Path, start: Mapping[str, Any], epochs: list[int]) -> dict[str, Any]:
    found = last_snapshot(folder)
    snapshots = sorted(p.name for p in folder.glob("snapshot-*.pt") if _SNAPSHOT.match(p.name))
    return {
        "train_folder": str(folder),
        "learning_stats": str(folder / LEARNING_STATS),
        "snapshots": snapshots,
        "last_snapshot": None if found is None else str(found[0]),
        "first_epoch": epochs[0] if epochs else None,
        "last_epoch": epochs[-1] if epochs else None,
        **start,
    }
