"""DLC's evaluation numbers as rows a biologist can read, each with what it means.

The input is one snapshot's entry of ``dlc.evaluation.evaluate``'s result (or
``dlc.evaluation.read_evaluation_results`` of files already on disk):
``overall`` holds DLC's results row under DLC's column names (``"train rmse"``,
``"test rmse_pcutoff"``, ``"test mAP"``, ``"pcutoff"``, ...) and ``bodyparts``
the per-bodypart errors (``{"mouth": {"Train error (px)": .., "Test error (px)": ..}}``).
The values shown are exactly those numbers; nothing here recomputes a metric.

What the numbers are, from DLC 3.0's source (``core/metrics/distance_metrics.py``,
``core/inferenceutils.calc_object_keypoint_similarity``,
``pose_estimation_pytorch/apis/evaluation.py``):

- ``rmse``: despite the name, the MEAN Euclidean distance in pixels between each
  labelled keypoint and its prediction, over all labelled keypoints of the split
  (``sum(distances) / count``; no squares). Rounded to 2 decimals by DLC.
- ``rmse_pcutoff``: the same mean over the keypoints whose predicted likelihood
  is ``>= pcutoff``; empty (NaN) when none is.
- per bodypart: the same mean for one bodypart (unrounded). DLC computes no
  per-bodypart mAP, mAR or p-cutoff error.
- ``mAP`` / ``mAR`` (0-100): COCO-style average precision / recall of whole
  poses, matched by object keypoint similarity
  ``OKS = mean_k exp(-d_k^2 / (2 s^2 (2 sigma)^2))`` with ``s^2`` the area of the
  box around the image's labelled keypoints and ``sigma = 0.1`` for every
  bodypart (``compute_metrics``' default, which evaluation does not change);
  averaged over OKS thresholds 0.50, 0.55, ..., 0.95 (AP over 101 recall levels,
  predictions ranked by mean likelihood). Poses with fewer than 2 labelled
  keypoints are left out.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "METRICS",
    "OKS_SIGMA",
    "OKS_THRESHOLDS",
    "AnimalSize",
    "MetricRow",
    "build_rows",
    "explain",
    "format_table",
    "format_value",
    "header",
    "oks_tolerance",
    "parse_pcutoff",
    "verdict",
]

METRICS = ("rmse", "rmse_pcutoff", "mAP", "mAR")
"""DLC's overall metrics, in the order of its results file."""

OKS_SIGMA = 0.1
"""The OKS sigma DLC 3.0's evaluation uses for every bodypart."""

OKS_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
"""OKS thresholds mAP and mAR average over."""

_LABELS = {
    "rmse": "error (RMSE), all keypoints",
    "rmse_pcutoff": "error (RMSE), likelihood >= p-cutoff",
    "mAP": "mAP (OKS)",
    "mAR": "mAR (OKS)",
}


@dataclass(frozen=True)
class AnimalSize:
    """How big the animal is in the labelled images, in pixels.

    Attributes
    ----------
    scale : float
        Median over labelled poses of ``sqrt(width * height)`` of the box
        around the pose's labelled keypoints: the scale ``s`` DLC's OKS divides
        errors by, so that "good" can be said relative to the animal.
    n_poses : int
        Poses (image × individual with at least 2 labelled keypoints) it is
        the median of.
    """

    scale: float
    n_poses: int


@dataclass(frozen=True)
class MetricRow:
    """One row of the evaluation table.

    Attributes
    ----------
    key : str
        ``"rmse"``, ``"rmse_pcutoff"``, ``"mAP"``, ``"mAR"`` or ``"bodypart"``.
    label : str
        What the row is called in the table.
    train, test : float
        DLC's values (NaN where DLC wrote none).
    unit : str
        ``"px"`` or ``"%"`` (mAP and mAR run from 0 to 100).
    explanation : str
        Plain-language meaning, with this project's animal size when known.
    bodypart : str or None
        The bodypart of a per-bodypart row.
    """

    key: str
    label: str
    train: float
    test: float
    unit: str
    explanation: str
    bodypart: str | None = None

    def relative(self, size: AnimalSize | None, split: str = "test") -> float:
        """Return the split's error as a fraction of the animal's size (NaN if not a pixel row)."""
        value = self.test if split == "test" else self.train
        if self.unit != "px" or size is None or not size.scale > 0:
            return math.nan
        return value / size.scale


