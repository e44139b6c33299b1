"""Learning-curve arithmetic: nested subsets, one test set, DLC's padding, the stop rule."""

from __future__ import annotations

import math

import pytest

from napari_dlc_workbench.process.learning_curve import (
    check_fractions,
    curve_flattened,
    padded_split,
    plan_subsets,
    split_sizes,
)


def test_fractions_are_checked_and_sorted() -> None:
    assert check_fractions([1.0, 0.25, 0.5]) == [0.25, 0.5, 1.0]
    for bad in ([0.0, 1.0], [0.5, 1.5], [-0.25], [math.nan]):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            check_fractions(bad)
    with pytest.raises(ValueError, match="repeat"):
        check_fractions([0.5, 0.5])
    with pytest.raises(ValueError, match="at least one"):
        check_fractions([])


def test_split_sizes_follow_dlc() -> None:
    # DLC's SplitTrials: int(n * fraction) for training, the rest for testing.
    assert split_sizes(140, 0.95) == (133, 7)  # the users' 133 train / 7 test
    assert split_sizes(20, 0.95) == (19, 1)
    assert split_sizes(100, 0.29) == (29, 71)  # 0.29 * 100 is 28.999... in floats
    with pytest.raises(ValueError, match="label more frames"):
        split_sizes(1, 0.5)  # no frame left for training
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        split_sizes(10, 1.0)


def test_subsets_are_nested_and_share_one_test_set() -> None:
    plan = plan_subsets(140, [1.0, 0.25, 0.75, 0.5], train_fraction=0.95, seed=3)
    assert plan.fractions == (0.25, 0.5, 0.75, 1.0)
    assert len(plan.test) == 7 and plan.n_pool == 133
    assert [len(s) for s in plan.subsets] == [33, 67, 100, 133]  # half rounds up: 66.5 -> 67
    test = set(plan.test)
    for smaller, larger in zip(plan.subsets, plan.subsets[1:], strict=False):
        assert set(smaller) < set(larger)
    for subset in plan.subsets:
        assert not test & set(subset)
        assert list(subset) == sorted(subset)
    assert test | set(plan.subsets[-1]) == set(range(140))


def test_the_seed_decides_the_draw() -> None:
    first = plan_subsets(40, [0.5, 1.0], train_fraction=0.8, seed=1)
    assert plan_subsets(40, [0.5, 1.0], train_fraction=0.8, seed=1) == first
    other = plan_subsets(40, [0.5, 1.0], train_fraction=0.8, seed=2)
    assert other.test != first.test
    # More fractions do not change the test set or the subsets both plans have.
    more = plan_subsets(40, [0.25, 0.5, 1.0], train_fraction=0.8, seed=1)
    assert more.test == first.test and more.subsets[1:] == first.subsets


def test_too_few_frames_and_colliding_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="too few labelled frames: 0.05 of the 19 training"):
        plan_subsets(20, [0.05, 1.0], train_fraction=0.95)
    with pytest.raises(ValueError, match="0.5 and 0.52 both give 5 of the 10"):
        plan_subsets(11, [0.5, 0.52, 1.0], train_fraction=0.95, min_frames=1)


@pytest.mark.parametrize("fraction", [0.5, 0.8, 0.95, 0.99])
def test_padding_files_any_split_under_the_project_fraction(fraction: float) -> None:
    for n_train in range(1, 60, 7):
        for n_test in range(1, 12, 3):
            train, test = list(range(n_train)), list(range(100, 100 + n_test))
            padded_train, padded_test = padded_split(train, test, fraction)
            # The rule create_training_dataset applies to explicit indices.
            total = len(padded_train) + len(padded_test)
            assert round(len(padded_train) / total, 2) == fraction
            assert [i for i in padded_train if i != -1] == train
            assert [i for i in padded_test if i != -1] == test
    assert padded_split([1, 2, 3], [4], 0.75) == ([1, 2, 3], [4])  # nothing to pad
    with pytest.raises(ValueError):
        padded_split([1], [2], 1.0)


def test_flatten_rule() -> None:
    flat, note = curve_flattened([9.0, 5.0, 3.40, 3.20])  # 0.2 px, 6 %
    assert flat is True and "0.20 px (6 %)" in note
    flat, note = curve_flattened([9.0, 3.40, 2.80])  # 0.6 px but 18 %
    assert flat is False and "still improving" in note
    flat, _ = curve_flattened([40.0, 32.0, 30.0])  # 6 % but 2 px
    assert flat is False
    flat, note = curve_flattened([5.0, 4.0, 4.5])  # worse: noise dominates
    assert flat is True and "did not lower" in note
    assert curve_flattened([3.0])[0] is None
    assert curve_flattened([3.0, math.nan])[0] is None
    # The bounds are parameters.
    assert curve_flattened([3.40, 3.20], rel=0.05)[0] is False
