"""Pairing evaluation predictions with labels: errors, order worst first, animal size."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.process.evaluation_errors import animal_size, evaluated_images

BODYPARTS = ["a", "b", "c"]


def _key(n: int) -> tuple[str, str, str]:
    return ("labeled-data", f"video{n % 2}", f"img{n:02d}.png")


def _truth(xy: np.ndarray) -> KeypointTable:
    data = np.concatenate([xy, np.full((*xy.shape[:2], 1), np.nan)], axis=2)
    return KeypointTable(
        "me", [_key(n) for n in range(len(xy))], [("", b) for b in BODYPARTS], data
    )


def _predictions(xy: np.ndarray, likelihood: np.ndarray, order: list[int]) -> KeypointTable:
    # DLC's evaluation file: one "individual_1" level, rows in another order than the labels
    data = np.concatenate([xy, likelihood[..., None]], axis=2)[order]
    return KeypointTable(
        "DLC_x",
        [_key(n) for n in order],
        [("individual_1", b) for b in BODYPARTS],
        data,
        has_likelihood=True,
        multianimal=True,
    )


@pytest.fixture
def pair():
    rng = np.random.default_rng(3)
    truth = rng.uniform(10, 90, (6, 3, 2))
    truth[4, 1] = np.nan  # an unlabelled keypoint
    offsets = rng.normal(0, 1, (6, 3, 2)) * np.array([1, 8, 3, 0.5, 5, 2])[:, None, None]
    predicted = truth + offsets
    predicted[4, 1] = (50, 50)
    likelihood = rng.uniform(0, 1, (6, 3))
    return truth, predicted, likelihood


def test_errors_are_label_to_prediction_distances_and_sorted_worst_first(pair):
    truth, predicted, likelihood = pair
    split = {"train": [0, 2, 3, 5], "test": [1, 4]}
    images = evaluated_images(
        _truth(truth),
        _predictions(predicted, likelihood, [5, 3, 1, 0, 4, 2]),
        split,
        ("test", "train"),
    )
    assert sorted(image.key for image in images) == sorted(_key(n) for n in range(6))
    means = [image.mean_error for image in images]
    assert means == sorted(means, reverse=True)
    for image in images:
        n = int(image.key[2][3:5])
        assert image.split == ("test" if n in (1, 4) else "train")
        np.testing.assert_array_equal(image.truth, truth[n])
        np.testing.assert_array_equal(image.predicted, predicted[n])
        np.testing.assert_array_equal(image.likelihood, likelihood[n])
        expected = np.hypot(*(predicted[n] - truth[n]).T)
        np.testing.assert_allclose(image.error, expected, rtol=0, atol=1e-12)
        assert image.mean_error == pytest.approx(np.nanmean(expected), abs=1e-12)
    unlabelled = next(i for i in images if i.key == _key(4))
    assert math.isnan(unlabelled.error[1])
    k = int(np.nanargmax(unlabelled.error))
    assert unlabelled.worst == (BODYPARTS[k], unlabelled.error[k])


def test_only_the_requested_split_and_images_without_errors_last(pair):
    truth, predicted, likelihood = pair
    predicted[3] = np.nan  # DLC predicted nothing usable on this image
    images = evaluated_images(
        _truth(truth), _predictions(predicted, likelihood, list(range(6))), {"test": [3, 1, 0]}
    )
    assert [i.key for i in images][-1] == _key(3)
    assert math.isnan(images[-1].mean_error) and images[-1].worst is None
    assert {i.split for i in images} == {"test"}
    assert images[0].mean_error >= images[1].mean_error


def test_mismatches_are_reported(pair):
    truth, predicted, likelihood = pair
    preds = _predictions(predicted, likelihood, [0, 1, 2, 3, 4])  # image 5 missing
    with pytest.raises(ValueError, match="img05.png has no prediction"):
        evaluated_images(_truth(truth), preds, {"test": [5]})
    with pytest.raises(ValueError, match="outside the 6 labelled images"):
        evaluated_images(_truth(truth), preds, {"test": [6]})
    renamed = _predictions(predicted, likelihood, list(range(6)))
    renamed.keypoints = [("individual_1", "z"), *renamed.keypoints[1:]]
    with pytest.raises(ValueError, match="no bodypart 'a'"):
        evaluated_images(_truth(truth), renamed, {"test": [0]})
    multi = KeypointTable(
        "me", [_key(0)], [("fly1", "a"), ("fly2", "a")], np.zeros((1, 2, 3)), multianimal=True
    )
    with pytest.raises(ValueError, match="single-animal projects only"):
        evaluated_images(multi, preds, {"test": [0]})


def test_animal_size_is_the_median_oks_scale_of_the_labelled_poses():
    xy = np.array(
        [
            [[0, 0], [40, 10], [20, 5]],  # 40 x 10 box -> 20
            [[0, 0], [30, 30], [np.nan, np.nan]],  # 30 x 30 -> 30
            [[5, 5], [np.nan, np.nan], [np.nan, np.nan]],  # one keypoint: no size
            [[0, 0], [10, 0], [20, 0]],  # a line has no area: no size (DLC's OKS is NaN)
            [[1, 1], [91, 41], [50, 20]],  # 90 x 40 -> 60
        ],
        dtype=float,
    )
    size = animal_size(_truth(xy))
    assert size.n_poses == 3
    assert size.scale == pytest.approx(30.0)
    assert animal_size(_truth(xy[2:4])) is None
