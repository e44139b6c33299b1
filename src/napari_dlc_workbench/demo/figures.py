"""The report's plots, drawn with matplotlib's Agg canvas and returned as PNG bytes.

matplotlib is imported inside each function: no pyplot state, no GUI backend,
and nothing heavy when the demo package is imported.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["crop_figure", "loss_figure", "outlier_figure", "rmse_figure"]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _values(series: Sequence[Any]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in series], dtype=float)


def crop_figure(
    full: np.ndarray,
    raw_crop: np.ndarray,
    clip: np.ndarray,
    rois: Sequence[Sequence[Any]] = (),
) -> bytes:
    """Draw the recording with its wells, one well raw and after contrast, and their histograms."""
    from matplotlib.patches import Rectangle

    figure = _figure(13, 3.8)
    grid = figure.add_gridspec(1, 4, width_ratios=[1.5, 1, 1, 1.2])
    axes = figure.add_subplot(grid[0])
    axes.imshow(full, cmap="gray", vmin=0, vmax=255)
    for name, x, y, w, h in rois:
        axes.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="tab:orange", linewidth=1.5))
        axes.text(x + 4, y + 14, str(name), color="tab:orange", fontsize=9, weight="bold")
    axes.set_title("generated recording and the wells cropped", fontsize=9)
    axes.axis("off")
    for position, (image, title) in enumerate(
        [(raw_crop, "well #1, raw crop"), (clip, "well #1 clip, contrast enhanced")], start=1
    ):
        axes = figure.add_subplot(grid[position])
        axes.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes.set_title(title, fontsize=9)
        axes.axis("off")
    axes = figure.add_subplot(grid[3])
    bins = np.arange(257)
    axes.hist(raw_crop.ravel(), bins=bins, color="tab:gray", alpha=0.8, label="raw crop")
    axes.hist(clip.ravel(), bins=bins, color="tab:blue", alpha=0.6, label="contrast enhanced")
    axes.set_xlim(0, 255)
    axes.set_xlabel("intensity")
    axes.set_ylabel("pixels")
    axes.set_title("intensity histogram", fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)


def loss_figure(runs: Sequence[tuple[str, Mapping[str, Sequence[Any]]]]) -> bytes:
    """Training loss per epoch (log scale) and test RMSE at DLC's evaluation epochs."""
    figure = _figure(10, 3.8)
    loss_axes, rmse_axes = figure.subplots(1, 2)
    for color, (label, series) in zip(["tab:blue", "tab:orange", "tab:green"], runs, strict=False):
        epoch = _values(series.get("epoch", []))
        train = _values(series.get("train_loss", []))
        evaluated = _values(series.get("eval_loss", []))
        rmse = _values(series.get("test_rmse", []))
        loss_axes.plot(epoch, train, color=color, marker=".", label=f"{label}: train loss")
        ok = np.isfinite(evaluated)
        if ok.any():
            loss_axes.plot(epoch[ok], evaluated[ok], "s", color=color, label=f"{label}: test loss")
        ok = np.isfinite(rmse)
        if ok.any():
            rmse_axes.plot(epoch[ok], rmse[ok], "o-", color=color, label=label)
    from matplotlib.ticker import MaxNLocator

    for axes in (loss_axes, rmse_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_axes.set_ylim(bottom=0)
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("total loss")
    loss_axes.set_title("training loss", fontsize=9)
    loss_axes.grid(alpha=0.3)
    loss_axes.legend(fontsize=7)
    rmse_axes.set_xlabel("epoch")
    rmse_axes.set_ylabel("test RMSE (px)")
    rmse_axes.set_ylim(bottom=0)
    rmse_axes.set_title("test RMSE at DLC's evaluation epochs", fontsize=9)
    rmse_axes.grid(alpha=0.3)
    if rmse_axes.lines:
        rmse_axes.legend(fontsize=7)
    else:
        rmse_axes.text(
            0.5,
            0.5,
            "no evaluation epoch in these runs\n(DLC evaluates every eval_interval epochs;\n"
            "see the evaluation table)",
            ha="center",
            va="center",
            transform=rmse_axes.transAxes,
            fontsize=9,
            color="tab:gray",
        )
    figure.tight_layout()
    return _png(figure)


def rmse_figure(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    overall: tuple[Any, Any] = (None, None),
) -> bytes:
    """Draw grouped bars of the test RMSE per bodypart (and overall) before and after the correction."""
    names = sorted(set(before) | set(after))
    labels = [*names, "all (test RMSE)"]
    first = _values([before.get(n) for n in names] + [overall[0]])
    second = _values([after.get(n) for n in names] + [overall[1]])
    figure = _figure(8, 4)
    axes = figure.add_subplot()
    x = np.arange(len(labels))
    width = 0.38
    for offset, values, label, color in (
        (-width / 2, first, "before (iteration 0)", "tab:gray"),
        (width / 2, second, "after the correction (iteration 1)", "tab:green"),
    ):
        bars = axes.bar(x + offset, np.nan_to_num(values), width, label=label, color=color)
        for bar, value in zip(bars, values, strict=True):
            text = "n/a" if math.isnan(value) else f"{value:.1f}"
            axes.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                textcoords="offset points",
                xytext=(0, 2),
                ha="center",
                fontsize=8,
            )
    axes.set_xticks(x, labels, fontsize=9)
    axes.set_ylabel("test RMSE (px)")
    axes.set_title("test RMSE per bodypart before and after the correction iteration", fontsize=9)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)


