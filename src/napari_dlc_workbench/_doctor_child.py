"""Run ``_doctor_probe.py`` in a child interpreter and collect its sections.

A probe that crashes (a segfaulting CUDA import), hangs or prints garbage must not take
the caller down, and the sections it did finish must still count: each section's result
arrives on its own marked line, and a child that dies is restarted past that section.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_MARK = "@@dlcwb-probe@@ "
# Run by file path, so it works for any interpreter, even one that cannot import this
# package (see _doctor_probe.py for why it is written as it is).
PROBE_PATH = Path(__file__).with_name("_doctor_probe.py")


def _describe_exit(code: int) -> str:
    def signame(num: int) -> str:
        try:
            return signal.Signals(num).name
        except ValueError:
            return f"signal {num}"

    if code < 0:
        return f"was killed by {signame(-code)}"
    if os.name == "posix" and 128 < code < 160:
        # A shell wrapper reports a child's fatal signal as 128 + signal number.
        return f"exited with code {code} (128+{signame(code - 128)}: it crashed)"
    return f"exited with code {code}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and _MARK not in line]
    return lines[-1][:200] if lines else ""


def _spawn(exe: str, sections: list[str], timeout: float) -> tuple[dict, str | None, str]:
    """Run one probe child; return its sections, the one it was in, and why it stopped early."""
    try:
        proc = subprocess.Popen(
            [exe, str(PROBE_PATH), ",".join(sections)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, HF_HUB_OFFLINE="1"),
            start_new_session=os.name == "posix",
        )
    except OSError as exc:
        return {}, None, f"could not start {exe}: {exc}"
    try:
        out, err = proc.communicate(timeout=max(timeout, 0.1))
        timed_out = False
    except BaseException as exc:  # also Ctrl-C, which the child's own session would not get
        # Kill the whole group: a hung nvidia-smi or ffmpeg grandchild would keep the pipes open.
        with contextlib.suppress(ProcessLookupError):
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
        timed_out = True
        out, err = proc.communicate()
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    got, current = {}, None
    for line in stdout.splitlines():
        start = line.find(_MARK)
        if start < 0:
            continue
        try:
            msg = json.loads(line[start + len(_MARK) :])
        except ValueError:
            continue
        if "begin" in msg:
            current = msg["begin"]
        elif "section" in msg:
            got[msg["section"]], current = msg.get("data"), None
    if not timed_out and all(name in got for name in sections):
        return got, None, ""  # a crash at interpreter exit, after reporting, is not our concern
    if timed_out:
        what = "timed out"
    elif proc.returncode:
        what = _describe_exit(proc.returncode)
    else:
        what = "exited without reporting"
    last = _last_line(stderr) or _last_line(stdout)
    return got, current, what + (f"; last output: {last}" if last else "")


def run_probe(
    exe: str, timeout: float, sections: Sequence[str], modules: Mapping[str, str]
) -> dict:
    """Probe every section, restarting the child past a section that crashed it.

    Parameters
    ----------
    exe : str
        The Python interpreter to probe.
    timeout : float
        Seconds for all sections together.
    sections : sequence of str
        Section names, in order.
    modules : mapping
        Section to the module whose import it checks (named in the fix of a crash).

    Returns
    -------
    dict
        Section name to what the child reported, or to ``{"crashed": ..., "fix": ...}``.
    """
    deadline = time.monotonic() + timeout
    probe: dict = {}
    todo = list(sections)
    while todo:
        got, current, why = _spawn(exe, todo, deadline - time.monotonic())
        probe.update(got)
        if not why:
            break
        timed_out = why.startswith("timed out")
        if timed_out:
            why = f"timed out after {timeout:g} s" + why[len("timed out") :]
        if current is not None:
            cmd = f'{exe} -c "import {modules.get(current, "sys")}"'
            fix = f"{cmd} hangs or is slow; raise --timeout" if timed_out else f"see why: {cmd}"
            probe[current] = {"crashed": f"probe {why} while checking {current}", "fix": fix}
        todo = [name for name in todo if name not in probe]
        if current is None or timed_out:
            # Nothing to skip past (not a working Python?) or no time left: give up on the rest.
            fix = f"check that {exe} is a working Python 3.10-3.12 interpreter"
            if timed_out:
                fix = "an earlier check used up the time; raise --timeout"
            for name in todo:
                probe[name] = {"crashed": f"not checked: probe {why}", "fix": fix}
            break
    return probe
