"""What the Inference dock runs: videos to analyse, those skipped and why, arguments, ETA.

Qt-free and DLC-free (the dock never imports DLC): the snapshot a choice
means and the scorer DLC will name its files with are worked out from file
names alone, as DLC 3 does it (``get_scorer_name``:
``DLC_<Net>_<Task><date>shuffle<N>_snapshot_<uid>``, uid ``40`` or ``best-40``), so the dock can say
before anything starts which videos already have predictions. The ``analyze``
job applies the same rule again in its child with DLC's own scorer, so a wrong
guess here costs at most a video shown as "to do" that the job then skips.

:class:`InferenceProgress` follows a run, from the runner's
:class:`~napari_dlc_workbench.model.jobs.JobEvent` s (one job for all videos)
or from ``dlc.batch``'s progress updates (one dask task per video), and keeps
per-video status, frames done/total, frames/s and the ETA.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.evaluation_files import list_snapshots, model_folder
from napari_dlc_workbench.io.predictions import split_prediction_name
from napari_dlc_workbench.io.video import VideoError, probe_video
from napari_dlc_workbench.model.jobs import JobEvent

__all__ = [
    "InferencePlan",
    "InferenceProgress",
    "InferenceSettings",
    "Network",
    "VideoPlan",
    "VideoState",
    "describe_state",
    "find_network",
    "find_predictions",
    "format_fps",
    "plan_inference",
    "resolve_snapshot",
    "snapshot_names",
]

_SNAPSHOT = re.compile(r"^snapshot-(best-)?(\d+)$")
FINAL_STATUSES = frozenset({"done", "skipped", "failed", "cancelled"})
"""Video statuses after which nothing more happens to it in a run."""


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


# -- following a run -----------------------------------------------------------------


@dataclass
class VideoState:
    """One video during a run.

    Attributes
    ----------
    video : Path
        The video.
    status : {"queued", "running", "done", "skipped", "failed", "cancelled"}
        Where it is.
    frames, total : int or None
        Frames analysed so far and in the video.
    fps : float or None
        Analysis speed of this video.
    message : str
        Reason for ``skipped``/``failed``/``cancelled``.
    h5 : Path or None
        Its predictions, once known.
    """

    video: Path
    status: str = "queued"
    frames: int = 0
    total: int | None = None
    fps: float | None = None
    message: str = ""
    h5: Path | None = None

    @property
    def final(self) -> bool:
        """Whether the run is over for this video."""
        return self.status in FINAL_STATUSES


_BATCH_STATUS = {
    "analysed": "done",
    "skipped": "skipped",
    "failed": "failed",
    "cancelled": "cancelled",
}


class InferenceProgress:
    """Follow a run: per-video states, frames done/total, frames/s, ETA.

    Parameters
    ----------
    plan : InferencePlan
        The run's plan; skipped and unreadable videos start final.
    clock : callable
        Seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, plan: InferencePlan, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self.clock = clock
        self.states: dict[Path, VideoState] = {}
        for item in plan.videos:
            state = VideoState(item.video, total=item.frames, h5=item.h5)
            if item.action == "skip":
                state.status, state.message = "skipped", item.reason
            elif item.action == "fail":
                state.status, state.message = "failed", item.reason
            self.states[item.video] = state
        self.order = [v.video for v in plan.todo]  # the job's video numbers, from 1
        self._filter_only = {v.video for v in plan.videos if v.action == "filter"}
        self.fps: float | None = None
        self._first: tuple[float, int] | None = None
        self._last: tuple[float, int] | None = None

    # -- totals ------------------------------------------------------------------
    @property
    def frames_total(self) -> int:
        """Frames of the videos this run analyses."""
        return sum(self.states[v].total or 0 for v in self.order)

    @property
    def frames_done(self) -> int:
        """Frames analysed so far in this run."""
        return sum(self.states[v].frames for v in self.order)

    @property
    def over(self) -> bool:
        """Whether every video is final."""
        return all(s.final for s in self.states.values())

    def count(self, status: str) -> int:
        """Return how many videos have ``status``."""
        return sum(s.status == status for s in self.states.values())

    def eta(self) -> float | None:
        """Seconds left: frames left over the run's throughput since its first frames.

        The throughput includes what happens between videos (DLC loads the
        model for each), so it is what the remaining videos will see too.
        """
        left = sum(
            max(0, (self.states[v].total or 0) - self.states[v].frames)
            for v in self.order
            if not self.states[v].final
        )
        if left == 0:
            return 0.0 if self.order else None
        rate = None
        if self._first and self._last and self._last[0] > self._first[0]:
            gained = self._last[1] - self._first[1]
            rate = gained / (self._last[0] - self._first[0]) if gained > 0 else None
        rate = rate or self.fps
        return left / rate if rate else None

    def summary(self) -> str:
        """One line: counts per status."""
        parts = [
            f"{self.count(s)} {s}"
            for s in ("done", "skipped", "failed", "cancelled", "running", "queued")
            if self.count(s)
        ]
        return ", ".join(parts)

    def _frames_seen(self) -> None:
        mark = (self.clock(), self.frames_done)
        self._first = self._first or mark
        self._last = mark

    def _set_done(self, state: VideoState, status: str, message: str = "") -> None:
        state.status, state.message = status, message
        if status in ("done", "skipped"):
            state.frames = state.total or state.frames
            state.h5 = state.h5 if status == "skipped" and state.h5 else self._h5_of(state)

    def _h5_of(self, state: VideoState) -> Path | None:
        return find_predictions(state.video, self.plan.pattern) or state.h5

    def _outcome(self, state: VideoState, skipped: bool) -> tuple[str, str]:
        # The job "skips" a video it only filtered: that is work done, not skipped.
        if state.video in self._filter_only:
            return "done", "filtered"
        return ("skipped", "done before") if skipped else ("done", "")

    # -- the runner's events (one job, videos in order) ---------------------------
    def _numbered(self, event: JobEvent) -> VideoState | None:
        number = event.metrics.get("video")
        if not isinstance(number, (int, float)) or not 1 <= number <= len(self.order):
            return None
        return self.states[self.order[int(number) - 1]]

    def feed_event(self, event: JobEvent) -> None:
        """Update from one event of the ``analyze`` job."""
        if event.kind == "progress" and event.stage in ("pose", "detector"):
            state = self._numbered(event)
            if state is None or state.final:
                return
            for earlier in self.order[: self.order.index(state.video)]:
                if self.states[earlier].status == "running":  # it ended without a word
                    self.states[earlier].status = "failed"
                    self.states[earlier].message = "stopped without a result (see the log)"
            state.status = "running"
            state.total = event.total or state.total
            if event.stage == "pose":
                state.frames = event.step or 0
            fps = event.metrics.get("fps")
            state.fps = self.fps = fps if isinstance(fps, (int, float)) and fps > 0 else state.fps
            self._frames_seen()
        elif event.kind == "progress" and event.stage == "videos" and event.step:
            state = self._numbered(event)
            if state is not None and not state.final:
                self._set_done(
                    state, *self._outcome(state, "skipped" in event.message.rsplit(": ", 1)[-1])
                )
                self._frames_seen()
        elif event.kind == "log" and event.message.startswith("failed: "):
            for video in self.order:
                if event.message.startswith(f"failed: {video}: "):
                    text = event.message.removeprefix(f"failed: {video}: ")
                    self.states[video].status, self.states[video].message = "failed", text
        elif event.terminal:
            self._final_event(event)

    def _final_event(self, event: JobEvent) -> None:
        if event.kind == "finished" and isinstance(event.result, Mapping):
            for entry in event.result.get("videos") or []:
                state = self.states.get(Path(str(entry.get("video"))))
                if state is None:
                    continue
                state.total = entry.get("frames") or state.total
                state.h5 = Path(entry["h5"]) if entry.get("h5") else state.h5
                state.fps = entry.get("fps") or state.fps
                state.status, state.message = self._outcome(state, bool(entry.get("skipped")))
                state.frames = state.total or state.frames
        lines = event.message.splitlines()
        for video in self.order:
            state = self.states[video]
            if state.final:
                continue
            if event.kind == "cancelled":
                state.status, state.message = "cancelled", "cancelled"
                continue
            mine = [
                line.removeprefix(f"{video}: ") for line in lines if line.startswith(f"{video}: ")
            ]
            state.status = "failed"
            state.message = mine[0] if mine else (lines[0] if lines else event.kind)

    # -- dlc.batch's updates (one task per video, in any order) -------------------
    def feed_batch(self, update: Any) -> None:
        """Update from one ``dlc.batch.BatchProgress``."""
        state = self.states.get(Path(update.video)) if update.video else None
        if state is None or state.final:
            return
        if update.kind == "frames":
            state.status = "running"
            state.total = update.frames_total or state.total
            state.frames = update.frames or 0
            state.fps = update.fps or state.fps
            running = [s.fps for s in self.states.values() if s.status == "running" and s.fps]
            self.fps = sum(running) or self.fps  # tasks run side by side: their speeds add up
            self._frames_seen()
        elif update.kind == "done":
            status = _BATCH_STATUS.get(update.status, "failed")
            if status in ("done", "skipped"):
                self._set_done(state, *self._outcome(state, status == "skipped"))
            else:
                self._set_done(state, status, update.message)

    def finish_batch(self, result: Any) -> None:
        """Take the outcomes of ``analyze_many`` (a ``BatchResult``) as final."""
        for outcome in result.outcomes:
            state = self.states.get(Path(outcome.video))
            if state is None:
                continue
            status = _BATCH_STATUS.get(outcome.status, "failed")
            state.status, state.message = status, outcome.message
            if status in ("done", "skipped"):
                state.h5 = Path(outcome.h5) if outcome.h5 else self._h5_of(state)
                state.total = outcome.frames or state.total
                state.frames = state.total or state.frames
                state.status, state.message = self._outcome(state, status == "skipped")
                if outcome.seconds and outcome.frames:
                    state.fps = outcome.frames / outcome.seconds
        self.fail_rest("not analysed")

    def fail_rest(self, message: str, status: str = "failed") -> None:
        """Give every video still open ``status`` (a run that could not go on)."""
        for state in self.states.values():
            if not state.final:
                state.status, state.message = status, message


def describe_state(state: VideoState) -> str:
    """Return the status cell of a video: ``"running 30/60"``, ``"failed: ..."``."""
    if state.status == "running":
        return f"running {state.frames}/{state.total or '?'}"
    if state.status in ("failed", "skipped") and state.message:
        return f"{state.status}: {state.message}"
    return state.status


def format_fps(fps: float | None) -> str:
    """Frames per second for a table cell (``""`` when unknown)."""
    return f"{fps:.1f}" if fps and math.isfinite(fps) else ""
