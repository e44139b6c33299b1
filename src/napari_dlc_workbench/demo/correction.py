"""The demo's correction iteration, and how good the outlier ranking was.

The simulated annotator goes through the same queue and export a user's
Outliers dock does: the top rows accepted with points from the generator's
ground truth, then ``export_corrections``; DLC builds iteration 1's training
dataset, the network is retrained from the previous snapshot and evaluated.

Because the recording is synthetic, every frame's real error is known, so the
demo also measures the outlier ranking itself (:func:`outlier_precision`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.demo.core import (
    ANALYSE,
    DEMO_CORRECTIONS,
    EVALUATE_AFTER,
    NET_TYPE,
    NEXT_DATASET,
    OUTLIERS,
    RETRAIN,
    WRONG_FRACTION,
    DemoError,
    DemoReport,
    Log,
    disable_crop_sampling,
    evaluation_figures,
    loss_series,
    run_job,
)
from napari_dlc_workbench.sample import BODYPARTS

__all__ = ["correction_iteration", "frame_errors", "outlier_precision"]


def frame_errors(h5: str | Path, truth: np.ndarray) -> np.ndarray:
    """Per frame, the largest distance (px) of a predicted bodypart from the truth.

    Parameters
    ----------
    h5 : path
        DLC predictions of the clip (read with :func:`~napari_dlc_workbench.io.predictions.read_predictions`).
    truth : ndarray
        ``(n_frames, len(BODYPARTS), 2)`` ground truth in the clip's pixels.

    Returns
    -------
    ndarray
        ``(n_frames,)``; NaN where DLC gave no prediction for a frame.
    """
    from napari_dlc_workbench.io.predictions import read_predictions

    table = read_predictions(h5).table
    errors = np.full(len(truth), np.nan)
    columns = [table.column(bp) for bp in BODYPARTS]
    frames = np.asarray(table.index, dtype=int)
    keep = (frames >= 0) & (frames < len(truth))
    xy = table.xy[keep][:, columns]
    distance = np.hypot(*np.moveaxis(xy - truth[frames[keep]], -1, 0))
    errors[frames[keep]] = np.nanmax(np.where(np.isnan(distance), np.inf, distance), axis=1)
    return errors


def outlier_precision(
    errors: np.ndarray,
    flagged: Sequence[int],
    top: Sequence[int],
    threshold: float,
    runs: Sequence[tuple[int, int]] = (),
) -> dict[str, Any]:
    """Precision of the outlier queue against known per-frame errors.

    A frame is *wrong* when its largest bodypart error exceeds ``threshold``
    pixels (a missing prediction counts as wrong).

    Parameters
    ----------
    errors : ndarray
        Largest bodypart error per frame of the clip, px (:func:`frame_errors`).
    flagged : sequence of int
        The queue's frames (one per flagged run, best first).
    top : sequence of int
        The frames the annotator corrected (the top of the queue).
    threshold : float
        Error (px) above which a frame is wrong.
    runs : sequence of (int, int)
        First and last frame of each flagged run, to count the wrong frames the
        queue covers.

    Returns
    -------
    dict
        ``base_rate`` (share of all frames that are wrong: what picking frames at
        random would hit), ``precision_flagged``, ``precision_top``, their counts,
        ``wrong_covered`` (share of the wrong frames inside a flagged run), and
        ``lift`` (precision of the flagged frames over the base rate).
    """
    errors = np.asarray(errors, dtype=float)
    wrong = ~(errors <= threshold)  # NaN (no prediction) is wrong

    def share(frames: Sequence[int]) -> tuple[int, float | None]:
        hits = int(wrong[list(frames)].sum()) if len(frames) else 0
        return hits, round(hits / len(frames), 3) if len(frames) else None

    flagged_wrong, precision_flagged = share(flagged)
    top_wrong, precision_top = share(top)
    base = float(wrong.mean()) if len(wrong) else 0.0
    inside = np.zeros(len(errors), dtype=bool)
    for start, stop in runs:
        inside[int(start) : int(stop) + 1] = True
    n_wrong = int(wrong.sum())
    return {
        "threshold_px": round(float(threshold), 2),
        "n_frames": len(errors),
        "wrong_frames": n_wrong,
        "base_rate": round(base, 3),
        "flagged": len(flagged),
        "flagged_wrong": flagged_wrong,
        "precision_flagged": precision_flagged,
        "top": len(top),
        "top_wrong": top_wrong,
        "precision_top": precision_top,
        "wrong_covered": round(int((wrong & inside).sum()) / n_wrong, 3) if n_wrong else None,
        "lift": round(precision_flagged / base, 2) if precision_flagged and base else None,
    }


def correction_iteration(
    report: DemoReport,
    log: Log,
    config: Path,
    *,
    clip: Any,
    truth: np.ndarray,
    labelled: set[int],
    snapshot: Path,
    epochs: int,
    side: int,
) -> None:
    """Analyse a clip, correct its outlier frames from ground truth, export, retrain, evaluate."""
    from napari_dlc_workbench.io.evaluation_files import shuffle_files
    from napari_dlc_workbench.model.outliers import keypoint_label
    from napari_dlc_workbench.process.corrections import (
        corrections_from_queue,
        export_corrections,
    )
    from napari_dlc_workbench.process.outliers import find_outliers

    video = config.parent / "videos" / clip.path.name
    with report.step(ANALYSE, log) as fig:
        result = run_job("analyze", log, config=str(config), videos=[str(video)], snapshot="last")
        (analysed,) = result["videos"]
        fig.update(video=video.name, frames=analysed["frames"], fps=analysed.get("fps"))
    with report.step(OUTLIERS, log) as fig:
        queue = find_outliers(analysed["h5"], config=config, video=video)
        # The clip's pixel (0, 0) is the ROI's corner, as for the first labels.
        corrected = truth - np.array([clip.roi.x, clip.roi.y], dtype=float)
        rows = [row for row in queue.rows if row.frame not in labelled][:DEMO_CORRECTIONS]
        if not rows:
            raise DemoError("the outlier queue flagged no frame to correct")
        # Before correcting: how many of the flagged frames were really wrong?
        errors = frame_errors(analysed["h5"], corrected)
        threshold = WRONG_FRACTION * side
        precision = outlier_precision(
            errors,
            [row.frame for row in queue.rows],
            [row.frame for row in rows],
            threshold,
            runs=[tuple(row.run) for row in queue.rows],
        )
        precision["rule"] = (
            f"a frame is wrong when a bodypart is more than {threshold:.0f} px "
            f"({100 * WRONG_FRACTION:.0f} % of the {side} px well) from the ground truth"
        )
        for row in rows:
            row.status = "accepted"
            row.points = {
                keypoint_label(("", bp)): [float(x), float(y)]
                for bp, (x, y) in zip(BODYPARTS, corrected[row.frame], strict=True)
            }
        summary = export_corrections(config, [corrections_from_queue(queue, video=video)])
        fig.update(
            flagged=len(queue.rows),
            corrected=[row.frame for row in rows],
            reasons=sorted({kind for row in rows for kind in row.reasons}),
            iteration=list(summary.iteration),
            precision=precision,
            errors=[None if np.isnan(e) else round(float(e), 1) for e in errors],
            flagged_frames=[row.frame for row in queue.rows],
        )
    with report.step(NEXT_DATASET, log) as fig:
        fig.update(run_job("create_training_dataset", log, config=str(config), net_type=NET_TYPE))
    disable_crop_sampling(shuffle_files(config, 1).train_folder, side)
    with report.step(RETRAIN, log) as fig:
        retrained = run_job(
            "train",
            log,
            config=str(config),
            epochs=epochs,
            batch_size=8,
            snapshot_path=str(snapshot),
        )
        last = Path(retrained["last_snapshot"])
        fig.update(
            epochs=retrained["last_epoch"], snapshot=last.name, loss=loss_series(last.parent)
        )
    with report.step(EVALUATE_AFTER, log) as fig:
        fig.update(
            evaluation_figures(run_job("evaluate", log, config=str(config), snapshots=last.stem))
        )
