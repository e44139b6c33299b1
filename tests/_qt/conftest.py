"""Qt tests run in a real napari viewer on an X server (Xvfb via pytest-xvfb)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")


@pytest.fixture(autouse=True)
def _no_modal_dialogs(monkeypatch: pytest.MonkeyPatch) -> None:
    # napari-deeplabcut may pop a modal QMessageBox; under test nobody clicks it.
    from qtpy.QtWidgets import QMessageBox

    for name in ("question", "warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(lambda *a, **k: QMessageBox.Yes))
    monkeypatch.setattr(QMessageBox, "exec", lambda self: QMessageBox.Yes)
    monkeypatch.setattr(QMessageBox, "exec_", lambda self: QMessageBox.Yes, raising=False)
