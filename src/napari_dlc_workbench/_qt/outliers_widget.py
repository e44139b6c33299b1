"""Plugins › DLC Workbench › Outliers: correct the worst predicted frames, send them to DLC.

DeepLabCut's ``extract_outlier_frames`` -> ``refine_labels`` -> ``merge_datasets`` ->
``create_training_dataset`` in one dock: the predictions of a video are scored (in a
thread) into a ranked queue that says *why* each frame is flagged; Space / Shift+Space
step through it, each frame's predicted points can be dragged, accepted or marked not
visible, and "Export to DLC" writes the accepted frames into the project as its next
iteration, ready for the Training dock. Every change is saved at once in the queue's
sidecar (:mod:`..process.outlier_session`), so a closed napari loses nothing; the layer
glue is :mod:`..napari_io.outlier_layers`, the export :mod:`..process.corrections`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy import QtWidgets as qw
from qtpy.QtCore import Qt

from napari_dlc_workbench._qt._forms import browse, buttons, row, spin
from napari_dlc_workbench._qt._progress import GuiProgress
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES
from napari_dlc_workbench.model.project import Project
from napari_dlc_workbench.napari_io import outlier_layers as glue
from napari_dlc_workbench.napari_io.reader import find_project
from napari_dlc_workbench.process.corrections import ExportSummary
from napari_dlc_workbench.process.outlier_review import export_queue, export_text, open_session
from napari_dlc_workbench.process.outlier_session import OutlierSession

__all__ = ["KEYS_HELP", "OutliersWidget"]

KEYS_HELP = """Space / Shift+Space: next / previous flagged frame.
Drag a point (select mode) to correct it; Delete or H: selected points not visible.
C: selected points are right as predicted.  A: accept the frame (it will be exported).
A point added in add mode brings back a keypoint marked not visible."""
ALL = "all"
_COLUMNS = ("frame", "flagged by", "score", "bodyparts", "status")


def _call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Exception | None]:
    # Runs in a worker thread: a failure comes back as ``(None, exception)`` for the dock to
    # report (napari 0.9.2's own errored handler has the wrong signature, and superqt
    # re-raises an exception *returned* bare).
    try:
        return func(*args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - every failure is shown to the user
        return None, exc


class OutliersWidget(qw.QWidget):
    """Dock widget: review a video's outlier frames, correct them, export them to DLC.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer; an open predictions layer prefills the predictions and project.

    Attributes
    ----------
    session : OutlierSession or None
        The review being done (saved on every change).
    layer : napari.layers.Points or None
        The editable points of the frame under review.
    summary : ExportSummary or None
        What the last export wrote.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: OutlierSession | None = None
        self.layer: Any = None
        self.project: Project | None = None
        self.summary: ExportSummary | None = None
        self._workers: set[Any] = set()
        self._internal = False
        self._build()
        napari_viewer.layers.events.inserted.connect(self._on_inserted)
        napari_viewer.layers.events.removed.connect(self._on_removed)
        for layer in list(napari_viewer.layers):
            self._on_inserted(layer)

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.setToolTip(KEYS_HELP)
        self.predictions_edit = qw.QLineEdit(placeholderText="<video>DLC_<scorer>.h5")
        self.video_edit = qw.QLineEdit(placeholderText="found beside it or in the project")
        self.config_edit = qw.QLineEdit(placeholderText="project config.yaml")
        self.quota_box = spin(0, 100000, 0, 10)
        self.quota_box.setSpecialValueText("all flagged frames")
        self.open_button, self.rescore_button = buttons("Find outliers", "Score again")
        self.rescore_button.setToolTip("Recompute the queue; reviewed frames are kept")
        self.reason_box, self.bodypart_box = qw.QComboBox(), qw.QComboBox()
        self.table = qw.QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.setEditTriggers(qw.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(qw.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.previous_button, self.next_button = buttons(
            "◀ Previous (Shift+Space)", "Next (Space) ▶"
        )
        self.accept_points_button, self.hide_button = buttons("Points right (C)", "Not visible (H)")
        self.accept_button, self.reset_button = buttons("Accept frame (A)", "Reset frame")
        self.export_button, self.retrain_button = buttons("Export to DLC", "Retrain…")
        self.frame_label, self.progress_label = qw.QLabel(""), qw.QLabel("")
        self.status, self.summary_label = qw.QLabel(""), qw.QLabel("")
        form = qw.QFormLayout()
        videos = "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ")"
        for name, edit, pattern in (
            ("predictions", self.predictions_edit, "Predictions (*.h5)"),
            ("video", self.video_edit, videos),
            ("project", self.config_edit, "config.yaml (config.yaml config.yml)"),
        ):
            pick = functools.partial(self._pick, edit, pattern)
            form.addRow(name, row(edit, browse(lambda _=False, pick=pick: pick())))
        form.addRow("keep", self.quota_box)
        form.addRow("flagged by", self.reason_box)
        form.addRow("bodypart", self.bodypart_box)
        layout = qw.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(row(self.open_button, self.rescore_button))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.frame_label)
        layout.addWidget(row(self.previous_button, self.next_button))
        layout.addWidget(row(self.accept_points_button, self.hide_button))
        layout.addWidget(row(self.accept_button, self.reset_button))
        layout.addWidget(self.progress_label)
        layout.addWidget(row(self.export_button, self.retrain_button))
        self.frame_label.setWordWrap(True)
        for label in (self.summary_label, self.status, qw.QLabel(KEYS_HELP)):
            label.setWordWrap(True)
            layout.addWidget(label)
        self.open_button.clicked.connect(lambda: self.open())
        self.rescore_button.clicked.connect(lambda: self.open(recompute=True))
        self.reason_box.activated.connect(self._on_filter)
        self.bodypart_box.activated.connect(self._on_filter)
        self.table.cellClicked.connect(
            lambda r, _c: self.go_to(int(self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)))
        )
        for button, slot in (
            (self.previous_button, lambda: self.step(-1)),
            (self.next_button, lambda: self.step(1)),
            (self.accept_points_button, self.accept_points),
            (self.hide_button, self.delete_points),
            (self.accept_button, self.accept_frame),
            (self.reset_button, self.reset_frame),
            (self.export_button, lambda: self.export()),
            (self.retrain_button, self.retrain),
        ):
            button.clicked.connect(slot)
        self.config_edit.textChanged.connect(self._update_buttons)
        self._update_buttons()

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #ff6060;" if error else "")
        self.status.setText(text)

    def _pick(self, edit: qw.QLineEdit, pattern: str) -> None:
        path, _ = qw.QFileDialog.getOpenFileName(self, "", edit.text(), pattern)
        if path:
            edit.setText(path)

    def _on_inserted(self, event: Any) -> None:
        source = glue.prediction_layer_source(getattr(event, "value", event))
        if source is not None and self.session is None:
            self.predictions_edit.setText(str(source[0]))
            if source[1] is not None and not self.config_edit.text():
                self.config_edit.setText(str(source[1]))

    def _on_removed(self, event: Any) -> None:
        if event.value is self.layer:
            self.layer = None  # the session keeps every edit; the next step adds it again

    # -- background jobs -----------------------------------------------------------------
    def _start(self, desc: str, done: Callable[[Any], None], func: Callable[..., Any], *args: Any,
               **kwargs: Any) -> Any:  # fmt: skip
        from napari.qt.threading import create_worker

        bar = GuiProgress(total=0, desc=desc, parent=self)
        worker = create_worker(_call, func, *args, _start_thread=False, **kwargs)
        self._workers.add(worker)  # kept alive until it ends, even if the dock closes
        bar.close_when_finished(worker)
        worker.returned.connect(done)
        worker.finished.connect(lambda: self._workers.discard(worker))
        worker.finished.connect(self._update_buttons)
        self._say(desc + "…")
        worker.start()
        self._update_buttons()
        return worker

    @property
    def busy(self) -> bool:
        """Whether a queue is being computed or an export is running."""
        return bool(self._workers)

    def _update_buttons(self) -> None:
        has = self.session is not None and self.session.frame is not None and not self.busy
        for button in (self.previous_button, self.next_button, self.accept_points_button,
                       self.hide_button, self.accept_button, self.reset_button):  # fmt: skip
            button.setEnabled(has)
        self.export_button.setEnabled(has and bool(self.session.to_export().rows))
        self.open_button.setEnabled(not self.busy)
        self.rescore_button.setEnabled(self.session is not None and not self.busy)
        self.retrain_button.setEnabled(bool(self.config_edit.text()))

    # -- opening -------------------------------------------------------------------------
    def open(
        self,
        predictions: str | Path | None = None,
        video: str | Path | None = None,
        config: str | Path | None = None,
        recompute: bool = False,
    ) -> Any:
        """Compute (or restore) the queue of a predictions file in a worker thread.

        Parameters
        ----------
        predictions, video, config : path, optional
            Default: the dock's fields. A saved sidecar restores queue, position and edits.
        recompute : bool
            Score again, keeping the reviewed frames.

        Returns
        -------
        worker or None
            The started worker; None when no predictions file is given.
        """
        for edit, value in ((self.predictions_edit, predictions), (self.video_edit, video),
                            (self.config_edit, config)):  # fmt: skip
            if value is not None:
                edit.setText(str(value))
        path = self.predictions_edit.text().strip()
        if not path:
            self._say("Choose a predictions .h5 (or open one in napari) first.", error=True)
            return None
        if not self.config_edit.text() and (project := find_project(path)):
            self.config_edit.setText(str(project.config_path))
        kwargs = {
            "config": self.config_edit.text().strip() or None,
            "video": self.video_edit.text().strip() or None,
            "quota": self.quota_box.value() or None,
            "recompute": recompute,
        }
        return self._start("Scoring frames", self._opened, open_session, path, **kwargs)

    def _opened(self, outcome: tuple[Any, Exception | None]) -> None:
        result, error = outcome
        if error is not None:
            self._say(f"Not opened ({type(error).__name__}): {error}", error=True)
            return
        self.session = session = result
        config = self.config_edit.text().strip()
        try:
            self.project = Project.from_config(load_config(config), config) if config else None
        except ValueError:  # only colours and p-cutoff come from it here; export will say why
            self.project = None
        video = "" if session.queue.video else " Choose the video to see the frames."
        self._say(f"{len(session.queue)} flagged frames; sidecar {session.path.name}.{video}")
        self.video_edit.setText(session.queue.video or "")
        try:
            if session.queue.video:
                glue.video_layer(self.viewer, session.queue.video)
        except (ValueError, OSError) as exc:  # VideoError: the points can still be corrected
            self._say(f"The video does not open: {exc}", error=True)
        if self.layer is not None:  # another file's frame
            self.viewer.layers.remove(self.layer)
        glue.hide_prediction_points(self.viewer, session.queue.predictions)
        self._fill_filters()
        self._fill_table()
        if session.frame is not None:
            self.go_to(session.frame)

    # -- table and filters ---------------------------------------------------------------
    def _fill_filters(self) -> None:
        reasons, parts = self.session.filter_choices()
        for box, items, chosen in ((self.reason_box, reasons, self.session.reasons),
                                   (self.bodypart_box, parts, self.session.bodyparts)):  # fmt: skip
            box.clear()
            box.addItems([ALL, *items])
            box.setCurrentText(next(iter(chosen)) if len(chosen) == 1 else ALL)

    def _on_filter(self, *_: Any) -> None:
        reason, part = self.reason_box.currentText(), self.bodypart_box.currentText()
        self.session.set_filters([] if reason == ALL else [reason], [] if part == ALL else [part])
        self._fill_table()
        self._save()

    def _fill_table(self) -> None:
        rows = self.session.rows()
        self.table.setRowCount(len(rows))
        self._rows = {r.frame: i for i, r in enumerate(rows)}
        for i, r in enumerate(rows):
            cells = (str(r.frame), ", ".join(r.flagged_by), f"{r.score:.2f}",
                     ", ".join(r.bodyparts), "")  # fmt: skip
            for c, text in enumerate(cells):
                item = qw.QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, r.frame)
                self.table.setItem(i, c, item)
        self._refresh()

    def _refresh(self) -> None:
        session = self.session
        for frame, i in self._rows.items():
            self.table.item(i, 4).setText(self.session.status_text(frame))
        frame = session.frame
        if frame is not None:
            self.frame_label.setText(session.frame_text(frame))
            if frame in self._rows:
                self.table.selectRow(self._rows[frame])
        self.progress_label.setText(session.progress())
        self._update_buttons()

    # -- frames --------------------------------------------------------------------------
    def go_to(self, frame: int) -> None:
        """Review queue frame ``frame``: the slider moves there, its points become editable."""
        if self.session is None:
            return
        self.session.go_to(frame)
        self._save()
        self._show()
        self.viewer.dims.set_current_step(0, int(frame))

    def step(self, delta: int) -> None:
        """Go to the next (1) or previous (-1) flagged frame that passes the filters."""
        frame = self.session.step(delta) if self.session else None
        if frame is None:
            self._say("No flagged frame " + ("after" if delta > 0 else "before") + " this one.")
            return
        self._say("")
        self.go_to(frame)

    def _show(self) -> None:
        session = self.session
        if self.layer is None:  # the first frame shown, or the user deleted the layer
            self.layer = glue.add_frame_layer(self.viewer, session, self.project)
            self.layer.events.data.connect(self._on_data)
            self._bind_keys(self.layer)
        self._internal = True  # the layer's own data events are not the user's edits
        try:
            glue.show_frame(self.layer, session, session.frame, self.project)
        finally:
            self._internal = False
        self._refresh()

    def _save(self) -> None:
        try:
            self.session.save()
        except OSError as exc:
            self._say(f"Could not save {self.session.path}: {exc}. Edits stay in memory; "
                      "fix the problem (disk full? read-only?) before closing napari.", error=True)  # fmt: skip

    def _edit(self, change: Callable[[int], bool]) -> None:
        frame = self.session.frame
        try:
            changed = change(frame)
        except ValueError as exc:  # an exported frame
            self._say(str(exc), error=True)
            changed = True  # the layer must show the frame as it is
        else:
            if changed:
                self._save()
        if changed:
            self._show()

    def _on_data(self, event: Any) -> None:
        action = str(getattr(event.action, "value", event.action))
        if self._internal or self.session is None or action not in ("added", "removed", "changed"):
            return
        if self.busy:  # the queue is being replaced or exported: this edit would be lost
            self._say("Wait until scoring or export is done to edit.", error=True)
            self._show()
            return
        # A drag, a deletion or a point added in add mode: the layer is the truth.
        self._edit(lambda f: self.session.set_points(f, glue.layer_points(self.layer, f)))

    # -- actions (buttons and keys) ------------------------------------------------------
    def _on_selected(self, change: Callable[[int, list[int]], bool]) -> None:
        if picked := glue.selected_keypoints(self.layer) if self.layer else []:
            self._edit(lambda f: change(f, picked))
        else:
            self._say("Select points first (select mode: click, Shift+click or drag a box).")

    def accept_points(self) -> None:
        """Mark the selected points right as predicted."""
        self._on_selected(self.session.accept_points)

    def delete_points(self) -> None:
        """Mark the selected points not visible on this frame."""
        self._on_selected(self.session.delete_points)

    def accept_frame(self) -> None:
        """Accept this frame's points as labels (exported by "Export to DLC")."""
        self._edit(self.session.accept_frame)

    def reset_frame(self) -> None:
        """Forget this frame's edits: back to the prediction."""
        self._edit(self.session.reset_frame)

    def key_action(self, action: Callable[[], Any]) -> Callable[..., None]:
        """Wrap ``action`` as a key handler of the frame layer."""

        def handler(layer: Any = None) -> None:
            # A layer of an earlier session keeps its bindings: they must not act now.
            # (the accept button is enabled exactly when a frame is under review, not busy)
            if layer in (None, self.layer) and self.accept_button.isEnabled():
                action()

        return handler

    def _bind_keys(self, layer: Any) -> None:
        # Bound on the layer, so the keys are the dock's only while its layer is active
        # (Space then no longer pans; any other layer keeps napari's keys).
        bindings = {
            "Space": lambda: self.step(1),
            "Shift-Space": lambda: self.step(-1),
            "A": self.accept_frame,
            "C": self.accept_points,
            "H": self.delete_points,
        }
        for key, action in bindings.items():
            layer.bind_key(key, self.key_action(action), overwrite=True)

    # -- export and retrain --------------------------------------------------------------
    def export(self) -> Any:
        """Write the accepted frames into the DLC project (worker); returns the worker."""
        config = self.config_edit.text().strip()
        queue = self.session.to_export() if self.session else None
        if not config or queue is None or not queue.rows:
            self._say("Accept frames and choose the project's config.yaml first.", error=True)
            return None
        if self.video_edit.text().strip() != (queue.video or ""):  # checked against it
            self._say("The video changed: press Find outliers to check it against the "
                      "predictions (your corrections are kept), then export.", error=True)  # fmt: skip
            return None
        frames = [r.frame for r in queue.rows]
        done = lambda result: self._exported(result, frames)  # noqa: E731
        return self._start("Exporting corrections", done, export_queue, config, queue)

    def _exported(self, outcome: tuple[Any, Exception | None], frames: list[int]) -> None:
        result, error = outcome
        if error is not None:
            self._say(f"Not exported ({type(error).__name__}): {error}. Nothing was "
                      "written; your corrections are kept.", error=True)  # fmt: skip
            return
        self.summary = result
        self.session.mark_exported(frames, result.iteration[1])
        self._save()
        self.summary_label.setText(export_text(result) + " Next: Retrain.")
        self._say("")
        self._show()

    def retrain(self) -> Any:
        """Open (or raise) the Training dock on this project; return the Training widget."""
        dock, widget = self.viewer.window.add_plugin_dock_widget("napari-dlc-workbench", "Training")
        dock.show()
        dock.raise_()
        widget.set_config(self.config_edit.text().strip())
        return widget
