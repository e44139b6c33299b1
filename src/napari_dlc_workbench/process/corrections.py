"""Export corrected outlier frames back to the DLC project as its next labelling iteration.

What DLC's own loop does with ``extract_outlier_frames`` -> ``refine_labels`` ->
``merge_datasets``, in one safe step:

- each accepted frame is written as ``labeled-data/<video stem>/img<N>.png`` with DLC's
  name (an existing image with *different* pixels is never replaced: the export is
  refused; the same pixels are fine);
- the corrected points are merged into ``CollectedData_<scorer>.h5/.csv`` (no likelihood,
  scorer from ``config.yaml``, other rows untouched, DLC's exact layout through
  :func:`napari_dlc_workbench.io.labels.write_labels`'s conventions);
- the raw predictions of those frames are kept in ``machinelabels-iter<N>.h5`` (+
  ``machinelabels.csv``) as DLC's ``extract_outlier_frames`` writes them, for provenance;
- the video is added to ``video_sets`` when missing, and ``iteration`` goes up by one,
  as ``merge_datasets`` does, so the next ``create_training_dataset`` makes
  ``training-datasets/iteration-<N+1>``.

Safety: everything is checked (config, keypoints, frame numbers, existing images and
labels) before anything is written; then every file is written to a temporary file beside
its destination and only when all are complete are they moved into place, images first
and ``config.yaml`` last. A kill at any moment leaves every file whole, either the old or
the new version; the iteration only changes once all data are in place, and running the
same export again completes an interrupted one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_dlc_workbench.io.atomic import atomic_path
from napari_dlc_workbench.io.config import add_video_set, dump_config, load_config
from napari_dlc_workbench.io.images import frame_image_name
from napari_dlc_workbench.io.labels import (
    DLC_HDF_KEY,
    check_against_config,
    keypoint_differences,
    labels_paths,
    read_labels,
)
from napari_dlc_workbench.io.predictions import read_predictions
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.model.outliers import OutlierQueue, parse_keypoint_label
from napari_dlc_workbench.model.project import Project

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CorrectionsError",
    "ExportSummary",
    "VideoCorrections",
    "corrections_from_queue",
    "export_corrections",
]


class CorrectionsError(ValueError):
    """Corrections that cannot be exported; nothing was written."""


@dataclass
class VideoCorrections:
    """The corrected frames of one video.

    Attributes
    ----------
    video : Path
        The video the frames come from; its stem names ``labeled-data/<stem>``.
    corrected : KeypointTable
        One row per frame (row key = frame number), the project's keypoints, x/y in
        video pixels; NaN marks a keypoint that is not visible.
    raw : KeypointTable or None
        The predictions of the video (rows = frame numbers, with likelihood), for
        ``machinelabels-iter<N>.h5``; coordinates already on the full frame.
    """

    video: Path
    corrected: KeypointTable
    raw: KeypointTable | None = None


@dataclass
class ExportSummary:
    """What an export wrote.

    Attributes
    ----------
    config : Path
        The project's ``config.yaml``.
    iteration : tuple of int
        ``iteration`` before and after.
    videos : list of dict
        Per video: ``video``, ``folder``, ``images_written``, ``images_kept`` (already
        there, identical), ``labels`` (the ``.h5``), ``rows_added``, ``rows_replaced``,
        ``machinelabels`` (or None), ``video_added`` (to ``video_sets``).
    files : list of Path
        Every file replaced or created, in the order they were moved into place.
    """

    config: Path
    iteration: tuple[int, int]
    videos: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "config": str(self.config),
            "iteration": list(self.iteration),
            "videos": [
                {k: (str(v) if isinstance(v, Path) else v) for k, v in item.items()}
                for item in self.videos
            ],
            "files": [str(p) for p in self.files],
        }


@dataclass
class _Plan:
    """Everything one video's export will write, checked and computed in memory."""

    folder: Path
    images: dict[Path, np.ndarray]
    kept: list[str]
    labels: pd.DataFrame
    rows_added: int
    rows_replaced: int
    machine: pd.DataFrame | None
    machine_path: Path
    video_added: bool


def _keypoint_problem(table: KeypointTable, project: Project, what: str) -> str | None:
    problems = keypoint_differences(table.keypoints, project.keypoints)
    if not problems and table.multianimal == project.multianimal:
        return None
    return f"{what}: bodyparts do not match the config ({problems or 'layout differs'})"


def _reordered(table: KeypointTable, keypoints: list[tuple[str, str]]) -> np.ndarray:
    return table.data[:, [table.column(bp, ind) for ind, bp in keypoints]]


