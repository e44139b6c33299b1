"""Plugins › DLC Workbench › Trajectories: where and why tracking failed, frame by frame.

The dock shows a video's predictions (a Points layer of hollow/filled points and a
Tracks layer of tails, see :mod:`..napari_io.predictions_layers`) as x, y and
likelihood against frame (:mod:`._trajectory_plots`, pyqtgraph: 100 000-frame
curves stay interactive), with the frames below the p-cutoff shaded and, per
bodypart, the fraction of frames above the p-cutoff and the median speed
(:func:`..process.trajectories.summarize`). A marker in the plots follows
napari's frame slider, and clicking a plot or dragging the marker moves the
slider: the plots point at the frames to look at, the viewer shows them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from qtpy import QtWidgets as qw
from qtpy.QtCore import Qt, QTimer, Signal

from napari_dlc_workbench._qt._forms import buttons, check, row, spin
from napari_dlc_workbench._qt._inference_jobs import Failure, guarded, start_worker
from napari_dlc_workbench._qt._trajectory_plots import TrajectoryPlots
from napari_dlc_workbench.io.labels import LabelsError
from napari_dlc_workbench.io.predictions import read_predictions
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.napari_io.layers import WORKBENCH_KEY
from napari_dlc_workbench.napari_io.prediction_layer_types import make_prediction_layers
from napari_dlc_workbench.napari_io.predictions_layers import (
    DEFAULT_TAIL_LENGTH,
    prediction_layers,
    prediction_points,
    shown_mask,
    table_from_prediction_layer,
)
from napari_dlc_workbench.napari_io.reader import find_project
from napari_dlc_workbench.process.trajectories import KeypointSummary, summarize

__all__ = ["TrajectoriesWidget", "open_predictions"]

_POINTS, _TRACKS = "predictions", "prediction_tracks"
_COLUMNS = ("bodypart", "> p-cutoff", "median speed")


def _info(layer: Any) -> dict[str, Any]:
    return dict(getattr(layer, "metadata", {}).get(WORKBENCH_KEY) or {})


def _kind(layer: Any) -> str | None:
    return _info(layer).get("kind")


def _keypoint_name(individual: str, bodypart: str) -> str:
    return f"{individual}/{bodypart}" if individual else bodypart


def _summary_cells(summary: KeypointSummary) -> tuple[str, str]:
    speed = summary.median_speed
    return (
        f"{100 * summary.fraction_above:.1f} %",
        "–" if math.isnan(speed) else f"{speed:.2f} px/frame",
    )


class TrajectoriesWidget(qw.QWidget):
    """Dock widget: x, y, likelihood of predictions against frame, tied to the slider.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose predictions layers are inspected.
    """

    opened = Signal(bool)
    """Emitted when :meth:`open_file` ends: whether the file's layers were added and shown."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.points_layer: Any = None
        self.tracks_layer: Any = None
        self.table: KeypointTable | None = None
        self.pcutoff = 0.6
        self.colors: list[np.ndarray] = []
        self.summaries: list[KeypointSummary] = []
        self._adding = False
        self._build()
        self._reload = QTimer(self, singleShot=True, interval=300)
        self._reload.timeout.connect(self._reload_from_points)
        napari_viewer.dims.events.current_step.connect(self._on_step)
        napari_viewer.layers.events.inserted.connect(self._refresh_layers)
        napari_viewer.layers.events.removed.connect(self._refresh_layers)
        self._refresh_layers()

    def _build(self) -> None:
        from napari.utils.theme import get_theme

        theme = get_theme(getattr(self.viewer, "theme", "dark"))
        self.layer_box = qw.QComboBox()
        self.layer_box.setToolTip("A predictions Points or Tracks layer")
        [self.open_button] = buttons("Open predictions…")
        self.source_label, self.status = qw.QLabel(""), qw.QLabel("")
        self.bodypart_table = qw.QTableWidget(0, len(_COLUMNS))
        self.bodypart_table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.bodypart_table.verticalHeader().setVisible(False)
        self.bodypart_table.horizontalHeader().setStretchLastSection(True)
        self.bodypart_table.setEditTriggers(qw.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.bodypart_table.setMaximumHeight(150)
        self.bodypart_table.setToolTip(
            "Tick the bodyparts to plot. > p-cutoff: fraction of frames whose likelihood is "
            "above the p-cutoff. Median speed: over pairs of consecutive frames both above it."
        )
        self.tail_box = spin(1, 10_000, DEFAULT_TAIL_LENGTH, 5)
        self.tail_box.setSuffix(" frames")
        self.show_low = check("show low-likelihood points (hollow)", True)
        self.plots = TrajectoryPlots(theme.background.as_hex(), theme.text.as_hex())
        form = qw.QFormLayout()
        form.addRow("tracks tail", self.tail_box)
        layout = qw.QVBoxLayout(self)
        layout.addWidget(row(self.layer_box, self.open_button))
        layout.addWidget(self.source_label)
        layout.addWidget(self.bodypart_table)
        layout.addLayout(form)
        for widget in (self.show_low, self.plots, self.status):
            layout.addWidget(widget)
        for label in (self.source_label, self.status):
            label.setWordWrap(True)
        self.open_button.clicked.connect(lambda: self.open_file())
        self.layer_box.activated.connect(self._on_layer_chosen)
        self.bodypart_table.itemChanged.connect(self._on_item_changed)
        self.tail_box.valueChanged.connect(self._set_tail)
        self.show_low.toggled.connect(self._set_show_low)
        self.plots.frame_requested.connect(self.go_to)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #ff6060;" if error else "")
        self.status.setText(text)

    # -- layers --------------------------------------------------------------------------
    def _candidates(self) -> list[Any]:
        return [layer for layer in self.viewer.layers if _kind(layer) in (_POINTS, _TRACKS)]

    def _refresh_layers(self, _event: Any = None) -> None:
        current = self.points_layer or self.tracks_layer
        layers = self._candidates()
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        for layer in layers:
            self.layer_box.addItem(layer.name)
        self.layer_box.blockSignals(False)
        if current in layers:
            self.layer_box.setCurrentIndex(layers.index(current))
            # napari adds a reader's layers one by one: pick up a partner when it comes,
            # drop one that was removed.
            if self.tracks_layer not in layers:
                self.tracks_layer = self._partner(current, _TRACKS)
            if self.points_layer is None and self._partner(current, _POINTS) is not None:
                self.use_layer(current)
            return
        if current is not None:  # its layer was removed
            self._forget()
        # Only a Points layer is taken up by itself: a Tracks layer alone means reading
        # its file again, which the user asks for by choosing it.
        points = [layer for layer in layers if _kind(layer) == _POINTS]
        if points and not self._adding:
            self.use_layer(points[-1])

    def _on_layer_chosen(self, index: int) -> None:
        layers = self._candidates()
        if 0 <= index < len(layers):
            self.use_layer(layers[index])

    def _forget(self) -> None:
        if self.points_layer is not None:
            self.points_layer.events.data.disconnect(self._on_points_edited)
        self.points_layer = self.tracks_layer = self.table = None
        self.plots.set_data(KeypointTable("", [], [], np.zeros((0, 0, 3)), True), [], 0.6, [])
        self.bodypart_table.setRowCount(0)
        self.source_label.setText("")

    def _partner(self, layer: Any, kind: str) -> Any:
        source = _info(layer).get("source")
        for other in self.viewer.layers:
            if _kind(other) == kind and _info(other).get("source") == source:
                return other
        return None

    def use_layer(
        self, layer: Any, keep_status: bool = False, table: KeypointTable | None = None
    ) -> bool:
        """Inspect the predictions of a Points or Tracks layer (and its partner layer).

        Parameters
        ----------
        layer : napari layer
            A layer made from a predictions file by this plugin.
        keep_status : bool
            Leave the status line as it is (it explains something about this layer).
        table : KeypointTable, optional
            The points' table when it was already read from them (in a worker).

        Returns
        -------
        bool
            Whether it could be used; otherwise the dock says why.
        """
        kind = _kind(layer)
        if kind not in (_POINTS, _TRACKS):
            self._say(f"{layer.name} is not a predictions layer of this plugin", error=True)
            return False
        points = layer if kind == _POINTS else self._partner(layer, _POINTS)
        tracks = layer if kind == _TRACKS else self._partner(layer, _TRACKS)
        try:
            if table is None and points is not None:
                table = table_from_prediction_layer(points.data, points.features, points.metadata)
            elif table is None:
                # A Tracks layer alone holds only the reliable frames: read the file again.
                source = _info(layer)["source"]
                preds = read_predictions(source)
                data, kwargs, _ = prediction_points(preds, find_project(source, levels=2))
                table = table_from_prediction_layer(data, kwargs["features"], kwargs["metadata"])
        except (LabelsError, KeyError, ValueError) as exc:
            self._say(f"cannot use {layer.name}: {exc}", error=True)
            return False
        if self.points_layer is not None:
            self.points_layer.events.data.disconnect(self._on_points_edited)
        self.points_layer, self.tracks_layer = points, tracks
        if points is not None:
            points.events.data.connect(self._on_points_edited)
        info = _info(layer)
        self.pcutoff = float(info.get("pcutoff", 0.6))
        self._show_table(table)
        if tracks is not None:
            self.tail_box.setValue(int(tracks.tail_length))
        self._set_show_low(self.show_low.isChecked())
        offset = info.get("offset") or [0.0, 0.0]
        crop = (
            f"; cropped analysis, shown + ({offset[0]:g}, {offset[1]:g}) px" if any(offset) else ""
        )
        self.source_label.setText(
            f"{Path(info['source']).name}: {len(table)} frames, p-cutoff {self.pcutoff:g}{crop}"
        )
        self._select_layer_in_box(layer)
        self._on_step()
        if not keep_status:
            self._say("")
        return True

    def _select_layer_in_box(self, layer: Any) -> None:
        layers = self._candidates()
        if layer in layers:
            self.layer_box.setCurrentIndex(layers.index(layer))

    def _show_table(self, table: KeypointTable) -> None:
        checked = set(self.selected_names()) if self.table is not None else None
        self.table = table
        self.summaries = summarize(table, self.pcutoff)
        self.colors = self._keypoint_colors(table)
        names = [_keypoint_name(ind, bp) for ind, bp in table.keypoints]
        self.bodypart_table.blockSignals(True)
        self.bodypart_table.setRowCount(len(names))
        for r, (name, summary) in enumerate(zip(names, self.summaries, strict=True)):
            item = qw.QTableWidgetItem(name)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            on = checked is None or name in checked
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            item.setForeground(self._brush(self.colors[r]))
            self.bodypart_table.setItem(r, 0, item)
            for c, text in enumerate(_summary_cells(summary), start=1):
                self.bodypart_table.setItem(r, c, qw.QTableWidgetItem(text))
        self.bodypart_table.resizeColumnsToContents()
        self.bodypart_table.blockSignals(False)
        self._draw()

    @staticmethod
    def _brush(rgba: np.ndarray) -> Any:
        from qtpy.QtGui import QBrush, QColor

        return QBrush(QColor(*(int(round(255 * float(c))) for c in rgba)))

    def _keypoint_colors(self, table: KeypointTable) -> list[np.ndarray]:
        from napari_dlc_workbench.napari_io.layers import bodypart_colors

        cycle = {}
        if self.points_layer is not None:
            cycle = self.points_layer.metadata.get("face_color_cycles", {}).get("label", {})
        colormap = _info(self.points_layer or self.tracks_layer).get("colormap", "rainbow")
        fallback = bodypart_colors(list(table.bodyparts), colormap)
        return [np.asarray(cycle.get(bp, fallback[bp]), dtype=float) for _, bp in table.keypoints]

    # -- bodyparts -----------------------------------------------------------------------
    def selected(self) -> list[int]:
        """Keypoint columns ticked in the bodypart list."""
        return [
            r
            for r in range(self.bodypart_table.rowCount())
            if self.bodypart_table.item(r, 0).checkState() == Qt.CheckState.Checked
        ]

    def selected_names(self) -> list[str]:
        """Names of the ticked keypoints (``individual/bodypart`` for multi-animal)."""
        return [self.bodypart_table.item(r, 0).text() for r in self.selected()]

    def set_selected(self, names: list[str]) -> None:
        """Tick exactly the keypoints named (as shown in the list) and redraw."""
        self.bodypart_table.blockSignals(True)
        for r in range(self.bodypart_table.rowCount()):
            item = self.bodypart_table.item(r, 0)
            on = item.text() in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.bodypart_table.blockSignals(False)
        self._draw()

    def _on_item_changed(self, item: Any) -> None:
        if item.column() == 0:
            self._draw()

    def _draw(self) -> None:
        if self.table is not None:
            self.plots.set_data(self.table, self.colors, self.pcutoff, self.selected())
            self.plots.set_frame(self._current_frame())

    def _on_points_edited(self, _event: Any = None) -> None:
        self._reload.start()  # a drag emits many data events: rebuild once it settles

    def _reload_from_points(self) -> None:
        layer = self.points_layer
        if layer is not None and layer in self.viewer.layers:
            self._show_table(
                table_from_prediction_layer(layer.data, layer.features, layer.metadata)
            )

    # -- controls ------------------------------------------------------------------------
    def _set_tail(self, frames: int) -> None:
        if self.tracks_layer is not None:
            self.tracks_layer.tail_length = int(frames)

    def _set_show_low(self, on: bool) -> None:
        if self.points_layer is not None:
            self.points_layer.shown = shown_mask(self.points_layer.features, on)

    # -- frames --------------------------------------------------------------------------
    def _current_frame(self) -> int:
        step = self.viewer.dims.current_step
        return int(step[0]) if len(step) else 0

    def _on_step(self, _event: Any = None) -> None:
        self.plots.set_frame(self._current_frame())

    def go_to(self, frame: int) -> None:
        """Show ``frame`` in the viewer (the plots' markers follow through the slider)."""
        if self._current_frame() != int(frame):
            self.viewer.dims.set_current_step(0, int(frame))

    # -- opening -------------------------------------------------------------------------
    def _open_videos(self) -> dict[str, int]:
        # Name -> frames of the video layers the predictions may be drawn on.
        return {
            layer.name: int(layer.data.shape[0])
            for layer in self.viewer.layers
            if _kind(layer) == "frames" and getattr(layer, "ndim", 0) >= 3
        }

    def open_file(self, path: str | Path | None = None) -> Any:
        """Open a predictions ``.h5`` as Points + Tracks layers and inspect it.

        The file must have the project's bodyparts and, when its video is open,
        exactly that video's number of frames; otherwise nothing is added and the
        dock says why. The file is read and its layers and table are built in a
        worker thread (a 100 000-frame file takes most of a second); the GUI thread
        only adds the layers. :attr:`opened` says how it ended.

        Returns
        -------
        worker or None
            The started worker; None when no file was chosen.
        """
        if path is None:
            path, _ = qw.QFileDialog.getOpenFileName(
                self, "DLC predictions", "", "DLC predictions (*.h5)"
            )
        if not path:
            return None
        self.open_button.setEnabled(False)  # one file at a time
        self._say(f"Opening {Path(path).name}…")
        return start_worker(
            guarded,
            open_predictions,
            path,
            self._open_videos(),
            self.tail_box.value(),
            returned=self._take_opened,
        )

    def _take_opened(self, made: Any) -> None:
        self.open_button.setEnabled(True)
        if isinstance(made, Failure):
            self._say(str(made), error=True)
            self.opened.emit(False)
            return
        layers, table = made
        points, tracks = (*layers, None)[:2]
        self._adding = True  # the dock takes the pair once both are in
        try:
            if tracks is not None:
                self.viewer.add_layer(tracks)
            self.viewer.add_layer(points)
        finally:
            self._adding = False
        if tracks is None:
            self._say("No frame is above the p-cutoff: no tracks to draw.", error=True)
        self.opened.emit(self.use_layer(points, keep_status=tracks is None, table=table))


def open_predictions(
    path: str | Path, videos: dict[str, int], tail_length: int
) -> tuple[list[Any], KeypointTable]:
    """Read a predictions file and make its layers and table (no Qt: for a worker thread).

    Parameters
    ----------
    path : str or Path
        The ``.h5``.
    videos : dict
        Name -> frames of the open videos. The predictions are checked against the
        one named like their video, else the only one open.
    tail_length : int
        Tail of the Tracks layer, in frames.

    Returns
    -------
    layers : list
        ``[PredictionPoints, PredictionTracks]``, or the points alone when no frame is
        above the p-cutoff.
    table : KeypointTable
        What the dock plots, read from the points.
    """
    preds = read_predictions(path)
    named = {name: n for name, n in videos.items() if name == preds.video_stem}
    video = next(iter((named or (videos if len(videos) == 1 else {})).items()), None)
    data = prediction_layers(
        preds,
        find_project(path, levels=2),
        n_video_frames=video[1] if video else None,
        video=video[0] if video else None,
        tail_length=tail_length,
    )
    layers = make_prediction_layers(data)
    points = layers[0]
    return layers, table_from_prediction_layer(points.data, points.features, points.metadata)