def oks_tolerance(threshold: float, scale: float, sigma: float = OKS_SIGMA) -> float:
    """Return the error (px) at which one keypoint's OKS term equals ``threshold``.

    From ``exp(-d^2 / (2 s^2 (2 sigma)^2)) = t``:
    ``d = s * sigma * sqrt(8 ln(1/t))``. With sigma 0.1 that is about 0.064 s at
    the strictest threshold (0.95) and 0.236 s at the loosest (0.50).

    Parameters
    ----------
    threshold : float
        OKS threshold in (0, 1].
    scale : float
        The animal's size ``s`` in pixels.
    sigma : float
        OKS sigma.

    Returns
    -------
    float
        Pixels.
    """
    return scale * sigma * math.sqrt(8.0 * math.log(1.0 / threshold))


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def parse_pcutoff(value: Any) -> float | list[float]:
    """Read DLC's ``pcutoff`` cell: one number, or ``"0.6, 0.5, ..."`` per bodypart."""
    if isinstance(value, str) and "," in value:
        return [float(v) for v in value.split(",")]
    return _number(value)


def format_value(value: float, unit: str = "") -> str:
    """Format a metric as the table shows it: ``"3.37 px"``, ``"82.89"`` or ``"—"`` for NaN."""
    if not math.isfinite(value):
        return "—"
    return f"{value:.2f}{' px' if unit == 'px' else ''}"


def _size_sentence(size: AnimalSize | None) -> str:
    if size is None or not size.scale > 0:
        return ""
    strict, loose = oks_tolerance(0.95, size.scale), oks_tolerance(0.5, size.scale)
    return (
        f" Here the animal spans about {size.scale:.1f} px (median over {size.n_poses} "
        f"labelled poses of the square root of the area of the box around the labelled "
        f"keypoints, the size OKS uses). An error under {strict:.1f} px (6% of it) passes "
        f"even the strictest OKS threshold; above {loose:.1f} px (24%) a keypoint fails "
        f"even the loosest."
    )


def _tolerances(size: AnimalSize | None) -> str:
    if size is None or not size.scale > 0:
        return ""
    strict, loose = oks_tolerance(0.95, size.scale), oks_tolerance(0.5, size.scale)
    return f" With this animal ({size.scale:.1f} px): 6% = {strict:.1f} px, 24% = {loose:.1f} px."


