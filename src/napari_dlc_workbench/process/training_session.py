"""What the Training dock decides and shows, without Qt and without DeepLabCut.

The dock (``_qt/training_widget.py``) only lays out controls; everything it
computes is here, so it can be tested in milliseconds:

- :func:`shuffle_state` looks at a project's shuffle on disk: whether DLC's
  training dataset exists (its ``pytorch_config.yaml``), for which network and
  with which settings, where the ``train`` folder is;
- :func:`start_jobs` and :func:`resume_job` turn the dock's settings into the
  ``(job name, kwargs)`` pairs that ``dlc.runner.Job`` runs (creating the
  training dataset first when it is missing);
- :class:`TrainingCurve` accumulates the per-epoch train loss and test RMSE from
  ``epoch`` events or ``learning_stats.csv`` rows;
- :class:`TrainingProgress` follows a job's events: batch progress, ETA from
  epoch durations, snapshots, status and errors.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.evaluation_files import model_folder
from napari_dlc_workbench.model.jobs import JobEvent

__all__ = [
    "LOSS_KEY",
    "RMSE_KEY",
    "JobSpec",
    "ShuffleState",
    "TrainingCurve",
    "TrainingProgress",
    "TrainingSettings",
    "config_from_metadata",
    "device_choices",
    "format_duration",
    "resume_job",
    "shuffle_state",
    "start_jobs",
]

LOSS_KEY = "losses/train.total_loss"
"""Column of ``learning_stats.csv`` (and key of epoch events' metrics) for the train loss."""
RMSE_KEY = "metrics/test.rmse"
"""Column for the test RMSE in pixels (present on evaluation epochs only)."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

JobSpec = tuple[str, dict[str, Any]]
"""A job for ``dlc.runner.Job(name, kwargs)``: its name and JSON keyword arguments."""


@dataclass(frozen=True)
class TrainingSettings:
    """The dock's controls, as the jobs need them.

    Attributes
    ----------
    config : Path
        The project's ``config.yaml``.
    shuffle : int
        Shuffle index.
    train_fraction : float
        Fraction of labelled images used for training (DLC's ``TrainingFraction``).
    net_type : str
        DLC network, e.g. ``"cspnext_s"``.
    epochs : int
        Epochs of a fresh run; for a resume, the epoch to reach in all.
    batch_size : int
        Images per batch.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda:0"``...
    save_epochs : int
        Save a snapshot every this many epochs (and at the last one).
    eval_interval : int
        Evaluate on the test images every this many epochs (test RMSE points).
    weights : str
        ``"auto"``, ``"random"`` or a weights file (see ``dlc/weights.py``).
    """

    config: Path
    shuffle: int = 1
    train_fraction: float = 0.95
    net_type: str = "cspnext_s"
    epochs: int = 200
    batch_size: int = 8
    device: str = "auto"
    save_epochs: int = 25
    eval_interval: int = 1
    weights: str = "auto"


@dataclass(frozen=True)
class ShuffleState:
    """A shuffle of a project as found on disk.

    Attributes
    ----------
    train_folder : Path
        ``dlc-models-pytorch/iteration-N/<Task><date>-trainset<P>shuffle<K>/train``.
    exists : bool
        Whether DLC's training dataset exists (``pytorch_config.yaml`` in it).
    trainingsetindex : int or None
        Index of the train fraction in the config's ``TrainingFraction``.
    net_type : str or None
        Network of the existing dataset.
    settings : dict
        Its ``epochs``, ``batch_size``, ``save_epochs``, ``eval_interval`` and
        ``device`` where set.
    """

    train_folder: Path
    exists: bool
    trainingsetindex: int | None = None
    net_type: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the dock, e.g. ``"dataset exists (cspnext_s)"``."""
        if self.exists:
            return f"training dataset exists ({self.net_type or 'unknown network'})"
        return "no training dataset yet: Start creates it"


def config_from_metadata(metadata: Mapping[str, Any]) -> Path | None:
    """Find the project ``config.yaml`` a layer belongs to, from its metadata.

    Parameters
    ----------
    metadata : Mapping
        A napari layer's metadata: this plugin's layers keep the project folder
        in ``project`` (as napari-deeplabcut does) and a config layer its file in
        ``workbench.source``.

    Returns
    -------
    Path or None
        An existing ``config.yaml``, or None.
    """
    candidates = []
    source = (metadata.get("workbench") or {}).get("source")
    if source and Path(str(source)).name in ("config.yaml", "config.yml"):
        candidates.append(Path(str(source)))
    if metadata.get("project"):
        candidates.append(Path(str(metadata["project"])) / "config.yaml")
    return next((path for path in candidates if path.is_file()), None)


def _fraction_index(fractions: Sequence[float], train_fraction: float) -> int | None:
    for index, value in enumerate(fractions):
        if math.isclose(float(value), train_fraction, abs_tol=1e-9):
            return index
    return None


def shuffle_state(
    config: str | os.PathLike[str], shuffle: int, train_fraction: float
) -> ShuffleState:
    """Look at a shuffle on disk (reads YAML only; never imports DLC).

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    shuffle : int
        Shuffle index.
    train_fraction : float
        Training fraction of the shuffle.

    Returns
    -------
    ShuffleState

    Raises
    ------
    ConfigError
        If ``config.yaml`` is missing, unreadable or lacks DLC's keys.
    """
    config = Path(config)
    cfg = load_config(config)
    folder = config.parent / model_folder(cfg, train_fraction, shuffle) / "train"
    index = _fraction_index(list(cfg.get("TrainingFraction") or []), train_fraction)
    pytorch_config = folder / "pytorch_config.yaml"
    if index is None or not pytorch_config.is_file():
        return ShuffleState(folder, False, index)
    try:
        # Read-only and on the GUI thread: libyaml's safe loader, ~5x quicker than ruamel.
        model_cfg = yaml.load(pytorch_config.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ShuffleState(folder, False, index)
    if not isinstance(model_cfg, Mapping):
        return ShuffleState(folder, False, index)
    train = model_cfg.get("train_settings") or {}
    runner = model_cfg.get("runner") or {}
    snapshots = runner.get("snapshots") or {}
    found = {
        "epochs": train.get("epochs"),
        "batch_size": train.get("batch_size"),
        "save_epochs": snapshots.get("save_epochs"),
        "eval_interval": runner.get("eval_interval"),
        "device": model_cfg.get("device") or runner.get("device"),
    }
    settings = {key: value for key, value in found.items() if value is not None}
    net = model_cfg.get("net_type")
    return ShuffleState(folder, True, index, None if net is None else str(net), settings)


def _train_kwargs(settings: TrainingSettings, index: int) -> dict[str, Any]:
    return {
        "config": str(settings.config),
        "shuffle": settings.shuffle,
        "trainingsetindex": index,
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "device": settings.device,
        "save_epochs": settings.save_epochs,
        "eval_interval": settings.eval_interval,
    }


def start_jobs(settings: TrainingSettings, state: ShuffleState) -> list[JobSpec]:
    """List the jobs Start runs: the training dataset when missing, then a fresh run.

    Parameters
    ----------
    settings : TrainingSettings
        The dock's controls.
    state : ShuffleState
        The shuffle on disk (:func:`shuffle_state` for the same settings).

    Returns
    -------
    list of JobSpec
        ``[("create_training_dataset", ...), ("train", ...)]`` or ``[("train", ...)]``.

    Raises
    ------
    ValueError
        If the shuffle exists for another network: recreating it would replace
        that dataset, so the user must choose another shuffle number.
    """
    if state.exists and state.net_type and state.net_type != settings.net_type:
        raise ValueError(
            f"shuffle {settings.shuffle} was created for {state.net_type}; choose "
            f"{state.net_type}, or another shuffle number to train {settings.net_type}"
        )
    index = 0 if state.trainingsetindex is None else state.trainingsetindex
    train = {**_train_kwargs(settings, index), "weights": settings.weights}
    if state.exists:
        return [("train", train)]
    dataset = {
        "config": str(settings.config),
        "net_type": settings.net_type,
        "shuffle": settings.shuffle,
        "train_fraction": settings.train_fraction,
    }
    # create_training_dataset makes the fraction the config's only one: index 0.
    return [("create_training_dataset", dataset), ("train", {**train, "trainingsetindex": 0})]


def resume_job(settings: TrainingSettings, state: ShuffleState) -> JobSpec:
    """Return the job Resume runs: from the last snapshot up to ``settings.epochs`` in all.

    Raises
    ------
    ValueError
        If the shuffle has no training dataset.
    """
    if not state.exists or state.trainingsetindex is None:
        raise ValueError(f"shuffle {settings.shuffle} has no training dataset to resume")
    return "train", {**_train_kwargs(settings, state.trainingsetindex), "resume": True}


def _finite(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


class TrainingCurve:
    """Train loss and test RMSE per epoch, in epoch order.

    A resumed run restarts its epoch count after the snapshot it continues from:
    an epoch already present replaces the points from it on, as DLC drops those
    rows from ``learning_stats.csv``.
    """

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.loss: list[float] = []
        self.rmse: list[float] = []

    def __len__(self) -> int:
        return len(self.epochs)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, float]]) -> TrainingCurve:
        """Build from ``learning_stats.csv`` rows (``dlc.training.read_learning_stats``)."""
        curve = cls()
        for row in rows:
            step = row.get("step")
            if step is not None and math.isfinite(step):
                curve.add(int(step), row.get(LOSS_KEY), row.get(RMSE_KEY))
        return curve

    def add(self, epoch: int, loss: Any, rmse: Any = None) -> None:
        """Add one epoch (NaN for a value DLC did not log that epoch)."""
        if self.epochs and epoch <= self.epochs[-1]:
            keep = next(i for i, e in enumerate(self.epochs) if e >= epoch)
            del self.epochs[keep:], self.loss[keep:], self.rmse[keep:]
        self.epochs.append(int(epoch))
        self.loss.append(_finite(loss))
        self.rmse.append(_finite(rmse))

    def add_event(self, event: JobEvent) -> bool:
        """Add a pose-model ``epoch`` event; return whether it was one.

        Top-down models train a detector first with its own epochs; those are
        not the pose model's curve.
        """
        if event.kind != "epoch" or event.epoch is None or event.stage not in ("", "pose"):
            return False
        loss = event.loss if event.loss is not None else event.metrics.get(LOSS_KEY)
        self.add(event.epoch, loss, event.metrics.get(RMSE_KEY))
        return True

    def evaluated(self) -> tuple[list[int], list[float]]:
        """Return the epochs with a test RMSE, and those RMSEs."""
        pairs = [(e, r) for e, r in zip(self.epochs, self.rmse, strict=True) if math.isfinite(r)]
        return [e for e, _ in pairs], [r for _, r in pairs]


def format_duration(seconds: float | None) -> str:
    """Write seconds as ``"42 s"``, ``"3 min 05 s"`` or ``"2 h 07 min"`` (``"—"`` if unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class TrainingProgress:
    """Follows one job's events: what the dock shows besides the curve.

    Parameters
    ----------
    window : int
        Number of recent epoch durations the ETA averages.
    """

    def __init__(self, window: int = 5) -> None:
        self.window = window
        self.job_name = ""
        self.epoch: int | None = None
        self.epochs: int | None = None
        self.step: int | None = None
        self.total: int | None = None
        self.snapshot: str | None = None
        self.status = ""
        self.warning = ""
        self.error = ""
        self.traceback = ""
        self.final: JobEvent | None = None
        self.durations: list[float] = []
        self._epoch_started: float | None = None

    def feed(self, event: JobEvent) -> None:
        """Take one event of the job (any kind; ``log`` lines only for warnings)."""
        self.job_name = event.job_name or self.job_name
        if event.stage not in ("", "pose"):  # a top-down detector: status only
            if event.kind in ("epoch", "progress") and event.epoch is not None:
                self.status = f"training the {event.stage}: epoch {event.epoch}/{event.epochs}"
            if not event.terminal:
                return
        kind = event.kind
        if kind == "started":
            self.status = f"{event.job_name}: starting DeepLabCut…"
        elif kind == "progress":
            self._on_progress(event)
        elif kind == "epoch":
            self._on_epoch(event)
        elif kind == "snapshot" and event.snapshot:
            self.snapshot = event.snapshot
        elif kind == "log" and event.message.startswith("warning:"):
            self.warning = event.message[len("warning:") :].strip()
        elif event.terminal:
            self._on_final(event)

    def _on_progress(self, event: JobEvent) -> None:
        if event.epochs is not None:
            self.epochs = event.epochs
        if event.total is None:  # the start of a training run: the epoch it continues from
            if event.epoch is not None:
                self.epoch = event.epoch
            self._epoch_started = event.timestamp
            self.status = event.message or self.status
            return
        if self._epoch_started is None:
            self._epoch_started = event.timestamp
        self.step, self.total = event.step, event.total
        self.status = (
            f"training: epoch {event.epoch}/{self.epochs}, batch {event.step}/{event.total}"
        )

    def _on_epoch(self, event: JobEvent) -> None:
        if self._epoch_started is not None:
            self.durations.append(max(0.0, event.timestamp - self._epoch_started))
        self._epoch_started = event.timestamp
        self.epoch, self.step = event.epoch, None
        if event.epochs is not None:
            self.epochs = event.epochs
        self.status = event.describe().split("] ", 1)[-1]

    def _on_final(self, event: JobEvent) -> None:
        self.final = event
        self.step = None
        if event.snapshot:
            self.snapshot = event.snapshot
        result = event.result if isinstance(event.result, Mapping) else {}
        if result.get("last_snapshot"):
            self.snapshot = str(result["last_snapshot"])
        if result.get("warning"):
            self.warning = str(result["warning"])
        name = event.job_name or self.job_name
        if event.kind == "finished":
            at = f" at epoch {self.epoch}" if name == "train" and self.epoch else ""
            self.status = f"{name}: finished{at}"
        elif event.kind == "cancelled":
            kept = f"; {Path(self.snapshot).name} kept, Resume continues" if self.snapshot else ""
            self.status = f"{name}: cancelled{kept}"
        else:
            self.error = event.message or f"{name} failed"
            self.traceback = event.traceback
            self.status = f"{name}: error"

    def epoch_seconds(self) -> float | None:
        """Mean duration of the recent epochs, or None before the first one ends."""
        recent = self.durations[-self.window :]
        return statistics.fmean(recent) if recent else None

    def eta(self) -> float | None:
        """Seconds until the last epoch ends, from recent epoch durations and the current batch.

        Returns
        -------
        float or None
            None until an epoch has been timed, or when the epochs to go are unknown.
        """
        per_epoch = self.epoch_seconds()
        if per_epoch is None or self.epoch is None or self.epochs is None or self.final:
            return None
        remaining = max(0, self.epochs - self.epoch)
        if remaining and self.step and self.total:
            remaining -= self.step / self.total  # part of the current epoch is done
        return max(0.0, remaining * per_epoch)


def device_choices(cuda: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Devices to offer, from the ``cuda`` section of doctor's probe.

    Parameters
    ----------
    cuda : Mapping or None
        ``{"available": bool, "devices": [{"name", "capability"}, ...], "mps": bool}``
        as ``_doctor_probe.py`` reports it; None before (or without) a probe.

    Returns
    -------
    list of (str, str)
        ``(label, device)`` pairs: ``auto`` and ``cpu`` always, then one
        ``cuda:N`` per GPU torch can use (and ``mps`` on Apple GPUs).
    """
    choices = [("auto (GPU if torch finds one)", "auto"), ("cpu", "cpu")]
    cuda = cuda or {}
    if cuda.get("available"):
        for index, device in enumerate(cuda.get("devices") or []):
            name = device.get("name", "GPU") if isinstance(device, Mapping) else "GPU"
            choices.append((f"cuda:{index} ({name})", f"cuda:{index}"))
    if cuda.get("mps"):
        choices.append(("mps (Apple GPU)", "mps"))
    return choices
