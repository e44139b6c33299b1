"""The job runner with real child processes: results, prompts, crashes, cancellation.

Nothing here imports torch or deeplabcut in the pytest process: DLC only ever runs
in the children the runner starts.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from napari_dlc_workbench.dlc.reporting import Reporter
from napari_dlc_workbench.dlc.runner import GUI_NICE, Job, JobHandle, start
from napari_dlc_workbench.model.jobs import JobEvent

pytestmark = pytest.mark.dlc


def stubborn(seconds: float, report: Reporter) -> None:
    """Child side: start a grandchild, then ignore SIGTERM (as if stuck in native code)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    report.emit("log", message=f"grandchild {grandchild.pid}")
    time.sleep(seconds)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def finish(handle: JobHandle, timeout: float = 120) -> list[JobEvent]:
    events = list(handle.events(timeout=timeout))
    assert events and events[-1].terminal
    assert [e for e in events if e.terminal] == [events[-1]] == [handle.final]
    return events


def test_job_event_json_round_trip_tolerates_unknown_keys() -> None:
    event = JobEvent(
        "epoch",
        job_id="a1",
        job_name="train",
        epoch=3,
        epochs=10,
        loss=0.25,
        metrics={"metrics/test.rmse": 4.5, "metrics/test.rmse_pcutoff": math.nan},
        snapshot="/p/snapshot-003.pt",
        elapsed=12.5,
    )
    line = event.to_json()
    assert "\n" not in line
    back = JobEvent.from_json(line)
    assert math.isnan(back.metrics.pop("metrics/test.rmse_pcutoff"))
    del event.metrics["metrics/test.rmse_pcutoff"]
    assert back == event
    assert (back.kind, back.epoch, back.loss, back.metrics) == (
        "epoch",
        3,
        0.25,
        {"metrics/test.rmse": 4.5},
    )
    newer = JobEvent.from_json('{"kind": "gpu", "epoch": 2, "watts": 300}')
    assert (newer.kind, newer.epoch, newer.terminal) == ("gpu", 2, False)
    with pytest.raises(ValueError, match="not a job event"):
        JobEvent.from_json("[1, 2]")
    assert "epoch 3/10: loss 0.25000, test rmse 4.50" in event.describe()


def test_unknown_job_is_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="unknown job 'trian'"):
        start(Job("trian"))


def test_finished_job_returns_its_result() -> None:
    handle = start(Job("math:hypot", args=[3, 4]))
    events = finish(handle, timeout=60)
    assert [e.kind for e in events if e.kind != "log"] == ["started", "finished"]
    assert handle.result == 5.0 and handle.returncode == 0
    assert {e.job_name for e in events} == {"math:hypot"}
    assert all(e.job_id == handle.job.id for e in events)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX priorities")
def test_jobs_from_the_docks_run_at_lower_priority() -> None:
    # os.nice(0) returns the process's niceness without changing it.
    mine = os.nice(0)
    handle = start(Job("os:nice", args=[0]), nice=GUI_NICE)
    finish(handle, timeout=60)
    assert handle.result == min(mine + GUI_NICE, 19)
    plain = start(Job("os:nice", args=[0]))
    finish(plain, timeout=60)
    assert plain.result == mine


def test_input_gets_eof_instead_of_waiting() -> None:
    handle = start(Job("builtins:input", args=["Overwrite? "]))
    final = finish(handle, timeout=60)[-1]
    assert final.kind == "error" and final.message == "EOFError: EOF when reading a line"
    assert "Traceback" in final.traceback


def test_dlc_prompt_in_the_child_does_not_hang(tiny_project: Path) -> None:
    # With userfeedback DLC asks, for each video, whether to extract frames.
    job = Job("deeplabcut:extract_frames", {"config": str(tiny_project), "userfeedback": True})
    handle = start(job)
    final = finish(handle)[-1]
    assert final.kind == "error" and final.message == "EOFError: EOF when reading a line"
    assert any("Do you want to extract" in line for line in handle.output_tail())


def test_segfault_becomes_an_error_event() -> None:
    handle = start(Job("ctypes:string_at", args=[0]))  # reads address 0
    final = finish(handle, timeout=60)[-1]
    assert handle.returncode == -11
    assert final.kind == "error" and "died from SIGSEGV" in final.message
    assert "Fatal Python error: Segmentation fault" in final.message
    assert "Segmentation fault" in final.traceback


def test_missing_or_broken_config_fails_fast_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-project" / "config.yaml"
    broken = tmp_path / "config.yaml"
    broken.write_text("Task: [unclosed\n")
    for config, problem in ((missing, "config file does not exist"), (broken, "YAML syntax")):
        handle = start(Job("train", {"config": str(config), "epochs": 1}))
        final = finish(handle, timeout=60)[-1]
        assert final.kind == "error" and handle.returncode == 1
        assert final.message.startswith(f"ConfigError: {config}: {problem}")
        assert final.elapsed < 10  # before importing deeplabcut


def test_config_dlc_rejects_gives_dlc_message(tiny_project: Path) -> None:
    # Valid YAML with the keys we check, but DLC 3 refuses keys it does not know.
    tiny_project.write_text(tiny_project.read_text() + "workbench_state: 1\n")
    handle = start(Job("train", {"config": str(tiny_project), "epochs": 1}))
    final = finish(handle)[-1]
    assert final.kind == "error" and handle.returncode == 1
    assert "workbench_state" in final.message and "Extra inputs are not permitted" in final.message
    assert "/deeplabcut/" in final.traceback  # raised by DLC itself


def test_cancel_of_a_cooperative_child_is_clean() -> None:
    handle = start(Job("time:sleep", args=[60]))
    events = handle.events(timeout=60)
    assert next(events).kind == "started"
    begun = time.monotonic()
    handle.cancel()
    rest = list(events)
    assert time.monotonic() - begun < 5
    assert rest[-1].kind == "cancelled" and rest[-1].message == "stopped by signal SIGTERM"
    assert handle.returncode == 130
    handle.cancel()  # a second request is harmless


def test_cancel_kills_a_stubborn_child_and_its_process_group(child_env: dict[str, str]) -> None:
    handle = start(Job("test_dlc_runner:stubborn", {"seconds": 60}, env=child_env))
    grandchild = None
    for event in handle.events(timeout=60):
        if event.kind == "log" and event.message.startswith("grandchild "):
            grandchild = int(event.message.split()[1])
            break
    assert grandchild is not None and alive(grandchild)
    begun = time.monotonic()
    handle.cancel(grace=1.0)
    final = handle.wait(timeout=30)
    assert time.monotonic() - begun < 10
    assert final.kind == "cancelled" and final.message.startswith("killed (SIGKILL)")
    assert handle.returncode == -9
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(grandchild)


def test_events_time_out_while_the_job_runs_on() -> None:
    handle = start(Job("time:sleep", args=[60]))
    events = handle.events(timeout=60)
    assert next(events).kind == "started"
    with pytest.raises(TimeoutError, match="no event for 0.3 s"):
        for _ in handle.events(timeout=0.3):
            pass
    assert handle.returncode is None
    handle.cancel()
    assert handle.wait(timeout=30).kind == "cancelled"
