"""Small builders for the Qt form controls the dock widgets are made of."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy import QtWidgets as qw

__all__ = [
    "alive",
    "browse",
    "buttons",
    "check",
    "fill_form",
    "if_alive",
    "note",
    "pick_config",
    "row",
    "spin",
]


def spin(lo: float, hi: float, value: float, step: float, decimals: int = 0) -> Any:
    """Return an integer spin box, or a float one when ``decimals`` is given."""
    box = qw.QDoubleSpinBox(decimals=decimals) if decimals else qw.QSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def check(text: str, on: bool) -> qw.QCheckBox:
    """Return a check box, ticked when ``on``."""
    box = qw.QCheckBox(text)
    box.setChecked(on)
    return box


def note(text: str) -> qw.QLabel:
    """Return a word-wrapped warning label."""
    label = qw.QLabel(text, wordWrap=True)
    label.setStyleSheet("color: #e0b040;")
    return label


def buttons(*texts: str) -> list[qw.QPushButton]:
    """Return one push button per text."""
    return [qw.QPushButton(text) for text in texts]


def fill_form(widget: qw.QWidget, *rows: Any) -> qw.QFormLayout:
    """Lay ``rows`` out in a form on ``widget``: ``(label, field)`` pairs or whole-row widgets."""
    form = qw.QFormLayout(widget)
    for item in rows:
        if isinstance(item, tuple):
            form.addRow(*item)
        else:
            form.addRow(item)
    return form


def row(*widgets: qw.QWidget) -> qw.QWidget:
    """Return a widget holding ``widgets`` side by side, without margins."""
    holder = qw.QWidget()
    layout = qw.QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return holder


def browse(slot: Any) -> qw.QPushButton:
    """Return a narrow "…" button that calls ``slot`` when clicked."""
    button = qw.QPushButton("…")
    button.setMaximumWidth(32)
    button.clicked.connect(slot)
    return button


def pick_config(parent: qw.QWidget, start: str = "") -> Path | None:
    """Ask for a DLC project's ``config.yaml`` with a file dialog.

    Parameters
    ----------
    parent : QWidget
        The dock asking.
    start : str
        Where the dialog opens: a folder, or a file to preselect (the current config).

    Returns
    -------
    Path or None
        The chosen file, or None when the dialog was cancelled.
    """
    path, _ = qw.QFileDialog.getOpenFileName(
        parent, "DLC project config", start, "config.yaml (config.yaml config.yml)"
    )
    return Path(path) if path else None


def alive(widget: Any) -> bool:
    """Whether ``widget``'s Qt object still exists (a closed viewer deletes its docks')."""
    try:
        widget.objectName()
    except RuntimeError:  # PySide and PyQt: the C++ object was already deleted
        return False
    return True


def if_alive(widget: Any, func: Callable[..., Any]) -> Callable[..., None]:
    """Wrap ``func`` to do nothing once ``widget`` is deleted.

    For callbacks that arrive late, from a worker or a timer: the dock they would
    update may have been closed meanwhile.
    """

    @functools.wraps(func)
    def call(*args: Any) -> None:
        if alive(widget):
            func(*args)

    return call
