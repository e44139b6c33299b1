"""Entry point of a job's child process: ``python -m napari_dlc_workbench.dlc._child JOB``.

``JOB`` is the JSON written by :meth:`napari_dlc_workbench.dlc.runner.Job.to_json`
with the target resolved. A spare child (:class:`napari_dlc_workbench.dlc.runner.Spare`)
is started as ``_child --wait IDLE_TIMEOUT MODULE...`` instead: it imports the
modules, then reads ``JOB`` from stdin (the parent writes it and closes the pipe),
and exits quietly (status 0, no event) when none comes within ``IDLE_TIMEOUT``
seconds or the pipe closes empty.

The child reports :class:`JobEvent` s as JSON lines on its *original* stdout,
which it keeps for itself; file descriptor 1 is then pointed at stderr, so
whatever DeepLabCut, torch or C libraries print lands in the log stream and can
never be mistaken for an event.

Exit status: 0 finished, 1 error, 130 cancelled (the last event says which).
"""

from __future__ import annotations

import faulthandler
import importlib
import inspect
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import IO, Any

from napari_dlc_workbench.dlc.reporting import JobCancelled, Reporter
from napari_dlc_workbench.dlc.runner import NICE_ENV, WAIT_FLAG
from napari_dlc_workbench.model.jobs import JobEvent, to_jsonable

__all__ = ["EXIT_CANCELLED", "EXIT_ERROR", "ChildReporter", "main", "resolve_target"]

EXIT_ERROR = 1
EXIT_CANCELLED = 130


class ChildReporter(Reporter):
    """A reporter that writes events to the parent and obeys SIGTERM.

    Parameters
    ----------
    stream : text stream
        The private event channel (the child's original stdout).
    **kwargs
        :class:`Reporter` arguments.
    """

    def __init__(self, stream: IO[str], **kwargs: Any) -> None:
        super().__init__(self._write, **kwargs)
        self._stream = stream
        self._protected = 0
        self._stop_requested = ""  # why, once a stop was requested
        self._stop_raised = False

    def _write(self, event: JobEvent) -> None:
        # A stop request must not cut a line in half: the parent would lose the event.
        with self.protect():
            try:
                self._stream.write(event.to_json() + "\n")
                self._stream.flush()
            except (OSError, ValueError) as exc:
                # The parent is gone (napari closed or crashed): nobody will ever
                # read the result, so stop instead of training on as an orphan.
                raise JobCancelled("the parent process stopped reading events") from exc

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: stop now, or at the end of a protected block."""
        self._stop_requested = f"stopped by signal {signal.Signals(signum).name}"
        if not self._protected:
            self._raise_once(self._stop_requested)

    def _raise_once(self, message: str) -> None:
        # A second signal while the first one unwinds must not interrupt the
        # clean-up that reports the cancellation.
        if not self._stop_raised:
            self._stop_raised = True
            raise JobCancelled(message)

    @contextmanager
    def protect(self) -> Iterator[None]:
        """Defer a stop request until the block has finished (see :class:`Reporter`)."""
        self._protected += 1
        try:
            yield
        finally:
            self._protected -= 1
            if not self._protected and self._stop_requested:
                self._raise_once(self._stop_requested)


def resolve_target(target: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` and return the function.

    Parameters
    ----------
    target : str
        Module path and attribute path separated by a colon.

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        If ``target`` has no colon or names nothing callable.
    """
    module_name, sep, qualname = target.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"job target must be 'module:function', got {target!r}")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"job target {target!r} is not callable")
    return obj


def _accepts_report(func: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return "report" in parameters


def _claim_stdout() -> IO[str]:
    # Keep the original stdout for events; everything else printed to fd 1 from
    # now on (Python or C) goes to stderr instead.
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)
    return events


def _run(job: dict[str, Any], reporter: ChildReporter) -> int:
    func = resolve_target(job["target"])
    kwargs = dict(job.get("kwargs") or {})
    if _accepts_report(func):
        kwargs["report"] = reporter
    result = func(*(job.get("args") or []), **kwargs)
    reporter.emit("finished", result=to_jsonable(result), snapshot=reporter.last_snapshot)
    return 0


def _wait_for_job(idle_timeout: float, preload: list[str]) -> str:
    """Import ``preload``, then return the job read from stdin ("" if none came)."""
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - the job's own import will report it
            traceback.print_exc()
    received: list[bytes] = []

    def read() -> None:
        # The parent writes the job and closes the pipe: read to its end. os.read, not
        # sys.stdin: a daemon thread blocked inside sys.stdin's buffer would make the
        # interpreter abort at exit when no job comes.
        while chunk := os.read(0, 1 << 16):
            received.append(chunk)

    # A thread, not select(): select cannot wait on a pipe on Windows.
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(idle_timeout)
    if reader.is_alive():
        return ""  # no job in time (a partial one cannot be run either)
    return b"".join(received).decode("utf-8").strip()


def main(argv: list[str] | None = None) -> int:
    """Run the job given as JSON in ``argv[0]`` and report on the event channel.

    Parameters
    ----------
    argv : list of str, optional
        ``sys.argv[1:]`` if omitted. ``[WAIT_FLAG, IDLE_TIMEOUT, MODULE...]`` for a
        spare child: the job comes on stdin once the modules are imported.

    Returns
    -------
    int
        The process exit status.
    """
    argv = sys.argv[1:] if argv is None else argv
    nice = int(os.environ.pop(NICE_ENV, "0") or 0)
    if nice and hasattr(os, "nice"):
        os.nice(nice)  # before torch starts its threads: they inherit it
    events = _claim_stdout()
    faulthandler.enable()  # a segfault in torch/DLC leaves a Python traceback on stderr
    if argv[0] == WAIT_FLAG:
        argument = _wait_for_job(float(argv[1]), argv[2:])
        if not argument:
            return 0  # not needed after all: no event, nobody is listening
    else:
        argument = argv[0]
    job = json.loads(argument)
    reporter = ChildReporter(
        events,
        job_id=str(job.get("id", "")),
        job_name=str(job.get("name", "")),
        started_at=job.get("started_at"),
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, reporter.request_stop)
    try:
        try:
            reporter.emit("started", message=f"pid {os.getpid()}: {job['target']}")
            return _run(job, reporter)
        except JobCancelled as exc:
            reporter.emit("cancelled", message=str(exc), snapshot=reporter.last_snapshot)
            return EXIT_CANCELLED
        except BaseException as exc:  # every failure, SystemExit included, must reach the parent
            if isinstance(exc, SystemExit) and exc.code in (0, None):
                reporter.emit("finished", snapshot=reporter.last_snapshot)
                return 0
            reporter.emit(
                "error",
                message=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
                snapshot=reporter.last_snapshot,
            )
            return EXIT_ERROR
    except JobCancelled:
        # The parent vanished while we reported; there is no one left to tell.
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
