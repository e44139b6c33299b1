"""The parent's side of a running job: :class:`JobHandle` (made by ``runner.start``).

Three daemon threads per job: one reads the child's event channel (its stdout),
one its output (stderr: DLC's prints, progress bars, tracebacks), one waits for
the process and delivers the final event. The final event is always the last
one delivered, made by the parent when the child could not send one (crash,
kill).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from napari_dlc_workbench.model.jobs import JobEvent

if TYPE_CHECKING:
    from napari_dlc_workbench.dlc.runner import Job

__all__ = ["JobHandle"]

_POSIX = os.name == "posix"
_DONE = object()


class JobHandle:
    """A running (or finished) job; made by :func:`napari_dlc_workbench.dlc.runner.start`.

    The pipes are drained by the handle's own threads, so a consumer that never
    iterates :meth:`events` cannot make the child block on a full pipe.

    Attributes
    ----------
    job : Job
        What runs.
    started_at : float
        ``time.time()`` when the child was started.
    grace : float
        Default seconds between SIGTERM and SIGKILL for :meth:`cancel`.
    """

    def __init__(
        self,
        job: Job,
        process: subprocess.Popen[bytes],
        started_at: float,
        *,
        tail_lines: int = 200,
        log_events: bool = True,
        grace: float = 10.0,
    ) -> None:
        self.job = job
        self.started_at = started_at
        self.grace = grace
        self._process = process
        self._log_events = log_events
        self._queue: queue.Queue[Any] = queue.Queue()
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._final: JobEvent | None = None
        self._child_final: JobEvent | None = None
        self._cancel_requested = False
        self._killed = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._kill_timer: threading.Timer | None = None
        assert process.stdout is not None and process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_events, args=(process.stdout,), daemon=True),
            threading.Thread(target=self._read_output, args=(process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        threading.Thread(target=self._monitor, daemon=True, name=f"job-{job.id}").start()

    # -- public --------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """Process id of the child (the leader of its own process group)."""
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """Exit status of the child; None while it runs, negative for a signal."""
        return self._process.poll()

    @property
    def done(self) -> bool:
        """Whether the final event is known."""
        return self._done.is_set()

    @property
    def final(self) -> JobEvent | None:
        """The ``finished``, ``error`` or ``cancelled`` event, once known."""
        return self._final

    @property
    def result(self) -> Any:
        """The job's return value (``finished`` events only), else None."""
        final = self._final
        return final.result if final is not None and final.kind == "finished" else None

    def output_tail(self) -> list[str]:
        """Return the last lines the child printed (DLC's output, tracebacks)."""
        with self._lock:
            return list(self._tail)

    def events(self, timeout: float | None = None) -> Iterator[JobEvent]:
        """Yield events as they arrive, ending after the final one.

        Parameters
        ----------
        timeout : float, optional
            Longest wait for the next event, in seconds.

        Yields
        ------
        JobEvent

        Raises
        ------
        TimeoutError
            If ``timeout`` passes without an event (the job keeps running).

        Notes
        -----
        Iterate from one consumer only: each event is delivered once.
        """
        while True:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(
                    f"job {self.job.name} ({self.job.id}): no event for {timeout} s"
                ) from None
            if item is _DONE:
                self._queue.put(_DONE)  # a later call ends at once too
                return
            yield item

    def wait(self, timeout: float | None = None) -> JobEvent:
        """Block until the job has ended and return its final event.

        Raises
        ------
        TimeoutError
            If it is still running after ``timeout`` seconds.
        """
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.job.name} ({self.job.id}) still running")
        assert self._final is not None
        return self._final

    def cancel(self, grace: float | None = None) -> None:
        """Ask the child to stop; kill its process group if it has not after ``grace`` s.

        Returns at once (safe to call from a GUI thread). The child finishes a
        snapshot it is writing, reports ``cancelled`` and exits; SIGKILL follows
        for a child stuck in native code. On Windows the child is terminated at
        once.

        Parameters
        ----------
        grace : float, optional
            Seconds before SIGKILL; :attr:`grace` if omitted.
        """
        with self._lock:
            if self._cancel_requested or self._done.is_set():
                return
            self._cancel_requested = True
        if self._process.poll() is not None:
            return
        try:
            if _POSIX:
                os.kill(self._process.pid, signal.SIGTERM)
            else:
                self._process.terminate()
        except (ProcessLookupError, OSError):
            return
        delay = self.grace if grace is None else grace
        timer = threading.Timer(delay, self._kill_group)
        timer.daemon = True
        self._kill_timer = timer
        timer.start()

    def kill(self) -> None:
        """Kill the child and its process group at once (no clean stop, no snapshot care)."""
        with self._lock:
            self._cancel_requested = True
        self._kill_group()

    # -- threads -------------------------------------------------------------------

    def _put(self, event: JobEvent) -> None:
        self._queue.put(event)

    def _read_events(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                event = JobEvent.from_json(line)
            except ValueError:
                self._add_output_line(line)
                continue
            if event.terminal:
                # Held back until the output pipe is drained too, so the final
                # event is always the last one delivered. The first one counts: a
                # stop request racing with "finished" must not turn it into "cancelled".
                self._child_final = self._child_final or event
            else:
                self._put(event)
        stream.close()

    def _add_output_line(self, line: str) -> None:
        with self._lock:
            self._tail.append(line)
        if self._log_events:
            self._put(self._make("log", message=line))

    def _read_output(self, stream: IO[bytes]) -> None:
        # DLC's progress bars redraw with "\r": each redraw counts as a line.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            text = decoder.decode(chunk, final=not chunk)
            pending += text
            *lines, pending = pending.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            for line in lines:
                if line.strip():
                    self._add_output_line(line.rstrip())
            if not chunk:
                break
        if pending.strip():
            self._add_output_line(pending.rstrip())
        stream.close()

    def _monitor(self) -> None:
        returncode = self._process.wait()
        for reader in self._readers:
            reader.join(timeout=5.0)
        # A grandchild (e.g. a data-loader worker) may outlive the child and hold
        # the pipes open: the job is over, so its whole group goes.
        self._kill_group(only_stragglers=True)
        for reader in self._readers:
            reader.join(timeout=5.0)
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        final = self._child_final or self._synthesise_final(returncode)
        self._put(final)
        self._final = final
        self._done.set()
        self._queue.put(_DONE)

    def _kill_group(self, only_stragglers: bool = False) -> None:
        if not only_stragglers:
            if self._process.poll() is not None:
                return
            self._killed = True
        if _POSIX:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
        elif not only_stragglers:
            self._process.kill()

    def _make(self, kind: str, **fields: Any) -> JobEvent:
        now = time.time()
        return JobEvent(
            kind,
            job_id=self.job.id,
            job_name=self.job.name,
            elapsed=round(now - self.started_at, 3),
            timestamp=now,
            **fields,
        )

    def _synthesise_final(self, returncode: int) -> JobEvent:
        tail = "\n".join(self.output_tail())
        if self._cancel_requested:
            how = "killed (SIGKILL)" if self._killed else "stopped"
            return self._make("cancelled", message=f"{how} (exit status {returncode})")
        if returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            message = f"the DeepLabCut process died from {name}"
        elif returncode > 0:
            message = f"the DeepLabCut process exited with status {returncode}"
        else:
            message = "the DeepLabCut process ended without reporting a result"
        lines = [line.strip() for line in self.output_tail() if line.strip()]
        # faulthandler's dump ends with the outermost frame; its first line says what happened.
        fatal = [line for line in lines if line.startswith("Fatal Python error")]
        last = fatal[-1] if fatal else (lines[-1] if lines else "")
        if last:
            message += f"; last output: {last}"
        return self._make("error", message=message, traceback=tail)
