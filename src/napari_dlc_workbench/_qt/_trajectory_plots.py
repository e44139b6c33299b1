"""pyqtgraph plots of predicted x, y and likelihood against frame, for the Trajectories dock.

Why pyqtgraph and not matplotlib: a video of 100 000 frames gives curves of
100 000 samples per bodypart. pyqtgraph draws them with ``clipToView`` (only the
visible frames) and peak downsampling (about one min/max pair per pixel), so
zooming, panning and moving the frame marker stay interactive; matplotlib would
redraw every sample of every curve on each change (hundreds of ms per redraw).

:class:`TrajectoryPlots` shows three plots with a shared frame axis, a movable
frame marker in each, the p-cutoff line, and shading over the frames where a
bodypart is not reliable (likelihood not above the p-cutoff, or no prediction).
Clicking a plot or dragging a marker emits :attr:`TrajectoryPlots.frame_requested`;
:meth:`TrajectoryPlots.set_frame` moves the markers without emitting it, so the
dock can tie the plots to napari's slider both ways without a feedback loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from qtpy import QtWidgets as qw
from qtpy.QtCore import QRectF, Qt, Signal
from qtpy.QtGui import QBrush, QColor
from qtpy.QtWidgets import QGraphicsItem

from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.process.trajectories import reliable, runs

__all__ = ["RunsItem", "TrajectoryPlots"]

_SHADE_ALPHA = 45
_CACHED = QGraphicsItem.CacheMode.DeviceCoordinateCache


def _qcolor(rgba: Sequence[float], alpha: int | None = None) -> QColor:
    r, g, b, a = (int(round(255 * float(c))) for c in rgba)
    return QColor(r, g, b, a if alpha is None else alpha)


class RunsItem(pg.GraphicsObject):
    """Vertical bands over frame runs, spanning the whole height of the view.

    Only the runs in view are drawn, and runs closer than a screen pixel are
    merged and widened to at least one pixel, so a flickering likelihood over
    100 000 frames still paints a few hundred rectangles, and zooming in shows
    every frame exactly.

    Parameters
    ----------
    color : QColor
        Fill colour (use a low alpha).
    """

    def __init__(self, color: QColor) -> None:
        super().__init__()
        self._brush = QBrush(color)
        self._starts = np.zeros(0, dtype=np.float64)
        self._stops = np.zeros(0, dtype=np.float64)
        self._rects: list[QRectF] = []

    def set_runs(self, starts: np.ndarray, stops: np.ndarray) -> None:
        """Set the half-open frame runs ``[starts[i], stops[i])`` to shade."""
        self._starts = np.asarray(starts, dtype=np.float64)
        self._stops = np.asarray(stops, dtype=np.float64)
        self._layout()

    def viewRangeChanged(self) -> None:  # noqa: N802 - pyqtgraph's hook name
        """Re-select and re-merge the visible runs when the view moves or zooms."""
        self._layout()

    def _layout(self) -> None:
        view = self.viewRect()
        self.prepareGeometryChange()
        self._rects = []
        if view is None or not len(self._starts):
            self.update()
            return
        # Bands are drawn from frame - 0.5 to stop - 0.5: a frame is centred on its number.
        lo = np.searchsorted(self._stops, view.left() + 0.5, side="right")
        hi = np.searchsorted(self._starts, view.right() + 0.5, side="left")
        starts, stops = self._starts[lo:hi] - 0.5, self._stops[lo:hi] - 0.5
        pixel = self.pixelWidth() or 0.0
        if len(starts) > 1 and pixel > 0:
            join = (starts[1:] - stops[:-1]) < pixel
            starts = starts[np.concatenate(([True], ~join))]
            stops = stops[np.concatenate((~join, [True]))]
        stops = np.maximum(stops, starts + pixel)
        top, height = view.top(), view.height()
        self._rects = [
            QRectF(a, top, b - a, height)
            for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
        ]
        self.update()

    @property
    def n_drawn(self) -> int:
        """Number of rectangles painted for the current view."""
        return len(self._rects)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        """Whole view: bands span it vertically."""
        view = self.viewRect()
        return QRectF() if view is None else view

    def paint(self, painter: Any, *args: Any) -> None:
        """Fill the merged runs."""
        if self._rects:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self._brush)
            painter.drawRects(self._rects)


class TrajectoryPlots(qw.QWidget):
    """x, y and likelihood of chosen keypoints against frame, tied to a frame marker.

    Parameters
    ----------
    background : str
        Plot background colour (the viewer theme's).
    foreground : str
        Axis and text colour.

    Attributes
    ----------
    frame_requested : Signal(int)
        The user clicked a plot or dragged a marker to this frame.
    plots : dict
        ``"x"``, ``"y"``, ``"likelihood"`` -> ``pyqtgraph.PlotItem``.
    markers : dict
        Same keys -> the frame marker (``pyqtgraph.InfiniteLine``) of each plot.
    """

    frame_requested = Signal(int)

    def __init__(self, background: str = "#262930", foreground: str = "#f0f1f2") -> None:
        super().__init__()
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(background)
        layout = qw.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.setMinimumHeight(360)
        self.plots: dict[str, pg.PlotItem] = {}
        self.markers: dict[str, pg.InfiniteLine] = {}
        marker_pen = pg.mkPen(foreground, width=1.5)
        for row, (key, label) in enumerate(
            (("x", "x (px)"), ("y", "y (px)"), ("likelihood", "likelihood"))
        ):
            plot = self.view.addPlot(row=row, col=0)
            plot.setLabel("left", label, color=foreground)
            # Applied by addItem to each curve once it is in the view (setting them on a
            # curve before it has a view makes pyqtgraph look for a range it lacks).
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setPen(foreground)
                plot.getAxis(axis).setTextPen(foreground)
                plot.getAxis(axis).setCacheMode(_CACHED)
            if self.plots:
                plot.setXLink(self.plots["x"])
            marker = pg.InfiniteLine(
                0, angle=90, movable=True, pen=marker_pen, hoverPen=pg.mkPen("#ffd000", width=3)
            )
            marker.setZValue(10)
            marker.sigPositionChanged.connect(self._on_marker)
            plot.addItem(marker, ignoreBounds=True)
            self.plots[key], self.markers[key] = plot, marker
        self.plots["likelihood"].setLabel("bottom", "frame", color=foreground)
        self.plots["likelihood"].setYRange(0, 1.02, padding=0)
        self.cutoff_line = pg.InfiniteLine(
            0.6, angle=0, pen=pg.mkPen("#ff6060", width=1, style=Qt.PenStyle.DashLine)
        )
        self.plots["likelihood"].addItem(self.cutoff_line, ignoreBounds=True)
        self.view.scene().sigMouseClicked.connect(self._on_click)
        self._items: list[tuple[pg.PlotItem, Any]] = []
        self.frame, self.n_frames = 0, 0
        self._quiet = False

    # -- data ----------------------------------------------------------------------------
    def set_data(
        self,
        table: KeypointTable,
        colors: Sequence[Sequence[float]],
        pcutoff: float,
        selected: Sequence[int],
    ) -> None:
        """Draw the selected keypoints of a dense predictions table.

        Parameters
        ----------
        table : KeypointTable
            One row per frame ``0 .. n - 1``, full-frame coordinates.
        colors : sequence of RGBA
            Colour of each keypoint (column of ``table``).
        pcutoff : float
            Draws the cut-off line and shades frames not above it.
        selected : sequence of int
            Keypoint columns to draw.
        """
        for plot, item in self._items:
            plot.removeItem(item)
        self._items = []
        self.n_frames = len(table)
        frames = np.arange(len(table), dtype=np.float64)
        ok = reliable(table.data, pcutoff)
        for k in selected:
            pen = pg.mkPen(_qcolor(colors[k]), width=1)
            for c, key in enumerate(("x", "y", "likelihood")):
                curve = pg.PlotDataItem(
                    frames, table.data[:, k, c], pen=pen, connect="finite", skipFiniteCheck=False
                )
                shade = RunsItem(_qcolor(colors[k], _SHADE_ALPHA))
                shade.setZValue(-10)
                # Moving the frame marker repaints what lies under it; from a pixmap cache
                # that is a blit (~2 ms for 12 curves of 100 000 frames) instead of replaying
                # every curve and band (tens of ms). No grid for the same reason: its lines
                # belong to the axes and span the whole plot.
                curve.curve.setCacheMode(_CACHED)
                shade.setCacheMode(_CACHED)
                self.plots[key].addItem(curve)
                self.plots[key].addItem(shade, ignoreBounds=True)
                shade.set_runs(*runs(~ok[:, k]))
                self._items += [(self.plots[key], curve), (self.plots[key], shade)]
        self.cutoff_line.setValue(pcutoff)
        for marker in self.markers.values():
            marker.setBounds((0, max(len(table) - 1, 0)))
        self.plots["x"].setXRange(0, max(len(table) - 1, 1), padding=0.01)
        self.plots["likelihood"].setYRange(0, 1.02, padding=0)

    @property
    def curves(self) -> list[pg.PlotDataItem]:
        """The drawn curves: x, y, likelihood of each selected keypoint in turn."""
        return [item for _, item in self._items if isinstance(item, pg.PlotDataItem)]

    @property
    def shading(self) -> list[RunsItem]:
        """The shading items, one per plot and selected keypoint."""
        return [item for _, item in self._items if isinstance(item, RunsItem)]

    # -- frame marker --------------------------------------------------------------------
    def set_frame(self, frame: int) -> None:
        """Move every marker to ``frame`` without emitting :attr:`frame_requested`."""
        self.frame = int(frame)
        self._quiet = True
        try:
            for marker in self.markers.values():
                marker.setValue(self.frame)
        finally:
            self._quiet = False

    def _on_marker(self, marker: pg.InfiniteLine) -> None:
        if self._quiet:
            return
        self.request_frame(marker.value())

    def request_frame(self, frame: float) -> None:
        """Ask for ``frame`` as a click or drag does: markers snap to it, then the signal.

        The signal is emitted only when the frame changes.
        """
        target = int(np.clip(round(frame), 0, max(self.n_frames - 1, 0)))
        changed = target != self.frame
        self.set_frame(target)  # also snaps a dragged marker onto the whole frame
        if changed:
            self.frame_requested.emit(target)

    def frame_at(self, scene_pos: Any) -> int | None:
        """Frame under a scene position, or None if it is outside every plot."""
        for plot in self.plots.values():
            if plot.vb.sceneBoundingRect().contains(scene_pos):
                return int(round(plot.vb.mapSceneToView(scene_pos).x()))
        return None

    def _on_click(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.isAccepted():
            return
        frame = self.frame_at(event.scenePos())
        if frame is not None:
            event.accept()
            self.request_frame(frame)
