"""Small matplotlib plots inside dock widgets, in napari's colours.

:class:`ThemedCanvas` is a matplotlib figure on a Qt canvas that follows the
viewer's theme (dark or light); any dock can put its own axes on it.
:class:`LearningCurvePlot` draws train loss and test RMSE against the epoch
(Training dock; reusable wherever a ``learning_stats.csv`` is shown).

matplotlib's Qt backend is imported when a canvas is made, not when napari
starts: the plugin's import stays light.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from qtpy import QtWidgets as qw

__all__ = ["LearningCurvePlot", "ThemedCanvas", "theme_colors"]

LOSS_COLOR = "#4fa3e0"
RMSE_COLOR = "#f0a030"


def theme_colors(theme: str = "dark") -> dict[str, str]:
    """Return the napari theme's ``background``, ``foreground``, ``text`` and ``grid`` colours.

    Parameters
    ----------
    theme : str
        A napari theme id; an unknown one gives the dark theme's colours.
    """
    from napari.utils.theme import get_theme

    try:
        found = get_theme(theme)
    except (KeyError, ValueError):
        found = get_theme("dark")
    return {
        "background": found.background.as_hex(),
        "foreground": found.foreground.as_hex(),
        "text": found.text.as_hex(),
        "grid": found.highlight.as_hex(),
    }


class ThemedCanvas(qw.QWidget):
    """A matplotlib figure in a widget, coloured like the napari viewer.

    Parameters
    ----------
    viewer : napari.Viewer, optional
        Whose theme to follow (re-coloured when it changes).
    height : int
        Minimum height in pixels.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
        Add axes to it, then call :meth:`apply_theme` and :meth:`redraw`.
    canvas : FigureCanvasQTAgg
        The Qt widget that shows the figure.
    """

    def __init__(
        self,
        viewer: Any = None,
        height: int = 220,
        margins: tuple[int, int, int, int] = (74, 62, 46, 12),
    ) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        super().__init__()
        # Fixed margins in pixels, not a constrained layout: that layout doubles the time of
        # each redraw (~80 ms on a loaded CPU), and the GUI thread draws while jobs run.
        self.margins = margins
        self.figure = Figure(figsize=(4, 2.5))
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(height)
        self.canvas.mpl_connect("resize_event", self._fit_margins)
        self._fit_margins()
        layout = qw.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.theme = getattr(viewer, "theme", "dark") if viewer is not None else "dark"
        if viewer is not None:
            viewer.events.theme.connect(self._on_theme)

    def _fit_margins(self, _event: Any = None) -> None:
        width, height = self.figure.bbox.width, self.figure.bbox.height
        left, right, bottom, top = self.margins
        if width > left + right and height > bottom + top:
            self.figure.subplots_adjust(
                left=left / width,
                right=1 - right / width,
                bottom=bottom / height,
                top=1 - top / height,
            )

    def _on_theme(self, event: Any) -> None:
        self.theme = str(getattr(event, "value", event))
        self.apply_theme()
        self.redraw()

    def apply_theme(self) -> None:
        """Colour the figure and all its axes with the current theme."""
        colors = theme_colors(self.theme)
        self.figure.set_facecolor(colors["background"])
        for ax in self.figure.axes:
            ax.set_facecolor(colors["foreground"])
            for spine in ax.spines.values():
                spine.set_color(colors["grid"])
            ax.tick_params(colors=colors["text"], which="both")
            ax.xaxis.label.set_color(colors["text"])
            ax.title.set_color(colors["text"])
            if ax.get_legend() is not None:
                for text in ax.get_legend().get_texts():
                    text.set_color(colors["text"])
        self._color_axes(colors)

    def _color_axes(self, colors: dict[str, str]) -> None:
        """Colour a subclass's own labels (called by :meth:`apply_theme`)."""

    def redraw(self) -> None:
        """Redraw when Qt is next idle (cheap to call often)."""
        self.canvas.draw_idle()


def _finite(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
    return [x for x, _ in pairs], [y for _, y in pairs]


class LearningCurvePlot(ThemedCanvas):
    """Train loss (left axis, log scale) and test RMSE in pixels (right axis) per epoch.

    Parameters
    ----------
    viewer : napari.Viewer, optional
        Whose theme to follow.

    Attributes
    ----------
    loss_line, rmse_line : matplotlib.lines.Line2D
        The plotted series; their data are exactly what was given to :meth:`set_data`.
    """

    def __init__(self, viewer: Any = None) -> None:
        from matplotlib.ticker import FormatStrFormatter

        super().__init__(viewer)
        self.loss_ax = self.figure.add_subplot(1, 1, 1)
        self.rmse_ax = self.loss_ax.twinx()
        (self.loss_line,) = self.loss_ax.plot([], [], ".-", color=LOSS_COLOR, label="train loss")
        (self.rmse_line,) = self.rmse_ax.plot([], [], "o-", ms=3, color=RMSE_COLOR)
        self.loss_ax.set_xlabel("epoch")
        self.loss_ax.set_ylabel("train loss")
        self.rmse_ax.set_ylabel("test RMSE (px)")
        self.loss_ax.grid(True, alpha=0.25)
        self._plain = FormatStrFormatter("%.3g")
        self.apply_theme()
        self.redraw()

    def _color_axes(self, colors: dict[str, str]) -> None:
        self.loss_ax.yaxis.label.set_color(LOSS_COLOR)
        self.rmse_ax.yaxis.label.set_color(RMSE_COLOR)

    def set_data(self, epochs: Sequence[int], loss: Sequence[float], rmse: Sequence[float]) -> None:
        """Show these epochs; NaN values (an epoch without evaluation) are left out.

        Parameters
        ----------
        epochs : sequence of int
            Epoch numbers.
        loss, rmse : sequence of float
            Train loss and test RMSE per epoch, NaN where DLC logged none.
        """
        lx, ly = _finite(epochs, loss)
        rx, ry = _finite(epochs, rmse)
        self.loss_line.set_data(lx, ly)
        self.rmse_line.set_data(rx, ry)
        self.loss_ax.set_yscale("log" if ly and min(ly) > 0 else "linear")
        # Plain numbers (0.021), not 2.1x10^-2: quicker to read, and to draw (no mathtext).
        # After set_yscale, which puts the scale's own formatters back.
        self.loss_ax.yaxis.set_major_formatter(self._plain)
        self.loss_ax.yaxis.set_minor_formatter(self._plain)
        for ax in (self.loss_ax, self.rmse_ax):
            ax.relim()
            ax.autoscale_view()
        if epochs:
            last = max(epochs)
            self.loss_ax.set_xlim(0.5, max(last, 1) + 0.5)
        self.redraw()
