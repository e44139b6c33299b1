"""Find and read what DLC 3's evaluation of a shuffle left on disk, without importing DLC.

The napari process must never import ``deeplabcut`` (torch after a GL context
segfaults), yet the Evaluation dock has to list snapshots, notice results that
already exist and draw the evaluated images. Everything it needs is in files
whose names DLC 3.0 builds from ``config.yaml`` (``auxiliaryfunctions``
``get_model_folder``, ``get_evaluation_folder``, ``get_training_set_folder``,
``get_data_and_metadata_filenames``; ``apis.utils.get_scorer_name``):

- ``dlc-models-pytorch/iteration-N/<Task><date>-trainset<P>shuffle<K>/train/``:
  ``snapshot-NNN.pt``, ``snapshot-best-NNN.pt`` and ``pytorch_config.yaml``
  (``net_type`` names the scorer);
- ``evaluation-results-pytorch/iteration-N/<same folder>/``:
  ``<scorer>-results.csv``, ``<scorer>-keypoint-results.csv`` and
  ``<scorer>.h5``, the predictions for EVERY image of the training dataset
  (train and test rows, in the dataset's order), HDF key ``df_with_missing``,
  columns ``scorer/individuals/bodyparts/coords`` (x, y, likelihood) even for
  single-animal projects, rows ``("labeled-data", video, image)``;
- ``training-datasets/iteration-N/UnaugmentedDataSet_<Task><date>/``:
  ``CollectedData_<scorer>.h5`` (all labels merged when the dataset was made: the
  ground truth DLC evaluated against, whatever was relabelled since) and
  ``Documentation_data-<Task>_<P>shuffle<K>.pickle``, the list
  ``[data, train_indices, test_indices, train_fraction]`` whose indices are row
  positions in that CollectedData.

``<P>`` is ``int(100 * TrainingFraction[i])``, truncated as DLC truncates it;
``<scorer>`` is ``DLC_<NetType>_<Task><date>shuffle<K>_snapshot_<uid>`` with
``<uid>`` the snapshot's epochs (``best-<epochs>`` for a best snapshot), and a
``detector_<uid>_`` part before it for top-down models.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.labels import DLC_HDF_KEY, LabelsError, read_hdf_frame
from napari_dlc_workbench.io.predictions import _MetaUnpickler
from napari_dlc_workbench.model.keypoints import KeypointError, KeypointTable

__all__ = [
    "EvaluationFiles",
    "ShuffleFiles",
    "SnapshotFile",
    "default_snapshot",
    "describe_snapshots",
    "find_evaluation",
    "list_snapshots",
    "model_folder",
    "read_evaluation_predictions",
    "read_ground_truth",
    "read_split",
    "shuffle_files",
]

_SNAPSHOT = re.compile(r"^snapshot-(?P<best>best-)?(?P<epochs>\d+)\.pt$")


@dataclass(frozen=True)
class SnapshotFile:
    """A pose snapshot in a shuffle's ``train`` folder.

    Attributes
    ----------
    path : Path
        ``snapshot-NNN.pt`` or ``snapshot-best-NNN.pt``.
    epochs : int
        Epochs trained when it was saved.
    best : bool
        Whether DLC kept it as the best so far (highest test mAP).
    """

    path: Path
    epochs: int
    best: bool

    @property
    def name(self) -> str:
        """File name without ``.pt`` (what ``dlc.evaluation.evaluate`` takes)."""
        return self.path.stem

    @property
    def uid(self) -> str:
        """DLC's id of the snapshot in scorer names: ``"2"`` or ``"best-1"``."""
        return f"best-{self.epochs}" if self.best else str(self.epochs)


