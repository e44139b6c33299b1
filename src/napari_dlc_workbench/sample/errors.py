"""Predictions with known mistakes: ground-truth tracks plus injected tracking errors.

Used to measure how well outlier detectors find the frames a person should correct
(tests and ``benchmarks/bench_outliers.py``). Four kinds of error, each one a thing DLC
networks really do:

``jump``
    one keypoint lands on something else for one frame (confident: likelihood stays high);
``swap``
    two keypoints exchange places for 1-3 frames (confident);
``low_likelihood``
    the network is unsure for one frame: likelihood 0.001-0.3 on one or two keypoints,
    whose positions wobble by a few pixels;
``drift``
    one keypoint slides away and back over 16 frames (up to 12-25 px), smoothly, with
    high likelihood: invisible to frame-to-frame tests.

Everything else is the ground truth plus 1 px of noise, likelihood 0.85-1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ERROR_KINDS", "InjectedError", "evaluate_flags", "inject_errors"]

ERROR_KINDS: tuple[str, ...] = ("jump", "swap", "low_likelihood", "drift")
_LENGTH = {"jump": 1, "swap": 3, "low_likelihood": 1, "drift": 16}
_MIN_GAP = 4  # frames between two errors, so that each can be told apart
_VISIBLE_PX = 3.0  # a drift frame counts as wrong once it is this far off (3 noise sigmas)


@dataclass(frozen=True)
class InjectedError:
    """One injected error.

    Attributes
    ----------
    kind : str
        One of :data:`ERROR_KINDS`.
    first, last : int
        Frames where the prediction is wrong (inclusive).
    keypoints : tuple of int
        Keypoint columns affected.
    size : float
        Largest displacement in pixels (likelihood for ``low_likelihood``).
    """

    kind: str
    first: int
    last: int
    keypoints: tuple[int, ...]
    size: float


def inject_errors(
    truth: np.ndarray, n_per_kind: int = 20, *, seed: int = 0, noise_px: float = 1.0
) -> tuple[np.ndarray, list[InjectedError]]:
    """Make predictions from ground truth with ``n_per_kind`` errors of each kind.

    Parameters
    ----------
    truth : ndarray, shape (n_frames, n_keypoints, 2)
        Ground-truth x, y.
    n_per_kind : int
        Errors of each kind.
    seed : int
        Random seed.
    noise_px : float
        Standard deviation of the noise added to every coordinate.

    Returns
    -------
    data : ndarray, shape (n_frames, n_keypoints, 3)
        x, y, likelihood.
    errors : list of InjectedError
        In frame order.

    Raises
    ------
    ValueError
        If the track is too short to hold the errors apart.
    """
    rng = np.random.default_rng(seed)
    n, k = truth.shape[:2]
    kinds = [kind for kind in ERROR_KINDS for _ in range(n_per_kind)]
    rng.shuffle(kinds)
    lengths = np.array([_LENGTH[kind] for kind in kinds])
    spare = n - lengths.sum() - (len(kinds) + 1) * _MIN_GAP
    if spare < 0:
        raise ValueError(f"{n} frames cannot hold {len(kinds)} separate errors")
    gaps = _MIN_GAP + rng.multinomial(spare, np.full(len(kinds) + 1, 1 / (len(kinds) + 1)))
    starts = np.cumsum(gaps[:-1]) + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    data = np.empty((n, k, 3))
    data[..., :2] = truth + rng.normal(0, noise_px, truth.shape)
    data[..., 2] = rng.uniform(0.85, 1.0, (n, k))
    errors = [
        _inject(kind, int(start), data, truth, rng)
        for kind, start in zip(kinds, starts, strict=True)
    ]
    return data, errors


def _inject(
    kind: str, start: int, data: np.ndarray, truth: np.ndarray, rng: np.random.Generator
) -> InjectedError:
    k = data.shape[1]
    if kind == "jump":
        kp = int(rng.integers(k))
        size = float(rng.uniform(30, 60))
        angle = rng.uniform(0, 2 * np.pi)
        data[start, kp, :2] += size * np.array([np.cos(angle), np.sin(angle)])
        return InjectedError(kind, start, start, (kp,), size)
    if kind == "swap":
        length = int(rng.integers(1, 4))
        frames = slice(start, start + length)
        dist = np.linalg.norm(truth[start, :, None] - truth[start, None, :], axis=-1)
        a, b = np.unravel_index(np.argmax(dist * rng.uniform(0.5, 1, dist.shape)), dist.shape)
        data[frames, [a, b], :2] = data[frames, [b, a], :2]
        return InjectedError(kind, start, start + length - 1, (int(a), int(b)), float(dist[a, b]))
    if kind == "low_likelihood":
        kps = tuple(int(i) for i in rng.choice(k, size=int(rng.integers(1, 3)), replace=False))
        p = rng.uniform(0.001, 0.3, len(kps))
        data[start, kps, 2] = p
        data[start, kps, :2] += rng.normal(0, 4.0, (len(kps), 2))
        return InjectedError(kind, start, start, kps, float(p.min()))
    kp = int(rng.integers(k))
    size = float(rng.uniform(12, 25))
    angle = rng.uniform(0, 2 * np.pi)
    length = _LENGTH["drift"]
    tent = size * (1 - np.abs(np.linspace(-1, 1, length)))
    data[start : start + length, kp, :2] += tent[:, None] * [np.cos(angle), np.sin(angle)]
    visible = np.flatnonzero(tent >= _VISIBLE_PX)
    return InjectedError(kind, start + int(visible[0]), start + int(visible[-1]), (kp,), size)


def evaluate_flags(
    frames: Iterable[int], errors: Sequence[InjectedError], *, tolerance: int = 1
) -> dict[str, object]:
    """Precision and recall of a set of flagged frames against the injected errors.

    An error is *found* when a flagged frame lies within ``tolerance`` frames of it
    (the frame after a glitch is flagged by any jump test: the keypoint jumps back). A
    flagged frame is a *true* flag when it lies within ``tolerance`` of some error.

    Parameters
    ----------
    frames : iterable of int
        Flagged frames (a detector's output or a queue's top rows).
    errors : sequence of InjectedError
        What was injected.
    tolerance : int
        Frames of slack on each side of an error.

    Returns
    -------
    dict
        ``n_flagged``, ``precision`` (true flags / flags), ``recall`` (errors found /
        errors), and per kind ``recall`` and ``precision`` (that kind's true flags over
        them plus the flags matching no error: the precision if only that kind of error
        existed).
    """
    flagged = np.unique(np.fromiter((int(f) for f in frames), dtype=np.int64))
    owner = np.full(len(flagged), -1)
    found = np.zeros(len(errors), dtype=bool)
    for e, err in enumerate(errors):
        near = (flagged >= err.first - tolerance) & (flagged <= err.last + tolerance)
        found[e] = near.any()
        owner[near & (owner < 0)] = e
    false = int((owner < 0).sum())
    kinds = [err.kind for err in errors]
    per_kind = {}
    for kind in dict.fromkeys(kinds):
        mine = np.array([kd == kind for kd in kinds])
        true_k = int(sum(mine[o] for o in owner if o >= 0))
        per_kind[kind] = {
            "recall": round(float(found[mine].mean()), 3),
            "precision": round(true_k / (true_k + false), 3) if true_k + false else None,
            "found": int(found[mine].sum()),
            "injected": int(mine.sum()),
        }
    return {
        "n_flagged": len(flagged),
        "precision": round(1 - false / len(flagged), 3) if len(flagged) else None,
        "recall": round(float(found.mean()), 3) if len(errors) else None,
        "per_kind": per_kind,
    }
