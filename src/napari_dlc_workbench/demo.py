"""``make demo``: the DeepLabCut loop on a synthetic Cladonema recording.

The loop so far, with real DLC functions: generate a full-frame multi-well
recording, crop the five wells with ImageJ-style contrast in one pass (clips
named like the users' ``DSC_3189_#1``), create a DLC project for the clips,
pick frames into ``labeled-data/``, label them from the generator's ground
truth (moved into each clip's crop space) through the same ``write_labels`` a
user's save goes through, let DLC build a training dataset from them, train
a small network offline (random initial weights: no download) and evaluate it,
then run one correction iteration: analyse a clip, rank its outlier frames,
correct them from ground truth through the Outliers dock's queue and export,
retrain from the previous snapshot and evaluate again.
Every DLC call runs in a child process through :mod:`napari_dlc_workbench.dlc.runner`,
as in the docks, so this process never imports torch.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.io.images import frame_image_name, write_png
from napari_dlc_workbench.io.labels import read_labels, write_labels
from napari_dlc_workbench.io.video import decode_frames
from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.model.roi import ROI, ROISet
from napari_dlc_workbench.process.contrast import ContrastSettings
from napari_dlc_workbench.process.crop_export import export_clips
from napari_dlc_workbench.sample import BODYPARTS, SampleSpec, ground_truth, well_rois, write_sample

__all__ = ["DEMO_SIZES", "DemoError", "run_demo", "uniform_frames"]

MARKER = ".dlc-workbench-demo"
TASK = "Cladonema_starved"
EXPERIMENTER = "Vlad&Genta"
RAW_NAME = "DSC_3189"
DEMO_SIZES: dict[str, dict[str, int]] = {
    # Full-frame multi-well recording: frame size, frames, well side; frames labelled per well;
    # training epochs (from random weights on a CPU: enough to see the loss fall, not to track).
    "tiny": {"width": 560, "height": 384, "n_frames": 60, "well": 160, "n_label": 4, "epochs": 3},
    "small": {
        "width": 600,
        "height": 432,
        "n_frames": 300,
        "well": 160,
        "n_label": 20,
        "epochs": 30,
    },
    "full": {
        "width": 1500,
        "height": 1080,
        "n_frames": 3597,
        "well": 400,
        "n_label": 20,
        "epochs": 30,
    },
}
NET_TYPE = "cspnext_s"  # the smallest DLC 3 network: trains on a CPU
DEMO_CORRECTIONS = 10  # outlier frames the simulated annotator corrects
CONTRAST = {"method": "enhance", "saturated": 0.35, "normalize": True}


class DemoError(RuntimeError):
    """A demo step failed; the message names the step."""


@dataclass
class DemoReport:
    """Timings and figures of each demo step, written as ``demo-summary.json``."""

    out: Path
    steps: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str, log: Callable[[str], None]) -> Iterator[dict[str, Any]]:
        """Time one step and collect its figures; wrap failures in DemoError."""
        log(f"[demo] {name} ...")
        figures: dict[str, Any] = {}
        start = time.perf_counter()
        try:
            yield figures
        except Exception as exc:
            raise DemoError(f"demo step '{name}' failed: {exc}") from exc
        seconds = time.perf_counter() - start
        self.steps.append({"step": name, "seconds": round(seconds, 2), **figures})
        log(f"[demo] {name}: done in {seconds:.1f} s {json.dumps(figures, default=str)}")

    def write(self) -> Path:
        """Write the summary JSON and return its path."""
        path = self.out / "demo-summary.json"
        path.write_text(json.dumps({"steps": self.steps}, indent=2, default=str) + "\n")
        return path


def _prepare_output(out: Path) -> None:
    # Re-running the demo replaces its own previous output, and only that:
    # a folder without our marker may hold a user's work.
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise DemoError(f"{out} exists and was not made by the demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by dlc-workbench demo; deleted when the demo runs again\n")


def uniform_frames(n_frames: int, n_pick: int) -> list[int]:
    """Evenly spaced, distinct frame numbers from the whole video."""
    return sorted(set(np.linspace(0, n_frames - 1, min(n_pick, n_frames)).round().astype(int)))


def _job(name: str, log: Callable[[str], None], **kwargs: Any) -> Any:
    """Run a DLC job in a child process; log its epochs; return its result or raise."""
    from napari_dlc_workbench.dlc.runner import Job, run

    def show(event: JobEvent) -> None:
        if event.kind in ("epoch", "snapshot") or (
            event.kind == "log" and "warning" in event.message
        ):
            log(f"[demo]   {event.describe()}")

    final = run(Job(name, kwargs), on_event=show, log_events=False)
    if final.kind != "finished":
        detail = final.traceback.strip().splitlines()[-1:] if final.traceback else []
        raise RuntimeError(" ".join([final.message or final.kind, *detail]))
    return final.result


def _disable_crop_sampling(train_folder: Path, side: int) -> None:
    # DLC trains on 448 px crops by default: a smaller clip is padded up to
    # 448 px, several times the work per image on a CPU for nothing.
    from napari_dlc_workbench.io.config import load_config, save_config

    path = train_folder / "pytorch_config.yaml"
    cfg = load_config(path, validate=False)
    crop = (cfg["data"]["train"] or {}).get("crop_sampling") or {}
    if crop and side <= min(int(crop.get("width", 0)), int(crop.get("height", 0))):
        cfg["data"]["train"]["crop_sampling"] = None
        save_config(cfg, path, validate=False)


def _evaluation_figures(result: dict[str, Any]) -> dict[str, Any]:
    (snapshot,) = result["results"]
    overall = snapshot["overall"]

    def number(value: Any) -> float | None:
        value = float(value)
        return None if np.isnan(value) else round(value, 2)

    return {
        "snapshot": snapshot["snapshot"],
        **{
            key.replace(" ", "_"): number(overall[key])
            for key in ("train rmse", "test rmse", "test rmse_pcutoff", "test mAP", "test mAR")
            if key in overall
        },
        "test_rmse_per_bodypart": {
            bp: round(float(v["Test error (px)"]), 2) for bp, v in snapshot["bodyparts"].items()
        },
        "results_csv": snapshot["results_csv"],
    }


def _correction_iteration(
    report: DemoReport,
    log: Callable[[str], None],
    config: Path,
    *,
    clip: Any,
    truth: np.ndarray,
    labelled: set[int],
    snapshot: Path,
    epochs: int,
    side: int,
) -> None:
    """Analyse a clip, correct its outlier frames from ground truth, export, retrain, evaluate.

    The simulated annotator goes through the same queue and export a user's Outliers dock
    does: rows accepted with corrected points, then ``export_corrections``.
    """
    from napari_dlc_workbench.dlc.training import train_folder
    from napari_dlc_workbench.model.outliers import keypoint_label
    from napari_dlc_workbench.process.corrections import (
        corrections_from_queue,
        export_corrections,
    )
    from napari_dlc_workbench.process.outliers import find_outliers

    video = config.parent / "videos" / clip.path.name
    with report.step("analyse a clip (DeepLabCut)", log) as fig:
        result = _job("analyze", log, config=str(config), videos=[str(video)], snapshot="last")
        (analysed,) = result["videos"]
        fig.update(video=video.name, frames=analysed["frames"], fps=analysed.get("fps"))
    with report.step("find outliers and correct them from ground truth", log) as fig:
        queue = find_outliers(analysed["h5"], config=config, video=video)
        # The clip's pixel (0, 0) is the ROI's corner, as for the first labels.
        corrected = truth - np.array([clip.roi.x, clip.roi.y], dtype=float)
        rows = [row for row in queue.rows if row.frame not in labelled][:DEMO_CORRECTIONS]
        if not rows:
            raise DemoError("the outlier queue flagged no frame to correct")
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
        )
    with report.step("create the next training dataset (DeepLabCut)", log) as fig:
        fig.update(_job("create_training_dataset", log, config=str(config), net_type=NET_TYPE))
    _disable_crop_sampling(train_folder(config, 1), side)
    with report.step("retrain from the previous snapshot (DeepLabCut)", log) as fig:
        retrained = _job(
            "train",
            log,
            config=str(config),
            epochs=epochs,
            batch_size=8,
            snapshot_path=str(snapshot),
        )
        fig.update(epochs=retrained["last_epoch"], snapshot=Path(retrained["last_snapshot"]).name)
    with report.step("evaluate after the correction (DeepLabCut)", log) as fig:
        name = Path(retrained["last_snapshot"]).stem
        fig.update(_evaluation_figures(_job("evaluate", log, config=str(config), snapshots=name)))


def run_demo(
    out: str | Path = "demo-output",
    size: str = "small",
    log: Callable[[str], None] = print,
    *,
    epochs: int | None = None,
) -> Path:
    """Run the demo and return the path of its summary JSON.

    Parameters
    ----------
    out : str or Path
        Output folder; replaced if a previous demo made it.
    size : {"tiny", "small", "full"}
        ``tiny`` for CI, ``small`` for ``make demo``, ``full`` for the users' size.
    log : callable
        Receives one line per step.
    epochs : int, optional
        Training epochs (default per size); 0 stops after the training dataset.

    Returns
    -------
    Path
        ``<out>/demo-summary.json``.

    Raises
    ------
    DemoError
        Naming the step that failed.
    """
    from napari_dlc_workbench.dlc.project import create_project
    from napari_dlc_workbench.dlc.training import train_folder

    if size not in DEMO_SIZES:
        raise DemoError(f"unknown demo size {size!r}; choose one of {sorted(DEMO_SIZES)}")
    dims = DEMO_SIZES[size]
    epochs = dims["epochs"] if epochs is None else int(epochs)
    if epochs < 0:
        raise DemoError(f"epochs must be 0 or more, not {epochs}")
    out = Path(out).resolve()
    _prepare_output(out)
    report = DemoReport(out)
    spec = SampleSpec(
        width=dims["width"],
        height=dims["height"],
        n_frames=dims["n_frames"],
        well_size=dims["well"],
    )

    with report.step("generate multi-well recording", log) as fig:
        files = write_sample(out / "raw", spec, name=RAW_NAME)
        fig.update(video=files.video.name, frames=spec.n_frames, size=f"{spec.width}x{spec.height}")

    with report.step("crop wells with contrast", log) as fig:
        rois = ROISet(
            tuple(
                ROI(name, x, y, w, h).snapped_inside(spec.width, spec.height, even=True)
                for name, x, y, w, h in well_rois(spec)
            )
        )
        clips = export_clips(
            files.video, rois, out / "clips", contrast=ContrastSettings.from_dict(CONTRAST)
        )
        fig.update(clips=[c.path.name for c in clips], contrast=CONTRAST["method"])

    with report.step("create DLC project", log) as fig:
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
    with report.step("pick frames and label them from ground truth", log) as fig:
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

    with report.step("create training dataset (DeepLabCut)", log) as fig:
        fig.update(_job("create_training_dataset", log, config=str(config), net_type=NET_TYPE))
        expected = len(picked) * len(clips)
        if fig["n_train"] + fig["n_test"] != expected:
            raise DemoError(
                f"DeepLabCut used {fig['n_train'] + fig['n_test']} of {expected} frames"
            )

    _disable_crop_sampling(train_folder(config, 1), dims["well"])
    if epochs:
        with report.step("train offline from random weights (DeepLabCut)", log) as fig:
            trained = _job(
                "train", log, config=str(config), epochs=epochs, batch_size=8, weights="random"
            )
            fig.update(
                net_type=NET_TYPE,
                epochs=trained["last_epoch"],
                init=trained["init"],
                snapshot=Path(trained["last_snapshot"]).name,
            )
        with report.step("evaluate (DeepLabCut)", log) as fig:
            snapshot = Path(trained["last_snapshot"]).stem
            fig.update(
                _evaluation_figures(_job("evaluate", log, config=str(config), snapshots=snapshot))
            )
        _correction_iteration(
            report,
            log,
            config,
            clip=clips[0],
            truth=truth[:, 0],
            labelled=set(picked),
            snapshot=Path(trained["last_snapshot"]),
            epochs=max(1, epochs // 3),
            side=dims["well"],
        )

    summary = report.write()
    log(f"[demo] finished: project {config.parent}")
    log(f"[demo] summary: {summary}")
    return summary
