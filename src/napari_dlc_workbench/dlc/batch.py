"""Analyse many videos on a dask.distributed cluster: one task per video.

:func:`analyze_many` first asks DLC once (in a child process) which snapshot
and scorer the batch uses and which videos already have predictions for it;
only the others become tasks. Each task runs the ``"analyze"`` job through
:mod:`napari_dlc_workbench.dlc.runner`, so DLC runs in a child process of the
dask worker: a video that crashes DLC (or the child) fails alone, is retried
``retries`` times, and the other videos go on. A child spends seconds importing
DLC before it analyses anything, so each worker starts its next video's child
during the last seconds of the current video (``prewarm``).

The cluster is a :class:`distributed.LocalCluster` sized to the machine by
default, or any running scheduler (``scheduler="tcp://host:8786"``), e.g. one
started by dask-jobqueue on a SLURM cluster (see ``docs/analysis.md``).

Resuming: a rerun skips every video whose ``.h5`` for the scorer exists (the
job writes it last, so it exists only for complete videos). The manifest
``<project>/analysis-batches/<scorer>.json`` records each video's outcome
(status, predictions file, frames, seconds, error message); it is a record for
people, the ``.h5`` files stay the truth.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc.analysis import prediction_path
from napari_dlc_workbench.dlc.runner import Job, SparePool, run, start
from napari_dlc_workbench.io.atomic import atomic_write_text
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.predictions import find_meta, read_meta
from napari_dlc_workbench.model.batch import BatchProgress, BatchResult, VideoOutcome

__all__ = ["BatchError", "BatchProgress", "BatchResult", "VideoOutcome", "analyze_many"]

MANIFEST_FOLDER = "analysis-batches"
PLAN_TARGET = "napari_dlc_workbench.dlc.analysis:plan_analysis"


class BatchError(RuntimeError):
    """The batch could not start (bad config, no trained snapshot); nothing was written."""


_NOT_RETRIED = ("VideoError", "ConfigError", "FileNotFoundError")


class VideoFailed(RuntimeError):
    """A task's job ended in an error (raised in the worker, so dask retries it)."""


SPARE_LEAD_S = 20.0
"""Seconds before a video's end (by its ETA) when its worker starts the next video's child."""
_SPARES = SparePool()  # this worker process's child for its next video


def _analyze_task(
    config: str,
    video: str,
    options: dict[str, Any],
    env: dict[str, str],
    cancel_name: str,
    queue_name: str,
    prewarm: bool = True,
) -> dict[str, Any]:
    """Run the ``analyze`` job for one video on a dask worker (module level: picklable).

    With ``prewarm``, the job runs in the child the worker's previous video left
    (its DLC imports done, see :class:`~napari_dlc_workbench.dlc.runner.Spare`), and
    this video leaves one for the next when its ETA falls under `SPARE_LEAD_S`.
    """
    from distributed import Event, Queue

    cancel = Event(cancel_name)
    queue = Queue(queue_name)
    if cancel.is_set():
        return {"video": video, "status": "cancelled", "message": "cancelled before it started"}
    spare = _SPARES.take() if prewarm else None
    handle = start(
        Job("analyze", {"config": config, "videos": [video], **options}, env=env),
        log_events=False,
        spare=spare,
    )
    warm = spare is not None and handle.pid == spare.process.pid
    last_put = last_check = 0.0
    while not handle.done:
        try:
            for event in handle.events(timeout=1.0):
                now = time.monotonic()
                frames = event.kind == "progress" and event.stage in ("pose", "detector")
                eta = event.metrics.get("eta_s") if frames else None
                if prewarm and eta is not None and eta <= SPARE_LEAD_S:
                    _SPARES.refill(env)
                if frames and (now - last_put >= 1.0 or event.step == event.total):
                    last_put = now
                    queue.put(
                        {
                            "video": video,
                            "frames": event.step,
                            "frames_total": event.total,
                            "fps": event.metrics.get("fps"),
                            "eta_s": event.metrics.get("eta_s"),
                        }
                    )
                if now - last_check >= 1.0:
                    break  # events keep coming while DLC runs: look at the cancel event too
        except TimeoutError:
            pass
        last_check = time.monotonic()
        if cancel.is_set():
            handle.cancel()
    final = handle.wait()
    if final.kind == "cancelled":
        return {"video": video, "status": "cancelled", "message": final.message}
    if final.kind != "finished":
        if final.message.startswith(_NOT_RETRIED):
            # The file itself is bad: another attempt would fail the same way.
            return {"video": video, "status": "failed", "message": final.message}
        raise VideoFailed(final.message)
    [entry] = final.result["videos"]
    return {
        "video": video,
        "status": "skipped" if entry["skipped"] else "analysed",
        "h5": entry["h5"],
        "frames": entry["frames"],
        "seconds": entry["seconds"],
        "warm": warm,
    }