@dataclass(frozen=True)
class ShuffleFiles:
    """Where DLC keeps one shuffle's model, evaluation and training dataset.

    Attributes
    ----------
    config : Path
        The project's ``config.yaml``.
    shuffle : int
        Shuffle number.
    train_fraction : float
        ``TrainingFraction[trainingsetindex]``.
    train_folder : Path
        ``dlc-models-pytorch/.../train``.
    evaluation_folder : Path
        ``evaluation-results-pytorch/iteration-N/<shuffle folder>``.
    dataset_folder : Path
        ``training-datasets/iteration-N/UnaugmentedDataSet_<Task><date>``.
    documentation : Path
        The shuffle's ``Documentation_data-*.pickle`` (train/test split).
    ground_truth : Path
        The dataset's merged ``CollectedData_<scorer>.h5``.
    scorer_prefix : str
        ``DLC_<NetType>_<Task><date>shuffle<K>_``: every evaluation scorer of
        the shuffle starts with it (empty when ``pytorch_config.yaml`` is missing).
    snapshotindex : int or str
        ``config.yaml``'s ``snapshotindex`` (``-1``, ``"best"``, ``"all"``...).
    """

    config: Path
    shuffle: int
    train_fraction: float
    train_folder: Path
    evaluation_folder: Path
    dataset_folder: Path
    documentation: Path
    ground_truth: Path
    scorer_prefix: str
    snapshotindex: int | str = -1


@dataclass(frozen=True)
class EvaluationFiles:
    """DLC's evaluation output for one snapshot.

    Attributes
    ----------
    scorer : str
        E.g. ``DLC_CspnextS_Cladonema_starvedNov29shuffle1_snapshot_2``.
    results_csv, keypoint_csv, predictions : Path
        ``<scorer>-results.csv``, ``<scorer>-keypoint-results.csv`` (may not
        exist: DLC writes it only with ``per_keypoint_evaluation``) and ``<scorer>.h5``.
    """

    scorer: str
    results_csv: Path
    keypoint_csv: Path
    predictions: Path


def _net_name(train_folder: Path) -> str | None:
    # DLC: "".join(p.capitalize() for p in net_type.split("_")), e.g. cspnext_s -> CspnextS
    try:
        model_cfg = load_config(train_folder / "pytorch_config.yaml", validate=False)
    except ValueError:
        return None
    net_type = model_cfg.get("net_type")
    return "".join(p.capitalize() for p in str(net_type).split("_")) if net_type else None


def model_folder(cfg: Mapping[str, Any], train_fraction: float, shuffle: int) -> Path:
    """Relative path of a shuffle's PyTorch model folder, as DLC's ``get_model_folder``.

    Parameters
    ----------
    cfg : Mapping
        The project's ``config.yaml`` content (``Task``, ``date``, ``iteration``).
    train_fraction : float
        The shuffle's training fraction.
    shuffle : int
        Shuffle index.

    Returns
    -------
    Path
        ``dlc-models-pytorch/iteration-N/<Task><date>-trainset<P>shuffle<K>``.
    """
    # int(f * 100) as DLC computes it (0.95 -> 95, 0.57 -> 56): the name must match DLC's.
    name = f"{cfg['Task']}{cfg['date']}-trainset{int(train_fraction * 100)}shuffle{shuffle}"
    return Path("dlc-models-pytorch", f"iteration-{cfg.get('iteration', 0)}", name)


def shuffle_files(
    config: str | os.PathLike[str],
    shuffle: int = 1,
    trainingsetindex: int = 0,
    modelprefix: str = "",
) -> ShuffleFiles:
    """Locate a shuffle's folders and files as DLC 3.0 names them.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``; the project is its folder, whatever
        ``project_path`` inside says.
    shuffle, trainingsetindex : int
        Which training dataset.
    modelprefix : str
        DLC's model prefix (a subfolder holding the model folders).

    Returns
    -------
    ShuffleFiles
        Paths that may not exist yet.

    Raises
    ------
    napari_dlc_workbench.io.config.ConfigError
        If ``config.yaml`` is missing, not YAML or lacks required keys.
    ValueError
        If ``trainingsetindex`` is outside ``TrainingFraction``.
    """
    config = Path(config)
    cfg = load_config(config)
    fractions = list(cfg.get("TrainingFraction") or [])
    if not 0 <= trainingsetindex < len(fractions):
        raise ValueError(f"{config}: TrainingFraction {fractions} has no index {trainingsetindex}")
    fraction = float(fractions[trainingsetindex])
    task, date, iteration = cfg["Task"], cfg["date"], cfg.get("iteration", 0)
    percent = int(fraction * 100)  # truncated, as DLC does (0.57 -> 56)
    model = model_folder(cfg, fraction, shuffle)
    name = model.name
    root = config.parent / modelprefix if modelprefix else config.parent
    train = root / model / "train"
    evaluation_root = cfg.get("eval_prefix") or "evaluation-results-pytorch"
    dataset = config.parent / "training-datasets" / f"iteration-{iteration}"
    dataset = dataset / f"UnaugmentedDataSet_{task}{date}"
    net = _net_name(train)
    return ShuffleFiles(
        config=config,
        shuffle=shuffle,
        train_fraction=fraction,
        train_folder=train,
        evaluation_folder=root / evaluation_root / f"iteration-{iteration}" / name,
        dataset_folder=dataset,
        documentation=dataset / f"Documentation_data-{task}_{percent}shuffle{shuffle}.pickle",
        ground_truth=dataset / f"CollectedData_{cfg['scorer']}.h5",
        scorer_prefix=f"DLC_{net}_{task}{date}shuffle{shuffle}_" if net else "",
        snapshotindex=cfg.get("snapshotindex", -1),
    )


