"""Per-frame, per-keypoint outlier signals of a predictions table (pure numpy).

Each signal answers one question a person asks when a track looks wrong, and each is
kept separately so the outlier dock can say *why* a frame is flagged:

``likelihood``
    The network itself is unsure (likelihood below ``p_bound``).
``jump``
    A keypoint moved more than ``epsilon`` pixels since the previous frame (DLC's "jump").
``residual``
    A keypoint is far from its smoothed trajectory (running median or Savitzky-Golay):
    one-frame glitches and short swaps stand out, genuine fast motion does not.
``shape``
    Distances between keypoints are implausible compared with the labelled frames
    (robust z-score, median/MAD per keypoint pair; a keypoint scores its worst pair):
    catches swaps and the slow drifts that frame-to-frame tests cannot see.
``disagreement``
    Several models' predictions differ by more than ``disagreement_px`` pixels.

Every signal is normalised to *its own threshold*: ``1.0`` means "exactly at the
threshold", so a value of 1 or more flags the frame on its own, and signals measured in
pixels, probabilities and z-scores can be compared and summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np

from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.model.outliers import SCORE_KINDS, keypoint_label

__all__ = [
    "OutlierScores",
    "OutlierSettings",
    "ShapeReference",
    "score_table",
    "shape_reference",
    "smooth",
]

_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


@dataclass(frozen=True)
class OutlierSettings:
    """Thresholds of the outlier signals and how they are combined.

    Attributes
    ----------
    kinds : tuple of str
        Signals to compute (a subset of ``SCORE_KINDS``).
    p_bound : float
        Likelihood threshold. The default is DLC's ``pcutoff`` default (0.6): DLC's
        outlier default ``p_bound=0.01`` only catches near-zero likelihoods.
    epsilon : float
        Jump threshold in pixels (DLC's default, 20).
    residual_px : float
        Distance from the smoothed trajectory that flags a keypoint. Half of
        ``epsilon`` by default: the smoother has already removed genuine motion.
    smoother : {"median", "savgol"}
        Running median (robust to glitches up to ``window // 2`` frames long) or
        Savitzky-Golay (follows fast genuine motion better).
    window : int
        Smoother window in frames (odd).
    savgol_order : int
        Polynomial order of the Savitzky-Golay filter.
    shape_z : float
        Robust z-score of a keypoint-pair distance that flags a keypoint (3.5, the
        Iglewicz-Hoaglin cut-off for modified z-scores).
    shape_min_px : float
        Lower bound of a pair's spread, so rigid pairs labelled with sub-pixel
        consistency do not flag every pixel of noise.
    disagreement_px : float
        Distance between models that flags a keypoint.
    cap : float
        Each normalised signal is capped here before summing, so one absurd value
        (a 500 px jump) cannot hide frames flagged by several signals.
    threshold : float
        A frame enters the queue when its strongest signal reaches this (1.0: at its
        threshold; 0 ranks every frame).
    merge_gap : int
        Flagged frames at most this far apart form one run, shown as its worst frame.
    max_run : int
        A run spanning more frames than this is cut into pieces this long, each shown
        as its worst frame: a long stretch the network gets wrong needs several
        corrected frames, not one.
    """

    kinds: tuple[str, ...] = SCORE_KINDS
    p_bound: float = 0.6
    epsilon: float = 20.0
    residual_px: float = 10.0
    smoother: str = "median"
    window: int = 7
    savgol_order: int = 2
    shape_z: float = 3.5
    shape_min_px: float = 2.0
    disagreement_px: float = 10.0
    cap: float = 4.0
    threshold: float = 1.0
    merge_gap: int = 1
    max_run: int = 10

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(SCORE_KINDS)
        if unknown:
            raise ValueError(f"unknown outlier signal(s) {sorted(unknown)}; use {SCORE_KINDS}")
        if self.smoother not in ("median", "savgol"):
            raise ValueError(f"smoother must be 'median' or 'savgol', not {self.smoother!r}")
        if self.window < 3 or self.window % 2 == 0:
            raise ValueError(f"smoother window must be odd and at least 3, not {self.window}")
        if self.max_run < 1:
            raise ValueError(f"max_run must be at least 1 frame, not {self.max_run}")
        if not 0 < self.p_bound < 1:
            raise ValueError(f"p_bound must lie between 0 and 1, not {self.p_bound}")
        for name in ("epsilon", "residual_px", "shape_z", "shape_min_px", "disagreement_px"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.smoother == "savgol" and not 0 <= self.savgol_order < self.window:
            raise ValueError("savgol_order must be smaller than the window")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (stored in the queue sidecar)."""
        out = asdict(self)
        out["kinds"] = list(self.kinds)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutlierSettings:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "kinds" in kwargs:
            kwargs["kinds"] = tuple(kwargs["kinds"])
        return cls(**kwargs)


@dataclass(frozen=True)
class ShapeReference:
    """Typical distance of each keypoint pair in the labelled frames.

    Attributes
    ----------
    keypoints : list of str
        Keypoint labels.
    pairs : list of (int, int)
        Indices into ``keypoints``.
    median : ndarray
        Median distance of each pair, pixels.
    scale : ndarray
        Robust spread (1.4826 × MAD) of each pair's distance, pixels.
    n_frames : int
        Labelled frames the reference comes from.
    """

    keypoints: list[str]
    pairs: list[tuple[int, int]]
    median: np.ndarray
    scale: np.ndarray
    n_frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "keypoints": list(self.keypoints),
            "pairs": [list(p) for p in self.pairs],
            "median": [round(float(v), 4) for v in self.median],
            "scale": [round(float(v), 4) for v in self.scale],
            "n_frames": int(self.n_frames),
        }


def shape_reference(labels: Sequence[KeypointTable], min_frames: int = 3) -> ShapeReference:
    """Pair distances of labelled keypoints, as median and robust spread.

    Parameters
    ----------
    labels : sequence of KeypointTable
        The project's labels (one table per labeled-data folder), same keypoints.
    min_frames : int
        Pairs labelled together in fewer frames get no reference.

    Returns
    -------
    ShapeReference
        Multi-animal tables pair keypoints of the same individual only.
    """
    if not labels:
        return ShapeReference([], [], np.zeros(0), np.zeros(0), 0)
    first = labels[0]
    xy = np.concatenate([t.xy for t in labels if t.keypoints == first.keypoints], axis=0)
    pairs, medians, scales = [], [], []
    for i, j in _pairs(first.keypoints):
        d = np.linalg.norm(xy[:, i] - xy[:, j], axis=1)
        d = d[np.isfinite(d)]
        if len(d) >= min_frames:
            med = float(np.median(d))
            pairs.append((i, j))
            medians.append(med)
            scales.append(_MAD_TO_SIGMA * float(np.median(np.abs(d - med))))
    return ShapeReference(
        [keypoint_label(k) for k in first.keypoints],
        pairs,
        np.asarray(medians),
        np.asarray(scales),
        len(xy),
    )


def _pairs(keypoints: Sequence[tuple[str, str]]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i in range(len(keypoints))
        for j in range(i + 1, len(keypoints))
        if keypoints[i][0] == keypoints[j][0]
    ]


@dataclass
class OutlierScores:
    """The signals of every frame and keypoint.

    Attributes
    ----------
    frames : ndarray of int
        Frame number of each row.
    keypoints : list of str
        Keypoint labels (columns).
    per_keypoint : dict
        Kind -> ``(n_frames, n_keypoints)`` normalised score (1.0 = at threshold).
    raw : dict
        Kind -> the same in natural units: ``likelihood`` (probability), ``jump``,
        ``residual`` and ``disagreement`` (pixels), ``shape`` (robust z-score).
    settings : OutlierSettings
        How they were computed.
    """

    frames: np.ndarray
    keypoints: list[str]
    per_keypoint: dict[str, np.ndarray]
    raw: dict[str, np.ndarray]
    settings: OutlierSettings = field(default_factory=OutlierSettings)

    @cached_property
    def by_frame(self) -> dict[str, np.ndarray]:
        """Kind -> ``(n_frames,)`` normalised score: the worst keypoint's."""
        return {k: _row_max(v) for k, v in self.per_keypoint.items()}

    @cached_property
    def combined(self) -> np.ndarray:
        """Sum over kinds of each frame's capped normalised score: the ranking score."""
        total = np.zeros(len(self.frames))
        for value in self.by_frame.values():
            total += np.minimum(value, self.settings.cap)
        return total

    @cached_property
    def strongest(self) -> np.ndarray:
        """Each frame's highest normalised score over kinds (what the threshold tests)."""
        out = np.zeros(len(self.frames))
        for value in self.by_frame.values():
            np.maximum(out, value, out=out)
        return out


def _row_max(values: np.ndarray) -> np.ndarray:
    # Column by column: a ufunc reduction over a 4-wide axis is several times slower.
    out = np.zeros(len(values))
    for c in range(values.shape[1]):
        np.maximum(out, values[:, c], out=out)
    return out


def _norm(vectors: np.ndarray) -> np.ndarray:
    """Length of ``(..., 2)`` vectors (``np.linalg.norm`` reduces slowly over 2 elements)."""
    return np.sqrt(vectors[..., 0] ** 2 + vectors[..., 1] ** 2)


def _fill_gaps(series: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward (then the first one backward), per column."""
    bad = ~np.isfinite(series)
    if not bad.any():
        return series
    n = len(series)
    idx = np.where(~bad, np.arange(n)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = series[idx, np.arange(series.shape[1])]
    first_ok = np.argmax(~bad, axis=0)
    lead = np.arange(n)[:, None] < first_ok[None, :]
    out = np.where(lead, series[first_ok, np.arange(series.shape[1])], out)
    return np.nan_to_num(out)  # columns that are all NaN


def _savgol_coefficients(window: int, order: int) -> np.ndarray:
    half = window // 2
    powers = np.arange(-half, half + 1, dtype=float)[:, None] ** np.arange(order + 1)
    return np.linalg.pinv(powers)[0]  # value of the fitted polynomial at the centre


def smooth(
    series: np.ndarray, window: int = 7, method: str = "median", order: int = 2
) -> np.ndarray:
    """Smooth each column of ``series`` along time (edges padded with the end values).

    Parameters
    ----------
    series : ndarray, shape (n, m)
        Time along the first axis; NaNs are filled from the previous value first.
    window : int
        Odd window length in frames.
    method : {"median", "savgol"}
        Running median or Savitzky-Golay.
    order : int
        Savitzky-Golay polynomial order.

    Returns
    -------
    ndarray, shape (n, m)
    """
    from numpy.lib.stride_tricks import sliding_window_view

    series = _fill_gaps(np.asarray(series, dtype=float))
    half = window // 2
    padded = np.pad(series, ((half, half), (0, 0)), mode="edge")
    windows = sliding_window_view(padded, window, axis=0)  # (n, m, window), no copy
    if method == "savgol":
        return windows @ _savgol_coefficients(window, order)
    # A partition finds the middle element without sorting all of them.
    return np.partition(windows, half, axis=-1)[..., half]


def _aligned(primary: KeypointTable, other: KeypointTable) -> np.ndarray:
    """``other``'s xy on ``primary``'s rows and keypoints (NaN where it has none)."""
    if other.keypoints == primary.keypoints and other.index == primary.index:
        return other.xy
    out = np.full(primary.xy.shape, np.nan)
    rows = {key: r for r, key in enumerate(other.index)}
    take = np.array([rows.get(key, -1) for key in primary.index])
    cols = {kp: c for c, kp in enumerate(other.keypoints)}
    for k, kp in enumerate(primary.keypoints):
        c = cols.get(kp)
        if c is not None:
            found = take >= 0
            out[found, k] = other.xy[take[found], c]
    return out


def score_table(
    table: KeypointTable,
    settings: OutlierSettings | None = None,
    *,
    reference: ShapeReference | None = None,
    others: Sequence[KeypointTable] = (),
) -> OutlierScores:
    """Compute every outlier signal of a predictions table.

    Parameters
    ----------
    table : KeypointTable
        Predictions, one row per frame in time order (likelihood used when present).
    settings : OutlierSettings, optional
        Thresholds; defaults otherwise.
    reference : ShapeReference, optional
        Pair distances from the labelled frames; without it ``shape`` is not computed.
    others : sequence of KeypointTable
        Other models' predictions of the same video; without them ``disagreement`` is
        not computed.

    Returns
    -------
    OutlierScores
        Only the kinds that could be computed are present.
    """
    s = settings or OutlierSettings()
    xy = table.xy
    n, k = xy.shape[:2]
    raw: dict[str, np.ndarray] = {}
    norm: dict[str, np.ndarray] = {}
    if "likelihood" in s.kinds and table.has_likelihood:
        p = np.nan_to_num(table.likelihood, nan=0.0)  # no prediction: as unsure as can be
        raw["likelihood"] = p
        norm["likelihood"] = np.clip(1.0 - p, 0.0, 1.0) / (1.0 - s.p_bound)
    if "jump" in s.kinds:
        step = np.zeros((n, k))
        if n > 1:
            step[1:] = np.nan_to_num(_norm(np.diff(xy, axis=0)))
        raw["jump"] = step
        norm["jump"] = step / s.epsilon
    if "residual" in s.kinds and n >= s.window:
        flat = xy.reshape(n, 2 * k)
        fitted = smooth(flat, s.window, s.smoother, s.savgol_order).reshape(n, k, 2)
        dist = np.nan_to_num(_norm(xy - fitted))
        raw["residual"] = dist
        norm["residual"] = dist / s.residual_px
    if "shape" in s.kinds and reference is not None and reference.pairs:
        raw["shape"] = _shape_z(table, reference, s.shape_min_px)
        norm["shape"] = raw["shape"] / s.shape_z
    if "disagreement" in s.kinds and others:
        dists = np.stack([_norm(xy - _aligned(table, o)) for o in others])
        # The median over the other models: one broken model should not flag everything.
        dist = np.nan_to_num(np.nanmedian(dists, axis=0)) if len(others) > 1 else dists[0]
        raw["disagreement"] = np.nan_to_num(dist)
        norm["disagreement"] = raw["disagreement"] / s.disagreement_px
    frames = np.asarray(table.index, dtype=np.int64) if n else np.zeros(0, np.int64)
    labels = [keypoint_label(kp) for kp in table.keypoints]
    order = [kind for kind in SCORE_KINDS if kind in norm]
    return OutlierScores(
        frames, labels, {kind: norm[kind] for kind in order}, {kind: raw[kind] for kind in order}, s
    )


def _shape_z(table: KeypointTable, reference: ShapeReference, min_px: float) -> np.ndarray:
    """Per keypoint: the worst robust z-score of the pairs it belongs to."""
    labels = [keypoint_label(kp) for kp in table.keypoints]
    where = {label: i for i, label in enumerate(labels)}
    xy = table.xy
    n = len(table)
    pair_cols: list[tuple[int, int]] = []
    z_cols = []
    for (a, b), med, scale in zip(reference.pairs, reference.median, reference.scale, strict=True):
        i, j = where.get(reference.keypoints[a]), where.get(reference.keypoints[b])
        if i is None or j is None:
            continue
        d = _norm(xy[:, i] - xy[:, j])
        z_cols.append(np.nan_to_num(np.abs(d - med) / max(float(scale), min_px)))
        pair_cols.append((i, j))
    out = np.zeros((n, len(labels)))
    if not z_cols:
        return out
    z = np.stack(z_cols, axis=1)
    for kp in range(len(labels)):
        mine = [c for c, (i, j) in enumerate(pair_cols) if kp in (i, j)]
        if mine:
            # A frame's shape is implausible when any one pair is: a keypoint scores its
            # worst pair. Both members of that pair then score alike; a hundredth of the
            # median over the keypoint's pairs names first the one whose other pairs are
            # off too (a misplaced keypoint spoils all of its pairs, its partner one).
            out[:, kp] = z[:, mine].max(axis=1) + 0.01 * _median_columns(z[:, mine])
    return out


def _median_columns(values: np.ndarray) -> np.ndarray:
    """Row-wise median; three columns (four keypoints) without a partition."""
    if values.shape[1] == 1:
        return values[:, 0]
    if values.shape[1] == 3:
        a, b, c = values.T
        return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    return np.median(values, axis=1)
