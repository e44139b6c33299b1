"""CLAHE with tile mappings fitted once on a sample of frames, then fixed over time.

Contrast Limited Adaptive Histogram Equalisation (Zuiderveld, Graphics Gems IV, 1994; the
algorithm behind ``skimage.exposure.equalize_adapthist``) splits a frame into ``tiles x tiles``
regions, equalises each region with a clipped histogram and blends the four nearest regions'
mappings bilinearly. Run per frame it flickers, because every frame gets new histograms. Here
each region's histogram is summed over the sampled frames instead, so the tile mappings are
computed once per ROI and video; :func:`apply_tile_luts` then maps any frame with them, a
pointwise function of (row, column, grey value).

Differences from ``equalize_adapthist``, all deliberate:

* grey values are binned as they are (256 bins for uint8) instead of first stretching the
  frame's own min..max to 14 bits, which would make the binning depend on the frame;
* the excess clipped from a histogram is spread by exact water filling (each bin is raised
  evenly, none above the limit), the fixed point of Zuiderveld's repeated redistribution, in
  place of skimage's integer passes; the histogram keeps its total, so every mapping ends at 255;
* region edges are ``i * size // tiles`` (no padding), blending weights are measured between
  region centres in pixel coordinates, and each tile mapping is rounded to uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "TileGrid",
    "apply_tile_luts",
    "clip_histograms",
    "clipped_equalization_luts",
    "tile_edges",
    "tile_grid",
    "tile_histograms",
]


def tile_edges(size: int, tiles: int) -> np.ndarray:
    """Return the ``tiles + 1`` region boundaries along one axis of ``size`` pixels.

    Parameters
    ----------
    size : int
        Pixels along the axis.
    tiles : int
        Regions along the axis, ``1 <= tiles <= size``.

    Returns
    -------
    numpy.ndarray
        Integer boundaries ``i * size // tiles``; region ``i`` is ``edges[i]:edges[i + 1]``.
    """
    if not 1 <= tiles <= size:
        raise ValueError(f"cannot split {size} px into {tiles} CLAHE tiles (need 1..{size})")
    return (np.arange(tiles + 1, dtype=np.int64) * size) // tiles


def tile_histograms(frames: np.ndarray, tiles: int) -> np.ndarray:
    """Sum each region's 256-bin histogram over a stack of grey frames.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, height, width)`` uint8 frames.
    tiles : int
        Regions per side.

    Returns
    -------
    numpy.ndarray
        ``(tiles, tiles, 256)`` int64 counts, region ``(row, column)``.
    """
    _, height, width = frames.shape
    rows = np.repeat(np.arange(tiles), np.diff(tile_edges(height, tiles)))
    cols = np.repeat(np.arange(tiles), np.diff(tile_edges(width, tiles)))
    # One bincount per frame over (region, value) labels: a single pass, no per-tile loop.
    labels = ((rows[:, None] * tiles + cols[None, :]) * 256).astype(np.intp)
    counts = np.zeros(tiles * tiles * 256, dtype=np.int64)
    for frame in frames:
        counts += np.bincount((labels + frame).ravel(), minlength=counts.size)
    return counts.reshape(tiles, tiles, 256)


def clip_histograms(hist: np.ndarray, clip_limit: float) -> np.ndarray:
    """Clip histograms at the clip limit and spread the excess evenly over their bins.

    Parameters
    ----------
    hist : numpy.ndarray
        ``(..., nbins)`` counts.
    clip_limit : float
        In ``(0, 1]``, normalised like skimage's: the limit is
        ``max(1, int(clip_limit * total))`` counts per bin, ``total`` the histogram's sum;
        ``1`` never clips (plain adaptive equalisation).

    Returns
    -------
    numpy.ndarray
        float64 histograms of the same shape and totals. The excess is added by water filling:
        every bin is raised by ``min(room, level)``, ``room`` being its distance to the limit and
        ``level`` chosen so the excess is used up exactly. Only when all bins together have less
        room than the excess (``clip_limit < 1 / nbins``) does the rest go evenly to every bin.
    """
    h = np.asarray(hist, dtype=np.float64)
    shape, nbins = h.shape, h.shape[-1]
    h = h.reshape(-1, nbins)
    total = h.sum(axis=1)
    limit = np.maximum(1.0, np.floor(clip_limit * total))[:, None]
    excess = np.maximum(h - limit, 0.0).sum(axis=1)
    h = np.minimum(h, limit)
    room = limit - h
    # Water level: sum(min(room, level)) is piecewise linear in level, kinked at each bin's
    # room; find the segment holding the excess from the sorted rooms.
    srt = np.sort(room, axis=1)
    below = np.cumsum(srt, axis=1) - srt  # room of the bins with less room than bin j
    filled = below + srt * (nbins - np.arange(nbins))  # sum(min(room, srt[j]))
    fits = filled >= excess[:, None]
    j = np.argmax(fits, axis=1)
    rows = np.arange(h.shape[0])
    level = np.where(fits.any(axis=1), (excess - below[rows, j]) / (nbins - j), np.inf)
    h += np.minimum(room, level[:, None])
    leftover = np.maximum(excess - room.sum(axis=1), 0.0)
    h += (leftover / nbins)[:, None]
    return h.reshape(shape)


def clipped_equalization_luts(hist: np.ndarray, clip_limit: float) -> np.ndarray:
    """Turn histograms into equalising lookup tables, after clipping them.

    Parameters
    ----------
    hist : numpy.ndarray
        ``(..., 256)`` counts, each histogram non-empty.
    clip_limit : float
        As in :func:`clip_histograms`.

    Returns
    -------
    numpy.ndarray
        ``(..., 256)`` uint8: ``round(255 * cdf / total)`` of the clipped histogram, the
        inclusive cumulative count as in skimage's ``map_histogram``.
    """
    cdf = np.cumsum(clip_histograms(hist, clip_limit), axis=-1)
    # Divide by the last CDF entry, not the sum, so the top of every table is exactly 255.
    return np.floor(255.0 * cdf / cdf[..., -1:] + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class TileGrid:
    """Per-pixel blending data for one frame shape, computed once and reused for every frame.

    Attributes
    ----------
    base : numpy.ndarray
        ``(height, width)`` intp offset of the upper-left neighbouring region's table in the
        flattened ``(tiles * tiles * 256)`` tables.
    dx : numpy.ndarray
        ``(width,)`` intp step to the right-hand neighbour's table (0 beyond the outer centres).
    dy : numpy.ndarray
        ``(height, 1)`` intp step to the lower neighbour's table.
    wx, wy : numpy.ndarray
        float32 weights of the right-hand and lower neighbours, ``(width,)`` and ``(height, 1)``.
    """

    base: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    wx: np.ndarray
    wy: np.ndarray


def _axis_blend(size: int, tiles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    edges = tile_edges(size, tiles)
    centres = (edges[:-1] + edges[1:] - 1) / 2.0
    pos = np.arange(size, dtype=np.float64)
    lo = np.clip(np.searchsorted(centres, pos, side="right") - 1, 0, tiles - 1)
    hi = np.minimum(lo + 1, tiles - 1)
    span = np.where(hi > lo, centres[hi] - centres[lo], 1.0)
    # Before the first and after the last centre the weight clips to 0: one region only.
    weight = np.clip((pos - centres[lo]) / span, 0.0, 1.0) * (hi > lo)
    return lo, hi - lo, weight.astype(np.float32)


def tile_grid(shape: tuple[int, int], tiles: int) -> TileGrid:
    """Compute the blending data of :func:`apply_tile_luts` for frames of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)``.
    tiles : int
        Regions per side.

    Returns
    -------
    TileGrid
        Arrays shared by every frame of that shape.
    """
    height, width = shape
    row, drow, wy = _axis_blend(height, tiles)
    col, dcol, wx = _axis_blend(width, tiles)
    base = ((row[:, None] * tiles + col[None, :]) * 256).astype(np.intp)
    return TileGrid(
        base=base,
        dx=(dcol * 256).astype(np.intp),
        dy=(drow * tiles * 256).astype(np.intp)[:, None],
        wx=wx,
        wy=wy[:, None],
    )


def apply_tile_luts(frame: np.ndarray, luts: np.ndarray, grid: TileGrid) -> np.ndarray:
    """Map a frame through the tile tables, blending the four nearest regions bilinearly.

    Parameters
    ----------
    frame : numpy.ndarray
        ``(height, width)`` or ``(height, width, channels)`` uint8; each channel is mapped
        with the same tables and weights.
    luts : numpy.ndarray
        ``(tiles * tiles * 256,)`` float32 flattened tile tables.
    grid : TileGrid
        From :func:`tile_grid` for this frame's height and width.

    Returns
    -------
    numpy.ndarray
        uint8 frame of the same shape, rounded to nearest.
    """
    base, dx, dy, wx, wy = grid.base, grid.dx, grid.dy, grid.wx, grid.wy
    if frame.ndim == 3:
        base, dx, dy, wx, wy = (
            base[..., None],
            dx[:, None],
            dy[..., None],
            wx[:, None],
            wy[..., None],
        )
    index = base + frame
    # Walk the index around the four neighbours in place: fewer temporaries on big frames.
    top = luts.take(index)
    index += dx
    right = luts.take(index)
    index += dy
    bottom_right = luts.take(index)
    index -= dx
    bottom = luts.take(index)
    right -= top
    right *= wx
    top += right
    bottom_right -= bottom
    bottom_right *= wx
    bottom += bottom_right
    bottom -= top
    bottom *= wy
    top += bottom
    top += np.float32(0.5)
    return top.astype(np.uint8)
