"""Draw predictions on a video and encode it: a DLC-style labeled video, without DLC.

The output goes beside the predictions under DLC's own name,
``<video_stem>DLC_<scorer>_labeled.mp4`` (``..._filtered_labeled.mp4`` for
filtered predictions), so users find it where DLC's ``create_labeled_video``
would have put it. Points below ``pcutoff`` are left out or drawn as rings;
a skeleton from ``config.yaml`` joins the bodyparts it names. Coordinates of a
cropped analysis are moved by the crop offset recorded in ``_meta.pickle``,
so they land on the full frame.
"""

from __future__ import annotations

import colorsys
import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.io.predictions import Predictions, read_predictions
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES, VideoReader

__all__ = [
    "LabeledVideoCancelled",
    "LabelStyle",
    "bodypart_colors",
    "draw_points",
    "find_video",
    "labeled_video_path",
    "write_labeled_video",
]

RGB = tuple[int, int, int]


class LabeledVideoCancelled(RuntimeError):
    """Writing was cancelled; no file was left under the final name."""


def bodypart_colors(bodyparts: Sequence[str], colormap: str = "rainbow") -> dict[str, RGB]:
    """One colour per bodypart, spread over ``colormap`` as DLC does.

    Parameters
    ----------
    bodyparts : sequence of str
        In the order of the predictions' columns.
    colormap : str
        A matplotlib colormap name (``colormap`` of ``config.yaml``); evenly
        spaced hues when matplotlib or the name is unavailable.

    Returns
    -------
    dict
        Bodypart to ``(r, g, b)`` in 0..255.
    """
    n = len(bodyparts)
    positions = np.linspace(0, 1, max(n, 1))
    try:
        from matplotlib import colormaps

        table = colormaps[colormap](positions)[:, :3]
    except (ImportError, KeyError):
        table = np.array([colorsys.hsv_to_rgb(0.8 * p, 1.0, 1.0) for p in positions])
    return {bp: tuple(int(round(c * 255)) for c in table[i]) for i, bp in enumerate(bodyparts)}


def _named_color(name: Any, default: RGB = (0, 0, 0)) -> RGB:
    if isinstance(name, (tuple, list)) and len(name) == 3:
        return tuple(int(c) for c in name)  # type: ignore[return-value]
    try:
        from matplotlib.colors import to_rgb

        return tuple(int(round(c * 255)) for c in to_rgb(str(name)))  # type: ignore[return-value]
    except (ImportError, ValueError):
        return default


