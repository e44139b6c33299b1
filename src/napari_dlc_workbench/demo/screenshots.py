"""Screenshots of the docks on the demo's output, taken by a child process.

The demo never imports Qt: :func:`take_screenshots` runs
``python -m napari_dlc_workbench._qt.screenshots <out> <out>/screenshots`` in a
child, on the user's display or under ``xvfb-run`` when there is none.

What counts as a failure: a child that ran and exited non-zero (or timed out)
fails the demo, as any other step. Not being able to run it at all is not a
failure of the demo's loop and is recorded as ``skipped`` with the reason:
no display and no ``xvfb-run``, or a plugin without the screenshots module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from napari_dlc_workbench.demo.core import DemoError, Log

__all__ = ["SCREENSHOTS", "SCREENSHOTS_MODULE", "screenshot_command", "take_screenshots"]

SCREENSHOTS = "screenshots"
"""Folder under the demo output that the child fills with PNGs."""
SCREENSHOTS_MODULE = "napari_dlc_workbench._qt.screenshots"
TIMEOUT_S = 600
XVFB_SCREEN = "-screen 0 1920x1080x24"  # xvfb-run's default 8-bit screen is too poor for OpenGL


def _module_file() -> Path:
    # Found by file, not imported: importing _qt here would pull Qt into the demo.
    package = Path(__file__).resolve().parent.parent
    return package / "_qt" / "screenshots.py"


def screenshot_command(out: Path, env: dict[str, str] | None = None) -> list[str] | str:
    """Return the command to run, or the reason why it cannot run here (a str)."""
    env = dict(os.environ) if env is None else env
    if not _module_file().is_file():
        return f"{SCREENSHOTS_MODULE} is not part of this installation"
    command = [sys.executable, "-m", SCREENSHOTS_MODULE, str(out), str(out / SCREENSHOTS)]
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return command
    xvfb = shutil.which("xvfb-run")
    if xvfb:
        return [xvfb, "-a", "-s", XVFB_SCREEN, *command]
    return "no display; run docs/make_screenshots.py under Xvfb"


def take_screenshots(out: Path, log: Log) -> dict[str, Any]:
    """Run the screenshots child on the demo output and list the PNGs it wrote.

    Parameters
    ----------
    out : Path
        The demo output folder; screenshots go to ``<out>/screenshots``.
    log : callable
        Receives the child's last lines if it fails.

    Returns
    -------
    dict
        ``skipped`` (the reason) when it could not run; otherwise ``command``,
        ``seconds``, ``returncode`` and ``screenshots`` (file names).

    Raises
    ------
    DemoError
        If the child ran and failed or timed out.
    """
    out = Path(out)
    command = screenshot_command(out)
    if isinstance(command, str):
        log(f"[demo]   screenshots skipped: {command}")
        return {"skipped": command}
    (out / SCREENSHOTS).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DemoError(f"the screenshots child ran past {TIMEOUT_S} s") from exc
    names = sorted(p.name for p in (out / SCREENSHOTS).glob("*.png"))
    if done.returncode != 0:
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-5:]
        for line in tail:
            log(f"[demo]   screenshots: {line}")
        raise DemoError(
            f"the screenshots child exited with {done.returncode}: "
            + (tail[-1] if tail else "no output")
        )
    return {
        "command": " ".join(command),
        "seconds": round(time.perf_counter() - start, 1),
        "returncode": done.returncode,
        "screenshots": names,
    }
