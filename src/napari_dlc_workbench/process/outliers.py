"""The outlier queue: which predicted frames a person should look at first, and why.

Scoring (:mod:`napari_dlc_workbench.process.outlier_scores`) gives every frame and
keypoint one normalised value per signal (``likelihood``, ``jump``, ``residual``,
``shape``, ``disagreement``), 1.0 meaning "at that signal's threshold". This module
turns them into a ranked :class:`~napari_dlc_workbench.model.outliers.OutlierQueue`:

1. a frame's value for a signal is its worst keypoint's;
2. a frame is *flagged* when its strongest signal reaches ``settings.threshold`` (1.0);
3. its *rank score* is the sum over signals of the values capped at ``settings.cap``
   (4.0): a frame wrong in several ways outranks one wrong in one way, and one absurd
   value cannot dominate;
4. flagged frames at most ``settings.merge_gap`` apart form a run, shown once, as its
   worst frame (a glitch flags its own frame and the next one's jump back); a run longer
   than ``settings.max_run`` frames is cut into pieces that long, each shown once (a long
   stretch of wrong predictions needs several corrected frames);
5. the best ``quota`` rows are kept (DLC's ``numframes2pick`` per video), optionally
   chosen for variety: k-means on downsampled frames among the best ``3 × quota``, as
   DLC's ``extractionalgorithm="kmeans"`` does among its outliers.

The queue is saved as a JSON sidecar beside the predictions,
``<predictions stem>.outliers.json`` (see :func:`sidecar_path`), atomically and with
backups: it holds the user's corrections until they are exported.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from napari_dlc_workbench.io.atomic import atomic_write_text
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.labels import LabelsError, labels_paths, read_labels
from napari_dlc_workbench.io.predictions import Predictions, read_predictions
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.model.outliers import OutlierQueue, QueueRow
from napari_dlc_workbench.model.project import Project
from napari_dlc_workbench.process.outlier_scores import (
    OutlierScores,
    OutlierSettings,
    ShapeReference,
    score_table,
    shape_reference,
)

__all__ = [
    "OutlierQueueError",
    "diverse_rows",
    "find_outliers",
    "find_video",
    "load_queue",
    "project_shape_reference",
    "rank_frames",
    "save_queue",
    "sidecar_path",
]

SIDECAR_SUFFIX = ".outliers.json"


class OutlierQueueError(ValueError):
    """An outlier queue sidecar that cannot be used, with the file named."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


def rank_frames(scores: OutlierScores, quota: int | None = None) -> list[QueueRow]:
    """Flag, collapse runs and rank frames (steps 1-4 and the quota of the module text).

    Parameters
    ----------
    scores : OutlierScores
        From :func:`~napari_dlc_workbench.process.outlier_scores.score_table`.
    quota : int, optional
        Keep this many rows at most.

    Returns
    -------
    list of QueueRow
        Best first; equal scores in frame order.
    """
    s = scores.settings
    combined = scores.combined
    flagged = np.flatnonzero(scores.strongest >= s.threshold)
    if not len(flagged):
        return []
    frames = scores.frames[flagged]
    gap_run = np.concatenate([[0], np.cumsum(np.diff(frames) > s.merge_gap)])
    # Long runs are cut into pieces of max_run frames, counted from the run's first frame.
    first_frame = frames[np.searchsorted(gap_run, gap_run)]
    piece = (frames - first_frame) // s.max_run
    new_run = np.concatenate([[False], (np.diff(gap_run) != 0) | (np.diff(piece) != 0)])
    run_id = np.cumsum(new_run)
    # Within each run, highest score first (earliest frame on ties): its first is the worst.
    order = np.lexsort((frames, -combined[flagged], run_id))
    first = np.concatenate([[True], np.diff(run_id[order]) != 0])
    worst = flagged[order[first]]
    starts = frames[np.flatnonzero(np.concatenate([[True], np.diff(run_id) != 0]))]
    stops = frames[np.flatnonzero(np.concatenate([np.diff(run_id) != 0, [True]]))]
    runs = run_id[order[first]]
    ranking = np.lexsort((scores.frames[worst], -combined[worst]))
    if quota is not None:
        ranking = ranking[: max(0, int(quota))]
    by_frame = scores.by_frame
    rows = []
    for r in ranking:
        i = int(worst[r])
        rows.append(
            _row(scores, by_frame, i, float(combined[i]), (starts[runs[r]], stops[runs[r]]))
        )
    return rows