def outlier_figure(
    errors: Sequence[Any],
    flagged: Sequence[int],
    corrected: Sequence[int],
    precision: Mapping[str, Any],
) -> bytes:
    """Each frame's worst bodypart error with the flagged frames, and precision vs base rate."""
    values = _values(errors)
    figure = _figure(12, 3.8)
    grid = figure.add_gridspec(1, 2, width_ratios=[3, 1])
    axes = figure.add_subplot(grid[0])
    frames = np.arange(len(values))
    axes.plot(frames, values, color="tab:gray", linewidth=0.8, label="worst bodypart error")
    threshold = precision.get("threshold_px")
    if threshold is not None:
        axes.axhline(
            threshold,
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label=f"wrong above {threshold:g} px",
        )
    shown = [f for f in flagged if 0 <= f < len(values)]
    axes.plot(shown, values[shown], "o", mfc="none", color="tab:orange", label="flagged (queue)")
    shown = [f for f in corrected if 0 <= f < len(values)]
    axes.plot(shown, values[shown], "x", color="tab:blue", markersize=8, label="corrected")
    top = np.nanmax(values[np.isfinite(values)], initial=float(threshold or 1.0))
    axes.set_ylim(0, 1.08 * max(top, float(threshold or 0.0)))
    axes.set_xlabel("frame of the analysed clip")
    axes.set_ylabel("error vs ground truth (px)")
    axes.set_title(
        "prediction error per frame, and the frames the outlier queue flagged", fontsize=9
    )
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper right")
    axes = figure.add_subplot(grid[1])
    names = ["all frames\n(base rate)", "flagged", f"top {precision.get('top', '')}"]
    shares = _values(
        [
            precision.get("base_rate"),
            precision.get("precision_flagged"),
            precision.get("precision_top"),
        ]
    )
    bars = axes.bar(names, np.nan_to_num(shares), color=["tab:gray", "tab:orange", "tab:blue"])
    for bar, value in zip(bars, shares, strict=True):
        axes.annotate(
            "n/a" if math.isnan(value) else f"{100 * value:.0f} %",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            textcoords="offset points",
            xytext=(0, 2),
            ha="center",
            fontsize=8,
        )
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("share of frames truly wrong")
    axes.set_title("outlier precision", fontsize=9)
    axes.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    return _png(figure)
