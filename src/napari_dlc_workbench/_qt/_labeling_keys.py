"""Qt bits of the "Labeling" dock: bodypart colour icons and its Ctrl+S shortcut."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy import QtWidgets as qw
from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtGui import QColor, QIcon, QPixmap

if TYPE_CHECKING:
    from napari_dlc_workbench._qt.labeling_widget import LabelingWidget

__all__ = ["SHOWN", "SaveShortcut", "confirm_loss", "icon"]

SHOWN = 15
"""Lost points listed by name before "… and N more"."""


def icon(rgba: Any) -> QIcon:
    """Return a 12 px square icon of the colour ``rgba``."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor.fromRgbF(*[float(c) for c in np.ravel(rgba)[:4]]))
    return QIcon(pixmap)


class SaveShortcut(QObject):
    """Ctrl+S saves the labels while the labels layer has the keys."""

    # napari's "Save Selected Layers" owns Ctrl+S as a menu shortcut; while the labels
    # layer is active the dock claims the key before the shortcut map sees it.
    def __init__(self, dock: LabelingWidget) -> None:
        super().__init__(dock)
        self.dock = dock

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        kind = event.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        ctrl_s = event.key() == Qt.Key.Key_S and event.modifiers() == Qt.ControlModifier
        if not ctrl_s or not self.dock.owns_keys(obj):
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # deliver it as a key press instead of triggering the menu
        else:
            self.dock.key_action(self.dock.save)()
        return True


def confirm_loss(parent: qw.QWidget, lost: list[str]) -> bool:
    """Ask whether to save although it removes the ``lost`` points on disk."""
    more = f"\n… and {len(lost) - SHOWN} more" if len(lost) > SHOWN else ""
    buttons = qw.QMessageBox.StandardButton
    answer = qw.QMessageBox.question(
        parent,
        "Remove saved labels?",
        f"Saving removes {len(lost)} labelled point(s) now on disk:\n\n"
        + "\n".join(lost[:SHOWN]) + more
        + "\n\nThe previous file is kept in .backups/. Save anyway?",
        buttons.Yes | buttons.No,
        buttons.No,
    )  # fmt: skip
    return answer == buttons.Yes