def _row(
    scores: OutlierScores,
    by_frame: dict[str, np.ndarray],
    i: int,
    combined: float,
    run: tuple[int, int],
) -> QueueRow:
    labels = scores.keypoints
    reasons = {kind: float(v[i]) for kind, v in by_frame.items()}
    worst = {
        kind: labels[int(np.argmax(v[i]))]
        for kind, v in scores.per_keypoint.items()
        if v.shape[1] and v[i].max() > 0
    }
    per_kp = np.max([v[i] for v in scores.per_keypoint.values()], axis=0)
    responsible = [int(k) for k in np.argsort(-per_kp, kind="stable") if per_kp[k] >= 1.0]
    if not responsible and len(per_kp):
        responsible = [int(np.argmax(per_kp))]
    return QueueRow(
        frame=int(scores.frames[i]),
        score=combined,
        reasons=reasons,
        bodyparts=[labels[k] for k in responsible],
        worst=worst,
        run=(int(run[0]), int(run[1])),
    )


def diverse_rows(
    rows: Sequence[QueueRow],
    video: str | os.PathLike[str],
    k: int,
    *,
    pool: int | None = None,
    seed: int = 0,
) -> list[QueueRow]:
    """Choose ``k`` rows that look different, as DLC's k-means frame extraction.

    The best ``pool`` rows (``3 * k`` by default) are candidates; their frames are
    shrunk to 30 px wide, clustered with k-means
    (:func:`napari_dlc_workbench.process.frames.pick_kmeans`) and one frame per cluster
    is kept, so ten flags of the same occlusion do not fill the quota.

    Parameters
    ----------
    rows : sequence of QueueRow
        Ranked rows, best first.
    video : str or PathLike
        The video the frames come from.
    k : int
        Rows wanted.
    pool : int, optional
        Candidates considered.
    seed : int
        k-means and choice seed.

    Returns
    -------
    list of QueueRow
        In rank order.
    """
    from napari_dlc_workbench.io.video import load_index
    from napari_dlc_workbench.process.frames import pick_kmeans

    candidates = list(rows[: pool or 3 * k])
    if len(candidates) <= k:
        return candidates
    n_frames = len(load_index(Path(video)))
    keep = {r.frame for r in candidates}
    picked = set(
        pick_kmeans(video, k, exclude=(f for f in range(n_frames) if f not in keep), seed=seed)
    )
    return [r for r in candidates if r.frame in picked]


def project_shape_reference(config: str | os.PathLike[str]) -> ShapeReference | None:
    """Keypoint-pair distances of every labelled frame of a project.

    Folders whose labels cannot be read or do not match the config are skipped with a
    warning (the reference is a help, not a reason to refuse scoring).

    Parameters
    ----------
    config : str or PathLike
        The project's ``config.yaml``.

    Returns
    -------
    ShapeReference or None
        None when the project has no usable labels.
    """
    project = Project.from_config(load_config(config), config)
    tables: list[KeypointTable] = []
    folders = sorted(p for p in project.labeled_data.glob("*") if p.is_dir())
    for folder in folders:
        h5 = labels_paths(folder, project.scorer)[0]
        if not h5.is_file():
            continue
        try:
            table = KeypointTable.from_dataframe(read_labels(h5))
        except LabelsError as exc:
            warnings.warn(f"shape reference skips {exc}", stacklevel=2)
            continue
        if table.keypoints != project.keypoints:
            warnings.warn(f"shape reference skips {h5}: keypoints differ from config", stacklevel=2)
            continue
        tables.append(table)
    reference = shape_reference(tables)
    return reference if reference.pairs else None


