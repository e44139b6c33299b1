"""Run a DLC job in a child process and follow it as a stream of :class:`JobEvent` s.

Why a child process: importing torch in a process that holds a napari GL context
segfaults, DLC may crash or call ``input()``, and a training run must be
stoppable at any moment. The child (:mod:`napari_dlc_workbench.dlc._child`)
sends events as JSON lines on its own stdout, which it reserves for that; all
that DLC prints arrives on stderr, whose last lines are kept for error messages
and forwarded as ``log`` events.

Whatever the child does (raises, segfaults, is killed), the parent sees it as a
final ``error`` or ``cancelled`` event, never as an exception:

>>> handle = start(Job("train", {"config": "config.yaml", "epochs": 5}))
>>> for event in handle.events():  # blocking; run it in a napari thread_worker
...     print(event.describe())
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from napari_dlc_workbench.dlc._handle import JobHandle
from napari_dlc_workbench.model.jobs import JobEvent, to_jsonable

__all__ = [
    "GUI_NICE",
    "JOBS",
    "Job",
    "JobHandle",
    "Spare",
    "SparePool",
    "run",
    "spawn_spare",
    "start",
]

JOBS: dict[str, str] = {
    "create_training_dataset": "napari_dlc_workbench.dlc.project:create_training_dataset",
    "train": "napari_dlc_workbench.dlc.training:train",
    "evaluate": "napari_dlc_workbench.dlc.evaluation:evaluate",
    "analyze": "napari_dlc_workbench.dlc.analysis:analyze",
    "learning_curve": "napari_dlc_workbench.dlc.learning_curve:learning_curve",
    "compare_preprocessing": "napari_dlc_workbench.dlc.preprocessing:compare_preprocessing",
}
"""Registered job names and the function each runs in the child."""

CHILD_MODULE = "napari_dlc_workbench.dlc._child"
WAIT_FLAG = "--wait"
"""First argument of a spare child: it reads its job from stdin (see :class:`Spare`)."""
NICE_ENV = "DLC_WORKBENCH_CHILD_NICE"
GUI_NICE = 10
"""Priority offset of jobs started from the docks (see :func:`start`)."""
_POSIX = os.name == "posix"
_LIVE: weakref.WeakSet[JobHandle] = weakref.WeakSet()


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Job:
    """What to run in the child.

    Attributes
    ----------
    name : str
        A key of :data:`JOBS`, or any ``"module:function"`` importable in the child.
    kwargs : Mapping
        Keyword arguments; must be JSON data (paths are sent as strings).
    args : Sequence
        Positional arguments, likewise.
    env : Mapping
        Extra environment variables for the child.
    id : str
        Identifies this run in its events.
    """

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    args: Sequence[Any] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    id: str = field(default_factory=_new_id)

    @property
    def target(self) -> str:
        """The ``"module:function"`` the child calls."""
        return JOBS.get(self.name, self.name)

    def to_json(self, started_at: float) -> str:
        """Serialise for the child's command line.

        Raises
        ------
        ValueError
            If the name is neither registered nor of the form ``"module:function"``.
        """
        if ":" not in self.target:
            raise ValueError(
                f"unknown job {self.name!r}: use one of {sorted(JOBS)} or 'module:function'"
            )
        return json.dumps(
            {
                "id": self.id,
                "name": self.name,
                "target": self.target,
                "args": to_jsonable(list(self.args)),
                "kwargs": to_jsonable(dict(self.kwargs)),
                "started_at": started_at,
            }
        )


def start(
    job: Job,
    *,
    python: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    tail_lines: int = 200,
    log_events: bool = True,
    grace: float = 10.0,
    nice: int = 0,
    spare: Spare | None = None,
) -> JobHandle:
    """Start ``job`` in a child process and return at once.

    Parameters
    ----------
    job : Job
        What to run.
    python : path, optional
        Interpreter for the child (must have this package and deeplabcut);
        the current one if omitted.
    cwd : path, optional
        Working directory of the child.
    tail_lines : int
        How many output lines to keep for error messages.
    log_events : bool
        Forward each output line as a ``log`` event.
    grace : float
        Seconds between SIGTERM and SIGKILL on :meth:`JobHandle.cancel`.
    nice : int
        Lower the child's CPU priority by this much (POSIX ``nice``; ignored elsewhere).
        The docks pass :data:`GUI_NICE`: DLC fills every core, and napari's GUI thread
        must still get the CPU when it needs it; the work itself is not slower on an
        otherwise idle machine.
    spare : Spare, optional
        A child made by :func:`spawn_spare` to run the job in (its imports done);
        used when it is alive and was started with the same environment,
        interpreter and folder, else closed and a fresh child started.

    Returns
    -------
    JobHandle

    Raises
    ------
    ValueError
        If the job name is unknown (nothing is started).
    OSError
        If the interpreter cannot be started.
    """
    started_at = time.time()
    argument = job.to_json(started_at)
    env = _child_env(job.env, nice)
    process = None
    if spare is not None:
        if spare.fits(env, python, cwd):
            process = spare.hand_over(argument)
        else:
            spare.close()
    if process is None:
        process = _popen([argument], env, python, cwd, stdin=subprocess.DEVNULL)
    handle = JobHandle(
        job, process, started_at, tail_lines=tail_lines, log_events=log_events, grace=grace
    )
    _LIVE.add(handle)
    return handle


def _child_env(extra: Mapping[str, str], nice: int) -> dict[str, str]:
    env = dict(os.environ)
    # Offline by default (a missing weight file fails at once instead of retrying
    # for minutes); users who want downloads set HF_HUB_OFFLINE=0 themselves.
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = "Agg"  # the child has no screen, whatever the parent uses
    env.update({str(k): str(v) for k, v in extra.items()})
    if nice:
        env[NICE_ENV] = str(int(nice))
    return env


def _popen(
    arguments: list[str],
    env: dict[str, str],
    python: str | os.PathLike[str] | None,
    cwd: str | os.PathLike[str] | None,
    stdin: int,
) -> subprocess.Popen[bytes]:
    options: dict[str, Any] = {}
    if _POSIX:
        options["start_new_session"] = True  # own process group: cancel kills it all
    else:
        options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    return subprocess.Popen(
        [str(python or sys.executable), "-m", CHILD_MODULE, *arguments],
        stdin=stdin,  # DEVNULL: input() raises EOFError instead of waiting forever
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=None if cwd is None else str(cwd),
        env=env,
        **options,
    )


class Spare:
    """A child started before its job: it imports DLC now and takes a job later.

    Starting a child costs seconds of imports (``deeplabcut`` pulls in torch and
    much more) before DLC does any work. A batch that runs one child per video
    starts the next video's child while the current one runs, and hands it the
    next job with ``start(job, spare=...)``: the imports are then done, or
    under way. A spare that gets no job within ``idle_timeout`` seconds of its
    imports, or whose parent goes away, exits by itself.

    Made by :func:`spawn_spare`.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        env: dict[str, str],
        python: str | os.PathLike[str] | None,
        cwd: str | os.PathLike[str] | None,
        idle_timeout: float,
    ) -> None:
        self.process = process
        self._key = (env, _same_path(python), _same_path(cwd))
        # The child's idle clock starts after its imports, so this is always earlier.
        self._usable_until = time.monotonic() + idle_timeout - _SPARE_MARGIN

    @property
    def alive(self) -> bool:
        """Whether the child still runs and can still be given a job."""
        return self.process.poll() is None and time.monotonic() < self._usable_until

    def fits(
        self,
        env: dict[str, str],
        python: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> bool:
        """Whether a job with this environment, interpreter and folder can run in it."""
        return self.alive and self._key == (env, _same_path(python), _same_path(cwd))

    def hand_over(self, argument: str) -> subprocess.Popen[bytes] | None:
        """Send the job (its JSON); return the process, or None if the spare is gone."""
        stdin = self.process.stdin
        try:
            assert stdin is not None
            stdin.write(argument.encode("utf-8") + b"\n")
            stdin.close()  # as with DEVNULL: input() in the job gets end-of-file
        except (OSError, ValueError):
            self.close()
            return None
        _SPARES.discard(self)
        return self.process

    def close(self) -> None:
        """Stop the child (a spare that is no longer wanted)."""
        _SPARES.discard(self)
        if self.process.poll() is None:
            self.process.kill()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self.process.wait()


def _same_path(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.path.abspath(path)


_SPARE_MARGIN = 5.0
_SPARES: weakref.WeakSet[Spare] = weakref.WeakSet()
PRELOAD = ("deeplabcut",)
"""What a spare imports while it waits: what every DLC job imports first."""


class SparePool:
    """Keeps one spare child ready for the next job of a series (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: Spare | None = None

    def take(self) -> Spare | None:
        """Return the waiting spare (for ``start(job, spare=...)``), if any."""
        with self._lock:
            spare, self._spare = self._spare, None
            return spare

    def refill(self, env: Mapping[str, str] | None = None, **options: Any) -> None:
        """Start a spare (:func:`spawn_spare` arguments) unless one is waiting."""
        with self._lock:
            if self._spare is None or not self._spare.alive:
                if self._spare is not None:
                    self._spare.close()
                self._spare = spawn_spare(env, **options)


def spawn_spare(
    env: Mapping[str, str] | None = None,
    *,
    preload: Sequence[str] = PRELOAD,
    idle_timeout: float = 120.0,
    python: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    nice: int = 0,
) -> Spare:
    """Start a child that imports ``preload`` and waits for a job (see :class:`Spare`).

    Parameters
    ----------
    env : Mapping, optional
        The ``Job.env`` of the job it will run (a job with another one gets a
        fresh child, and the spare is closed).
    preload : sequence of str
        Modules to import while waiting.
    idle_timeout : float
        Seconds it waits for a job once its imports are done.
    python, cwd, nice
        As for :func:`start`; they must match that call's.

    Returns
    -------
    Spare
    """
    full_env = _child_env(env or {}, nice)
    process = _popen(
        [WAIT_FLAG, repr(float(idle_timeout)), *preload],
        full_env,
        python,
        cwd,
        stdin=subprocess.PIPE,
    )
    spare = Spare(process, full_env, python, cwd, idle_timeout)
    _SPARES.add(spare)
    return spare


def run(job: Job, on_event: Callable[[JobEvent], None] | None = None, **options: Any) -> JobEvent:
    """Run ``job`` to the end, passing each event to ``on_event``; for scripts and the CLI.

    Ctrl-C cancels the job (cleanly, as :meth:`JobHandle.cancel`) and waits for it.

    Parameters
    ----------
    job : Job
        What to run.
    on_event : callable, optional
        Called with every event, the final one included.
    **options
        Passed to :func:`start`.

    Returns
    -------
    JobEvent
        The final event.
    """
    handle = start(job, **options)
    while True:
        try:
            for event in handle.events():
                if on_event is not None:
                    on_event(event)
            return handle.wait()
        except KeyboardInterrupt:
            handle.cancel()


@atexit.register
def _stop_live_jobs() -> None:
    # Closing napari must not leave a training run going on without a window.
    for spare in list(_SPARES):
        spare.close()
    handles = [h for h in list(_LIVE) if not h.done]
    for handle in handles:
        handle.cancel(grace=3.0)
    deadline = time.monotonic() + 3.5
    for handle in handles:
        try:
            handle.wait(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            handle.kill()