def explain(
    key: str,
    *,
    size: AnimalSize | None = None,
    pcutoff: float | list[float] = 0.6,
    n_images: Mapping[str, int] | None = None,
    bodypart: str | None = None,
) -> str:
    """Say in plain words what a metric measures and what a good value looks like.

    Parameters
    ----------
    key : str
        One of :data:`METRICS` or ``"bodypart"``.
    size : AnimalSize, optional
        The animal's size, to put pixel errors in proportion.
    pcutoff : float or list of float
        The likelihood cutoff DLC used (its results file's ``pcutoff``).
    n_images : Mapping, optional
        ``{"train": n, "test": n}`` images evaluated.
    bodypart : str, optional
        For ``"bodypart"`` rows.

    Returns
    -------
    str
        A few sentences.
    """
    cutoff = (
        f"{pcutoff:g}"
        if isinstance(pcutoff, (int, float))
        else "per bodypart (" + ", ".join(f"{v:g}" for v in pcutoff) + ")"
    )
    counts = ""
    if n_images:
        counts = (
            f" Train = the {n_images.get('train', 0)} images the network learned from; "
            f"test = the {n_images.get('test', 0)} held-out images it never saw"
        )
        counts += (
            " (one test image makes test numbers very noisy)." if n_images.get("test") == 1 else "."
        )
    if key == "rmse":
        return (
            "How far the predictions are from your labels, in pixels. DeepLabCut calls it "
            "RMSE, but it is the MEAN distance between each labelled keypoint and the "
            "network's prediction for it, over every labelled keypoint of the images "
            "(every prediction counts, however unsure the network was). Lower is better; "
            "compare it with how precisely you can click a keypoint yourself (a few pixels)."
            + _size_sentence(size)
            + " Train much lower than test: the network learned the training images by heart "
            "(label more, more varied frames); both high: train longer or check the labels."
            + counts
        )
    if key == "rmse_pcutoff":
        return (
            f"The same mean distance, counting only the keypoints the network is confident "
            f"about: predicted likelihood >= p-cutoff = {cutoff} (config.yaml 'pcutoff'). "
            "Unsure predictions are left out, as they are when you filter an analysis by "
            "p-cutoff. Much lower than the error over all keypoints: the network knows when "
            "it is wrong, so filtering by likelihood removes most bad points. It says "
            "nothing about how many points were dropped. '—' means no prediction reached "
            "the cutoff (typical of an undertrained network)."
        )
    if key == "mAP":
        return (
            "Mean average precision, 0-100, of whole poses. Each image's predicted pose "
            "gets an object keypoint similarity OKS = mean over labelled keypoints of "
            "exp(-d² / (2·s²·(2σ)²)): d the keypoint's error, s² the area of the box around "
            f"the image's labelled keypoints, σ = {OKS_SIGMA:g} (DLC's fixed sigma, the same "
            "for every bodypart). A pose counts as correct when OKS >= a threshold; "
            "precision (correct / predicted, predictions ranked by mean likelihood) is "
            "averaged over recall levels and over the thresholds 0.50, 0.55, ..., 0.95. "
            "100 means every pose reaches OKS 0.95 (e.g. every keypoint within about 6% of "
            "the animal's size); 0 means none reaches OKS 0.5 (e.g. every keypoint off by "
            "more than about 24%). Images with fewer than 2 labelled keypoints do not count."
            + _tolerances(size)
        )
    if key == "mAR":
        return (
            "Mean average recall, 0-100: the share of labelled poses that a prediction "
            "matches with OKS >= threshold (OKS and σ as for mAP), averaged over the "
            "thresholds 0.50, 0.55, ..., 0.95. With one animal and one prediction per "
            "image it is, roughly, the percentage of images whose pose is close enough, "
            "averaged from lenient to strict. mAR above mAP: the poses are found, but the "
            "network's likelihoods rank some bad ones above good ones."
        )
    if key == "bodypart":
        return (
            f"Mean distance in pixels between '{bodypart}' as labelled and as predicted, "
            "over the images where it is labelled (DLC's keypoint-results file). DLC "
            "computes no per-bodypart mAP, mAR or p-cutoff error, so none is shown. A "
            "bodypart far worse than the others is often hard to see, ambiguous, or "
            "labelled inconsistently." + _tolerances(size)
        )
    raise ValueError(f"unknown metric {key!r}: use one of {METRICS} or 'bodypart'")


def build_rows(
    result: Mapping[str, Any],
    size: AnimalSize | None = None,
    n_images: Mapping[str, int] | None = None,
) -> list[MetricRow]:
    """Build the table rows from one snapshot's evaluation result.

    Parameters
    ----------
    result : Mapping
        ``{"overall": {...}, "bodyparts": {...}}`` as returned per snapshot by
        ``dlc.evaluation.evaluate`` or ``read_evaluation_results``.
    size : AnimalSize, optional
        Puts pixel errors in proportion in the explanations.
    n_images : Mapping, optional
        ``{"train": n, "test": n}``.

    Returns
    -------
    list of MetricRow
        The four overall metrics, then one row per bodypart in DLC's order.
    """
    overall = result.get("overall") or {}
    pcutoff = parse_pcutoff(overall.get("pcutoff", 0.6))
    context = {"size": size, "pcutoff": pcutoff, "n_images": n_images}
    rows = [
        MetricRow(
            key=key,
            label=_LABELS[key],
            train=_number(overall.get(f"train {key}")),
            test=_number(overall.get(f"test {key}")),
            unit="%" if key in ("mAP", "mAR") else "px",
            explanation=explain(key, **context),
        )
        for key in METRICS
    ]
    for bodypart, errors in (result.get("bodyparts") or {}).items():
        rows.append(
            MetricRow(
                key="bodypart",
                label=f"error: {bodypart}",
                train=_number(errors.get("Train error (px)")),
                test=_number(errors.get("Test error (px)")),
                unit="px",
                explanation=explain("bodypart", bodypart=bodypart, **context),
                bodypart=str(bodypart),
            )
        )
    return rows


