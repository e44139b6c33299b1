"""Analyse videos with a trained DLC 3 network: :func:`analyze` (the ``"analyze"`` job).

``deeplabcut.analyze_videos`` (PyTorch engine) writes, beside each video (or
into ``destfolder``), ``<video_stem><scorer>.h5`` (key ``df_with_missing``),
``<video_stem><scorer>_meta.pickle``, ``<video_stem><scorer>_full.pickle`` and,
with ``save_as_csv``, ``<video_stem><scorer>.csv``. The scorer names the
network, project, shuffle and snapshot, e.g.
``DLC_CspnextS_Cladonema_starvedNov29shuffle1_snapshot_002``, so the same video
analysed with another snapshot gets other files.

What this module adds around DLC's own call:

- a snapshot chosen by meaning (``"best"``, ``"last"``, ``"snapshot-050"``),
  turned into the index DLC expects;
- the skip rule: a video whose ``.h5`` for this scorer exists is not analysed
  again unless ``force``. DLC writes into a hidden folder beside the final one
  and the files are moved into place when the video is complete, ``.h5`` last,
  so a cancelled or crashed analysis never leaves an ``.h5`` that would be
  taken for a finished one;
- ``progress`` events with frames done/total, frames/s and ETA per video, from
  DLC's inference loop (see :mod:`napari_dlc_workbench.dlc._analysis_progress`);
- optional ``deeplabcut.filterpredictions`` (``<...>_filtered.h5``).

Only :func:`analyze` and :func:`plan_analysis` import DLC (in a job's child);
:func:`prediction_path` is plain path arithmetic for the parent.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc._analysis_progress import VideoProgress, inference_progress
from napari_dlc_workbench.dlc._env import import_deeplabcut
from napari_dlc_workbench.dlc.reporting import Reporter
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.video import probe_video

__all__ = [
    "AnalysisError",
    "analyze",
    "plan_analysis",
    "prediction_path",
]

PARTIAL_PREFIX = ".analysis-partial-"


class AnalysisError(RuntimeError):
    """One or more videos could not be analysed; the message names each."""


def prediction_path(
    video: str | os.PathLike[str], scorer: str, destfolder: str | os.PathLike[str] | None = None
) -> Path:
    """Where DLC writes the predictions of ``video`` by ``scorer``.

    Parameters
    ----------
    video : path
        The analysed video.
    scorer : str
        DLC's scorer name.
    destfolder : path, optional
        DLC's ``destfolder``; the video's folder if omitted.

    Returns
    -------
    Path
        ``<folder>/<video_stem><scorer>.h5``.
    """
    video = Path(video)
    folder = Path(destfolder) if destfolder is not None else video.parent
    return folder / f"{video.stem}{scorer}.h5"


# -- snapshots ----------------------------------------------------------------------


def _loader(config: str | os.PathLike[str], shuffle: int, trainingsetindex: int, modelprefix: str):
    from deeplabcut.pose_estimation_pytorch.data import DLCLoader

    return DLCLoader(
        config=str(config),
        shuffle=shuffle,
        trainset_index=trainingsetindex,
        modelprefix=modelprefix,
    )


def _resolve(loader: Any, choice: str | int | None) -> tuple[Any, int, Any]:
    """Return ``(snapshot, index for analyze_videos, detector snapshot or None)``."""
    from deeplabcut.pose_estimation_pytorch.apis.utils import (
        get_model_snapshots,
        parse_snapshot_index_for_analysis,
    )
    from deeplabcut.pose_estimation_pytorch.task import Task

    folder = Path(loader.model_folder)
    # DLC indexes this list (sorted by epochs, the best one moved last).
    snapshots = get_model_snapshots("all", folder, loader.pose_task)
    if not snapshots:
        raise FileNotFoundError(
            f"{folder}: no trained snapshot (snapshot-*.pt); train this shuffle first"
        )
    names = [s.path.stem for s in snapshots]
    if choice is None:
        index, _ = parse_snapshot_index_for_analysis(
            loader.project_cfg, loader.model_cfg, None, None
        )
        chosen = get_model_snapshots(index, folder, loader.pose_task)[0]
    elif isinstance(choice, int):
        chosen = get_model_snapshots(choice, folder, loader.pose_task)[0]
    elif choice == "best":
        best = [s for s in snapshots if s.best]
        if not best:
            raise FileNotFoundError(
                f"{folder}: no snapshot-best-*.pt (DLC saves one on evaluation epochs); "
                f"choose 'last' or one of {names}"
            )
        chosen = best[-1]
    elif choice == "last":
        chosen = max((s for s in snapshots if not s.best), key=lambda s: s.epochs, default=None)
        if chosen is None:
            chosen = snapshots[-1]
    else:
        name = Path(str(choice)).name.removesuffix(".pt")
        if name not in names:
            raise FileNotFoundError(f"{folder}: no snapshot {name!r}; found {names}")
        chosen = snapshots[names.index(name)]
    index = names.index(chosen.path.stem)
    detector = None
    if loader.pose_task == Task.TOP_DOWN:
        _, detector_index = parse_snapshot_index_for_analysis(
            loader.project_cfg, loader.model_cfg, index, None
        )
        if detector_index is not None:
            found = get_model_snapshots(detector_index, folder, Task.DETECT)
            detector = found[0] if found else None
    return chosen, index, detector


def plan_analysis(
    config: str | os.PathLike[str],
    videos: Sequence[str | os.PathLike[str]] = (),
    shuffle: int = 1,
    *,
    trainingsetindex: int = 0,
    snapshot: str | int | None = None,
    destfolder: str | os.PathLike[str] | None = None,
    modelprefix: str = "",
) -> dict[str, Any]:
    """Resolve the snapshot and scorer once, and say which videos are already done.

    Run as a job (``Job("napari_dlc_workbench.dlc.analysis:plan_analysis", ...)``):
    a batch asks once, then starts work only for the videos still to do.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    videos : sequence of path
        Videos to check.
    shuffle, trainingsetindex : int
        Which trained network.
    snapshot : {"best", "last"}, str, int or None
        ``"snapshot-050"`` names one; an int is DLC's index; None follows
        ``snapshotindex`` of ``config.yaml``.
    destfolder : path, optional
        DLC's output folder; beside each video if omitted.
    modelprefix : str
        DLC's model prefix.

    Returns
    -------
    dict
        ``snapshot`` (file stem), ``snapshot_index``, ``epochs``, ``scorer`` and
        ``videos``: ``{"video", "h5", "done"}`` per video.
    """
    load_config(config)
    import_deeplabcut()
    loader = _loader(config, shuffle, trainingsetindex, modelprefix)
    chosen, index, detector = _resolve(loader, snapshot)
    scorer = loader.scorer(chosen, detector)
    rows = []
    for video in videos:
        h5 = prediction_path(video, scorer, destfolder)
        rows.append({"video": str(video), "h5": str(h5), "done": h5.is_file()})
    return {
        "snapshot": chosen.path.stem,
        "snapshot_index": index,
        "epochs": chosen.epochs,
        "scorer": scorer,
        "videos": rows,
    }


# -- the job ------------------------------------------------------------------------


def _move_outputs(partial: Path, folder: Path) -> None:
    # The .h5 is what says "done": it moves last, after everything it goes with.
    files = sorted(partial.iterdir(), key=lambda p: (p.suffix == ".h5", p.name))
    for path in files:
        os.replace(path, folder / path.name)


def _count_rows(h5: Path) -> int:
    from napari_dlc_workbench.io.predictions import read_predictions

    return len(read_predictions(h5).table)


def _filter(
    dlc: Any,
    config: str,
    video: Path,
    folder: Path,
    index: int,
    options: dict[str, Any],
    filtering: dict[str, Any],
) -> None:
    dlc.filterpredictions(
        config,
        [str(video)],
        shuffle=options["shuffle"],
        trainingsetindex=options["trainingsetindex"],
        destfolder=str(folder),
        save_as_csv=options["save_as_csv"],
        modelprefix=options["modelprefix"],
        snapshot_index=index,  # the same scorer as the predictions just written
        **filtering,
    )


def _one_video(
    dlc: Any,
    video: Path,
    *,
    config: str,
    scorer: str,
    index: int,
    options: dict[str, Any],
    destfolder: Path | None,
    force: bool,
    filtering: dict[str, Any] | None,
    watcher: list[VideoProgress | None],
    progress: VideoProgress,
) -> dict[str, Any]:
    folder = destfolder if destfolder is not None else video.parent
    h5 = prediction_path(video, scorer, folder)
    stem = h5.name.removesuffix(".h5")
    result: dict[str, Any] = {
        "video": str(video),
        "h5": str(h5),
        "csv": None,
        "filtered_h5": None,
        "frames": None,
        "seconds": 0.0,
        "fps": None,
        "skipped": False,
    }
    started = time.monotonic()
    if h5.is_file() and not force:
        result["skipped"] = True
        result["frames"] = _count_rows(h5)
        progress.emit("pose", result["frames"], None, None)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{PARTIAL_PREFIX}{uuid.uuid4().hex[:8]}"
        partial.mkdir()
        try:
            watcher[0] = progress
            returned = dlc.analyze_videos(
                config,
                [str(video)],
                snapshot_index=index,
                destfolder=str(partial),
                overwrite=True,
                **options,
            )
            watcher[0] = None
            if returned != scorer:
                raise AnalysisError(f"DeepLabCut used scorer {returned}, expected {scorer}")
            if not (partial / h5.name).is_file():
                raise AnalysisError(f"{video}: DeepLabCut wrote no predictions")
            frames = _count_rows(partial / h5.name)
            if frames == 0:
                raise AnalysisError(f"{video}: no frame could be read (corrupt video?)")
            if progress.total and frames != progress.total:
                # Kept (DLC's own behaviour), but said: frame numbers may not match the file's.
                progress.report.emit(
                    "log",
                    message=f"warning: {video.name}: DeepLabCut read {frames} frames, "
                    f"the file announces {progress.total}; re-encoding it may help",
                )
            if filtering is not None:
                _filter(dlc, config, video, partial, index, options, filtering)
            for old in [folder / f"{stem}.csv", *folder.glob(f"{stem}_filtered.*")]:
                if old.is_file() and not (partial / old.name).exists():
                    old.unlink()  # made from the predictions being replaced
            _move_outputs(partial, folder)
        finally:
            watcher[0] = None
            shutil.rmtree(partial, ignore_errors=True)
        seconds = time.monotonic() - started
        result.update(frames=frames, seconds=round(seconds, 3), fps=round(frames / seconds, 2))
    if filtering is not None and not folder.joinpath(f"{stem}_filtered.h5").is_file():
        # Predictions kept from an earlier run, filtered now.
        _filter(dlc, config, video, folder, index, options, filtering)
    if folder.joinpath(f"{stem}.csv").is_file():
        result["csv"] = str(folder / f"{stem}.csv")
    if folder.joinpath(f"{stem}_filtered.h5").is_file():
        result["filtered_h5"] = str(folder / f"{stem}_filtered.h5")
    return result


def analyze(
    config: str | os.PathLike[str],
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    shuffle: int = 1,
    *,
    trainingsetindex: int = 0,
    snapshot: str | int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    save_as_csv: bool = False,
    destfolder: str | os.PathLike[str] | None = None,
    cropping: Sequence[int] | None = None,
    filter_predictions: bool = False,
    filter_type: str = "median",
    filter_window: int = 5,
    force: bool = False,
    modelprefix: str = "",
    interval: float = 0.5,
    report: Reporter | None = None,
) -> dict[str, Any]:
    """Analyse videos with ``deeplabcut.analyze_videos``, skipping finished ones.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    videos : path or sequence of path
        Video files (folders are expanded by the caller, e.g. the CLI).
    shuffle, trainingsetindex : int
        Which trained network.
    snapshot : {"best", "last"}, str, int or None
        ``"best"`` (``snapshot-best-NNN.pt``), ``"last"`` (the regular snapshot
        trained longest), a name (``"snapshot-050"``), DLC's index, or None for
        ``snapshotindex`` of ``config.yaml`` (DLC's default).
    batch_size : int, optional
        Frames per forward pass; ``batch_size`` of ``config.yaml`` if omitted.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; the shuffle's setting if omitted.
    save_as_csv : bool
        Also write the ``.csv`` twin (and of the filtered file).
    destfolder : path, optional
        Output folder; beside each video if omitted.
    cropping : sequence of 4 int, optional
        ``[x1, x2, y1, y2]`` analysed region (coordinates stay in crop space;
        ``_meta.pickle`` records the offset).
    filter_predictions : bool
        Run ``deeplabcut.filterpredictions`` afterwards.
    filter_type : {"median", "arima", "spline"}
        DLC's ``filtertype``.
    filter_window : int
        DLC's ``windowlength`` (odd, for the median filter).
    force : bool
        Analyse again videos whose predictions for this scorer exist.
    modelprefix : str
        DLC's model prefix.
    interval : float
        Least seconds between two progress events of a video.
    report : Reporter, optional
        Receives ``progress`` events (frames, frames/s, ETA per video).

    Returns
    -------
    dict
        ``scorer``, ``snapshot``, ``snapshot_index`` and ``videos``: per video
        ``video``, ``h5``, ``csv``, ``filtered_h5``, ``frames``, ``seconds``,
        ``fps`` and ``skipped``.

    Raises
    ------
    napari_dlc_workbench.io.config.ConfigError
        For a missing or broken ``config.yaml`` (before DLC is imported).
    napari_dlc_workbench.io.video.VideoError
        For a missing or unreadable video (before anything is analysed).
    FileNotFoundError
        If the shuffle has no trained snapshot, or the snapshot asked for is missing.
    AnalysisError
        If some videos failed; the others were analysed and kept.
    """
    report = report or Reporter()
    load_config(config)
    paths = [Path(videos)] if isinstance(videos, (str, os.PathLike)) else [Path(v) for v in videos]
    if not paths:
        raise ValueError("no video to analyse")
    if filter_predictions and filter_type == "median" and filter_window % 2 == 0:
        raise ValueError(f"the median filter needs an odd window, not {filter_window}")
    totals = [probe_video(p).n_frames for p in paths]  # names a bad file before DLC's import
    dlc = import_deeplabcut()
    loader = _loader(config, shuffle, trainingsetindex, modelprefix)
    chosen, index, detector = _resolve(loader, snapshot)
    scorer = loader.scorer(chosen, detector)
    report.emit(
        "progress",
        stage="videos",
        step=0,
        total=len(paths),
        message=f"analysing {len(paths)} video(s) with {chosen.path.name}",
    )
    options = {
        "shuffle": shuffle,
        "trainingsetindex": trainingsetindex,
        "save_as_csv": save_as_csv,
        "device": device,
        "batch_size": batch_size,
        "cropping": list(cropping) if cropping is not None else None,
        "modelprefix": modelprefix,
    }
    filtering = (
        {"filtertype": filter_type, "windowlength": filter_window} if filter_predictions else None
    )
    dest = Path(destfolder) if destfolder is not None else None
    results, failures = [], []
    watcher: list[VideoProgress | None] = [None]
    with inference_progress(report, watcher):
        for number, (video, total) in enumerate(zip(paths, totals, strict=True), start=1):
            progress = VideoProgress(report, video, number, len(paths), total, interval)
            try:
                result = _one_video(
                    dlc,
                    video,
                    config=str(config),
                    scorer=scorer,
                    index=index,
                    options=options,
                    destfolder=dest,
                    force=force,
                    filtering=filtering,
                    watcher=watcher,
                    progress=progress,
                )
            except Exception as exc:  # one bad video must not stop the others
                failures.append(f"{video}: {type(exc).__name__}: {exc}")
                report.emit("log", message=f"failed: {failures[-1]}")
                continue
            results.append(result)
            what = "skipped (already analysed)" if result["skipped"] else "analysed"
            report.emit(
                "progress",
                step=number,
                total=len(paths),
                stage="videos",
                message=f"{video.name}: {what}",
                metrics={"video": float(number), "videos": float(len(paths))},
            )
    if failures:
        done = len(results)
        raise AnalysisError(
            f"{len(failures)} of {len(paths)} videos failed ({done} done):\n" + "\n".join(failures)
        )
    return {
        "scorer": scorer,
        "snapshot": chosen.path.stem,
        "snapshot_index": index,
        "videos": results,
    }