def _plan_video(
    item: VideoCorrections, project: Project, cfg: Any, *, replace_existing: bool
) -> _Plan:
    from imageio.v3 import imread

    from napari_dlc_workbench.io.video import VideoReader

    video = Path(item.video)
    for table, what in ((item.corrected, "corrections"), (item.raw, "predictions")):
        if table is not None and (problem := _keypoint_problem(table, project, what)):
            raise CorrectionsError(f"{video.name}: {problem}")
    frames = [int(f) for f in item.corrected.index]
    if len(set(frames)) != len(frames):
        raise CorrectionsError(f"{video.name}: a frame is corrected twice")
    reader = VideoReader(video)
    try:
        n_frames = len(reader)
        bad = [f for f in frames if not 0 <= f < n_frames]
        if bad:
            raise CorrectionsError(
                f"{video}: frame {bad[0]} is outside the video ({n_frames} frames, 0-{n_frames - 1})"
            )
        pixels = {f: np.array(reader[f]) for f in frames}
        height, width = reader.frame_shape[:2]
    finally:
        reader.close()
    stem = video.stem
    folder = project.labels_folder(stem)
    names = {f: frame_image_name(f, n_frames) for f in frames}
    images: dict[Path, np.ndarray] = {}
    kept = []
    for f in frames:
        path = folder / names[f]
        if path.exists():
            if not np.array_equal(imread(path), pixels[f]):
                raise CorrectionsError(
                    f"{path}: an image with different pixels already exists; it is not frame "
                    f"{f} of {video.name} (refusing to overwrite labelled images)"
                )
            kept.append(path.name)
        else:
            images[path] = pixels[f]
    keys = [("labeled-data", stem, names[f]) for f in frames]
    new = _reordered(item.corrected, project.keypoints)
    labels, added, replaced = _merge_labels(folder, project, cfg, keys, new, replace_existing)
    machine = None
    if item.raw is not None:
        machine = _machine_rows(item.raw, project, frames, keys)
    machine_path = folder / f"machinelabels-iter{project.iteration}.h5"
    if machine is not None and machine_path.is_file():
        import pandas as pd

        previous = pd.read_hdf(machine_path, DLC_HDF_KEY)
        merged = pd.concat([previous, machine])
        machine = merged[~merged.index.duplicated(keep="first")]  # as DLC merges them
    registered = {entry.stem for entry in project.videos}
    video_added = stem not in registered and add_video_set(cfg, str(video.resolve()), width, height)
    return _Plan(folder, images, kept, labels, added, replaced, machine, machine_path, video_added)


def _merge_labels(
    folder: Path,
    project: Project,
    cfg: Any,
    keys: list[tuple[str, str, str]],
    new: np.ndarray,
    replace_existing: bool,
) -> tuple[pd.DataFrame, int, int]:
    h5 = labels_paths(folder, project.scorer)[0]
    if h5.exists():
        df = read_labels(h5)
        check_against_config(df, cfg, h5)
        old = KeypointTable.from_dataframe(df)
        data = _reordered(old, project.keypoints)
        index = list(old.index)
    else:
        data = np.zeros((0, len(project.keypoints), 3))
        index = []
    where = {key: r for r, key in enumerate(index)}
    appended, added, replaced = [], 0, 0
    data = data.copy()
    for key, values in zip(keys, new, strict=True):
        r = where.get(key)
        if r is None:
            appended.append((key, values))
            added += 1
            continue
        before = data[r, :, :2]
        if np.isnan(before).all() or np.array_equal(before, values[:, :2], equal_nan=True):
            pass  # extracted but unlabelled, or this very export run before
        elif not replace_existing:
            raise CorrectionsError(
                f"{h5}: {key[-1]} is already labelled with other points; pass "
                "replace_existing to overwrite those labels"
            )
        else:
            replaced += 1
        data[r] = values
    if appended:
        index += [key for key, _ in appended]
        data = np.concatenate([data, np.stack([v for _, v in appended])])
    data[..., 2] = np.nan
    table = KeypointTable(
        project.scorer, index, project.keypoints, data, False, project.multianimal
    )
    return table.to_dataframe(), added, replaced


def _machine_rows(
    raw: KeypointTable, project: Project, frames: list[int], keys: list[tuple[str, str, str]]
) -> pd.DataFrame:
    rows = {int(k): r for r, k in enumerate(raw.index)}
    missing = [f for f in frames if f not in rows]
    if missing:
        raise CorrectionsError(f"the predictions have no frame {missing[0]}")
    data = _reordered(raw, project.keypoints)[[rows[f] for f in frames]]
    table = KeypointTable(
        raw.scorer, keys, project.keypoints, data, raw.has_likelihood, project.multianimal
    )
    return table.to_dataframe()


def _drop_stale_temporaries(target: Path) -> None:
    # A killed export leaves atomic_path's temporaries (".<stem>.<random>.tmp<suffix>")
    # beside its targets; the next export of the same files clears them.
    for stale in target.parent.glob(f".{target.stem}.*.tmp{target.suffix}"):
        with contextlib.suppress(OSError):
            stale.unlink()


