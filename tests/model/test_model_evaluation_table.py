"""Evaluation table: DLC's numbers unchanged, explanations that match DLC's definitions."""

from __future__ import annotations

import csv
import math

import pytest

from napari_dlc_workbench.model.evaluation_table import (
    METRICS,
    OKS_SIGMA,
    OKS_THRESHOLDS,
    AnimalSize,
    build_rows,
    explain,
    format_table,
    oks_tolerance,
    parse_pcutoff,
    verdict,
)

# The users' final numbers (USER-NOTEBOOK.md), as DLC's results row and keypoint file hold them.
NOTEBOOK = {
    "snapshot": "snapshot-200",
    "epochs": 200,
    "scorer": "DLC_Resnet50_Cladonema_starvedJun13shuffle1_snapshot_200",
    "overall": {
        "%Training dataset": 0.95,
        "Shuffle number": 1,
        "Training epochs": 200,
        "Detector epochs (TD only)": -1,
        "pcutoff": 0.6,
        "train rmse": 1.12,
        "train rmse_pcutoff": 1.05,
        "train mAP": 97.5,
        "train mAR": 98.1,
        "test rmse": 3.37,
        "test rmse_pcutoff": 2.3,
        "test mAP": 82.89,
        "test mAR": 87.14,
    },
    "bodyparts": {
        "manubrium base": {"Train error (px)": 0.9871234, "Test error (px)": 2.5123456789},
        "mouth": {"Train error (px)": 1.01, "Test error (px)": 2.9},
        "prey": {"Train error (px)": 1.4, "Test error (px)": 5.61},
        "tentacle base": {"Train error (px)": 1.1, "Test error (px)": 2.47},
    },
}


def test_rows_hold_dlcs_values_unchanged_and_in_order():
    rows = build_rows(NOTEBOOK)
    assert [r.key for r in rows] == [*METRICS] + ["bodypart"] * 4
    overall = NOTEBOOK["overall"]
    for row in rows[:4]:
        assert row.train == overall[f"train {row.key}"]
        assert row.test == overall[f"test {row.key}"]
    assert [r.unit for r in rows[:4]] == ["px", "px", "%", "%"]
    for row, (bodypart, errors) in zip(rows[4:], NOTEBOOK["bodyparts"].items(), strict=True):
        assert row.bodypart == bodypart
        assert (row.train, row.test) == (errors["Train error (px)"], errors["Test error (px)"])


def test_missing_cutoff_error_is_nan_and_shown_as_a_dash():
    result = {"overall": {**NOTEBOOK["overall"], "test rmse_pcutoff": math.nan}, "bodyparts": {}}
    del result["overall"]["train rmse_pcutoff"]
    rows = build_rows(result)
    assert math.isnan(rows[1].train) and math.isnan(rows[1].test)
    line = next(x for x in format_table(result).splitlines() if x.startswith(rows[1].label))
    assert line.split()[-2:] == ["—", "—"]
    assert "no prediction reached the cutoff" in rows[1].explanation


def test_per_bodypart_rows_say_dlc_has_no_per_bodypart_map():
    rows = build_rows(NOTEBOOK)
    for row in rows[4:]:
        assert "computes no per-bodypart mAP, mAR or p-cutoff error" in row.explanation
        assert row.bodypart in row.explanation


def test_oks_tolerance_inverts_dlcs_oks_term():
    scale = 40.0
    for t in OKS_THRESHOLDS:
        d = oks_tolerance(t, scale)
        # DLC: exp(-d^2 / (2 * area * (2 sigma)^2)), area = scale^2
        oks = math.exp(-(d**2) / (2 * scale**2 * (2 * OKS_SIGMA) ** 2))
        assert oks == pytest.approx(t, rel=1e-12)
    assert oks_tolerance(0.95, 1.0) == pytest.approx(0.0641, abs=1e-4)
    assert oks_tolerance(0.5, 1.0) == pytest.approx(0.2355, abs=1e-4)


