"""Follow DLC 3's video inference from inside the ``analyze`` job's child process.

DLC 3.0 has no callback for inference; :func:`inference_progress` counts the
images its inference runners hand back (see there) and :class:`VideoProgress`
turns the count into ``progress`` events with frames done/total, frames/s and
the time left for the video.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc.reporting import Reporter

__all__ = ["VideoProgress", "inference_progress"]


class VideoProgress:
    """Counts the frames DLC's inference runners have returned for one video."""

    def __init__(
        self, report: Reporter, video: Path, number: int, count: int, total: int, interval: float
    ) -> None:
        self.report = report
        self.video = video
        self.number = number
        self.count = count
        self.total = total
        self.interval = interval
        self.done: dict[str, int] = {}
        self.first: dict[str, tuple[float, int]] = {}
        self._last_emit = 0.0

    def advance(self, stage: str, frames: int) -> None:
        """Count ``frames`` more of ``stage``; emit at most every ``interval`` s, and at the end."""
        if frames <= 0:
            return
        now = time.monotonic()
        done = self.done.get(stage, 0) + frames
        self.done[stage] = done
        # Rate from the first batch on: the first one includes the model's warm-up.
        start = self.first.setdefault(stage, (now, done))
        if now - self._last_emit < self.interval and done != self.total:
            return
        self._last_emit = now
        span, since = now - start[0], done - start[1]
        fps = since / span if span > 0 and since > 0 else None
        eta = (self.total - done) / fps if fps and self.total >= done else None
        self.emit(stage, done, fps, eta)

    def emit(self, stage: str, done: int, fps: float | None, eta: float | None) -> None:
        """Send one ``progress`` event (``metrics``: ``video``, ``videos``, ``fps``, ``eta_s``)."""
        text = f"{self.video.name}: {done}/{self.total or '?'} frames"
        if fps:
            text += f", {fps:.1f} frames/s"
        if eta is not None:
            text += f", ETA {eta:.0f} s"
        metrics = {"video": float(self.number), "videos": float(self.count)}
        if fps:
            metrics["fps"] = fps
        if eta is not None:
            metrics["eta_s"] = eta
        self.report.emit(
            "progress",
            stage=stage,
            step=done,
            total=self.total or None,
            message=text,
            metrics=metrics,
        )


@contextmanager
def inference_progress(report: Reporter, watcher: list[VideoProgress | None]) -> Iterator[bool]:
    """Count frames leaving DLC's inference runners while the block runs.

    DLC 3.0 has no callback for inference. ``InferenceRunner._extract_results``
    is called on the main thread after each batch (also when a reading thread
    feeds the model), once per image it hands back: the number of images it
    removed from the runner's queue is the number of frames done. The class
    method is wrapped for the block only; DLC's code runs unchanged. The frames
    of a top-down model's detector pass are counted as stage ``"detector"``.

    Parameters
    ----------
    report : Reporter
        Receives a log line if this DLC release has moved the hook.
    watcher : list
        One-item list holding the current video's counter (or None); the caller
        swaps it per video.

    Yields
    ------
    bool
        Whether progress is being followed.
    """
    from deeplabcut.pose_estimation_pytorch.runners.inference import (
        DetectorInferenceRunner,
        InferenceRunner,
    )

    original = getattr(InferenceRunner, "_extract_results", None)
    if original is None:
        report.emit("log", message="warning: no frame progress with this DeepLabCut release")
        yield False
        return

    def extract(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = len(getattr(self, "_image_batch_sizes", ()))
        out = original(self, *args, **kwargs)
        current = watcher[0]
        if current is not None:
            stage = "detector" if isinstance(self, DetectorInferenceRunner) else "pose"
            current.advance(stage, before - len(getattr(self, "_image_batch_sizes", ())))
        return out

    InferenceRunner._extract_results = extract
    try:
        yield True
    finally:
        InferenceRunner._extract_results = original
