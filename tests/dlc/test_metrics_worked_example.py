"""docs/metrics.md's worked example, recomputed by DeepLabCut's own metric functions.

The labels, predictions and results below are those printed in the page's tables; the last
test checks the page still prints them, so the page and DLC cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.model.evaluation_table import OKS_SIGMA, oks_tolerance

PAGE = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
NAN = math.nan
PCUTOFF = 0.6

# (x, y, visibility) per bodypart: manubrium base, mouth, prey, tentacle base (docs/metrics.md).
GROUND_TRUTH = {
    "img1": [[100, 100, 2], [100, 120, 2], [130, 140, 2], [90, 110, 2]],
    "img2": [[200, 200, 2], [200, 230, 2], [NAN, NAN, 0], [230, 215, 2]],  # prey not labelled
}
# (x, y, likelihood) per bodypart.
PREDICTIONS = {
    "img1": [[103, 104, 0.90], [100, 122, 0.95], [136, 148, 0.30], [91, 110, 0.85]],
    "img2": [[203, 204, 0.95], [206, 238, 0.90], [150, 150, 0.65], [230, 213, 0.70]],
}

# The page's results, as DLC reports them (rounded to 2 decimals; OKS to 4).
RMSE = 5.00
RMSE_PCUTOFF = 4.17
MAP = 40.10
MAR = 50.00
PER_BODYPART = [5.00, 6.00, 10.00, 1.50]
OKS = {"img1": 0.8105, "img2": 0.6340}
MAP_IF_RANKED_RIGHT = 50.20
ANIMAL_SIZE = 35.0
TOLERANCES = (2.2, 8.2)


def _poses(table: dict[str, list]) -> dict[str, np.ndarray]:
    return {image: np.asarray([rows], dtype=float) for image, rows in table.items()}


def _dlc_numbers() -> dict[str, dict]:
    """What the tests compare, computed by DeepLabCut; runs in a child process.

    deeplabcut imports torch, which segfaults in a process that already made a napari
    GL context (the Qt tests do, earlier in the same pytest run).
    """
    from deeplabcut.core import inferenceutils, metrics

    # The arguments evaluate_network passes for a single-animal project (evaluation.py).
    results = metrics.compute_metrics(
        _poses(GROUND_TRUTH),
        _poses(PREDICTIONS),
        single_animal=True,
        pcutoff=PCUTOFF,
        per_keypoint_rmse=True,
        compute_detection_rmse=False,
    )
    oks = {}
    for image in OKS:
        gt = np.asarray(GROUND_TRUTH[image], dtype=float)
        labelled = np.where(gt[:, 2:] > 0, gt[:, :2], np.nan)
        pred = np.asarray(PREDICTIONS[image], dtype=float)[:, :2]
        oks[image] = float(
            inferenceutils.calc_object_keypoint_similarity(pred, labelled, sigma=OKS_SIGMA)
        )
    predictions = _poses(PREDICTIONS)
    predictions["img2"][0, :, 2] = 0.5  # image 2's mean likelihood now below image 1's 0.75
    reranked = metrics.compute_metrics(
        _poses(GROUND_TRUTH), predictions, single_animal=True, pcutoff=PCUTOFF
    )

    def plain(values: dict) -> dict:
        return {k: float(v) for k, v in values.items() if np.isscalar(v)}

    return {"results": plain(results), "oks": oks, "reranked": plain(reranked)}


@pytest.fixture(scope="module")
def dlc_numbers() -> dict[str, dict]:
    if importlib.util.find_spec("deeplabcut") is None:
        pytest.skip("deeplabcut is not installed")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_dlc_numbers).result(timeout=600)


@pytest.mark.dlc
def test_dlc_compute_metrics_gives_the_pages_numbers(dlc_numbers: dict[str, dict]) -> None:
    results = dlc_numbers["results"]
    assert round(results["rmse"], 2) == RMSE
    assert round(results["rmse_pcutoff"], 2) == RMSE_PCUTOFF
    assert round(results["mAP"], 2) == MAP
    assert round(results["mAR"], 2) == MAR
    assert [round(results[f"rmse_keypoint_{k}"], 2) for k in range(4)] == PER_BODYPART
    # Not a root-mean-square: that would be sqrt(37) = 6.08 px.
    assert results["rmse"] == pytest.approx(35 / 7)
    assert results["rmse_pcutoff"] == pytest.approx(25 / 6)
    assert results["mAP"] == pytest.approx(100 * 405 / 1010)


@pytest.mark.dlc
def test_dlc_oks_per_image(dlc_numbers: dict[str, dict]) -> None:
    for image, expected in OKS.items():
        assert round(dlc_numbers["oks"][image], 4) == expected


@pytest.mark.dlc
def test_ranking_changes_map_not_mar(dlc_numbers: dict[str, dict]) -> None:
    assert round(dlc_numbers["reranked"]["mAP"], 2) == MAP_IF_RANKED_RIGHT
    assert round(dlc_numbers["reranked"]["mAR"], 2) == MAR


def test_animal_size_and_tolerances_match_the_page() -> None:
    sizes = []
    for rows in GROUND_TRUTH.values():
        xy = np.asarray(rows, dtype=float)[:, :2]
        xy = xy[np.isfinite(xy).all(axis=1)]
        sizes.append(math.sqrt(float(np.prod(np.ptp(xy, axis=0)))))
    assert sizes == [40.0, 30.0]
    assert float(np.median(sizes)) == ANIMAL_SIZE
    strict, loose = (oks_tolerance(t, ANIMAL_SIZE) for t in (0.95, 0.5))
    assert (round(strict, 1), round(loose, 1)) == TOLERANCES


def test_page_prints_these_numbers() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for line in (
        f"| rmse | {RMSE:.2f} px |",
        f"| rmse_pcutoff | {RMSE_PCUTOFF:.2f} px |",
        f"| mAP | {MAP:.2f} |",
        f"| mAR | {MAR:.2f} |",
        f"| OKS image 1 | {OKS['img1']:.4f} |",
        f"| OKS image 2 | {OKS['img2']:.4f} |",
        f"mAP {MAP_IF_RANKED_RIGHT:.2f}",
        f"{ANIMAL_SIZE:.0f} px here",
        f"{TOLERANCES[0]} px and {TOLERANCES[1]} px",
    ):
        assert line in page, line
    for rows in [*GROUND_TRUTH.values(), *PREDICTIONS.values()]:
        for x, y, _ in rows:
            if math.isfinite(x):
                assert f"({x:g}, {y:g})" in page
