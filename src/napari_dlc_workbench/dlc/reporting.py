"""How a job function reports progress, whether it runs in a child or in-process.

Job functions (``training.train``, ``evaluation.evaluate``, ...) take an optional
``report`` argument, a :class:`Reporter`. The child process entry point passes
one that writes JSON lines to the parent and turns a cancellation request into
:class:`JobCancelled`; called directly (a script, a test), a plain Reporter
forwards events to a callback or drops them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from napari_dlc_workbench.model.jobs import JobEvent

__all__ = ["JobCancelled", "Reporter"]


class JobCancelled(BaseException):
    """The job was asked to stop.

    A ``BaseException`` on purpose: DLC wraps some steps in ``except Exception``,
    which must not swallow a cancellation.
    """


class Reporter:
    """Make :class:`JobEvent` s for one job and hand them to ``callback``.

    Parameters
    ----------
    callback : callable, optional
        Receives each event; events are dropped when None.
    job_id, job_name : str
        Written into every event.
    started_at : float, optional
        ``time.time()`` when the job was started (the parent's clock, so
        ``elapsed`` includes the child's start-up); now if omitted.
    """

    def __init__(
        self,
        callback: Callable[[JobEvent], None] | None = None,
        *,
        job_id: str = "",
        job_name: str = "",
        started_at: float | None = None,
    ) -> None:
        self._callback = callback
        self.job_id = job_id
        self.job_name = job_name
        self.started_at = time.time() if started_at is None else started_at
        self.last_snapshot: str | None = None
        self._lock = threading.Lock()

    def emit(self, kind: str, **fields: Any) -> JobEvent:
        """Make an event of ``kind`` and send it.

        Parameters
        ----------
        kind : str
            The event kind (see :class:`~napari_dlc_workbench.model.jobs.JobEvent`).
        **fields
            Further :class:`JobEvent` fields.

        Returns
        -------
        JobEvent
            The event sent.
        """
        now = time.time()
        event = JobEvent(
            kind,
            job_id=self.job_id,
            job_name=self.job_name,
            elapsed=round(now - self.started_at, 3),
            timestamp=now,
            **fields,
        )
        if kind == "snapshot" and event.snapshot:
            self.last_snapshot = event.snapshot
        if self._callback is not None:
            with self._lock:
                self._callback(event)
        return event

    @contextmanager
    def protect(self) -> Iterator[None]:
        """Hold off cancellation while a file is being written (e.g. a snapshot).

        In-process there is nothing to hold off; the child's reporter defers
        the stop request to the end of the block, so a cancelled run never leaves
        a half-written snapshot.
        """
        yield