def _frames_in(h5: Path) -> int | None:
    meta = find_meta(h5)
    try:
        return int(read_meta(meta)["nframes"]) if meta is not None else None
    except (ValueError, KeyError, TypeError):
        return None


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class _Manifest:
    """The batch's JSON record, rewritten (atomically) after every outcome."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {"videos": {}}
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and isinstance(old.get("videos"), dict):
                self.data = old
        except (OSError, ValueError):
            pass
        self.data.update(header)

    def record(self, outcome: VideoOutcome) -> None:
        entry = asdict(outcome)
        entry["at"] = datetime.now().isoformat(timespec="seconds")
        self.data["videos"][entry.pop("video")] = entry
        self.data["updated"] = entry["at"]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.data, indent=1) + "\n", keep_backups=0)


def _plan(config: Path, videos: list[Path], options: dict[str, Any]) -> dict[str, Any]:
    keys = ("shuffle", "trainingsetindex", "snapshot", "destfolder", "modelprefix")
    final = run(
        Job(
            PLAN_TARGET,
            {
                "config": str(config),
                "videos": [str(v) for v in videos],
                **{k: options[k] for k in keys if k in options},
            },
        ),
        log_events=False,
    )
    if final.kind != "finished":
        raise BatchError(final.message or f"planning the analysis ended: {final.kind}")
    return final.result


def _connect(scheduler: Any, n_workers: int | None, threads: int) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    if not isinstance(scheduler, str):
        return scheduler, None  # a Client the caller owns
    if scheduler != "local":
        try:
            return Client(scheduler, timeout=30), None
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from exc
    workers = n_workers or max(1, (os.cpu_count() or 1) // threads)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,  # each task only waits on its DLC child, which has the threads
        processes=True,
        dashboard_address=None,
    )
    return Client(cluster), cluster


def analyze_many(
    config: str | os.PathLike[str],
    videos: Sequence[str | os.PathLike[str]],
    *,
    scheduler: Any = "local",
    n_workers: int | None = None,
    threads_per_video: int | None = None,
    retries: int = 1,
    on_progress: Callable[[BatchProgress], None] | None = None,
    cancel: threading.Event | None = None,
    manifest: bool = True,
    prewarm: bool = True,
    **options: Any,
) -> BatchResult:
    """Analyse ``videos`` on a dask cluster, one task per video.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    videos : sequence of path
        Video files.
    scheduler : "local", str or distributed.Client
        ``"local"`` starts a :class:`distributed.LocalCluster` for the batch
        (``n_workers`` process workers of one thread); an address
        (``"tcp://10.0.0.5:8786"``) connects to a running scheduler; a
        ``Client`` is used as it is and left open.
    n_workers : int, optional
        Local workers (videos at a time); cores // ``threads_per_video`` if omitted.
    threads_per_video : int, optional
        CPU threads of each DLC child (``OMP_NUM_THREADS``); locally
        min(4, cores) if omitted, elsewhere the workers' own setting.
    retries : int
        Extra attempts for a video whose job failed.
    on_progress : callable, optional
        Called in this thread with a :class:`BatchProgress` at the start, for
        running videos' frames (about once a second each) and per outcome.
    cancel : threading.Event, optional
        Set it (from any thread) to stop: queued videos are dropped, running
        ones are stopped (their partial output is removed), finished ones kept.
    manifest : bool
        Record outcomes in ``<project>/analysis-batches/<scorer>.json``.
    prewarm : bool
        Start each worker's next DLC child (its imports take seconds) while the
        current video's last seconds run, and run the next video in it.
    **options
        Passed to the ``analyze`` job (:func:`napari_dlc_workbench.dlc.analysis.analyze`):
        ``shuffle``, ``trainingsetindex``, ``snapshot``, ``batch_size``,
        ``device``, ``save_as_csv``, ``destfolder``, ``cropping``,
        ``filter_predictions``, ``filter_type``, ``filter_window``, ``force``,
        ``modelprefix``.

    Returns
    -------
    BatchResult

    Raises
    ------
    FileNotFoundError
        If a video does not exist (checked before anything starts).
    BatchError
        If DLC cannot analyse with this project at all (no trained snapshot, a
        broken config); nothing was written.
    """
    from distributed import Event, Queue, as_completed

    config = Path(config).resolve()
    load_config(config)  # a broken config is named before anything starts
    paths = [Path(v).resolve() for v in videos]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such video file: {', '.join(missing)}")
    if not paths:
        raise ValueError("no video to analyse")
    options = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in options.items()}
    plan = _plan(config, paths, options)
    scorer, dest = plan["scorer"], options.get("destfolder")
    # Every task uses the planned snapshot, even if training writes a newer one meanwhile.
    options["snapshot"] = plan["snapshot"]
    result = BatchResult(scorer=scorer, snapshot=plan["snapshot"])
    record = None
    if manifest:
        record = _Manifest(
            config.parent / MANIFEST_FOLDER / f"{scorer}.json",
            {"config": str(config), "scorer": scorer, "snapshot": plan["snapshot"]},
        )
        result.manifest = record.path
    outcomes: dict[str, VideoOutcome] = {}
    todo: list[Path] = []
    for path in paths:
        h5 = prediction_path(path, scorer, dest)
        filtered = h5.with_name(h5.stem + "_filtered.h5")
        wants_filter = options.get("filter_predictions") and not filtered.is_file()
        if h5.is_file() and not options.get("force") and not wants_filter:
            outcomes[str(path)] = VideoOutcome(str(path), "skipped", str(h5), _frames_in(h5))
        else:
            todo.append(path)
    total = len(paths)

    def tell(update: dict[str, Any]) -> None:
        if on_progress is not None:
            failed = sum(o.status == "failed" for o in outcomes.values())
            on_progress(BatchProgress(total=total, finished=len(outcomes), failed=failed, **update))

    client = cluster = None
    if todo and not (cancel is not None and cancel.is_set()):
        threads = threads_per_video or (_default_threads() if scheduler == "local" else 0)
        env = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")} if threads else {}
        client, cluster = _connect(scheduler, n_workers, threads or _default_threads())
    for outcome in outcomes.values():
        if record is not None:
            record.record(outcome)
    tell({"kind": "start", "message": f"{len(todo)} to analyse, {total - len(todo)} done before"})
    if client is not None:
        token = uuid.uuid4().hex[:8]
        stop, queue = (
            Event(f"dlc-cancel-{token}", client=client),
            Queue(f"dlc-progress-{token}", client=client),
        )
        try:
            futures = {
                client.submit(
                    _analyze_task,
                    str(config),
                    str(path),
                    options,
                    env,
                    stop.name,
                    queue.name,
                    prewarm,
                    key=f"analyze-{path.stem}-{token}",
                    retries=retries,
                    pure=False,
                ): path
                for path in todo
            }
            pending = as_completed(list(futures))
            while not pending.is_empty():
                for future in pending.next_batch(block=False) if pending.has_ready() else ():
                    outcome = _outcome(future, futures[future])
                    outcomes[outcome.video] = outcome
                    if record is not None:
                        record.record(outcome)
                    text = f"{Path(outcome.video).name}: {outcome.status}"
                    tell({"video": outcome.video, "status": outcome.status, "message": text})
                for item in queue.get(batch=True) if queue.qsize() else ():
                    tell({"kind": "frames", **item})
                if cancel is not None and cancel.is_set() and not result.cancelled:
                    result.cancelled = True
                    # Not client.cancel: a running task must stay to stop its DLC child
                    # (closing the cluster under it would orphan the child); queued
                    # tasks see the event and return at once.
                    stop.set()
                time.sleep(0.2)
        finally:
            if client is not scheduler:  # a Client the caller gave stays open
                client.close()
            if cluster is not None:
                cluster.close()
    result.outcomes = [
        outcomes.get(str(p)) or VideoOutcome(str(p), "cancelled", message="not started")
        for p in paths
    ]
    return result


def _outcome(future: Any, path: Path) -> VideoOutcome:
    if future.status == "cancelled":
        return VideoOutcome(str(path), "cancelled", message="cancelled before it started")
    if future.status == "error":
        exc = future.exception()
        message = str(exc) if isinstance(exc, VideoFailed) else f"{type(exc).__name__}: {exc}"
        return VideoOutcome(str(path), "failed", message=message)
    done = future.result()
    return VideoOutcome(
        video=str(path),
        status=done["status"],
        h5=done.get("h5"),
        frames=done.get("frames"),
        seconds=float(done.get("seconds") or 0.0),
        message=done.get("message", ""),
        warm=bool(done.get("warm")),
    )
