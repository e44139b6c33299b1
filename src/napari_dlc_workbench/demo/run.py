"""``run_demo``: the steps of the demo in order, then the summary and the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.demo.core import (
    CONTRAST,
    CREATE,
    CROP,
    CURVE,
    CURVE_FRACTIONS,
    CURVE_TEST_FRACTION,
    DATASET,
    DEMO_SIZES,
    EVALUATE,
    EXPERIMENTER,
    GENERATE,
    LABEL,
    NET_TYPE,
    PREPROCESSING,
    RAW_NAME,
    SCREENSHOT_STEP,
    STOPPED_BEFORE_TRAINING,
    TASK,
    TRAIN,
    DemoError,
    DemoReport,
    Log,
    disable_crop_sampling,
    evaluation_figures,
    loss_series,
    prepare_output,
    run_job,
    uniform_frames,
)
from napari_dlc_workbench.io.images import frame_image_name, write_png
from napari_dlc_workbench.io.labels import read_labels, write_labels
from napari_dlc_workbench.io.video import decode_frames
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.model.roi import ROI, ROISet
from napari_dlc_workbench.process.contrast import ContrastSettings
from napari_dlc_workbench.process.crop_export import export_clips
from napari_dlc_workbench.sample import BODYPARTS, SampleSpec, ground_truth, well_rois, write_sample

__all__ = ["run_demo"]

FIGURES = "figures"  # folder under the output for the report's source images


def _crop_images(out: Path, video: Path, clip: Any, frame: int) -> dict[str, str]:
    # One frame three ways for the report: the full recording, the raw crop of
    # well #1, and the same frame of the exported clip (contrast enhanced).
    folder = out / FIGURES
    folder.mkdir(exist_ok=True)
    (full,) = decode_frames(video, [frame], gray=True).values()
    (cropped,) = decode_frames(clip.path, [frame], gray=True).values()
    roi = clip.roi
    images = {
        "full": full,
        "raw_crop": full[roi.y : roi.y + roi.h, roi.x : roi.x + roi.w],
        "clip": cropped,
    }
    for name, image in images.items():
        write_png(folder / f"{name}.png", np.ascontiguousarray(image), overwrite=True)
    return {name: f"{FIGURES}/{name}.png" for name in images}


def _loop(report: DemoReport, log: Log, dims: dict[str, int], epochs: int, shots: bool) -> Path:
    from napari_dlc_workbench.demo.correction import correction_iteration
    from napari_dlc_workbench.demo.screenshots import take_screenshots
    from napari_dlc_workbench.dlc.project import create_project
    from napari_dlc_workbench.io.evaluation_files import shuffle_files

    out = report.out
    spec = SampleSpec(
        width=dims["width"],
        height=dims["height"],
        n_frames=dims["n_frames"],
        well_size=dims["well"],
    )
    with report.step(GENERATE, log) as fig:
        files = write_sample(out / "raw", spec, name=RAW_NAME)
        fig.update(video=files.video.name, frames=spec.n_frames, size=f"{spec.width}x{spec.height}")

    with report.step(CROP, log) as fig:
        rois = ROISet(
            tuple(
                ROI(name, x, y, w, h).snapped_inside(spec.width, spec.height, even=True)
                for name, x, y, w, h in well_rois(spec)
            )
        )
        clips = export_clips(
            files.video, rois, out / "clips", contrast=ContrastSettings.from_dict(CONTRAST)
        )
        fig.update(
            clips=[c.path.name for c in clips],
            contrast=CONTRAST["method"],
            rois=[[r.name, r.x, r.y, r.w, r.h] for r in rois],
            images=_crop_images(out, files.video, clips[0], spec.n_frames // 2),
        )

    with report.step(CREATE, log) as fig:
        config = create_project(
            TASK,
            EXPERIMENTER,
            [c.path for c in clips],
            out,
            bodyparts=BODYPARTS,
            numframes2pick=dims["n_label"],
        )
        fig.update(project=config.parent.name, videos=len(clips))

    truth = ground_truth(spec)  # (frames, wells, bodyparts, xy) in full-frame pixels
    with report.step(LABEL, log) as fig:
        picked = uniform_frames(spec.n_frames, dims["n_label"])
        points = 0
        for well, clip in enumerate(clips):
            stem = clip.path.stem
            folder = config.parent / "labeled-data" / stem
            folder.mkdir(parents=True, exist_ok=True)
            for index, image in decode_frames(
                config.parent / "videos" / clip.path.name, picked
            ).items():
                write_png(folder / frame_image_name(index, spec.n_frames), image)
            # The clip's pixel (0, 0) is the ROI's corner: labels move by the crop offset.
            xy = truth[picked, well] - np.array([clip.roi.x, clip.roi.y], dtype=float)
            data = np.concatenate([xy, np.full((*xy.shape[:2], 1), np.nan)], axis=2)
            index = [("labeled-data", stem, frame_image_name(i, spec.n_frames)) for i in picked]
            table = KeypointTable(EXPERIMENTER, index, [("", bp) for bp in BODYPARTS], data)
            h5, _ = write_labels(table.to_dataframe(), folder, EXPERIMENTER)
            points += int(np.isfinite(read_labels(h5).to_numpy()).sum() // 2)
        fig.update(frames_per_video=len(picked), videos=len(clips), points=points)

    with report.step(DATASET, log) as fig:
        fig.update(run_job("create_training_dataset", log, config=str(config), net_type=NET_TYPE))
        expected = len(picked) * len(clips)
        if fig["n_train"] + fig["n_test"] != expected:
            raise DemoError(
                f"DeepLabCut used {fig['n_train'] + fig['n_test']} of {expected} frames"
            )

    disable_crop_sampling(shuffle_files(config, 1).train_folder, dims["well"])
    if not epochs:
        return config
    with report.step(TRAIN, log) as fig:
        trained = run_job(
            "train", log, config=str(config), epochs=epochs, batch_size=8, weights="random"
        )
        snapshot = Path(trained["last_snapshot"])
        fig.update(
            net_type=NET_TYPE,
            epochs=trained["last_epoch"],
            init=trained["init"],
            snapshot=snapshot.name,
            loss=loss_series(snapshot.parent),
        )
    with report.step(EVALUATE, log) as fig:
        fig.update(
            evaluation_figures(
                run_job("evaluate", log, config=str(config), snapshots=snapshot.stem)
            )
        )
    with report.step(CURVE, log) as fig:
        # New shuffles of iteration 0 with nested subsets of the labelled frames and one
        # shared test set; shuffle 1's data settings (no crop sampling) are reused.
        curve = run_job(
            "learning_curve",
            log,
            config=str(config),
            fractions=list(CURVE_FRACTIONS[-dims["curve_points"] :]),
            test_fraction=CURVE_TEST_FRACTION,
            epochs=min(epochs, dims["curve_epochs"]),
            batch_size=8,
            weights="random",
        )
        fig.update(
            epochs=min(epochs, dims["curve_epochs"]),
            n_test=len(curve["test_frames"]),
            flattened=curve["flattened"],
            note=curve["note"],
            plot=curve["files"]["plot"],
            points=[
                {
                    key: p.get(key)
                    for key in ("fraction", "n_train", "test_rmse", "train_rmse", "bodyparts")
                }
                for p in curve["points"]
            ],
        )
    with report.step(PREPROCESSING, log) as fig:
        # The users' other question, "how little image processing still works?": the
        # labelled frames re-made from the recording without contrast, one split for both.
        compared = run_job(
            "compare_preprocessing",
            log,
            config=str(config),
            out=str(out / "preprocessing"),
            variants=["none", "exported"],
            record_folders=[str(out / "clips")],  # the project holds copies of the clips
            epochs=min(epochs, dims["curve_epochs"]),
            batch_size=8,
            weights="random",
        )
        fig.update(
            epochs=min(epochs, dims["curve_epochs"]),
            n_train=compared["n_train"],
            n_test=compared["n_test"],
            plot=compared["files"]["plot"],
            variants=[
                {key: v.get(key) for key in ("name", "test_rmse", "train_rmse", "bodyparts")}
                for v in compared["variants"]
            ],
        )
    correction_iteration(
        report,
        log,
        config,
        clip=clips[0],
        truth=truth[:, 0],
        labelled=set(picked),
        snapshot=snapshot,
        epochs=max(1, epochs // 3),
        side=dims["well"],
    )
    if shots:
        with report.step(SCREENSHOT_STEP, log) as fig:
            fig.update(take_screenshots(out, log))
    return config


def run_demo(
    out: str | Path = "demo-output",
    size: str = "small",
    log: Log = print,
    *,
    epochs: int | None = None,
    screenshots: bool = True,
) -> Path:
    """Run the demo and return the path of its summary JSON.

    The summary (``demo-summary.json``) and the report (``report.html``) are
    written also when a step fails, with the steps that ran and the failure.

    Parameters
    ----------
    out : str or Path
        Output folder; replaced if a previous demo made it.
    size : {"tiny", "small", "full"}
        ``tiny`` for CI, ``small`` for ``make demo``, ``full`` for the users' size.
    log : callable
        Receives one line per step; the last line names the report.
    epochs : int, optional
        Training epochs (default per size); 0 stops after the training dataset.
    screenshots : bool
        Take screenshots of the docks at the end (a child process; needs a display
        or ``xvfb-run``, skipped otherwise).

    Returns
    -------
    Path
        ``<out>/demo-summary.json``.

    Raises
    ------
    DemoError
        Naming the step that failed.
    """
    from napari_dlc_workbench.demo.report import write_report

    if size not in DEMO_SIZES:
        raise DemoError(f"unknown demo size {size!r}; choose one of {sorted(DEMO_SIZES)}")
    dims = DEMO_SIZES[size]
    epochs = dims["epochs"] if epochs is None else int(epochs)
    if epochs < 0:
        raise DemoError(f"epochs must be 0 or more, not {epochs}")
    out = Path(out).resolve()
    prepare_output(out)
    report = DemoReport(out, size=size)
    try:
        config = _loop(report, log, dims, epochs, screenshots)
        # An untrained project is not a finished demo: `demo --gui` must not reuse it.
        report.status = "succeeded" if epochs else STOPPED_BEFORE_TRAINING
    except BaseException as exc:
        report.status = "failed"
        report.error = str(exc) or type(exc).__name__
        if isinstance(exc, Exception) and not isinstance(exc, DemoError):
            raise DemoError(f"demo failed: {type(exc).__name__}: {exc}") from exc
        raise
    else:
        log(f"[demo] finished: project {config.parent}")
    finally:
        summary = report.write()
        log(f"[demo] summary: {summary}")
        try:
            html = write_report(summary, out)
        except Exception as exc:  # the report must not hide the demo's own outcome
            log(f"[demo] could not write the report: {type(exc).__name__}: {exc}")
        else:
            log(f"[demo] report: {html}")
    return summary