@dataclass(frozen=True)
class LabelStyle:
    """How points are drawn.

    Attributes
    ----------
    colors : dict
        Bodypart to ``(r, g, b)``.
    radius : int
        Dot radius in pixels (DLC's ``dotsize``).
    pcutoff : float
        Likelihood below which a point is low-confidence.
    low : {"skip", "hollow"}
        Low-confidence points are left out, or drawn as rings.
    skeleton : tuple of (str, str)
        Bodypart pairs joined by a line.
    skeleton_color : tuple
        ``(r, g, b)`` of the lines.
    """

    colors: Mapping[str, RGB]
    radius: int = 6
    pcutoff: float = 0.6
    low: str = "skip"
    skeleton: tuple[tuple[str, str], ...] = ()
    skeleton_color: RGB = (0, 0, 0)

    def __post_init__(self) -> None:
        if self.low not in ("skip", "hollow"):
            raise ValueError(f"low must be 'skip' or 'hollow', not {self.low!r}")
        if self.radius < 1:
            raise ValueError("radius must be at least 1 pixel")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], bodyparts: Sequence[str], **overrides: Any):
        """Build the style from ``config.yaml`` (``pcutoff``, ``dotsize``, ``colormap``...).

        Parameters
        ----------
        cfg : mapping
            The project's configuration.
        bodyparts : sequence of str
            Bodyparts of the predictions.
        **overrides
            Fields to set instead of the configuration's.

        Returns
        -------
        LabelStyle
        """
        values: dict[str, Any] = {
            "colors": bodypart_colors(bodyparts, str(cfg.get("colormap") or "rainbow")),
            "radius": int(cfg.get("dotsize") or 6),
            "pcutoff": float(cfg.get("pcutoff") if cfg.get("pcutoff") is not None else 0.6),
            "skeleton": tuple(
                (str(a), str(b))
                for pair in (cfg.get("skeleton") or [])
                if len(pair) == 2
                for a, b in [pair]
            ),
            "skeleton_color": _named_color(cfg.get("skeleton_color") or "black"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _disc(radius: int, hollow: bool) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    dist = np.hypot(yy, xx)
    mask = (dist <= radius + 0.3) & (dist >= radius - 1.2 if hollow else True)
    return yy[mask], xx[mask]


def _paint(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, color: RGB) -> None:
    keep = (rows >= 0) & (rows < image.shape[0]) & (cols >= 0) & (cols < image.shape[1])
    image[rows[keep], cols[keep]] = color


def draw_points(
    image: np.ndarray,
    points: Mapping[str, tuple[float, float, float]],
    style: LabelStyle,
) -> np.ndarray:
    """Draw one frame's points (and skeleton) on ``image`` in place.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
        RGB frame; modified.
    points : mapping
        Bodypart to ``(x, y, likelihood)`` of one animal; NaN coordinates are
        not drawn.
    style : LabelStyle
        Colours, size, cutoff.

    Returns
    -------
    ndarray
        ``image``.
    """
    confident = {
        bp: (x, y)
        for bp, (x, y, p) in points.items()
        if np.isfinite(x) and np.isfinite(y) and not (p < style.pcutoff)
    }
    for a, b in style.skeleton:
        if a in confident and b in confident:
            (x0, y0), (x1, y1) = confident[a], confident[b]
            n = int(max(abs(x1 - x0), abs(y1 - y0))) + 2
            xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
            _paint(image, np.round(ys).astype(int), np.round(xs).astype(int), style.skeleton_color)
    filled, ring = _disc(style.radius, False), _disc(style.radius, True)
    for bp, (x, y, p) in points.items():
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        low = p < style.pcutoff
        if low and style.low == "skip":
            continue
        dy, dx = ring if low else filled
        color = style.colors.get(bp, (255, 255, 255))
        _paint(image, int(round(y)) + dy, int(round(x)) + dx, color)
    return image


def labeled_video_path(predictions: str | os.PathLike[str]) -> Path:
    """DLC's name for the labeled video of a predictions file (beside it)."""
    h5 = Path(predictions)
    return h5.with_name(f"{h5.stem}_labeled.mp4")


def find_video(predictions: Predictions) -> Path:
    """Find the analysed video beside its predictions file.

    Raises
    ------
    FileNotFoundError
        If no video named like the predictions' video stem is there.
    """
    stem = predictions.video_stem or ""
    for suffix in VIDEO_SUFFIXES:
        for candidate in (suffix, suffix.upper()):
            path = predictions.path.with_name(stem + candidate)
            if path.is_file():
                return path
    raise FileNotFoundError(
        f"{predictions.path}: no video {stem}.* beside it; pass the video explicitly"
    )


def _frame_points(
    predictions: Predictions, row: int | None, offset: tuple[float, float]
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Individual to its bodyparts' ``(x, y, likelihood)`` on the full frame."""
    if row is None:
        return {}
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    table = predictions.table
    for column, (individual, bodypart) in enumerate(table.keypoints):
        x, y, p = table.data[row, column]
        out.setdefault(individual, {})[bodypart] = (
            x + offset[0],
            y + offset[1],
            p if np.isfinite(p) else 1.0,
        )
    return out


def write_labeled_video(
    predictions: str | os.PathLike[str] | Predictions,
    video: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    style: LabelStyle | None = None,
    config: Mapping[str, Any] | None = None,
    frames: tuple[int, int] | None = None,
    crf: int = 18,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """Write a video with the predictions drawn on every frame.

    Parameters
    ----------
    predictions : path or Predictions
        ``<video>DLC_<scorer>.h5`` (or ``_filtered.h5``), or one already read.
    video : path, optional
        The analysed video; found beside the predictions if omitted.
    out : path, optional
        Output file; :func:`labeled_video_path` if omitted.
    style : LabelStyle, optional
        How to draw; from ``config`` (or defaults) if omitted.
    config : mapping, optional
        The project's ``config.yaml`` content, for the default style.
    frames : (start, stop), optional
        Only frames ``start <= n < stop``.
    crf : int
        H.264 quality (lower is better).
    progress : callable, optional
        ``progress(frames_done, frames_total)``.
    cancel : callable, optional
        Polled every frame; True stops and removes the partial file.

    Returns
    -------
    Path
        The labeled video.

    Raises
    ------
    LabeledVideoCancelled
        If ``cancel`` returned True.
    FileNotFoundError
        If the video cannot be found.
    VideoError
        If the video cannot be decoded.
    ValueError
        For an empty or out-of-range frame range.
    """
    import av

    if not isinstance(predictions, Predictions):
        predictions = read_predictions(predictions)
    video = Path(video) if video is not None else find_video(predictions)
    out = Path(out) if out is not None else labeled_video_path(predictions.path)
    table = predictions.table
    if style is None:
        style = LabelStyle.from_config(config or {}, table.bodyparts)
    rows = {int(frame): i for i, frame in enumerate(table.index)}
    offset = predictions.crop_offset
    with VideoReader(video, cache_mb=16, backstep=0) as reader:
        n = len(reader)
        start, stop = frames if frames is not None else (0, n)
        if not 0 <= start < stop <= n:
            raise ValueError(f"{video}: frame range {start}..{stop} is outside 0..{n}")
        height, width = reader.frame_shape[:2]
        tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
        out.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(tmp), "w")
        try:
            stream = container.add_stream(
                "libx264", rate=reader.fps or Fraction(30), options={"crf": str(crf)}
            )
            # 4:2:0 needs even sizes: an odd last row/column is padded.
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = "yuv420p"
            canvas = np.zeros((stream.height, stream.width, 3), np.uint8)
            for done, number in enumerate(range(start, stop), start=1):
                if cancel is not None and cancel():
                    raise LabeledVideoCancelled(f"labeled video of {video} cancelled")
                canvas[:height, :width] = reader[number]
                for points in _frame_points(predictions, rows.get(number), offset).values():
                    draw_points(canvas, points, style)
                frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
                frame.pts = done - 1
                container.mux(stream.encode(frame))
                if progress is not None:
                    progress(done, stop - start)
            container.mux(stream.encode())
            container.close()
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(Exception):
                container.close()
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
    return out
