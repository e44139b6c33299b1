"""Crop a whole folder of recordings: many videos × many ROIs, resumable and cancellable.

The users' case is 53 recordings × 5 wells. One bad video must not stop the
other 52, a batch that was interrupted continues where it stopped (finished
clips are skipped), and the same code serves the dock and
``dlc-workbench crop``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from napari_dlc_workbench.io.config import add_video_set, load_config, save_config
from napari_dlc_workbench.io.video import VideoError, probe_video
from napari_dlc_workbench.model.roi import ROIError, ROISet
from napari_dlc_workbench.process.contrast import ContrastSettings
from napari_dlc_workbench.process.crop_export import (
    ClipResult,
    ExportCancelled,
    ExportOptions,
    export_clips,
    register_clips,
)

__all__ = ["BatchReport", "crop_batch", "link_crops"]

BatchProgress = Callable[[int, int, int, int, Path], None]
"""``progress(video_index, n_videos, frame, n_frames, video)``."""


@dataclass
class BatchReport:
    """What a batch did.

    Attributes
    ----------
    clips : list of ClipResult
        Clips written or kept (``skipped``) from earlier runs.
    failed : dict
        Video path to the error message, for videos that could not be cropped.
    cancelled : bool
        True when the batch stopped on request.
    registered : list of Path
        Clips newly added to the project's ``video_sets``.
    """

    clips: list[ClipResult] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)
    cancelled: bool = False
    registered: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        """One line per outcome, for the dock's status and the CLI."""
        written = sum(not c.skipped for c in self.clips)
        skipped = sum(c.skipped for c in self.clips)
        lines = [
            f"{written} clips written, {skipped} already done, {len(self.failed)} videos failed"
        ]
        lines += [f"  {video.name}: {error}" for video, error in self.failed.items()]
        if self.cancelled:
            lines.append("cancelled: run again to continue where it stopped")
        return "\n".join(lines)


def crop_batch(
    videos: Sequence[str | os.PathLike[str]],
    rois: ROISet,
    out_dir: str | os.PathLike[str],
    *,
    contrast: ContrastSettings | None = None,
    options: ExportOptions | None = None,
    config: str | os.PathLike[str] | None = None,
    progress: BatchProgress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> BatchReport:
    """Export every ROI of every video; errors are collected per video.

    Parameters
    ----------
    videos : sequence of path
        Recordings filmed with the same rig (the same ROIs fit them all).
    rois : ROISet
        The regions.
    out_dir : str or PathLike
        Folder for the clips (a DLC project's ``videos/`` for instance).
    contrast : ContrastSettings, optional
        Fitted per video and ROI from each video's own frames.
    options : ExportOptions, optional
        Codec and naming.
    config : str or PathLike, optional
        A DLC ``config.yaml``: clips are registered in its ``video_sets`` after
        each video, so an interrupted batch leaves a consistent project.
    progress : callable, optional
        See :data:`BatchProgress`.
    cancel : callable, optional
        True stops the batch (the clip being written is removed).

    Returns
    -------
    BatchReport
    """
    report = BatchReport()
    n_videos = len(videos)
    for index, video in enumerate(map(Path, videos)):
        if cancel is not None and cancel():
            report.cancelled = True
            break

        def frame_progress(done: int, total: int, i: int = index, v: Path = video) -> None:
            if progress is not None:
                progress(i, n_videos, done, total, v)

        try:
            clips = export_clips(
                video,
                rois,
                out_dir,
                contrast=contrast,
                options=options,
                progress=frame_progress,
                cancel=cancel,
            )
        except ExportCancelled:
            report.cancelled = True
            break
        except (VideoError, ROIError, OSError, ValueError) as exc:
            report.failed[video] = str(exc)
            continue
        report.clips.extend(clips)
        if config is not None:
            report.registered.extend(register_clips(config, clips))
    return report


def link_crops(
    video: str | os.PathLike[str],
    rois: ROISet,
    out_dir: str | os.PathLike[str],
    config: str | os.PathLike[str],
) -> list[Path]:
    """Crop without re-encoding: one link per ROI, cropped by DLC itself.

    DLC keeps one ``crop`` per ``video_sets`` entry, so each ROI gets its own
    name: a symbolic link ``<stem>_<roi><suffix>`` to the original (a hard
    link where symbolic links are not allowed), registered with the ROI's crop
    string. DLC applies that crop when it extracts frames; contrast cannot be
    baked in, and analysis must be run with the same crop.

    Parameters
    ----------
    video : str or PathLike
        The raw recording (not modified, not copied).
    rois : ROISet
        The regions.
    out_dir : str or PathLike
        Folder for the links.
    config : str or PathLike
        The project's ``config.yaml``.

    Returns
    -------
    list of Path
        The links, in ROI order.
    """
    video, out_dir = Path(video).resolve(), Path(out_dir)
    info = probe_video(video)
    rois.check_inside(info.width, info.height, str(video))
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = load_config(config)
    links = []
    for roi in rois:
        link = out_dir / f"{video.stem}_{roi.name}{video.suffix}"
        if not link.exists():
            try:
                link.symlink_to(video)
            except OSError:
                os.link(video, link)
        if link.resolve() != video and not os.path.samefile(link, video):
            raise ROIError(f"{link} exists and is not a link to {video}")
        if str(link) not in (cfg.get("video_sets") or {}):
            add_video_set(cfg, link, info.width, info.height)
        cfg["video_sets"][str(link)]["crop"] = roi.crop_string
        links.append(link)
    save_config(cfg, config)
    return links
