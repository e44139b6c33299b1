"""Make the docs' screenshots (docs/images/<dock>.png) from the real docks on the demo.

Usage::

    .venv/bin/python docs/make_screenshots.py [--size small] [--demo DIR] [--out docs/images]

It runs the demo (``dlc-workbench demo``; ``--size small`` by default, into a temporary
folder, or into ``--demo DIR``, reused as it is when a finished demo is already there),
then ``python -m napari_dlc_workbench._qt.screenshots DEMO OUT``: napari opens the demo
with every dock loaded (:mod:`napari_dlc_workbench._qt.demo_gui`) and saves one window
screenshot per dock. Without a display it restarts itself under ``xvfb-run -a``.
Exits with the screenshots' status (0: every PNG written).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
MODULE = "napari_dlc_workbench._qt.screenshots"
XVFB_SCREEN = "-screen 0 1920x1080x24"  # xvfb-run's default 8-bit screen is too poor for GL
REEXEC = "DLC_WORKBENCH_SCREENSHOTS_XVFB"  # set in the restarted process: never loop


def has_display() -> bool:
    """Whether Qt can open windows here (an X or Wayland display, or not Linux)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def ensure_display() -> None:
    """Restart this script under ``xvfb-run -a`` when there is no display."""
    if has_display():
        return
    xvfb = shutil.which("xvfb-run")
    if xvfb is None or os.environ.get(REEXEC):
        raise SystemExit(
            "error: no display and no xvfb-run: install Xvfb (apt-get install xvfb) "
            "or run this on a desktop"
        )
    env = {**os.environ, REEXEC: "1", "QT_QPA_PLATFORM": "xcb"}
    command = [xvfb, "-a", "-s", XVFB_SCREEN, sys.executable, str(Path(__file__).resolve())]
    os.execve(xvfb, [*command, *sys.argv[1:]], env)


def run_demo(folder: Path, size: str) -> None:
    """Run the demo into ``folder`` (its own screenshots are made below, not there)."""
    from napari_dlc_workbench.demo import DemoError
    from napari_dlc_workbench.demo import run_demo as demo

    try:
        demo(folder, size=size, screenshots=False)
    except DemoError as exc:
        raise SystemExit(f"error: the demo failed: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["tiny", "small", "full"], default="small")
    parser.add_argument("--demo", type=Path, help="demo folder (reused when finished)")
    parser.add_argument("--out", type=Path, default=DOCS / "images")
    parser.add_argument("--only", nargs="+", help="only these docks (e.g. outliers training)")
    args = parser.parse_args(argv)
    ensure_display()
    from napari_dlc_workbench.demo import demo_finished

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dlc-workbench-screenshots-") as tmp:
        demo = (args.demo or Path(tmp) / "demo").resolve()
        if demo_finished(demo):
            print(f"reusing the finished demo in {demo}", flush=True)
        else:
            print(f"running the {args.size} demo into {demo} (minutes)...", flush=True)
            run_demo(demo, args.size)
        demo_s = time.perf_counter() - start
        command = [sys.executable, "-m", MODULE, str(demo), str(args.out.resolve())]
        if args.only:
            command += ["--only", *args.only]
        done = subprocess.run(command, check=False)
    print(
        f"demo {demo_s:.0f} s, screenshots {time.perf_counter() - start - demo_s:.0f} s; "
        f"exit {done.returncode}",
        flush=True,
    )
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
