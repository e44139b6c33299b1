"""The arithmetic of a learning curve: nested training subsets, one test set, a stop rule.

A learning curve answers "how many labelled frames do I need?": train the same
network on growing subsets of the labelled frames and measure each on the same
test frames. Everything here is plain numbers (row positions in DLC's merged
``CollectedData``), so it is tested without DLC; :mod:`napari_dlc_workbench.dlc.learning_curve`
runs the training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_FRACTIONS",
    "FLAT_ABS_PX",
    "FLAT_REL",
    "MIN_TRAIN_FRAMES",
    "SubsetPlan",
    "check_fractions",
    "curve_flattened",
    "padded_split",
    "plan_subsets",
    "split_sizes",
]

DEFAULT_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
"""Fractions of the training pool trained by default."""

MIN_TRAIN_FRAMES = 2
"""The smallest subset a curve point may be trained on."""

FLAT_REL = 0.10
"""Flattened: the last step improved the test RMSE by less than this fraction ..."""

FLAT_ABS_PX = 1.0
"""... and by less than this many pixels."""


def check_fractions(fractions: Sequence[float]) -> list[float]:
    """Validate subset fractions and return them sorted.

    Parameters
    ----------
    fractions : sequence of float
        Fractions of the training pool, each in (0, 1].

    Returns
    -------
    list of float
        The fractions in increasing order.

    Raises
    ------
    ValueError
        If there are none, one is outside (0, 1] or not a number, or one repeats.
    """
    values = [float(f) for f in fractions]
    if not values:
        raise ValueError("give at least one fraction of the training frames, e.g. 0.5 1.0")
    bad = [f for f in values if not (math.isfinite(f) and 0.0 < f <= 1.0)]
    if bad:
        raise ValueError(f"fractions must lie in (0, 1], got {bad}")
    if len(set(values)) != len(values):
        raise ValueError(f"fractions repeat: {values}")
    return sorted(values)


def split_sizes(n_labeled: int, train_fraction: float) -> tuple[int, int]:
    """Split ``n_labeled`` frames into pool and test sizes as DLC does.

    DLC's ``SplitTrials`` trains on ``int(n * fraction)`` frames and tests on the
    rest; the tiny epsilon keeps ``0.29 * 100`` from rounding down to 28.

    Parameters
    ----------
    n_labeled : int
        Labelled frames (rows of the merged ``CollectedData``).
    train_fraction : float
        Fraction for training, in (0, 1).

    Returns
    -------
    tuple of int
        ``(n_pool, n_test)``.

    Raises
    ------
    ValueError
        If the fraction is outside (0, 1) or leaves no frame for testing or training.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(
            f"the training fraction must lie in (0, 1) to leave test frames, got {train_fraction}"
        )
    n_pool = int(n_labeled * train_fraction + 1e-9)
    n_test = n_labeled - n_pool
    if n_test < 1 or n_pool < 1:
        raise ValueError(
            f"{n_labeled} labelled frames split at {train_fraction:.2f} leave "
            f"{n_pool} for training and {n_test} for testing; label more frames"
        )
    return n_pool, n_test


@dataclass(frozen=True)
class SubsetPlan:
    """Which labelled frames each point of the curve trains and tests on.

    Attributes
    ----------
    fractions : tuple of float
        Fraction of the training pool per point, increasing.
    test : tuple of int
        Row positions of the test frames, shared by every point (sorted).
    subsets : tuple of tuple of int
        Row positions of each point's training frames (sorted); each contains
        the one before.
    n_labeled : int
        Rows the positions refer to.
    """

    fractions: tuple[float, ...]
    test: tuple[int, ...]
    subsets: tuple[tuple[int, ...], ...]
    n_labeled: int

    @property
    def n_pool(self) -> int:
        """Frames available for training (labelled minus test)."""
        return self.n_labeled - len(self.test)


