"""What the dock benchmarks share: a virtual display, the demo project, Qt event-loop waits.

The ``bench_*.py`` scripts beside this file import it as ``_gui``: they are run as
``python benchmarks/bench_x.py``, which puts this folder first on ``sys.path``. Qt is
imported inside the functions, so a script can start the display before anything loads Qt.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Ticks", "demo_project", "ensure_display", "process_events", "stats", "wait"]


def ensure_display(size: tuple[int, int] = (1600, 1100)) -> Any:
    """Start a virtual X display (Xvfb) unless one is there.

    Returns
    -------
    pyvirtualdisplay.Display or None
        Keep it referenced until the end (``stop()`` it when done); None when a
        display was there already.
    """
    if os.environ.get("DISPLAY"):
        return None
    from pyvirtualdisplay import Display

    display = Display(visible=False, size=size)
    display.start()
    return display


def demo_project(out: Path, *options: str, timeout: float = 900) -> Path:
    """Run ``dlc-workbench demo --size tiny [options]`` into ``out/demo``; return the project folder."""
    exe = Path(sys.executable).with_name("dlc-workbench")
    done = subprocess.run(
        [exe, "demo", "--size", "tiny", *options, "--out", str(out / "demo")],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    return next((out / "demo").glob("Cladonema_starved-*"))


class Ticks:
    """A precise 10 ms timer; gaps between ticks are what the GUI thread spent elsewhere."""

    def __init__(self) -> None:
        from qtpy.QtCore import Qt, QTimer

        self.timer = QTimer(interval=10)
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[float] = []
        self.last: float | None = None

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append(now - self.last)
        self.last = now

    def start(self) -> None:
        self.last = None
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def wait(condition: Callable[[], Any], timeout: float, poll_ms: int = 20) -> None:
    """Run the Qt event loop until ``condition()`` holds (checked every ``poll_ms``).

    Raises
    ------
    SystemExit
        If it still does not hold after ``timeout`` seconds.
    """
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    poll = QTimer(interval=poll_ms)
    poll.timeout.connect(lambda: condition() and loop.quit())
    deadline = QTimer(singleShot=True, interval=int(timeout * 1000))
    deadline.timeout.connect(loop.quit)
    poll.start()
    deadline.start()
    if not condition():
        loop.exec()
    poll.stop()
    if not condition():
        raise SystemExit(f"timed out after {timeout} s")


def process_events(seconds: float = 0.3) -> None:
    """Let Qt handle its events for ``seconds`` (layouts, draws, queued signals)."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def stats(values: list[float]) -> dict[str, float]:
    """Median, 90th percentile and maximum of durations in seconds, as milliseconds."""
    ms = np.asarray(values) * 1e3
    return {
        "median_ms": round(float(np.median(ms)), 2),
        "p90_ms": round(float(np.percentile(ms, 90)), 2),
        "max_ms": round(float(ms.max()), 2),
        "n": len(ms),
    }