def find_video(predictions: Predictions, project: Project | None = None) -> Path | None:
    """Return the video a predictions file was made from, if it can be found.

    A project video with the same stem wins, then ``<stem>.<video suffix>`` beside the
    predictions (where ``analyze_videos`` writes them by default).
    """
    stem = predictions.video_stem
    if not stem:
        return None
    if project is not None:
        for entry in project.videos:
            if entry.stem == stem and project.video_file(entry).is_file():
                return project.video_file(entry)
    for suffix in VIDEO_SUFFIXES:
        candidate = predictions.path.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def find_outliers(
    predictions: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    others: Sequence[str | os.PathLike[str]] = (),
    settings: OutlierSettings | None = None,
    quota: int | None = None,
    diverse: bool = False,
    video: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> OutlierQueue:
    """Score a predictions file and build its outlier queue.

    Parameters
    ----------
    predictions : str or PathLike
        ``<video>DLC_<scorer>.h5``.
    config : str or PathLike, optional
        The project's ``config.yaml``: its labels give the ``shape`` reference, its
        ``numframes2pick`` the default quota when ``diverse`` is asked.
    others : sequence of path
        Other models' predictions of the same video (``disagreement``).
    settings : OutlierSettings, optional
        Thresholds.
    quota : int, optional
        Rows to keep.
    diverse : bool
        Choose the quota for variety (needs the video).
    video : str or PathLike, optional
        The video; looked up next to the predictions and in the project otherwise.
    seed : int
        Seed of the diversity pick.

    Returns
    -------
    OutlierQueue

    Raises
    ------
    LabelsError
        If a predictions file cannot be read.
    ValueError
        If ``diverse`` is asked and no video is found.
    """
    settings = settings or OutlierSettings()
    pred = read_predictions(predictions)
    project = Project.from_config(load_config(config), config) if config is not None else None
    reference = project_shape_reference(config) if config is not None else None
    other_tables = [read_predictions(p).table for p in others]
    scores = score_table(pred.table, settings, reference=reference, others=other_tables)
    video_path = Path(video) if video is not None else find_video(pred, project)
    if diverse:
        if video_path is None:
            raise ValueError(f"{pred.path}: a diverse pick needs the video; pass it explicitly")
        if quota is None:
            quota = int((project.raw.get("numframes2pick") if project else None) or 20)
        rows = diverse_rows(rank_frames(scores), video_path, quota, seed=seed)
    else:
        rows = rank_frames(scores, quota)
    stored = settings.to_dict()
    if reference is not None:
        stored["shape_reference"] = reference.to_dict()
    return OutlierQueue(
        predictions=str(pred.path),
        scorer=pred.table.scorer,
        n_frames=len(pred.table),
        keypoints=list(scores.keypoints),
        multianimal=pred.table.multianimal,
        video=None if video_path is None else str(video_path),
        settings=stored,
        rows=rows,
    )


def sidecar_path(predictions: str | os.PathLike[str]) -> Path:
    """Where a predictions file's queue is kept: ``<stem>.outliers.json`` beside it.

    DLC ignores the file (it only globs ``.h5``, ``.csv`` and ``.pickle`` there).
    """
    path = Path(predictions)
    return path.with_name(path.name.removesuffix(".h5") + SIDECAR_SUFFIX)


def save_queue(queue: OutlierQueue, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the queue to its sidecar atomically, keeping backups of the previous one.

    Parameters
    ----------
    queue : OutlierQueue
        The queue, with the user's decisions and corrections.
    path : str or PathLike, optional
        Destination; :func:`sidecar_path` of the queue's predictions by default.

    Returns
    -------
    Path
    """
    path = Path(path) if path is not None else sidecar_path(queue.predictions)
    text = json.dumps(queue.to_dict(), indent=1, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def load_queue(path: str | os.PathLike[str]) -> OutlierQueue:
    """Read a queue sidecar.

    Raises
    ------
    OutlierQueueError
        If the file is missing, not JSON or not an outlier queue.
    """
    path = Path(path)
    if not path.is_file():
        raise OutlierQueueError(path, "file does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return OutlierQueue.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise OutlierQueueError(path, f"not a readable outlier queue ({exc})") from exc
