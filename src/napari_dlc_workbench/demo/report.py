"""``report.html``: the demo's summary as one self-contained page.

Every image is embedded as a ``data:image/png;base64`` URI and the style is
inline, so the file can be mailed or attached to a CI run and opened anywhere,
offline. The page is built from ``demo-summary.json`` alone plus the images the
demo left in its output folder (the crop frames, the learning curve's PNG,
``screenshots/*.png``); a figure that cannot be drawn is replaced by a note, so
a failed demo still gets a report of the steps that ran.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from napari_dlc_workbench.demo._html import (
    STYLE,
    esc,
    figure,
    fmt,
    img,
    missing,
    percent,
    read_image,
    table,
)
from napari_dlc_workbench.demo.core import (
    _LONG,
    CROP,
    CURVE,
    DATASET,
    EVALUATE,
    EVALUATE_AFTER,
    GENERATE,
    LABEL,
    OUTLIERS,
    PREPROCESSING,
    RETRAIN,
    SCREENSHOT_STEP,
    STOPPED_BEFORE_TRAINING,
    TRAIN,
)

__all__ = ["REPORT", "render_report", "write_report"]

REPORT = "report.html"
SCREENSHOT_FOLDER = "screenshots"


def _timings(summary: Mapping[str, Any]) -> str:
    rows = []
    for step in summary.get("steps", []):
        status = '<span class="failed">failed</span>' if step.get("failed") else "ok"
        if step.get("skipped"):
            status = f"skipped: {esc(step['skipped'])}"
        rows.append([esc(step["step"]), fmt(float(step.get("seconds", 0.0)), 1), status])
    total = summary.get("total_seconds")
    rows.append(["<b>total (wall clock)</b>", f"<b>{fmt(total, 1)}</b>", ""])
    return "<h2>Timings</h2>" + table(["step", "seconds", "status"], rows, numeric={1})


def _crop(steps: Mapping[str, dict], out: Path) -> str:
    parts = ["<h2>1. Recording and crop</h2>"]
    generated, cropped = steps.get(GENERATE), steps.get(CROP)
    if not generated:
        return parts[0] + missing(GENERATE)
    parts.append(
        f"<p>Synthetic recording <code>{esc(generated.get('video'))}</code>: "
        f"{esc(generated.get('frames'))} frames of {esc(generated.get('size'))} px, one "
        "Cladonema-like animal per well, with exact ground truth.</p>"
    )
    if not cropped:
        return "".join([*parts, missing(CROP)])
    parts.append(
        f"<p>{len(cropped.get('clips', []))} clips cut in one decoding pass with "
        f"<code>{esc(cropped.get('contrast'))}</code> contrast: "
        + ", ".join(f"<code>{esc(c)}</code>" for c in cropped.get("clips", []))
        + ".</p>"
    )
    images = cropped.get("images") or {}

    def draw() -> bytes:
        full, raw, clip = (read_image(out / images[k]) for k in ("full", "raw_crop", "clip"))
        from napari_dlc_workbench.demo.figures import crop_figure

        return crop_figure(full, raw, clip, cropped.get("rois") or [])

    parts.append(
        figure(
            draw,
            "crop and contrast",
            "The middle frame: recording, raw crop of "
            "well #1 and the same frame of its exported clip.",
        )
    )
    return "".join(parts)


def _training(steps: Mapping[str, dict]) -> str:
    parts = ["<h2>2. Labels and training</h2>"]
    label, dataset, trained = steps.get(LABEL), steps.get(DATASET), steps.get(TRAIN)
    if label:
        parts.append(
            f"<p>{esc(label.get('frames_per_video'))} frames per clip labelled from ground truth "
            f"({esc(label.get('points'))} points) through the plugin's own labels writer.</p>"
        )
    if dataset:
        parts.append(
            f"<p>DeepLabCut's training dataset: {esc(dataset.get('n_train'))} training and "
            f"{esc(dataset.get('n_test'))} test frames (shuffle {esc(dataset.get('shuffle'))}).</p>"
        )
    if not trained:
        return "".join([*parts, missing(TRAIN)])
    parts.append(
        f"<p>{esc(trained.get('net_type'))} trained offline from {esc(trained.get('init'))} weights "
        f"for {esc(trained.get('epochs'))} epochs.</p>"
    )
    runs = [("iteration 0", trained.get("loss") or {})]
    retrained = steps.get(RETRAIN)
    if retrained:
        runs.append(("iteration 1 (retrained)", retrained.get("loss") or {}))

    def draw() -> bytes:
        if not any(series.get("epoch") for _, series in runs):
            raise ValueError("no learning_stats.csv rows")
        from napari_dlc_workbench.demo.figures import loss_figure

        return loss_figure(runs)

    parts.append(figure(draw, "training loss", "From DLC's learning_stats.csv."))
    return "".join(parts)


EVAL_ROWS = [
    ("snapshot", "snapshot"),
    ("train RMSE (px)", "train_rmse"),
    ("test RMSE (px)", "test_rmse"),
    ("test RMSE, p > pcutoff (px)", "test_rmse_pcutoff"),
    ("test mAP", "test_mAP"),
    ("test mAR", "test_mAR"),
]


def _evaluation(steps: Mapping[str, dict]) -> str:
    before, after = steps.get(EVALUATE), steps.get(EVALUATE_AFTER)
    if not before:
        return "<h2>3. Evaluation</h2>" + missing(EVALUATE)
    rows = [
        [esc(label), fmt(before.get(key)), fmt((after or {}).get(key))] for label, key in EVAL_ROWS
    ]
    return (
        "<h2>3. Evaluation</h2>"
        + table(["", "iteration 0", "after the correction (iteration 1)"], rows, numeric={1, 2})
        + '<p class="note">Each evaluation uses its own iteration\'s DeepLabCut test split; '
        "iteration 1 adds the corrected frames to the labelled set.</p>"
    )


def _saved_or(path: str | None, redraw: Callable[[], bytes]) -> Callable[[], bytes]:
    # The PNG the step wrote, else drawn again from the summary's numbers.
    def draw() -> bytes:
        if path and Path(path).is_file():
            return Path(path).read_bytes()
        return redraw()

    return draw


def _learning_curve(steps: Mapping[str, dict]) -> str:
    parts = ["<h2>4. Learning curve</h2>"]
    curve = steps.get(CURVE)
    if not curve:
        return parts[0] + missing(CURVE)
    points = curve.get("points") or []
    parts.append(
        f"<p>Same network trained from random weights for {esc(curve.get('epochs'))} epochs on "
        f"nested subsets of the labelled frames, all tested on the same "
        f"{esc(curve.get('n_test'))} held-out frames. {esc(curve.get('note', ''))}</p>"
    )

    def redraw() -> bytes:
        from napari_dlc_workbench.dlc.learning_curve import plot_learning_curve

        return plot_learning_curve(points, str(curve.get("note", "")))

    parts.append(
        figure(
            _saved_or(curve.get("plot"), redraw),
            "learning curve",
            "Test RMSE against labelled training frames.",
        )
    )
    rows = [
        [
            percent(p.get("fraction")),
            esc(p.get("n_train")),
            fmt(p.get("test_rmse")),
            fmt(p.get("train_rmse")),
        ]
        for p in points
    ]
    parts.append(
        table(
            ["fraction", "training frames", "test RMSE (px)", "train RMSE (px)"],
            rows,
            numeric={1, 2, 3},
        )
    )
    return "".join(parts)


def _preprocessing(steps: Mapping[str, dict]) -> str:
    parts = ["<h2>5. How little preprocessing still works</h2>"]
    compared = steps.get(PREPROCESSING)
    if not compared:
        return parts[0] + missing(PREPROCESSING)
    variants = compared.get("variants") or []
    parts.append(
        "<p>The labelled frames made again from the recording without the contrast step "
        "(<code>none</code>) and with it (<code>exported</code>: the images that were "
        f"labelled), each trained from random weights for {esc(compared.get('epochs'))} "
        f"epochs on the same {esc(compared.get('n_train'))} frames and tested on the same "
        f"{esc(compared.get('n_test'))}.</p>"
    )

    def redraw() -> bytes:
        from napari_dlc_workbench.dlc.preprocessing import plot_comparison

        return plot_comparison(variants)

    parts.append(
        figure(
            _saved_or(compared.get("plot"), redraw),
            "preprocessing",
            "Test RMSE per preprocessing of the clips.",
        )
    )
    rows = [
        [esc(v.get("name")), fmt(v.get("test_rmse")), fmt(v.get("train_rmse"))] for v in variants
    ]
    parts.append(
        table(["preprocessing", "test RMSE (px)", "train RMSE (px)"], rows, numeric={1, 2})
    )
    return "".join(parts)


def _correction(steps: Mapping[str, dict]) -> str:
    parts = ["<h2>6. Correction iteration</h2>"]
    outliers = steps.get(OUTLIERS)
    if not outliers:
        return parts[0] + missing(OUTLIERS)
    corrected = outliers.get("corrected") or []
    parts.append(
        f"<p>The outlier queue of the analysed clip holds {esc(outliers.get('flagged'))} "
        "frames (the worst of each run of consecutive flagged frames, runs cut every 10 "
        f"frames; reasons: {esc(', '.join(outliers.get('reasons') or []))}); the top "
        f"{len(corrected)} not already labelled were corrected from ground truth and exported "
        f"as iteration {esc((outliers.get('iteration') or [None, None])[-1])}.</p>"
    )
    precision = outliers.get("precision") or {}
    if precision:
        parts.append("<h3>Outlier precision</h3>")
        parts.append(f"<p>Rule: {esc(precision.get('rule', ''))}.</p>")
        rows = [
            [
                "all frames of the clip (base rate)",
                esc(precision.get("n_frames")),
                esc(precision.get("wrong_frames")),
                percent(precision.get("base_rate")),
            ],
            [
                "flagged by the queue",
                esc(precision.get("flagged")),
                esc(precision.get("flagged_wrong")),
                percent(precision.get("precision_flagged")),
            ],
            [
                f"top {esc(precision.get('top'))} (corrected)",
                esc(precision.get("top")),
                esc(precision.get("top_wrong")),
                percent(precision.get("precision_top")),
            ],
        ]
        parts.append(
            table(
                ["frames", "count", "truly wrong", "share wrong (precision)"],
                rows,
                numeric={1, 2, 3},
            )
        )
        parts.append(
            f"<p>Lift over random picking: {fmt(precision.get('lift'))}×; "
            f"{percent(precision.get('wrong_covered'))} of the wrong frames lie inside a "
            "flagged run.</p>"
        )

        def draw_outliers() -> bytes:
            from napari_dlc_workbench.demo.figures import outlier_figure

            return outlier_figure(
                outliers.get("errors") or [],
                outliers.get("flagged_frames") or [],
                corrected,
                precision,
            )

        parts.append(figure(draw_outliers, "outlier precision"))
    before, after = steps.get(EVALUATE), steps.get(EVALUATE_AFTER)
    parts.append("<h3>Test RMSE per bodypart before and after</h3>")
    if not (before and after):
        return "".join([*parts, missing(EVALUATE_AFTER)])

    def draw_rmse() -> bytes:
        from napari_dlc_workbench.demo.figures import rmse_figure

        return rmse_figure(
            before.get("test_rmse_per_bodypart") or {},
            after.get("test_rmse_per_bodypart") or {},
            (before.get("test_rmse"), after.get("test_rmse")),
        )

    parts.append(figure(draw_rmse, "test RMSE per bodypart before and after the correction"))
    names = sorted(
        set(before.get("test_rmse_per_bodypart") or {})
        | set(after.get("test_rmse_per_bodypart") or {})
    )
    rows = [
        [
            esc(n),
            fmt((before.get("test_rmse_per_bodypart") or {}).get(n)),
            fmt((after.get("test_rmse_per_bodypart") or {}).get(n)),
        ]
        for n in names
    ]
    parts.append(table(["bodypart", "before (px)", "after (px)"], rows, numeric={1, 2}))
    return "".join(parts)


def _screenshots(steps: Mapping[str, dict], out: Path) -> str:
    parts = ["<h2>7. Screenshots</h2>"]
    step = steps.get(SCREENSHOT_STEP) or {}
    if step.get("skipped"):
        parts.append(f'<p class="note">Skipped: {esc(step["skipped"])}.</p>')
    elif step.get("failed"):
        parts.append(f'<p class="failed">Failed: {esc(step.get("error"))}</p>')
    files = sorted((out / SCREENSHOT_FOLDER).glob("*.png"))
    for path in files:
        parts.append(img(path.read_bytes(), path.stem, path.name))
    if not files and not step:
        parts.append('<p class="note">No screenshots were taken.</p>')
    return "".join(parts)


def _details(summary: Mapping[str, Any]) -> str:
    steps = [{k: v for k, v in s.items() if k not in _LONG} for s in summary.get("steps", [])]
    text = json.dumps(steps, indent=1, default=str)
    return f"<h2>Step details</h2><details><summary>figures of every step (JSON)</summary><pre>{esc(text)}</pre></details>"


def render_report(summary: Mapping[str, Any], out: str | os.PathLike[str]) -> str:
    """Build the report's HTML text.

    Parameters
    ----------
    summary : mapping
        ``demo-summary.json``'s content.
    out : path
        The demo output folder (for the images the demo left there).

    Returns
    -------
    str
    """
    out = Path(out)
    steps = {s["step"]: s for s in summary.get("steps", [])}
    status = summary.get("status", "unknown")
    badge = {"succeeded": "ok", STOPPED_BEFORE_TRAINING: ""}.get(status, "failed")
    head = (
        f'<h1>DeepLabCut loop demo</h1><p>Status: <span class="{badge}">{esc(status)}</span>'
        f" · size <code>{esc(summary.get('size', ''))}</code>"
        f" · {fmt(summary.get('total_seconds'), 0)} s"
        f" · written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
        f" · output <code>{esc(summary.get('out', out))}</code></p>"
    )
    if summary.get("error"):
        head += f'<p class="failed">{esc(summary["error"])}</p>'
    sections = [
        _timings(summary),
        _crop(steps, out),
        _training(steps),
        _evaluation(steps),
        _learning_curve(steps),
        _preprocessing(steps),
        _correction(steps),
        _screenshots(steps, out),
        _details(summary),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>dlc-workbench demo report</title>"
        f"<style>{STYLE}</style></head><body>{head}{''.join(sections)}</body></html>\n"
    )


def write_report(
    summary: Mapping[str, Any] | str | os.PathLike[str], out: str | os.PathLike[str]
) -> Path:
    """Write ``<out>/report.html`` (atomically) and return its absolute path.

    Parameters
    ----------
    summary : mapping or path
        The summary, or the path of ``demo-summary.json``.
    out : path
        The demo output folder.

    Returns
    -------
    Path
    """
    from napari_dlc_workbench.io.atomic import atomic_write_text

    if not isinstance(summary, Mapping):
        summary = json.loads(Path(summary).read_text(encoding="utf-8"))
    path = Path(out).resolve() / REPORT
    atomic_write_text(path, render_report(summary, out), keep_backups=0)
    return path
