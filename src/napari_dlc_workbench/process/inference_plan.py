"""What the Inference dock runs: videos to analyse, those skipped and why, arguments, ETA.

Qt-free and DLC-free (the dock never imports DLC): the snapshot a choice
means and the scorer DLC will name its files with are worked out from file
names alone, as DLC 3 does it (``get_scorer_name``:
``DLC_<Net>_<Task><date>shuffle<N>_snapshot_<uid>``, uid ``40`` or ``best-40``), so the dock can say
before anything starts which videos already have predictions. The ``analyze``
job applies the same rule again in its child with DLC's own scorer, so a wrong
guess here costs at most a video shown as "to do" that the job then skips.

Following a run (status, frames/s, ETA) is
:mod:`napari_dlc_workbench.process.inference_progress`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.evaluation_files import list_snapshots, model_folder
from napari_dlc_workbench.io.predictions import split_prediction_name
from napari_dlc_workbench.io.video import VideoError, probe_video

__all__ = [
    "InferencePlan",
    "InferenceSettings",
    "Network",
    "VideoPlan",
    "find_network",
    "find_predictions",
    "plan_inference",
    "resolve_snapshot",
    "snapshot_names",
]

_SNAPSHOT = re.compile(r"^snapshot-(best-)?(\d+)$")


def snapshot_names(train_folder: str | os.PathLike[str]) -> list[str]:
    """List the pose snapshots of a train folder in DLC's order.

    Parameters
    ----------
    train_folder : path
        ``dlc-models-pytorch/.../train``.

    Returns
    -------
    list of str
        File stems (``snapshot-002``), by epochs, ``snapshot-best-*`` last, as
        DLC's ``get_model_snapshots`` sorts them; empty if the folder is missing.
    """
    snapshots = list_snapshots(train_folder)
    return [s.name for s in sorted(snapshots, key=lambda s: (s.best, s.epochs))]


def resolve_snapshot(choice: str, names: Sequence[str]) -> str:
    """Say which snapshot file ``choice`` means, as the ``analyze`` job resolves it.

    Parameters
    ----------
    choice : str
        ``"best"`` (the last ``snapshot-best-*``), ``"last"`` (the regular
        snapshot trained longest) or a file stem such as ``"snapshot-050"``.
    names : sequence of str
        :func:`snapshot_names` of the train folder.

    Returns
    -------
    str
        The chosen file stem.

    Raises
    ------
    ValueError
        If there is no snapshot at all, or none that ``choice`` names.
    """
    if not names:
        raise ValueError("no trained snapshot (snapshot-*.pt): train this shuffle first")
    best = [n for n in names if n.startswith("snapshot-best-")]
    regular = [n for n in names if n not in best]
    if choice == "best":
        if not best:
            raise ValueError(f"no snapshot-best-*.pt yet; choose 'last' or one of {list(names)}")
        return best[-1]
    if choice == "last":
        return regular[-1] if regular else names[-1]
    name = Path(choice).name.removesuffix(".pt")
    if name not in names:
        raise ValueError(f"no snapshot {name!r}; found {list(names)}")
    return name


@dataclass(frozen=True)
class Network:
    """A trained shuffle as found on disk (YAML and file names only).

    Attributes
    ----------
    config : Path
        The project's ``config.yaml``.
    shuffle : int
        Shuffle index.
    train_folder : Path
        Where its snapshots are.
    snapshots : list of str
        :func:`snapshot_names` of ``train_folder``.
    scorer_prefix : str
        ``DLC_<Net>_<Task><date>shuffle<N>``; the net part is a pattern when
        ``pytorch_config.yaml`` does not name it.
    """

    config: Path
    shuffle: int
    train_folder: Path
    snapshots: list[str]
    scorer_prefix: str

    def scorer_pattern(self, snapshot: str) -> re.Pattern[str]:
        """Return the pattern of DLC's scorer for ``snapshot`` (a file stem).

        Top-down models add ``_detector_<uid>`` before ``_snapshot_``; any
        detector snapshot is accepted.

        Raises
        ------
        ValueError
            If ``snapshot`` is not a ``snapshot-[best-]NNN`` stem.
        """
        match = _SNAPSHOT.match(snapshot)
        if match is None:
            raise ValueError(f"not a snapshot name: {snapshot!r}")
        # DLC's Snapshot.uid(): the epoch without padding (snapshot-best-040.pt -> best-40).
        uid = f"{match[1] or ''}{int(match[2])}"
        return re.compile(
            self.scorer_prefix + r"(?:_detector_(?:best-)?\d+)?" + re.escape(f"_snapshot_{uid}")
        )


def find_network(
    config: str | os.PathLike[str], shuffle: int, trainingsetindex: int = 0
) -> Network:
    """Find a shuffle's train folder, its snapshots and the scorer prefix DLC will use.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    shuffle : int
        Shuffle index.
    trainingsetindex : int
        Index into ``TrainingFraction``.

    Returns
    -------
    Network

    Raises
    ------
    napari_dlc_workbench.io.config.ConfigError
        If ``config.yaml`` is missing, unreadable or lacks DLC's keys.
    """
    config = Path(config)
    cfg = load_config(config)
    fractions = list(cfg.get("TrainingFraction") or [0.95])
    fraction = float(fractions[min(trainingsetindex, len(fractions) - 1)])
    folder = config.parent / model_folder(cfg, fraction, shuffle) / "train"
    net = None
    pose_cfg = folder / "pytorch_config.yaml"
    if pose_cfg.is_file():
        net = load_config(pose_cfg, validate=False).get("net_type")
    # DLC capitalises each part of net_type: cspnext_s -> CspnextS.
    name = re.escape("".join(p.capitalize() for p in str(net).split("_"))) if net else r"[^_]+"
    prefix = f"DLC_{name}_" + re.escape(f"{cfg['Task']}{cfg['date']}shuffle{shuffle}")
    return Network(config, shuffle, folder, snapshot_names(folder), prefix)


def find_predictions(
    video: str | os.PathLike[str],
    pattern: re.Pattern[str],
    destfolder: str | os.PathLike[str] | None = None,
    listing: Iterable[str] | None = None,
) -> Path | None:
    """Find the predictions ``.h5`` of ``video`` whose scorer matches ``pattern``.

    Parameters
    ----------
    video : path
        The video.
    pattern : re.Pattern
        :meth:`Network.scorer_pattern` of the snapshot.
    destfolder : path, optional
        Where predictions are written; beside the video if omitted.
    listing : iterable of str, optional
        File names of that folder, when the caller lists it once for many videos.

    Returns
    -------
    Path or None
    """
    video = Path(video)
    folder = Path(destfolder) if destfolder is not None else video.parent
    if listing is None:
        listing = os.listdir(folder) if folder.is_dir() else []
    for name in sorted(listing):
        if not name.endswith(".h5") or name.endswith("_filtered.h5"):
            continue
        parts = split_prediction_name(name)
        if parts and parts[0] == video.stem and pattern.fullmatch(parts[1]):
            return folder / name
    return None


@dataclass(frozen=True)
class InferenceSettings:
    """The dock's controls.

    Attributes
    ----------
    config : Path
        The project's ``config.yaml``.
    shuffle : int
        Shuffle index.
    snapshot : str
        ``"best"``, ``"last"`` or a file stem (``"snapshot-050"``).
    batch_size : int
        Frames per forward pass.
    device : str
        ``"auto"`` (the shuffle's setting), ``"cpu"``, ``"cuda:0"``...
    filter_predictions : bool
        Also write the median-filtered ``_filtered.h5``.
    filter_window : int
        Median window in frames (odd).
    save_as_csv : bool
        Also write the ``.csv`` twins.
    force : bool
        Analyse again videos whose predictions exist.
    scheduler : str or None
        None: one runner job for all videos; ``"local"`` or a scheduler
        address: one dask task per video (``dlc.batch.analyze_many``).
    """

    config: Path
    shuffle: int = 1
    snapshot: str = "best"
    batch_size: int = 8
    device: str = "auto"
    filter_predictions: bool = False
    filter_window: int = 5
    save_as_csv: bool = False
    force: bool = False
    scheduler: str | None = None

    def check(self) -> None:
        """Refuse settings the job would reject, before anything starts.

        Raises
        ------
        ValueError
            With the reason.
        """
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {self.batch_size}")
        if self.filter_predictions and (self.filter_window < 3 or self.filter_window % 2 == 0):
            raise ValueError(
                f"the median filter needs an odd window >= 3, not {self.filter_window}"
            )
        if self.scheduler is not None and not self.scheduler.strip():
            raise ValueError("give a dask scheduler address, or 'local'")


@dataclass(frozen=True)
class VideoPlan:
    """What a run will do with one video.

    Attributes
    ----------
    video : Path
        The video (absolute).
    action : {"analyse", "filter", "skip", "fail"}
        ``filter``: predictions exist, only the filtered twin is missing.
    reason : str
        Why, in words.
    frames : int or None
        Frames the container announces.
    h5 : Path or None
        Existing predictions for the chosen snapshot.
    """

    video: Path
    action: str
    reason: str = ""
    frames: int | None = None
    h5: Path | None = None


def _frames(video: Path) -> int:
    return probe_video(video).n_frames


@dataclass
class InferencePlan:
    """The videos of a run and the arguments of its job(s).

    Attributes
    ----------
    settings : InferenceSettings
        What the dock asked.
    network : Network
        The shuffle.
    snapshot : str
        The snapshot file stem the choice resolved to (every video uses it).
    videos : list of VideoPlan
        One per distinct video, in the order given.
    """

    settings: InferenceSettings
    network: Network
    snapshot: str
    videos: list[VideoPlan] = field(default_factory=list)

    @property
    def pattern(self) -> re.Pattern[str]:
        """Scorer pattern of the planned snapshot."""
        return self.network.scorer_pattern(self.snapshot)

    @property
    def todo(self) -> list[VideoPlan]:
        """Videos a job must run for (analyse or filter)."""
        return [v for v in self.videos if v.action in ("analyse", "filter")]

    def options(self) -> dict[str, Any]:
        """Keyword arguments of the ``analyze`` job shared by both ways of running."""
        s = self.settings
        return {
            "shuffle": s.shuffle,
            # Pinned: a training run writing a newer snapshot meanwhile changes nothing.
            "snapshot": self.snapshot,
            "batch_size": s.batch_size,
            "device": None if s.device == "auto" else s.device,
            "save_as_csv": s.save_as_csv,
            "filter_predictions": s.filter_predictions,
            "filter_window": s.filter_window,
            "force": s.force,
        }

    def job_kwargs(self) -> dict[str, Any]:
        """Return the kwargs of ``Job("analyze", ...)`` for the videos to do (JSON data)."""
        videos = [str(v.video) for v in self.todo]
        return {"config": str(self.network.config), "videos": videos, **self.options()}

    def batch_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of ``dlc.batch.analyze_many`` (without callbacks)."""
        s = self.settings
        kwargs: dict[str, Any] = {
            "config": self.network.config,
            "videos": [v.video for v in self.todo],
            "scheduler": (s.scheduler or "local").strip(),
            **self.options(),
        }
        if kwargs["scheduler"] == "local" and s.device.startswith("cuda"):
            kwargs["n_workers"] = 1  # one GPU: two analyses at once would only share it
        return kwargs

    def describe(self) -> str:
        """One line: how many videos are analysed, skipped and unreadable."""
        count = {
            a: sum(v.action == a for v in self.videos)
            for a in ("analyse", "filter", "skip", "fail")
        }
        text = f"{count['analyse']} to analyse with {self.snapshot}"
        if count["filter"]:
            text += f", {count['filter']} to filter only"
        if count["skip"]:
            text += f", {count['skip']} skipped (done before; tick 're-analyse' to redo)"
        if count["fail"]:
            text += f", {count['fail']} unreadable"
        return text


def plan_inference(
    settings: InferenceSettings,
    videos: Sequence[str | os.PathLike[str]],
    *,
    frames_of: Callable[[Path], int] = _frames,
) -> InferencePlan:
    """Decide what a run does with each video (reads files; never imports DLC).

    Parameters
    ----------
    settings : InferenceSettings
        The dock's controls.
    videos : sequence of path
        Video files; duplicates are dropped.
    frames_of : callable
        Frames of a video; raises ``VideoError`` (or ``OSError``) for a bad one.
        Reading each container's header takes milliseconds: call this off the
        GUI thread for hundreds of videos.

    Returns
    -------
    InferencePlan

    Raises
    ------
    ValueError
        For bad settings or a shuffle without the snapshot asked for.
    napari_dlc_workbench.io.config.ConfigError
        For a missing or broken ``config.yaml``.
    """
    settings.check()
    network = find_network(settings.config, settings.shuffle)
    snapshot = resolve_snapshot(settings.snapshot, network.snapshots)
    plan = InferencePlan(settings, network, snapshot)
    pattern = plan.pattern
    listings: dict[Path, list[str]] = {}
    seen: set[Path] = set()
    for item in videos:
        video = Path(item).resolve()
        if video in seen:
            continue
        seen.add(video)
        if not video.is_file():
            plan.videos.append(VideoPlan(video, "fail", "no such video file"))
            continue
        try:
            frames = frames_of(video)
        except (VideoError, OSError) as exc:
            plan.videos.append(VideoPlan(video, "fail", f"unreadable: {exc}"))
            continue
        if video.parent not in listings:
            listings[video.parent] = os.listdir(video.parent)
        h5 = find_predictions(video, pattern, listing=listings[video.parent])
        if h5 is None:
            plan.videos.append(VideoPlan(video, "analyse", "", frames))
        elif settings.force:
            plan.videos.append(
                VideoPlan(video, "analyse", f"re-analyse ({h5.name} exists)", frames, h5)
            )
        elif settings.filter_predictions and not h5.with_name(h5.stem + "_filtered.h5").is_file():
            plan.videos.append(
                VideoPlan(video, "filter", f"filter only ({h5.name} exists)", frames, h5)
            )
        else:
            plan.videos.append(VideoPlan(video, "skip", f"done before: {h5.name}", frames, h5))
    return plan
