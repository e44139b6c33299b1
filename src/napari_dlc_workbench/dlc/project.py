"""Create DLC projects and training datasets through DLC's own functions.

The workbench writes DLC's files itself (``io``), but the steps whose result
DLC must recognise as its own - a new project, a training dataset - are done
by DLC, so their layout is DLC's by definition.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc._env import import_deeplabcut
from napari_dlc_workbench.io.config import load_config, save_config

__all__ = ["create_project", "create_training_dataset"]


def create_project(
    task: str,
    experimenter: str,
    videos: Sequence[str | os.PathLike[str]],
    working_directory: str | os.PathLike[str],
    *,
    bodyparts: Sequence[str],
    copy_videos: bool = True,
    **config_updates: Any,
) -> Path:
    """Create a single-animal DLC project with ``deeplabcut.create_new_project``.

    Parameters
    ----------
    task : str
        Project (task) name, e.g. ``"Cladonema_starved"``.
    experimenter : str
        Scorer; names the labels files (``"Vlad&Genta"`` works).
    videos : sequence of path
        Videos to register.
    working_directory : str or PathLike
        Folder in which ``<task>-<experimenter>-<date>/`` is made.
    bodyparts : sequence of str
        Keypoint names written to ``config.yaml``.
    copy_videos : bool
        Copy the videos into the project (else DLC links them).
    **config_updates
        Further ``config.yaml`` keys to set (e.g. ``numframes2pick=20``).

    Returns
    -------
    Path
        The new project's ``config.yaml``.

    Raises
    ------
    RuntimeError
        If DLC created nothing (e.g. the project exists already).
    """
    deeplabcut = import_deeplabcut()
    config = deeplabcut.create_new_project(
        task,
        experimenter,
        [str(v) for v in videos],
        working_directory=str(working_directory),
        copy_videos=copy_videos,
    )
    if not config or config == "nothingcreated":
        raise RuntimeError(
            f"DeepLabCut created no project {task}-{experimenter} in {working_directory} "
            "(does it exist already?)"
        )
    config = Path(config)
    cfg = load_config(config)
    cfg["bodyparts"] = list(bodyparts)
    for key, value in config_updates.items():
        cfg[key] = value
    save_config(cfg, config)
    return config


def create_training_dataset(
    config: str | os.PathLike[str],
    *,
    net_type: str = "cspnext_s",
    shuffle: int = 1,
    train_fraction: float | None = None,
) -> dict[str, Any]:
    """Run DLC's ``create_training_dataset`` without prompts.

    Parameters
    ----------
    config : str or PathLike
        The project's ``config.yaml``.
    net_type : str
        DLC network name; ``cspnext_s`` is small enough to train on a CPU.
    shuffle : int
        Shuffle index to create.
    train_fraction : float, optional
        Fraction of labelled images used for training; the config's first
        ``TrainingFraction`` if omitted.

    Returns
    -------
    dict
        ``shuffle``, ``train_fraction``, ``n_train`` and ``n_test`` (number of
        labelled images in each split).
    """
    deeplabcut = import_deeplabcut()
    cfg = load_config(config)
    fractions = [train_fraction] if train_fraction else list(cfg["TrainingFraction"])
    if train_fraction is not None:
        cfg["TrainingFraction"] = fractions
        save_config(cfg, config)
    splits = deeplabcut.create_training_dataset(
        str(config), Shuffles=[shuffle], net_type=net_type, userfeedback=False
    )
    if not splits:
        raise RuntimeError(f"{config}: DeepLabCut created no training dataset (no labels found?)")
    fraction, index, (train, test) = splits[0]
    return {
        "shuffle": int(index),
        "train_fraction": float(fraction),
        "n_train": len(train),
        "n_test": len(test),
    }