def verdict(rows: list[MetricRow], size: AnimalSize | None = None) -> str:
    """Say in one or two sentences where this snapshot stands.

    Parameters
    ----------
    rows : list of MetricRow
        From :func:`build_rows`.
    size : AnimalSize, optional
        Needed to judge pixel errors; without it only mAP is used.

    Returns
    -------
    str
        Empty when the rows hold no test error.
    """
    by_key = {row.key: row for row in rows if row.key != "bodypart"}
    rmse = by_key.get("rmse")
    if rmse is None or not math.isfinite(rmse.test):
        return ""
    parts = []
    if size is not None and size.scale > 0:
        share = rmse.test / size.scale
        strict, loose = oks_tolerance(0.95, size.scale), oks_tolerance(0.5, size.scale)
        if rmse.test <= strict:
            judged = "within the strictest OKS tolerance"
        elif rmse.test <= loose:
            judged = "between the strict and loose OKS tolerances: usable, with room to improve"
        else:
            judged = "beyond even the loosest OKS tolerance: keypoints are not found yet"
        parts.append(
            f"Test error {rmse.test:.2f} px = {100 * share:.0f}% of the animal's size, {judged}."
        )
    if math.isfinite(rmse.train) and rmse.train > 0 and rmse.test > 2 * rmse.train:
        parts.append(
            f"Test error is {rmse.test / rmse.train:.1f}× the train error: the network fits "
            "its training images better than new ones; more, and more varied, labelled "
            "frames usually help more than more epochs."
        )
    worst = max(
        (r for r in rows if r.key == "bodypart" and math.isfinite(r.test)),
        key=lambda r: r.test,
        default=None,
    )
    if worst is not None:
        parts.append(f"Worst bodypart on test images: {worst.bodypart} ({worst.test:.2f} px).")
    return " ".join(parts)


def header(
    result: Mapping[str, Any],
    size: AnimalSize | None = None,
    n_images: Mapping[str, int] | None = None,
) -> str:
    """Say which snapshot the numbers are of, with the cutoff, image counts and animal size.

    Returns
    -------
    str
        E.g. ``"snapshot-002 (2 epochs), shuffle 1, pcutoff 0.6, 19 train / 1 test
        images, animal size 16.5 px"``.
    """
    overall = result.get("overall") or {}
    head = []
    if result.get("snapshot"):
        epochs = _number(result.get("epochs", overall.get("Training epochs")))
        head.append(f"{result['snapshot']} ({epochs:g} epochs)")
    if "Shuffle number" in overall:
        head.append(f"shuffle {int(_number(overall['Shuffle number']))}")
    head.append(f"pcutoff {overall.get('pcutoff', 0.6)}")
    if n_images:
        head.append(f"{n_images.get('train', 0)} train / {n_images.get('test', 0)} test images")
    if size is not None:
        head.append(f"animal size {size.scale:.1f} px")
    return ", ".join(head)


def format_table(
    result: Mapping[str, Any],
    size: AnimalSize | None = None,
    n_images: Mapping[str, int] | None = None,
    *,
    explain_rows: bool = True,
    width: int = 100,
) -> str:
    """Format one snapshot's evaluation for a terminal.

    Parameters
    ----------
    result : Mapping
        As for :func:`build_rows`; ``snapshot``, ``epochs`` and ``scorer`` are
        printed when present.
    size : AnimalSize, optional
        Adds a column "test / animal size" and proportions in the text.
    n_images : Mapping, optional
        ``{"train": n, "test": n}``.
    explain_rows : bool
        Follow the table with each metric's explanation.
    width : int
        Wrap width of the explanations.

    Returns
    -------
    str
        Plain text, no trailing newline.
    """
    rows = build_rows(result, size, n_images)
    lines = [header(result, size, n_images)]
    if result.get("scorer"):
        lines.append(f"scorer {result['scorer']}")
    label_width = max(len(r.label) for r in rows)
    titles = f"{'metric':<{label_width}}  {'train':>10}  {'test':>10}"
    if size is not None:
        titles += f"  {'test / size':>11}"
    lines += ["", titles, "-" * len(titles)]
    for row in rows:
        line = f"{row.label:<{label_width}}  {format_value(row.train, row.unit):>10}  "
        line += f"{format_value(row.test, row.unit):>10}"
        if size is not None:
            share = row.relative(size)
            line += f"  {f'{100 * share:.0f}%' if math.isfinite(share) else '':>11}"
        lines.append(line)
    summary = verdict(rows, size)
    if summary:
        lines += ["", *textwrap.wrap(summary, width)]
    if explain_rows:
        lines.append("")
        seen = set()
        for row in rows:
            key = row.key if row.key != "bodypart" else "bodypart"
            if key in seen:
                continue
            seen.add(key)
            title = row.label if key != "bodypart" else "error: <bodypart>"
            text = row.explanation.replace(f"'{row.bodypart}'", "a bodypart")
            wrapped = textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="  ")
            lines += [f"{title}:", *wrapped]
    return "\n".join(lines)
