"""What the Inference dock runs off the GUI thread, and how the results come back.

Each function here runs in a napari thread worker; results and progress reach
the GUI thread through Qt signals only. Errors come back as :class:`Failure`
values, so the dock says them in its status line instead of napari opening a
traceback dialog (a worker that returns an exception object has it raised
again by superqt, hence the wrapper).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from qtpy.QtCore import QObject, Signal

from napari_dlc_workbench.dlc import runner
from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.process.inference_plan import InferencePlan

__all__ = [
    "Failure",
    "Relay",
    "follow",
    "guarded",
    "run_batch",
    "start_worker",
    "stop",
]

_WORKERS: set[Any] = set()


class Failure:
    """What a guarded call raised.

    Attributes
    ----------
    error : Exception
        The exception.
    """

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __str__(self) -> str:
        return str(self.error)


class Relay(QObject):
    """Carries ``dlc.batch`` progress from the worker thread to the GUI thread.

    Made in the GUI thread: emitted from a worker, ``update`` is a queued signal.
    """

    update = Signal(object)


def guarded(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Return ``func(*args, **kwargs)``, or a :class:`Failure` holding what it raised."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure is reported in the dock
        return Failure(exc)


def follow(handle: runner.JobHandle) -> Iterator[JobEvent]:
    """Yield a job's events (blocks in the worker thread, never in the GUI).

    When the worker is stopped early (napari closing), the job is cancelled too.
    """
    try:
        yield from handle.events()
    finally:
        if not handle.done:
            handle.cancel()


def run_batch(plan: InferencePlan, relay: Relay, cancel: threading.Event) -> Any:
    """Run the plan's videos with ``dlc.batch.analyze_many``; return its ``BatchResult``."""
    from napari_dlc_workbench.dlc.batch import analyze_many

    return analyze_many(**plan.batch_kwargs(), on_progress=relay.update.emit, cancel=cancel)


def start_worker(func: Callable[..., Any], *args: Any, **connections: Callable[..., Any]) -> Any:
    """Start ``func(*args)`` in a napari thread worker, connecting its signals first.

    Parameters
    ----------
    func : callable
        A function (wrap it with :func:`guarded` to get errors as values) or a generator.
    *args
        Its arguments.
    **connections
        Worker signal name (``returned``, ``yielded``...) to slot.

    Returns
    -------
    worker
        Kept referenced until it ends: Qt would delete the signals of a worker
        nobody holds (a dock closed while it runs).
    """
    from napari.qt.threading import create_worker

    worker = create_worker(func, *args, _start_thread=False)
    _WORKERS.add(worker)
    worker.finished.connect(lambda: _WORKERS.discard(worker))
    for name, slot in connections.items():
        getattr(worker, name).connect(slot)
    worker.start()
    return worker


def stop(handles: list[runner.JobHandle], cancel: threading.Event, *_: Any) -> None:
    """Cancel a dock's jobs (connected to its ``destroyed`` signal)."""
    cancel.set()
    for handle in handles:
        handle.cancel()
