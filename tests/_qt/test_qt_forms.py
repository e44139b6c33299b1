"""Late callbacks (a worker's result, a timer) after their dock was closed."""

from __future__ import annotations

from qtpy.QtCore import QCoreApplication, QEvent
from qtpy.QtWidgets import QCheckBox

from napari_dlc_workbench._qt._forms import alive, if_alive


def test_a_late_callback_skips_a_deleted_widget(qtbot) -> None:
    box = QCheckBox("show contrast")
    seen: list[bool] = []
    # A lambda, as the docks connect to workers: Qt cannot tie it to the widget's life.
    late = if_alive(box, lambda: seen.append(box.isChecked()))
    late()
    box.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not alive(box)
    late()  # unwrapped, box.isChecked() raises RuntimeError: C++ object already deleted
    assert seen == [False]
