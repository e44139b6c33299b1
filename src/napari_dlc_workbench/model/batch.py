"""What a batch analysis reports: each video's outcome, progress updates, the result.

Plain data, made by :func:`napari_dlc_workbench.dlc.batch.analyze_many` and read by
the CLI and the Inference dock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BatchProgress", "BatchResult", "VideoOutcome"]


@dataclass
class VideoOutcome:
    """What became of one video.

    Attributes
    ----------
    video : str
        The video.
    status : {"analysed", "skipped", "failed", "cancelled"}
        ``skipped``: its predictions for this scorer existed already.
    h5 : str or None
        The predictions file.
    frames : int or None
        Frames analysed (or found in the existing predictions).
    seconds : float
        Time DLC spent on it (0 when skipped).
    message : str
        The error for ``failed``.
    warm : bool
        DLC ran in a child started ahead, its imports done (``prewarm``).
    """

    video: str
    status: str
    h5: str | None = None
    frames: int | None = None
    seconds: float = 0.0
    message: str = ""
    warm: bool = False


@dataclass(frozen=True)
class BatchProgress:
    """One update for ``on_progress``: counts so far plus what just happened.

    Attributes
    ----------
    total : int
        Videos in the batch.
    finished : int
        Videos with an outcome (analysed, skipped, failed or cancelled).
    failed : int
        Videos that failed (after their retries).
    video : str
        The video this update is about ("" for the start of the batch).
    kind : {"start", "frames", "done"}
        ``frames``: a running video's progress; ``done``: a video has an outcome.
    status : str
        For ``done``: the outcome's status.
    frames, frames_total : int or None
        For ``frames``: frames done and in the video.
    fps, eta_s : float or None
        For ``frames``: the analysis speed and the time left for that video.
    message : str
        Human-readable line.
    """

    total: int
    finished: int
    failed: int
    video: str = ""
    kind: str = "done"
    status: str = ""
    frames: int | None = None
    frames_total: int | None = None
    fps: float | None = None
    eta_s: float | None = None
    message: str = ""


@dataclass
class BatchResult:
    """The outcome of :func:`analyze_many`.

    Attributes
    ----------
    scorer, snapshot : str
        DLC's scorer name and the snapshot file stem used.
    outcomes : list of VideoOutcome
        One per video, in the order given.
    manifest : Path or None
        The batch's JSON record.
    cancelled : bool
        Whether the batch was cancelled.
    """

    scorer: str
    snapshot: str
    outcomes: list[VideoOutcome] = field(default_factory=list)
    manifest: Path | None = None
    cancelled: bool = False

    def count(self, status: str) -> int:
        """Return how many videos have ``status``."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def failures(self) -> dict[str, str]:
        """Failed video to its error message."""
        return {o.video: o.message for o in self.outcomes if o.status == "failed"}

    def summary(self) -> str:
        """Return a few lines for a terminal or a dialog."""
        lines = [
            f"{len(self.outcomes)} videos with {self.snapshot} ({self.scorer}): "
            f"{self.count('analysed')} analysed, {self.count('skipped')} skipped "
            f"(done before), {self.count('failed')} failed"
            + (f", {self.count('cancelled')} cancelled" if self.cancelled else "")
        ]
        lines += [f"FAILED {video}: {message}" for video, message in self.failures.items()]
        if self.manifest is not None:
            lines.append(f"manifest: {self.manifest}")
        return "\n".join(lines)