def export_corrections(
    config: str | os.PathLike[str],
    items: Sequence[VideoCorrections],
    *,
    bump_iteration: bool = True,
    replace_existing: bool = False,
) -> ExportSummary:
    """Write corrected frames into the project as DLC's next labelling iteration.

    Parameters
    ----------
    config : str or PathLike
        The project's ``config.yaml``.
    items : sequence of VideoCorrections
        Corrected frames, one item per video (all exported together, one iteration).
    bump_iteration : bool
        Raise ``iteration`` by one (as ``merge_datasets``).
    replace_existing : bool
        Allow replacing labels of frames that are already labelled differently.

    Returns
    -------
    ExportSummary

    Raises
    ------
    ConfigError, LabelsError, VideoError, CorrectionsError
        Before anything is written, for a bad config, labels that do not match it,
        an unreadable video, keypoints that differ from the config, frames outside
        the video, an existing different image or differently labelled frame.
    """
    from imageio.v3 import imwrite

    config = Path(config)
    cfg = load_config(config)
    project = Project.from_config(cfg, config)
    stems = [Path(item.video).stem for item in items]
    if len(set(stems)) != len(stems):
        raise CorrectionsError("two items export into the same labeled-data folder")
    plans = [_plan_video(item, project, cfg, replace_existing=replace_existing) for item in items]
    before = project.iteration
    if bump_iteration:
        cfg["iteration"] = before + 1
    summary = ExportSummary(config, (before, int(cfg.get("iteration") or 0)))
    config_text = dump_config(cfg)
    for plan in plans:
        plan.folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        # Entered now, committed in reverse order when the block ends: images first,
        # then machine labels, the labels' .csv and .h5, and config.yaml last.
        def stage(path: Path, keep_backups: int = 10) -> Path:
            _drop_stale_temporaries(path)
            tmp = stack.enter_context(atomic_path(path, keep_backups=keep_backups))
            summary.files.insert(0, path)
            return tmp

        if bump_iteration or any(plan.video_added for plan in plans):
            stage(config).write_text(config_text, encoding="utf-8")
        for plan, item in zip(plans, items, strict=True):
            h5, csv = labels_paths(plan.folder, project.scorer)
            plan.labels.to_hdf(stage(h5), key=DLC_HDF_KEY, mode="w")
            plan.labels.to_csv(stage(csv))
            if plan.machine is not None:
                plan.machine.to_hdf(stage(plan.machine_path), key=DLC_HDF_KEY, mode="w")
                plan.machine.to_csv(stage(plan.folder / "machinelabels.csv"))
            for path, image in plan.images.items():
                imwrite(stage(path, keep_backups=0), image, extension=".png")
            summary.videos.append(
                {
                    "video": str(item.video),
                    "folder": str(plan.folder),
                    "images_written": sorted(p.name for p in plan.images),
                    "images_kept": sorted(plan.kept),
                    "labels": str(h5),
                    "rows_added": plan.rows_added,
                    "rows_replaced": plan.rows_replaced,
                    "machinelabels": None if plan.machine is None else str(plan.machine_path),
                    "video_added": plan.video_added,
                }
            )
    return summary


def corrections_from_queue(
    queue: OutlierQueue, video: str | os.PathLike[str] | None = None
) -> VideoCorrections:
    """Return the accepted, corrected rows of a queue as :class:`VideoCorrections`.

    Parameters
    ----------
    queue : OutlierQueue
        A queue whose accepted rows carry points (keypoint label -> ``[x, y]`` or null).
    video : str or PathLike, optional
        The video; the queue's own otherwise.

    Returns
    -------
    VideoCorrections
        With the predictions file's rows as raw predictions (shifted by the crop offset
        of a cropped analysis, as DLC does for machine labels).

    Raises
    ------
    CorrectionsError
        If no row is accepted, the video is unknown, or a row names a keypoint that the
        predictions do not have.
    """
    video = video if video is not None else queue.video
    if video is None:
        raise CorrectionsError(f"{queue.predictions}: the queue names no video; pass it")
    rows = queue.accepted()
    if not rows:
        raise CorrectionsError(f"{queue.predictions}: no accepted row with corrected points")
    pred = read_predictions(queue.predictions)
    raw = pred.table
    dx, dy = pred.crop_offset
    if dx or dy:
        raw = KeypointTable(
            raw.scorer,
            raw.index,
            raw.keypoints,
            raw.data + np.array([dx, dy, 0.0]),
            raw.has_likelihood,
            raw.multianimal,
        )
    keypoints = [parse_keypoint_label(k, queue.multianimal) for k in queue.keypoints]
    data = np.full((len(rows), len(keypoints), 3), np.nan)
    column = {kp: c for c, kp in enumerate(keypoints)}
    for r, row in enumerate(rows):
        for label, point in (row.points or {}).items():
            kp = parse_keypoint_label(label, queue.multianimal)
            if kp not in column:
                raise CorrectionsError(
                    f"frame {row.frame}: keypoint {label!r} is not in the predictions"
                )
            if point is not None:
                data[r, column[kp], :2] = point
    corrected = KeypointTable(
        raw.scorer, [r.frame for r in rows], keypoints, data, False, queue.multianimal
    )
    return VideoCorrections(Path(video), corrected, raw)
