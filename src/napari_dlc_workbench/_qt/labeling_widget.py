"""Plugins › DLC Workbench › Labeling: one click per keypoint, frame after frame.

The dock labels a ``labeled-data/<video>`` folder (or a project video) on a
napari-deeplabcut-style Points layer. A click in add mode places the current
keypoint and the next missing one becomes current; a complete frame moves on to
the next unlabelled one. Session state, checks and saving live in
:mod:`..process.labeling` and its siblings, the napari layers in
:mod:`..napari_io.labeling`; writes are atomic with backups, and a save never
drops labels on disk without asking.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from qtpy import QtWidgets as qw
from qtpy.QtCore import QObject, Qt, QTimer

from napari_dlc_workbench._qt._forms import buttons, if_alive, row
from napari_dlc_workbench._qt._labeling_keys import SaveShortcut, confirm_loss, icon
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES
from napari_dlc_workbench.napari_io import labeling as glue
from napari_dlc_workbench.napari_io.layers import table_from_layer
from napari_dlc_workbench.process import labeling_store as store
from napari_dlc_workbench.process.labeling import LabelingSession

__all__ = ["KEYS_HELP", "LabelingWidget"]

KEYS_HELP = """Click (add mode): place the current bodypart; the next one becomes current.
Drag (select mode, key 3 or S): move a point.
Right / Left: next / previous frame.  N / Shift+N: next / previous unlabelled frame.
Down / Up: next / previous bodypart.  H: current bodypart not visible on this frame.
C: copy the previous labelled frame's points into the missing ones.
Ctrl+Z: undo.  Ctrl+S: save (autosave also runs every N s and on frame change)."""


class LabelingWidget(qw.QWidget):
    """Dock widget: label keypoints with one click each, save safely as DLC labels.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer to label in.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.layer: Any = None
        self.skeleton_layer: Any = None
        self.session: LabelingSession | None = None
        self.target: store.LabelsTarget | None = None
        self._frame, self._internal, self._pending_defaults = -1, False, False
        self._build()
        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(lambda: self.save(auto=True))
        self._frame_save = QTimer(self, singleShot=True, interval=150)
        self._frame_save.timeout.connect(lambda: self.save(auto=True))
        self._set_autosave(self.autosave_box.value())
        qw.QApplication.instance().installEventFilter(SaveShortcut(self))
        napari_viewer.dims.events.current_step.connect(self._on_frame)
        napari_viewer.layers.events.inserted.connect(self._on_inserted)
        napari_viewer.layers.events.removed.connect(self._on_removed)
        for layer in list(napari_viewer.layers):
            self._on_inserted(layer)

    def _build(self) -> None:
        self.setToolTip(KEYS_HELP)
        self.folder_button, self.video_button, self.hide_button, self.copy_button = buttons(
            "Open labeled-data folder…", "Open video…", "Not visible (H)", "Copy previous (C)"
        )
        self.undo_button, self.save_button = buttons("Undo (Ctrl+Z)", "Save (Ctrl+S)")
        self.source_label = qw.QLabel("Open a labeled-data/<video> folder of a DLC project.")
        self.bodypart_box, self.individual_box = qw.QComboBox(), qw.QComboBox()
        self.checklist = qw.QListWidget()
        self.progress_label, self.status = qw.QLabel(""), qw.QLabel("")
        self.auto_advance = qw.QCheckBox("auto-advance to the next unlabelled frame")
        self.auto_advance.setChecked(True)
        self.autosave_box = qw.QSpinBox(minimum=0, maximum=3600, value=30, suffix=" s")
        self.autosave_box.setToolTip("0 turns the timer off (frame changes still save)")
        self.form = form = qw.QFormLayout()
        form.addRow("bodypart", self.bodypart_box)
        form.addRow("individual", self.individual_box)
        form.addRow("autosave every", self.autosave_box)
        form.setRowVisible(self.individual_box, False)  # shown for multi-animal projects
        layout = qw.QVBoxLayout(self)
        layout.addWidget(row(self.folder_button, self.video_button))
        layout.addWidget(self.source_label)
        layout.addLayout(form)
        for widget in (self.checklist, self.progress_label):
            layout.addWidget(widget)
        layout.addWidget(row(self.hide_button, self.copy_button))
        layout.addWidget(row(self.undo_button, self.save_button))
        help_label = qw.QLabel(KEYS_HELP.replace("  ", "\n"))
        for widget in (self.auto_advance, self.status, help_label):
            layout.addWidget(widget)
        layout.addStretch(1)
        for label in (self.source_label, self.status, help_label):
            label.setWordWrap(True)
        self.folder_button.clicked.connect(lambda: self.open_folder())
        self.video_button.clicked.connect(lambda: self.open_video())
        self.bodypart_box.activated.connect(self._on_selector)
        self.individual_box.activated.connect(self._on_selector)
        self.checklist.itemClicked.connect(
            lambda item: self._choose(item.data(Qt.ItemDataRole.UserRole))
        )
        self.hide_button.clicked.connect(self.mark_not_visible)
        self.copy_button.clicked.connect(self.copy_previous)
        self.undo_button.clicked.connect(self.undo)
        self.save_button.clicked.connect(lambda: self.save())
        self.autosave_box.valueChanged.connect(self._set_autosave)

    def _set_autosave(self, seconds: int) -> None:
        self.autosave_timer.start(seconds * 1000) if seconds else self.autosave_timer.stop()

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #ff6060;" if error else "")
        self.status.setText(text)

    # -- opening -------------------------------------------------------------------------
    def open_folder(self, folder: str | Path | None = None) -> bool:
        """Open ``labeled-data/<video>``: its frames and labels (an empty layer if none).

        Returns
        -------
        bool
            Whether it opened; otherwise the dock says why and nothing changed.
        """
        folder = folder or qw.QFileDialog.getExistingDirectory(self, "labeled-data folder")
        if not folder:
            return False
        return self._open(Path(folder))

    def open_video(self, video: str | Path | None = None) -> bool:
        """Open a project video with its labeled-data labels on the video's frames."""
        filt = "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ")"
        video = video or qw.QFileDialog.getOpenFileName(self, "video", "", filt)[0]
        if not video:
            return False
        return self._open(Path(video), video=True)

    def _open(self, path: Path, video: bool = False) -> bool:
        if self.session is not None and self.session.dirty and not self.save():
            return False
        try:
            image, target, table, warnings = glue.open_for_labeling(path, video=video)
        except (ValueError, OSError) as exc:  # LabelsError, ImageFolderError, VideoError...
            self._say(f"Not opened: {exc}", error=True)
            return False
        self.attach(glue.add_labeling_layers(self.viewer, image, target, table))
        if warnings:
            self._say(" ".join(warnings), error=True)
        return True

    # -- attaching to a labels layer -----------------------------------------------------
    def _on_inserted(self, event: Any) -> None:
        layer = getattr(event, "value", event)
        if glue.is_labels_layer(layer) and not self.layer:
            self.attach(layer)

    def attach(self, layer: Any) -> None:
        """Label on ``layer``, a labels Points layer of this plugin in ``labeled-data/``."""
        if layer is self.layer:
            return
        self._detach()
        try:
            self.target = target = glue.labels_target_of(layer)
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        keys, kps = target.row_keys, target.project.keypoints
        hidden = store.load_not_visible(target.sidecar, keys, kps)
        self.session = LabelingSession(kps, len(keys), hidden=hidden)
        self.layer, self._base_name = layer, layer.name.removesuffix(" *")
        self._sync()
        if layer.name.endswith(" *"):  # labelled here before and never saved
            self.session.mark_changed()
        layer.events.data.connect(self._on_data)
        layer.events.features.connect(self._on_features)
        layer.mouse_drag_callbacks.insert(0, self._on_press)
        self._bind_keys(layer)
        self._fill_selectors()
        self._make_skeleton()
        self.viewer.layers.selection.active = layer
        layer.mode = "add"
        self.source_label.setText(f"{layer.metadata['workbench']['source']} ({len(keys)} frames)")
        self._frame = -1
        first = 0 if not self.session.is_complete(0) else self.session.next_unlabeled_frame(0)
        self.go_to(first or 0)
        self._on_frame()

    def _detach(self) -> None:
        if self.layer is not None:
            glue.detach_callbacks(self.layer, self._on_data, self._on_features, self._on_press)
        self.layer = self.session = None

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Save unsaved points when the dock (or napari's window) is hidden or closed."""
        self.save(auto=True)
        super().hideEvent(event)

    def _on_removed(self, event: Any) -> None:
        if event.value is self.skeleton_layer:
            self.skeleton_layer = None
        if event.value is self.layer:
            layer = self.layer  # still holds the points: save them, or put the layer back
            saved = not self.session.dirty or self.save()
            self._detach()
            if not saved:
                # Not once the viewer is closing (its docks are deleted by then).
                QTimer.singleShot(0, if_alive(self, lambda: self.viewer.layers.append(layer)))

    # -- layer events --------------------------------------------------------------------
    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        self._internal = True
        try:
            yield
        finally:
            self._internal = False

    def _sync(self) -> None:
        self.session.sync(self.layer.data, self.layer.features["label"], self.layer.features["id"])

    def _on_data(self, event: Any) -> None:
        if self._internal or self.session is None:
            return
        action = str(getattr(event.action, "value", event.action))
        if action in ("adding", "removing", "changing"):
            self.session.push_undo(self.layer.data, self.layer.features.copy())
        elif action == "added" and len(event.data_indices) == 1:
            self._placed_by_click(int(event.data_indices[0]) % len(self.layer.data))
        else:
            self.session.actions.clicks += action == "changed"  # a drag moved a point
            self._changed()

    def _placed_by_click(self, index: int) -> None:
        session, layer = self.session, self.layer
        frame = int(round(layer.data[index, 0]))
        with self._quiet():
            feats = glue.relabel_point(layer, index, session.current)
            if old := session.replaced_by(layer.data, feats["label"], feats["id"], index):
                layer.remove(old)  # the click moved this keypoint
        session.actions.clicks += 1
        session.actions.points += 1
        self._changed()
        self._pending_defaults = True  # napari copies the new point's label into the defaults
        if session.advance(frame) is None:
            self._frame_done(frame)
        self._apply_defaults()
        self._refresh()

    def _frame_done(self, frame: int) -> None:
        target = self.session.next_unlabeled_frame(frame)
        if target is None:
            self._say(f"All {self.session.n_frames} frames are labelled. Ctrl+S saves.")
        elif self.auto_advance.isChecked():
            self.go_to(target)

    def _on_features(self, _event: Any = None) -> None:
        if self._pending_defaults:
            self._pending_defaults = False
            self._apply_defaults()

    def _on_press(self, layer: Any, _event: Any) -> None:
        if layer.mode == "add":  # selecting a point in select mode changed the defaults
            self._apply_defaults()

    def _apply_defaults(self) -> None:
        if self.layer is not None:
            glue.set_keypoint_defaults(self.layer, self.session.current)

    def _changed(self) -> None:
        self._sync()
        self.session.mark_changed()
        self._draw_skeleton()
        self._refresh()

    def _set_layer(self, data: np.ndarray, features: Any) -> None:
        with self._quiet():
            self.layer.selected_data = set()
            self.layer.data = data
            self.layer.features = features.reset_index(drop=True)
        self._changed()

    # -- frames and keypoints ------------------------------------------------------------
    @property
    def frame(self) -> int:
        """The frame shown (first axis of the viewer)."""
        return int(self.viewer.dims.current_step[0])

    def go_to(self, frame: int | None) -> None:
        """Show ``frame`` (clamped to the stack); None does nothing."""
        if frame is not None and self.session is not None:
            last = self.session.n_frames - 1
            self.viewer.dims.set_current_step(0, min(max(int(frame), 0), last))

    def _on_frame(self, _event: Any = None) -> None:
        if self.session is None or self.frame == self._frame:
            return
        self._frame = self.frame
        self.session.enter_frame(self.frame)
        self._apply_defaults()
        self._refresh()
        if self.session.dirty:
            self._frame_save.start()  # after the new frame is drawn

    def _on_selector(self, *_: Any) -> None:
        project, bodypart = self.target.project, self.bodypart_box.currentText()
        individual = self.individual_box.currentText() if project.multianimal else ""
        self._choose(("single" if bodypart in project.unique_bodyparts else individual, bodypart))

    def _choose(self, keypoint: tuple[str, str]) -> None:
        self.session.actions.clicks += 1
        with contextlib.suppress(KeyError):
            self.session.select(tuple(keypoint))
        self._apply_defaults()
        self._refresh()

    def _fill_selectors(self) -> None:
        project = self.target.project
        self._colors = self.layer.metadata.get("face_color_cycles", {}).get("label", {})
        self.bodypart_box.clear()
        for bp in project.all_bodyparts:
            self.bodypart_box.addItem(icon(self._colors.get(bp, (1, 1, 1, 1))), bp)
        self.individual_box.clear()
        self.individual_box.addItems(list(dict.fromkeys(i for i, _ in project.keypoints)))
        self.form.setRowVisible(self.individual_box, project.multianimal)

    def _make_skeleton(self) -> None:
        project = self.target.project
        self._pairs = glue.skeleton_pairs(project)
        if self._pairs and self.skeleton_layer is None:
            self.skeleton_layer = glue.add_skeleton_layer(self.viewer, project, self.layer)
        if self.skeleton_layer is not None:
            self.skeleton_layer.name = f"skeleton ({self.target.folder.name})"
            self._draw_skeleton()

    def _draw_skeleton(self) -> None:
        if self.skeleton_layer is not None:
            glue.draw_skeleton(self.skeleton_layer, self.layer, self._pairs)

    def _refresh(self) -> None:
        session, frame = self.session, self.frame
        if session is None:
            return
        name = self._base_name + (" *" if session.dirty else "")
        if self.layer.name != name:
            self.layer.name = name
        self.individual_box.setCurrentText(session.current[0])
        self.bodypart_box.setCurrentText(session.current[1])
        self.checklist.clear()
        for kp, text in session.checklist_lines(frame):
            item = qw.QListWidgetItem(icon(self._colors.get(kp[1], (1, 1, 1, 1))), text)
            item.setData(Qt.ItemDataRole.UserRole, kp)
            self.checklist.addItem(item)
            if kp == session.current:
                item.setSelected(True)
                font = item.font()
                font.setBold(True)
                item.setFont(font)
        rows = self.checklist.count()
        self.checklist.setFixedHeight(self.checklist.sizeHintForRow(0) * rows + 6)
        self.progress_label.setText(session.progress(frame))

    # -- actions (buttons and keys) ------------------------------------------------------
    def owns_keys(self, target: QObject) -> bool:
        """Whether a key event on ``target`` is for the labels layer being labelled."""
        return (
            self.layer is not None
            and self.viewer.layers.selection.active is self.layer
            and isinstance(target, qw.QWidget)
            and target.window() is getattr(self.viewer.window, "_qt_window", None)
        )

    def key_action(self, action: Callable[[], Any]) -> Callable[..., None]:
        """Wrap ``action`` as a key handler that counts the key press."""

        def handler(layer: Any = None) -> None:
            # A layer labelled earlier keeps its bindings: they must not act on this one.
            if self.session is not None and layer in (None, self.layer):
                self.session.actions.keys += 1
                action()

        return handler

    def _bind_keys(self, layer: Any) -> None:
        bindings = {
            "Right": lambda: self.go_to(self.frame + 1),
            "Left": lambda: self.go_to(self.frame - 1),
            "N": lambda: self.go_to(self.session.next_unlabeled_frame(self.frame)),
            "Shift-N": lambda: self.go_to(self.session.previous_unlabeled_frame(self.frame)),
            "Down": lambda: self._step(1),
            "Up": lambda: self._step(-1),
            "H": self.mark_not_visible,
            "C": self.copy_previous,
            "Control-Z": self.undo,
        }
        for key, action in bindings.items():
            layer.bind_key(key, self.key_action(action), overwrite=True)

    def _step(self, delta: int) -> None:
        self.session.step(delta)
        self._apply_defaults()
        self._refresh()

    def mark_not_visible(self) -> None:
        """Toggle "not visible" for the current keypoint on this frame (its point goes)."""
        session, layer, frame = self.session, self.layer, self.frame
        session.push_undo(layer.data, layer.features.copy())
        if session.toggle_not_visible(frame, session.current):
            session.actions.points += 1
            feats = layer.features
            keep = ~session.points_of(layer.data, feats["label"], feats["id"], frame)
            self._set_layer(layer.data[keep], feats[keep])
            if session.advance(frame) is None:
                self._frame_done(frame)
        else:
            session.mark_changed()
        self._apply_defaults()
        self._refresh()

    def copy_previous(self) -> None:
        """Copy the previous labelled frame's points into this frame's missing keypoints."""
        session, layer, frame = self.session, self.layer, self.frame
        source, feats = session.previous_labelled_frame(frame), layer.features
        picked = []
        if source is not None:
            picked = session.points_copied_from(
                layer.data, feats["label"], feats["id"], source, frame
            )
        if not len(picked):
            self._say("Nothing to copy: no earlier labelled frame with points missing here.")
            return
        session.push_undo(layer.data, feats.copy())
        new = layer.data[picked].copy()
        new[:, 0] = frame
        session.actions.points += len(picked)
        rows = np.r_[np.arange(len(feats)), picked]
        self._set_layer(np.vstack([layer.data, new]), feats.iloc[rows])
        self._say(f"Copied {len(picked)} points from frame {source + 1}; drag them into place.")

    def undo(self) -> None:
        """Go back to the layer as it was before the last change."""
        snap = self.session.pop_undo() if self.session else None
        if snap is None:
            self._say("Nothing to undo.")
        else:
            self._set_layer(snap.data, snap.features)

    # -- saving --------------------------------------------------------------------------
    def save(self, auto: bool = False) -> bool:
        """Write the labels as ``CollectedData_<scorer>.h5/.csv`` (backups kept).

        Parameters
        ----------
        auto : bool
            An autosave: it never asks, so a save that would remove labels on
            disk waits for an explicit one.

        Returns
        -------
        bool
            Whether the file now holds the layer's labels. On failure the dock
            says why and the points stay in the layer, marked unsaved.
        """
        session = self.session
        if session is None or (auto and not session.dirty):
            return session is not None
        version = session.version
        try:
            table = table_from_layer(self.layer.data, self.layer.metadata, self.layer.features)
            df, lost = store.labels_for_save(table, self.target)
            if lost and auto:
                self._say(f"Autosave paused: it would remove {len(lost)} saved labels. "
                          "Ctrl+S asks to confirm.", error=True)  # fmt: skip
                return False
            if lost and not confirm_loss(self, lost):
                self._say("Not saved: the labels on disk are unchanged.")
                return False
            h5, _ = store.save_labels(df, self.target, session.hidden)
        except Exception as exc:  # noqa: BLE001 - any failure must leave the points in the layer
            self._say(f"Not saved ({type(exc).__name__}): {exc}. Your points are still in the "
                      "layer; fix the problem and save again.", error=True)  # fmt: skip
            return False
        session.mark_saved(version)
        self._refresh()
        n = int(np.isfinite(df.to_numpy()).sum() // 2)
        self._say(f"{'Autosaved' if auto else 'Saved'} {h5.name} ({n} points).")
        return True
