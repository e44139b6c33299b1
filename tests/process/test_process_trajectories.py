"""Trajectory numbers: reliable runs, fraction above p-cutoff, median speed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.process.trajectories import reliable, runs, summarize


@pytest.mark.parametrize(
    ("mask", "starts", "stops"),
    [
        ([], [], []),
        ([0, 0, 0], [], []),
        ([1, 1, 1], [0], [3]),
        ([1, 0, 0, 1, 1, 0, 1], [0, 3, 6], [1, 5, 7]),
        ([0, 1, 1, 0], [1], [3]),
    ],
)
def test_runs_are_half_open_and_touch_the_ends(mask, starts, stops) -> None:
    got_starts, got_stops = runs(np.array(mask, dtype=bool))
    assert got_starts.tolist() == starts and got_stops.tolist() == stops


def test_reliable_needs_finite_xy_and_likelihood_strictly_above() -> None:
    data = np.array([[[1, 2, 0.61], [1, 2, 0.6], [np.nan, 2, 0.99], [1, 2, np.nan]]])
    assert reliable(data, 0.6).tolist() == [[True, False, False, False]]


def table(xy: np.ndarray, likelihood: np.ndarray, index=None) -> KeypointTable:
    data = np.concatenate([xy, likelihood[..., None]], axis=2)
    keypoints = [("", f"bp{k}") for k in range(xy.shape[1])]
    return KeypointTable("DLC_x", index or range(len(xy)), keypoints, data, True)


def test_fraction_above_and_median_speed() -> None:
    n = 10
    xy = np.zeros((n, 2, 2))
    xy[:, 0, 0] = 3.0 * np.arange(n)  # bp0 moves 3 px/frame along x
    xy[:, 1, 1] = np.arange(n) ** 2  # bp1 accelerates along y: steps 1, 3, 5, ...
    lik = np.full((n, 2), 0.9)
    lik[4, 0] = 0.1  # one unreliable frame of bp0: 2 of its 9 pairs are dropped
    lik[:, 1][[0, 9]] = 0.2
    s0, s1 = summarize(table(xy, lik), pcutoff=0.6)
    assert (s0.bodypart, s0.n_frames) == ("bp0", n)
    assert s0.fraction_above == pytest.approx(0.9)
    assert s0.median_speed == pytest.approx(3.0)
    # bp1 reliable on frames 1..8: steps 3, 5, ..., 15 -> median 9.
    assert s1.fraction_above == pytest.approx(0.8)
    assert s1.median_speed == pytest.approx(9.0)


def test_jumps_of_unreliable_frames_do_not_count_as_speed() -> None:
    xy = np.zeros((6, 1, 2))
    xy[3] = 500.0  # a failed detection jumps across the image
    lik = np.array([0.9, 0.9, 0.9, 0.05, 0.9, 0.9])[:, None]
    [s] = summarize(table(xy, lik), pcutoff=0.6)
    assert s.median_speed == 0.0


def test_rows_that_are_not_consecutive_frames_are_not_paired() -> None:
    xy = np.zeros((3, 1, 2))
    xy[:, 0, 0] = [0.0, 1.0, 100.0]
    lik = np.full((3, 1), 0.9)
    [s] = summarize(table(xy, lik, index=[0, 1, 50]), pcutoff=0.6)
    assert s.median_speed == 1.0


def test_no_reliable_pair_gives_nan_speed() -> None:
    xy = np.zeros((4, 1, 2))
    lik = np.array([0.9, 0.1, 0.9, 0.1])[:, None]
    [s] = summarize(table(xy, lik), pcutoff=0.6)
    assert math.isnan(s.median_speed) and s.fraction_above == 0.5