def plan_subsets(
    n_labeled: int,
    fractions: Sequence[float],
    *,
    train_fraction: float,
    seed: int = 0,
    min_frames: int = MIN_TRAIN_FRAMES,
) -> SubsetPlan:
    """Draw one test set and nested training subsets of the remaining frames.

    One seeded permutation of all rows: its first ``n_test`` rows are the test
    set, the rest is the training pool in drawing order, and the point for
    fraction ``f`` trains on the first ``round(f * n_pool)`` pool rows. So 25 %
    is inside 50 %, and the same seed gives the same plan.

    Parameters
    ----------
    n_labeled : int
        Labelled frames (rows of DLC's merged ``CollectedData``).
    fractions : sequence of float
        Fractions of the training pool, in (0, 1].
    train_fraction : float
        Pool share of all labelled frames (DLC's ``TrainingFraction``); the rest
        is the test set.
    seed : int
        Seed of the permutation.
    min_frames : int
        Fewest training frames a point may have.

    Returns
    -------
    SubsetPlan

    Raises
    ------
    ValueError
        Bad fractions, too few frames for the smallest subset, or two fractions
        that give the same number of frames.
    """
    ordered = check_fractions(fractions)
    n_pool, n_test = split_sizes(n_labeled, train_fraction)
    sizes = [math.floor(f * n_pool + 0.5) for f in ordered]
    if sizes[0] < min_frames:
        raise ValueError(
            f"too few labelled frames: {ordered[0]:g} of the {n_pool} training frames is "
            f"{sizes[0]}, and each subset needs at least {min_frames}; label more frames "
            "or use larger fractions"
        )
    for i in range(1, len(sizes)):
        if sizes[i] == sizes[i - 1]:
            raise ValueError(
                f"fractions {ordered[i - 1]:g} and {ordered[i]:g} both give {sizes[i]} of the "
                f"{n_pool} training frames; "
                "use fewer fractions"
            )
    order = np.random.default_rng(seed).permutation(n_labeled).tolist()
    test, pool = order[:n_test], order[n_test:]
    return SubsetPlan(
        fractions=tuple(ordered),
        test=tuple(sorted(test)),
        subsets=tuple(tuple(sorted(pool[:size])) for size in sizes),
        n_labeled=n_labeled,
    )


def padded_split(
    train: Sequence[int], test: Sequence[int], train_fraction: float
) -> tuple[list[int], list[int]]:
    """Pad a split with ``-1`` so DLC files it under ``train_fraction``.

    DLC names a shuffle made from explicit indices by
    ``round(len(train) / (len(train) + len(test)), 2)`` and drops ``-1`` entries
    before using them (as its own ``create_training_dataset_from_existing_split``
    does). Padding keeps every curve shuffle under the project's
    ``TrainingFraction``, so ``config.yaml`` needs no new fraction.

    Parameters
    ----------
    train, test : sequence of int
        Row positions.
    train_fraction : float
        The fraction the shuffle must be filed under, in (0, 1).

    Returns
    -------
    tuple of list of int
        Padded train and test positions.

    Raises
    ------
    ValueError
        If the fraction is outside (0, 1).
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"cannot file a split with test frames under fraction {train_fraction}")
    train, test = list(train), list(test)
    if round(len(train) / (len(train) + len(test)), 2) == round(train_fraction, 2):
        return train, test
    train_step = int(round(round(train_fraction, 2) * 100))
    test_step = 100 - train_step
    blocks = max(math.ceil(len(train) / train_step), math.ceil(len(test) / test_step), 1)
    return (
        train + [-1] * (blocks * train_step - len(train)),
        test + [-1] * (blocks * test_step - len(test)),
    )


def curve_flattened(
    rmse: Sequence[float], *, rel: float = FLAT_REL, abs_px: float = FLAT_ABS_PX
) -> tuple[bool | None, str]:
    """Say whether more labelled frames still help, from test RMSE per subset size.

    The rule: the curve has flattened when its last step (the largest subset
    against the one before) lowered the test RMSE by less than ``rel`` of the
    previous value AND by less than ``abs_px`` pixels; an RMSE that did not go
    down counts as flat. Both bounds, because 10 % of 30 px is a gain worth
    labelling for, and 1 px of 3 px is too.

    Parameters
    ----------
    rmse : sequence of float
        Test RMSE (pixels) per point, in order of increasing subset size.
    rel : float
        Relative improvement below which the step is flat.
    abs_px : float
        Absolute improvement (pixels) below which the step is flat.

    Returns
    -------
    tuple of (bool or None, str)
        The verdict (None when it cannot be told: fewer than two points, or a
        missing value) and a sentence for the user.
    """
    values = [float(v) for v in rmse]
    if len(values) < 2:
        return None, "one point only: train at least two subset sizes to see a trend"
    before, last = values[-2], values[-1]
    if not (math.isfinite(before) and math.isfinite(last)):
        return None, "the test RMSE of the last two points is missing; no verdict"
    gain = before - last
    if gain <= 0:
        return True, (
            f"flattened: the last step did not lower the test RMSE ({before:.2f} -> "
            f"{last:.2f} px); more frames of the same kind are unlikely to help"
        )
    relative = gain / before if before > 0 else math.inf
    if relative < rel and gain < abs_px:
        return True, (
            f"flattened: the last step lowered the test RMSE by {gain:.2f} px "
            f"({100 * relative:.0f} %), less than {100 * rel:.0f} % and {abs_px:g} px"
        )
    return False, (
        f"still improving: the last step lowered the test RMSE by {gain:.2f} px "
        f"({100 * relative:.0f} %); more labelled frames should help"
    )
