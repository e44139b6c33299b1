"""GuiProgress: a napari progress bar made in the GUI thread, advanced from a worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from napari_dlc_workbench._qt._progress import GuiProgress

pytestmark = pytest.mark.napari


@pytest.fixture
def qt_messages() -> Iterator[list[str]]:
    # vispy installs its own Qt message handler (pytest-qt's qtlog then sees nothing), so
    # install ours for the test, and hand every message on to the previous handler.
    from qtpy.QtCore import qInstallMessageHandler

    messages: list[str] = []
    previous = None

    def handler(kind, context, message) -> None:
        messages.append(message)
        if previous is not None:
            previous(kind, context, message)

    previous = qInstallMessageHandler(handler)
    yield messages
    qInstallMessageHandler(previous)


def thread_warnings(messages: list[str]) -> list[str]:
    return [m for m in messages if "thread" in m.lower()]


def run(qtbot, worker) -> None:
    with qtbot.waitSignal(worker.finished, timeout=10000):
        worker.start()


def test_made_in_a_worker_a_bar_warns(make_napari_viewer, qtbot, qt_messages) -> None:
    # The bug GuiProgress avoids, so that the next test's check is known to see it.
    from napari.qt.threading import thread_worker
    from napari.utils import progress

    make_napari_viewer()

    @thread_worker
    def work() -> None:
        with progress(total=3, desc="in a worker") as bar:
            bar.update(3)

    run(qtbot, work())
    assert thread_warnings(qt_messages)


def test_worker_updates_reach_the_bar_in_the_gui_thread(
    make_napari_viewer, qtbot, qt_messages
) -> None:
    from napari.qt.threading import thread_worker
    from napari.utils import progress

    make_napari_viewer()  # its activity dock shows the bar with Qt widgets
    bar = GuiProgress(10, "copying")
    napari_bar = bar.bar
    seen: list[tuple[int, bool]] = []
    napari_bar.events.value.connect(
        lambda event: seen.append(
            (event.value, threading.current_thread() is threading.main_thread())
        )
    )

    @thread_worker
    def work() -> None:
        for done in range(1, 11):
            bar.update(done)
        bar.update(12, total=12, desc="copying (longer)")

    worker = bar.close_when_finished(work())
    # Handlers connected later (e.g. one starting the next job) see the bar closed.
    closed: list[bool] = []
    worker.finished.connect(lambda: closed.append(bar.closed))
    run(qtbot, worker)
    # The updates were queued before the worker finished: all were shown before closing.
    assert [v for v, _ in seen] == [*range(1, 11), 12]
    assert all(in_gui for _, in_gui in seen)
    assert napari_bar.total == 12 and "copying (longer)" in napari_bar.desc
    assert closed == [True] and napari_bar not in progress._all_instances
    bar.update(13)  # a late update, and closing twice, are harmless
    bar.close()
    qtbot.wait(20)
    assert napari_bar.n == 12
    assert not thread_warnings(qt_messages), qt_messages


def test_bar_is_closed_when_the_worker_fails(make_napari_viewer, qtbot, qt_messages) -> None:
    from napari.qt.threading import thread_worker
    from napari.utils import progress

    make_napari_viewer()
    bar = GuiProgress(5, "failing")
    napari_bar = bar.bar
    assert napari_bar in progress._all_instances

    @thread_worker
    def work() -> None:
        bar.update(2)
        raise RuntimeError("boom")

    worker = bar.close_when_finished(work())
    errors: list[Exception] = []
    worker.errored.connect(errors.append)
    # napari also hands the worker's error to its notification manager, which re-raises
    # it in the Qt event loop under test.
    with qtbot.capture_exceptions() as raised:
        run(qtbot, worker)
    assert [str(e) for e in errors] == ["boom"]
    assert any(str(exc) == "boom" for _, exc, _ in raised)
    assert bar.closed and napari_bar not in progress._all_instances
    assert napari_bar.n == 2
    assert not thread_warnings(qt_messages), qt_messages
