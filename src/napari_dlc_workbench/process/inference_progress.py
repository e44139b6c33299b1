"""Follow an Inference dock run: per-video status, frames done/total, frames/s and ETA.

:class:`InferenceProgress` reads the runner's
:class:`~napari_dlc_workbench.model.jobs.JobEvent` s (one ``analyze`` job for all
videos) or ``dlc.batch``'s progress updates (one dask task per video). Qt-free and
DLC-free, like :mod:`napari_dlc_workbench.process.inference_plan` which makes the plan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.process.inference_plan import InferencePlan, find_predictions

__all__ = ["FINAL_STATUSES", "InferenceProgress", "VideoState", "describe_state", "format_fps"]

FINAL_STATUSES = frozenset({"done", "skipped", "failed", "cancelled"})
"""Video statuses after which nothing more happens to it in a run."""


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