def list_snapshots(train_folder: str | os.PathLike[str]) -> list[SnapshotFile]:
    """List the pose snapshots of a ``train`` folder by epochs.

    Parameters
    ----------
    train_folder : path
        The shuffle's ``train`` folder (detector snapshots, named
        ``snapshot-detector-*``, are not pose snapshots and are left out).

    Returns
    -------
    list of SnapshotFile
        Sorted by epochs; at equal epochs the best snapshot comes first.
    """
    folder = Path(train_folder)
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _SNAPSHOT.match(path.name)
            if match and path.is_file():
                best = match["best"] is not None
                found.append(SnapshotFile(path, int(match["epochs"]), best))
    return sorted(found, key=lambda s: (s.epochs, not s.best))


def default_snapshot(
    snapshots: list[SnapshotFile], snapshotindex: int | str = -1
) -> SnapshotFile | None:
    """Pick the snapshot DLC uses for ``snapshotindex`` (evaluation, analysis).

    DLC 3 orders snapshots by epochs with the best snapshot moved to the end
    (``list_snapshots(best_in_last=True)``), so ``-1`` means the best snapshot
    when there is one, else the last; ``"best"`` the best; ``"all"`` is read as ``-1``.

    Returns
    -------
    SnapshotFile or None
        None when there is no such snapshot.
    """
    ordered = sorted(snapshots, key=lambda s: (s.best, s.epochs))
    if isinstance(snapshotindex, str):
        if snapshotindex.lower() == "best":
            return next((s for s in reversed(ordered) if s.best), None)
        snapshotindex = -1
    try:
        return ordered[int(snapshotindex)]
    except IndexError:
        return None


def describe_snapshots(
    snapshots: list[SnapshotFile], default: SnapshotFile | None = None
) -> list[str]:
    """Name each snapshot for a menu, marking the best, the last and DLC's default.

    Returns
    -------
    list of str
        E.g. ``"snapshot-best-040 (40 epochs, best, DLC's default)"``,
        ``"snapshot-050 (50 epochs, last)"``.
    """
    last = max(snapshots, key=lambda s: (s.epochs, not s.best), default=None)
    best = max((s for s in snapshots if s.best), key=lambda s: s.epochs, default=None)
    labels = []
    for snap in snapshots:
        marks = (("best", best), ("last", last), ("DLC's default", default))
        tags = "".join(f", {tag}" for tag, which in marks if snap is which)
        labels.append(f"{snap.name} ({snap.epochs} epoch{'' if snap.epochs == 1 else 's'}{tags})")
    return labels


