"""Numbers about predicted trajectories: reliable runs, fraction above p-cutoff, speed.

Everything works on whole arrays (one ``rows × keypoints`` pass per figure), so a
100 000-frame video is summarised in milliseconds. A point is *reliable* when its
coordinates are finite and its likelihood is strictly above the p-cutoff, as in
DLC's own plots (``likelihood > pcutoff``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_dlc_workbench.model.keypoints import KeypointTable

__all__ = ["KeypointSummary", "reliable", "runs", "summarize"]


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Find the runs of True in a boolean vector.

    Parameters
    ----------
    mask : ndarray of bool, shape (n,)
        E.g. "likelihood below p-cutoff" per frame.

    Returns
    -------
    starts, stops : ndarray of int
        Half-open runs ``[starts[i], stops[i])`` in increasing order.
    """
    mask = np.asarray(mask, dtype=bool).ravel()
    # Pad with False so a run touching either end still has both edges.
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).view(np.int8)))
    return edges[0::2], edges[1::2]


def reliable(data: np.ndarray, pcutoff: float) -> np.ndarray:
    """Say which points can be trusted: finite coordinates and likelihood above ``pcutoff``.

    Parameters
    ----------
    data : ndarray, shape (..., 3)
        x, y, likelihood (e.g. ``KeypointTable.data``).
    pcutoff : float
        The project's p-cutoff.

    Returns
    -------
    ndarray of bool, shape ``data.shape[:-1]``
    """
    data = np.asarray(data)
    finite = np.isfinite(data[..., :2]).all(axis=-1)
    with np.errstate(invalid="ignore"):
        return finite & (data[..., 2] > pcutoff)


@dataclass(frozen=True)
class KeypointSummary:
    """How well one keypoint was tracked through a video.

    Attributes
    ----------
    individual, bodypart : str
        The keypoint (``individual`` is ``""`` for single-animal projects).
    fraction_above : float
        Fraction of the frames whose prediction is reliable (likelihood above the
        p-cutoff); frames without a prediction count as not reliable.
    median_speed : float
        Median distance moved between consecutive frames, in px/frame, over pairs of
        consecutive frames that are both reliable; NaN when there is no such pair.
    n_frames : int
        Number of frames (rows) summarised.
    """

    individual: str
    bodypart: str
    fraction_above: float
    median_speed: float
    n_frames: int


def summarize(
    table: KeypointTable, pcutoff: float, frames: np.ndarray | None = None
) -> list[KeypointSummary]:
    """Summarise each keypoint: fraction of reliable frames and median speed.

    Speed only uses pairs of consecutive frames that are both reliable: the
    positions of a failed detection jump about the image and would measure the
    network's noise, not the animal.

    Parameters
    ----------
    table : KeypointTable
        Predictions, one row per frame.
    pcutoff : float
        The project's p-cutoff.
    frames : ndarray of int, optional
        Frame number of each row; defaults to the table's integer row keys. Rows
        that are not one frame apart are never paired for speed.

    Returns
    -------
    list of KeypointSummary
        One per keypoint, in the table's column order.
    """
    ok = reliable(table.data, pcutoff)
    n = len(table)
    if frames is None:
        frames = np.asarray(table.index, dtype=np.int64)
    consecutive = np.diff(frames) == 1
    step = np.linalg.norm(np.diff(table.xy, axis=0), axis=2)  # (n - 1, K)
    pair_ok = ok[1:] & ok[:-1] & consecutive[:, None]
    speeds = np.where(pair_ok, step, np.nan)
    out = []
    for k, (individual, bodypart) in enumerate(table.keypoints):
        column = speeds[:, k]
        column = column[np.isfinite(column)]
        out.append(
            KeypointSummary(
                individual=individual,
                bodypart=bodypart,
                fraction_above=float(ok[:, k].mean()) if n else 0.0,
                median_speed=float(np.median(column)) if len(column) else float("nan"),
                n_frames=n,
            )
        )
    return out
