"""Spare children: started ahead of their job, imports done, then handed the job.

Real child processes; the preloaded module is a small one of the standard library
(``colorsys``, which nothing imports by itself), so the tests show what the spare
did without paying for deeplabcut's imports.
"""

from __future__ import annotations

import sys
import time

import pytest
from test_dlc_runner import alive, finish

from napari_dlc_workbench.dlc.runner import Job, Spare, spawn_spare, start

pytestmark = pytest.mark.dlc
PRELOAD = ["colorsys"]


def imported(name: str) -> bool:
    """Child side: whether ``name`` was imported before the job ran."""
    return name in sys.modules


def exits_by_itself(spare: Spare, timeout: float = 30) -> int:
    code = spare.process.wait(timeout=timeout)
    assert b"Fatal Python error" not in spare.process.stderr.read()
    return code


def test_a_spare_runs_its_job_with_the_imports_done(child_env: dict[str, str]) -> None:
    spare = spawn_spare(child_env, preload=PRELOAD)
    handle = start(
        Job("test_dlc_runner_spare:imported", args=["colorsys"], env=child_env), spare=spare
    )
    events = finish(handle, timeout=60)
    assert handle.pid == spare.process.pid and handle.result is True
    assert [e.kind for e in events if e.kind != "log"] == ["started", "finished"]
    assert {e.job_id for e in events} == {handle.job.id}
    # The same job in a fresh child: nothing imported it.
    fresh = start(Job("test_dlc_runner_spare:imported", args=["colorsys"], env=child_env))
    finish(fresh, timeout=60)
    assert fresh.result is False and fresh.pid != spare.process.pid


def test_input_in_a_spare_gets_eof_as_in_a_fresh_child() -> None:
    handle = start(Job("builtins:input", args=["Overwrite? "]), spare=spawn_spare(preload=[]))
    final = finish(handle, timeout=60)[-1]
    assert final.kind == "error" and final.message == "EOFError: EOF when reading a line"


def test_a_job_in_a_spare_is_cancelled_like_any_other() -> None:
    spare = spawn_spare(preload=[])
    handle = start(Job("time:sleep", args=[60]), spare=spare)
    while not any(e.kind == "started" for e in handle.events(timeout=30)):
        pass
    handle.cancel()
    assert handle.wait(timeout=30).kind == "cancelled"
    assert not alive(spare.process.pid)


def test_a_spare_for_another_environment_is_closed_and_a_fresh_child_runs() -> None:
    spare = spawn_spare({"DLC_WORKBENCH_TEST": "a"}, preload=[])
    handle = start(
        Job("os:getenv", args=["DLC_WORKBENCH_TEST"], env={"DLC_WORKBENCH_TEST": "b"}), spare=spare
    )
    finish(handle, timeout=60)
    assert handle.result == "b" and handle.pid != spare.process.pid
    assert spare.process.poll() is not None and not spare.alive


def test_a_dead_spare_is_replaced_by_a_fresh_child() -> None:
    spare = spawn_spare(preload=[])
    spare.process.kill()
    spare.process.wait(timeout=30)
    handle = start(Job("math:hypot", args=[3, 4]), spare=spare)
    finish(handle, timeout=60)
    assert handle.result == 5.0 and handle.pid != spare.process.pid


def test_a_spare_nobody_needs_exits_quietly() -> None:
    # No job within its idle time: it exits 0 without an event, and is no longer offered.
    idle = spawn_spare(preload=PRELOAD, idle_timeout=0.5)
    assert exits_by_itself(idle) == 0
    assert idle.process.stdout.read() == b"" and not idle.alive
    # Its parent goes away (the pipe closes): the same, at once.
    orphan = spawn_spare(preload=[], idle_timeout=600)
    start_wait = time.monotonic()
    orphan.process.stdin.close()
    assert exits_by_itself(orphan) == 0 and time.monotonic() - start_wait < 30


def test_a_spare_is_not_offered_near_the_end_of_its_idle_time() -> None:
    # The parent's deadline comes before the child's: a job is never written to a
    # spare that is about to give up waiting.
    spare = spawn_spare(preload=[], idle_timeout=4.0)
    assert not spare.alive and spare.process.poll() is None
    handle = start(Job("math:hypot", args=[3, 4]), spare=spare)
    finish(handle, timeout=60)
    assert handle.result == 5.0 and handle.pid != spare.process.pid