def test_explanations_use_the_animal_size_and_the_cutoff():
    size = AnimalSize(scale=50.0, n_poses=140)
    rmse = explain("rmse", size=size, n_images={"train": 133, "test": 7})
    assert "MEAN distance" in rmse and "50.0 px" in rmse
    assert (
        f"{oks_tolerance(0.95, 50):.1f} px" in rmse and f"{oks_tolerance(0.5, 50):.1f} px" in rmse
    )
    assert "133 images" in rmse and "7 held-out" in rmse
    cutoff = explain("rmse_pcutoff", pcutoff=0.42)
    assert ">= p-cutoff = 0.42" in cutoff
    per_bodypart = explain("rmse_pcutoff", pcutoff=[0.6, 0.5])
    assert "per bodypart (0.6, 0.5)" in per_bodypart
    assert "σ = 0.1" in explain("mAP") and "0.50, 0.55, ..., 0.95" in explain("mAR")
    with pytest.raises(ValueError, match="unknown metric"):
        explain("accuracy")


def test_parse_pcutoff_reads_one_value_or_a_list():
    assert parse_pcutoff(0.6) == 0.6
    assert parse_pcutoff("0.6, 0.5, 0.9") == [0.6, 0.5, 0.9]


@pytest.mark.parametrize(
    ("test_rmse", "words"),
    [(2.0, "strictest OKS tolerance"), (5.0, "between the strict"), (20.0, "beyond even")],
)
def test_verdict_places_the_test_error_between_the_oks_tolerances(test_rmse, words):
    # scale 50 px: strict 3.2 px, loose 11.8 px
    result = {"overall": {**NOTEBOOK["overall"], "test rmse": test_rmse}, "bodyparts": {}}
    text = verdict(build_rows(result), AnimalSize(50.0, 10))
    assert words in text
    assert f"{test_rmse:.2f} px = {100 * test_rmse / 50:.0f}%" in text


def test_verdict_flags_overfitting_and_the_worst_bodypart():
    text = verdict(build_rows(NOTEBOOK))
    assert "3.0× the train error" in text
    assert "Worst bodypart on test images: prey (5.61 px)" in text


def test_format_table_prints_every_value_and_the_header():
    text = format_table(NOTEBOOK, AnimalSize(50.0, 140), {"train": 133, "test": 7})
    lines = text.splitlines()
    assert lines[0] == (
        "snapshot-200 (200 epochs), shuffle 1, pcutoff 0.6, 133 train / 7 test images, "
        "animal size 50.0 px"
    )
    row = next(x for x in lines if x.startswith("error (RMSE), all keypoints"))
    assert row.split()[-5:] == ["1.12", "px", "3.37", "px", "7%"]
    row = next(x for x in lines if x.startswith("mAP (OKS)"))
    assert row.split()[-2:] == ["97.50", "82.89"]
    row = next(x for x in lines if x.startswith("error: manubrium base"))
    assert row.split()[-5:] == ["0.99", "px", "2.51", "px", "5%"]
    assert "error: <bodypart>:" in lines
    assert "MEAN distance" not in format_table(NOTEBOOK, explain_rows=False)


def _exact_csv(path: str) -> list[dict[str, str]]:
    # Python's own float() of the text DLC wrote: exact, unlike pandas' default C parser.
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _same(value: float, text: str) -> bool:
    expected = float(text) if text else math.nan
    if math.isnan(expected):
        return math.isnan(value)
    # read_evaluation_results parses with pandas' default float parser, which may
    # differ from the text in the 17th significant digit
    return value == pytest.approx(expected, rel=1e-15, abs=0)


def test_rows_equal_dlcs_csv_files_of_a_real_evaluation(tiny_trained_source):
    result = tiny_trained_source["evaluation"]["results"][0]
    (overall,) = _exact_csv(result["results_csv"])
    per_bodypart = {row[""]: row for row in _exact_csv(result["keypoint_csv"])}
    rows = build_rows(result)
    for row in rows[:4]:
        assert _same(row.train, overall[f"train {row.key}"])
        assert _same(row.test, overall[f"test {row.key}"])
    bodyparts = [k for k in per_bodypart["Train error (px)"] if k]
    assert [r.bodypart for r in rows[4:]] == bodyparts
    for row in rows[4:]:
        assert _same(row.train, per_bodypart["Train error (px)"][row.bodypart])
        assert _same(row.test, per_bodypart["Test error (px)"][row.bodypart])
