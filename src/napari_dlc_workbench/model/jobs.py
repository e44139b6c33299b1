"""What a running DLC job reports: :class:`JobEvent`, one JSON line each.

Jobs (training, evaluation, analysis) run ``deeplabcut`` in a child process.
The child writes one JSON line per event on a private pipe; the parent turns
each line back into a :class:`JobEvent`. Both ends may be different versions of
this package (a user's DLC environment can lag behind the plugin), so reading
ignores keys it does not know and keeps kinds it does not know as they are.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import PurePath
from typing import Any

__all__ = ["EVENT_KINDS", "TERMINAL_KINDS", "JobEvent", "to_jsonable"]

EVENT_KINDS = (
    "started",
    "progress",
    "epoch",
    "snapshot",
    "log",
    "finished",
    "error",
    "cancelled",
)
"""Event kinds a job may send, roughly in the order they happen."""

TERMINAL_KINDS = frozenset({"finished", "error", "cancelled"})
"""Kinds after which a job sends nothing more."""


def to_jsonable(value: Any) -> Any:
    """Turn ``value`` into plain JSON types (numpy scalars, paths, tuples included).

    Parameters
    ----------
    value : Any
        A job's result or an event field.

    Returns
    -------
    Any
        The same content made of dict, list, str, int, float, bool and None;
        anything else becomes its ``str``.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
    if callable(item):
        try:
            return to_jsonable(item())
        except (TypeError, ValueError):
            pass
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return to_jsonable(tolist())
    return str(value)


@dataclass(frozen=True)
class JobEvent:
    """One thing a job reports.

    Attributes
    ----------
    kind : str
        One of :data:`EVENT_KINDS`: ``started``, ``progress`` (within an epoch or
        a step of a job), ``epoch`` (an epoch ended: losses and, when DLC
        evaluated, test metrics), ``snapshot`` (DLC saved a snapshot file),
        ``log`` (a line DLC printed), then exactly one of ``finished``,
        ``error`` or ``cancelled``.
    job_id : str
        Identifies the job run.
    job_name : str
        What runs, e.g. ``"train"``.
    stage : str
        Part of the job, e.g. ``"pose"`` or ``"detector"`` (top-down models train
        a detector first, with its own epochs).
    epoch : int or None
        Epoch the event belongs to (DLC counts from 1; a resumed run continues
        the count).
    epochs : int or None
        Last epoch of this run.
    step, total : int or None
        Progress within the current epoch or job (e.g. batch 3 of 12).
    loss : float or None
        Mean training loss of the epoch.
    metrics : dict
        Every value DLC logged for the epoch, under DLC's names in
        ``learning_stats.csv`` (``losses/train.total_loss``,
        ``metrics/test.rmse``, ...); not part of the event's hash.
    snapshot : str or None
        Snapshot file written (``snapshot`` events) or the last one written
        (``cancelled``).
    message : str
        Human-readable text: the error message for ``error``.
    traceback : str
        For ``error``: the child's Python traceback, or its last output lines
        when it died without one (e.g. a segfault).
    elapsed : float
        Seconds since the job was started.
    timestamp : float
        Wall-clock time (``time.time()``) when the event was made.
    result : Any
        For ``finished``: the job's return value as plain JSON data.
    """

    kind: str
    job_id: str = ""
    job_name: str = ""
    stage: str = ""
    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    total: int | None = None
    loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict, hash=False)
    snapshot: str | None = None
    message: str = ""
    traceback: str = ""
    elapsed: float = 0.0
    timestamp: float = field(default_factory=time.time)
    result: Any = field(default=None, hash=False)

    @property
    def terminal(self) -> bool:
        """Whether the job ends with this event."""
        return self.kind in TERMINAL_KINDS

    def to_json(self) -> str:
        """Serialise to one line of JSON (no newline inside).

        Returns
        -------
        str
            The event; non-finite floats are written as ``NaN``/``Infinity``, which
            :meth:`from_json` reads back (DLC reports e.g. an RMSE above the
            p-cutoff as NaN when no prediction passes it).
        """
        return json.dumps(to_jsonable(asdict(self)), separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str | bytes) -> JobEvent:
        """Parse one line written by :meth:`to_json`.

        Parameters
        ----------
        line : str or bytes
            One JSON object.

        Returns
        -------
        JobEvent
            Keys this version does not know are ignored.

        Raises
        ------
        ValueError
            If the line is not a JSON object with a ``kind``.
        """
        data = json.loads(line)
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            raise ValueError(f"not a job event: {str(line)[:200]!r}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if not isinstance(values.get("metrics"), dict):
            values.pop("metrics", None)
        return cls(**values)

    def with_job(self, job_id: str, job_name: str) -> JobEvent:
        """Return a copy that names the job (for events made by the parent)."""
        return replace(self, job_id=job_id, job_name=job_name)

    def describe(self) -> str:
        """One line for a log view or a terminal.

        Returns
        -------
        str
            E.g. ``"epoch 3/200: loss 0.01234, test rmse 4.20"``.
        """
        name = f"[{self.job_name}] " if self.job_name else ""
        stage = f"{self.stage} " if self.stage and self.stage != "pose" else ""
        if self.kind == "epoch":
            text = f"{stage}epoch {self.epoch}/{self.epochs}"
            if self.loss is not None:
                text += f": loss {self.loss:.5f}"
            for key in ("metrics/test.rmse", "metrics/test.mAP"):
                value = self.metrics.get(key)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    text += f", test {key.rsplit('.', 1)[1]} {value:.2f}"
            return name + text
        if self.kind == "progress" and self.total:
            where = f"{stage}epoch {self.epoch} " if self.epoch is not None else ""
            return f"{name}{where}{self.step}/{self.total} {self.message}".rstrip()
        if self.kind == "snapshot":
            return f"{name}saved {self.snapshot}"
        if self.kind == "error":
            return f"{name}error: {self.message}"
        return f"{name}{self.kind}: {self.message}".rstrip(": ")