def find_evaluation(files: ShuffleFiles, snapshot: SnapshotFile) -> EvaluationFiles | None:
    """Find DLC's results for ``snapshot``, if it was evaluated.

    Parameters
    ----------
    files : ShuffleFiles
        The shuffle.
    snapshot : SnapshotFile
        The snapshot.

    Returns
    -------
    EvaluationFiles or None
        None when no ``<scorer>-results.csv`` for this snapshot exists. With
        several detectors evaluated (top-down models), the newest file wins.
    """
    folder = files.evaluation_folder
    if not folder.is_dir():
        return None
    ending = f"snapshot_{snapshot.uid}-results.csv"
    candidates = []
    for path in folder.glob(f"*{ending}"):
        scorer = path.name.removesuffix("-results.csv")
        middle = scorer.removeprefix(files.scorer_prefix).removesuffix(f"snapshot_{snapshot.uid}")
        # "snapshot_2" must not match "snapshot_12"; a detector part may sit in front.
        prefix_ok = files.scorer_prefix and scorer.startswith(files.scorer_prefix)
        if prefix_ok and (middle == "" or re.fullmatch(r"detector_(best-)?\d+_", middle)):
            candidates.append(path)
    if not candidates:
        return None
    results = max(candidates, key=lambda p: p.stat().st_mtime)
    scorer = results.name.removesuffix("-results.csv")
    return EvaluationFiles(
        scorer=scorer,
        results_csv=results,
        keypoint_csv=folder / f"{scorer}-keypoint-results.csv",
        predictions=folder / f"{scorer}.h5",
    )


def read_split(files: ShuffleFiles) -> dict[str, list[int]]:
    """Read the shuffle's train/test split from ``Documentation_data-*.pickle``.

    The pickle is read with the same allow-list unpickler as prediction meta
    files (plain Python and numpy only), so a tampered file cannot run code.

    Parameters
    ----------
    files : ShuffleFiles
        The shuffle.

    Returns
    -------
    dict
        ``{"train": [...], "test": [...]}``: sorted row positions in the
        dataset's ``CollectedData`` (:func:`read_ground_truth`).

    Raises
    ------
    LabelsError
        If the file is missing or is not DLC's documentation list.
    """
    path = files.documentation
    if not path.is_file():
        raise LabelsError(path, "no training dataset documentation: create the training dataset")
    try:
        with path.open("rb") as fh:
            content: Any = _MetaUnpickler(fh).load()
    except Exception as exc:
        raise LabelsError(path, f"not a readable DLC documentation file ({exc})") from exc
    if not isinstance(content, (list, tuple)) or len(content) < 3:
        raise LabelsError(path, "expected [data, train indices, test indices, fraction]")
    try:
        train = sorted(int(i) for i in np.asarray(content[1]).ravel())
        test = sorted(int(i) for i in np.asarray(content[2]).ravel())
    except (TypeError, ValueError) as exc:
        raise LabelsError(path, f"train/test indices are not integers ({exc})") from exc
    return {"train": train, "test": test}


def read_ground_truth(files: ShuffleFiles) -> KeypointTable:
    """Read the labels DLC evaluated against: the dataset's merged ``CollectedData``.

    Parameters
    ----------
    files : ShuffleFiles
        The shuffle.

    Returns
    -------
    KeypointTable
        Rows in file order (the split's indices are positions in it).

    Raises
    ------
    LabelsError
        If the file is missing or not DLC's labels layout.
    """
    df = read_hdf_frame(files.ground_truth, preferred=(DLC_HDF_KEY,))
    try:
        table = KeypointTable.from_dataframe(df)
    except KeypointError as exc:
        raise LabelsError(files.ground_truth, f"not in DLC's labels layout: {exc}") from exc
    table.index = [tuple(map(str, k)) if isinstance(k, tuple) else k for k in table.index]
    return table


def read_evaluation_predictions(path: str | os.PathLike[str]) -> KeypointTable:
    """Read DLC's ``<scorer>.h5`` of an evaluation: predictions per labelled image.

    Parameters
    ----------
    path : path
        The evaluation's predictions file.

    Returns
    -------
    KeypointTable
        Rows are ``("labeled-data", video, image)`` tuples; an ``individuals``
        column level is kept as DLC wrote it (``multianimal`` True).

    Raises
    ------
    LabelsError
        If the file is unreadable, not DLC's layout, or has no likelihood.
    """
    df = read_hdf_frame(path, preferred=(DLC_HDF_KEY,))
    try:
        table = KeypointTable.from_dataframe(df)
    except KeypointError as exc:
        raise LabelsError(path, f"not in DLC's keypoint layout: {exc}") from exc
    if not table.has_likelihood:
        raise LabelsError(path, "has no likelihood column: these are labels, not predictions")
    if not all(isinstance(k, tuple) for k in table.index):
        raise LabelsError(path, "rows are not labelled images: is this a video's predictions?")
    table.index = [tuple(map(str, k)) for k in table.index]
    return table
