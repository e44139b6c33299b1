"""What every demo step shares: sizes, the step recorder, DLC jobs in a child process."""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.model.jobs import JobEvent

__all__ = [
    "demo_finished",
    "CONTRAST",
    "DEMO_CORRECTIONS",
    "DEMO_SIZES",
    "NET_TYPE",
    "STOPPED_BEFORE_TRAINING",
    "DemoError",
    "DemoReport",
    "Log",
    "evaluation_figures",
    "loss_series",
    "run_job",
    "uniform_frames",
]

Log = Callable[[str], None]

MARKER = ".dlc-workbench-demo"
SUMMARY = "demo-summary.json"
# The status of a demo run with --epochs 0: it did what was asked, but there is nothing to show.
STOPPED_BEFORE_TRAINING = "stopped before training"
TASK = "Cladonema_starved"
EXPERIMENTER = "Vlad&Genta"
RAW_NAME = "DSC_3189"
DEMO_SIZES: dict[str, dict[str, int]] = {
    # Full-frame multi-well recording: frame size, frames, well side; frames labelled per well;
    # training epochs (from random weights on a CPU: enough to see the loss fall, not to track);
    # epochs of each learning-curve subset (fewer: the curve trains one network per point)
    # and its points: the largest fractions of CURVE_FRACTIONS (tiny: 50 % and 100 %, as
    # each point costs a dataset, a training start and an evaluation).
    "tiny": {
        "width": 560,
        "height": 384,
        "n_frames": 60,
        "well": 160,
        "n_label": 4,
        "epochs": 3,
        "curve_epochs": 3,
        "curve_points": 2,
    },
    "small": {
        "width": 600,
        "height": 432,
        "n_frames": 300,
        "well": 160,
        "n_label": 20,
        "epochs": 30,
        "curve_epochs": 10,
        "curve_points": 3,
    },
    "full": {
        "width": 1500,
        "height": 1080,
        "n_frames": 3597,
        "well": 400,
        "n_label": 20,
        "epochs": 30,
        "curve_epochs": 10,
        "curve_points": 3,
    },
}
NET_TYPE = "cspnext_s"  # the smallest DLC 3 network: trains on a CPU
DEMO_CORRECTIONS = 10  # outlier frames the simulated annotator corrects
CONTRAST = {"method": "enhance", "saturated": 0.35, "normalize": True}
CURVE_FRACTIONS = (0.25, 0.5, 1.0)
CURVE_TEST_FRACTION = 0.2  # held out by the learning curve (4 of the tiny demo's 20 frames)
WRONG_FRACTION = 0.10
"""A prediction is wrong when a bodypart is off by more than this fraction of the well side."""


# Step names: the summary's keys, the report's sections, the tests' look-ups.
GENERATE = "generate multi-well recording"
CROP = "crop wells with contrast"
CREATE = "create DLC project"
LABEL = "pick frames and label them from ground truth"
DATASET = "create training dataset (DeepLabCut)"
TRAIN = "train offline from random weights (DeepLabCut)"
EVALUATE = "evaluate (DeepLabCut)"
CURVE = "learning curve (DeepLabCut)"
PREPROCESSING = "compare preprocessing: no contrast vs enhanced (DeepLabCut)"
ANALYSE = "analyse a clip (DeepLabCut)"
OUTLIERS = "find outliers and correct them from ground truth"
NEXT_DATASET = "create the next training dataset (DeepLabCut)"
RETRAIN = "retrain from the previous snapshot (DeepLabCut)"
EVALUATE_AFTER = "evaluate after the correction (DeepLabCut)"
SCREENSHOT_STEP = "screenshots of the docks"


class DemoError(RuntimeError):
    """A demo step failed; the message names the step."""


@dataclass
class DemoReport:
    """Timings and figures of each demo step, written as ``demo-summary.json``.

    A failed step is recorded too (``failed``, ``error`` and the figures it had
    gathered), so the summary and the HTML report show how far the demo got.
    """

    out: Path
    size: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def step(self, name: str, log: Log) -> Iterator[dict[str, Any]]:
        """Time one step and collect its figures; wrap failures in DemoError."""
        log(f"[demo] {name} ...")
        figures: dict[str, Any] = {}
        start = time.perf_counter()
        try:
            yield figures
        except Exception as exc:
            seconds = time.perf_counter() - start
            message = str(exc) if isinstance(exc, DemoError) else f"{type(exc).__name__}: {exc}"
            self.steps.append(
                {
                    "step": name,
                    "seconds": round(seconds, 2),
                    "failed": True,
                    "error": message,
                    **figures,
                }
            )
            log(f"[demo] {name}: FAILED after {seconds:.1f} s: {message}")
            raise DemoError(f"demo step '{name}' failed: {message}") from exc
        seconds = time.perf_counter() - start
        self.steps.append({"step": name, "seconds": round(seconds, 2), **figures})
        shown = {k: v for k, v in figures.items() if k not in _LONG}
        log(f"[demo] {name}: done in {seconds:.1f} s {json.dumps(shown, default=str)}")

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain JSON data."""
        return {
            "size": self.size,
            "status": self.status,
            "error": self.error,
            "total_seconds": round(time.perf_counter() - self.started, 1),
            "out": str(self.out),
            "steps": self.steps,
        }

    def write(self) -> Path:
        """Write the summary JSON and return its path."""
        path = self.out / SUMMARY
        text = json.dumps(_json_safe(self.to_dict()), indent=2, default=str)
        path.write_text(text + "\n", encoding="utf-8")
        return path


# Long per-frame series kept in the summary but not echoed on the log line.
_LONG = {"loss", "errors", "flagged_frames", "points", "rois", "images"}


def _json_safe(value: Any) -> Any:
    # JSON has no NaN: DLC leaves metrics empty on epochs it did not evaluate.
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def prepare_output(out: Path) -> None:
    """Empty ``out`` if a previous demo made it; refuse any other non-empty folder."""
    # Re-running the demo replaces its own previous output, and only that:
    # a folder without our marker may hold a user's work.
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise DemoError(f"{out} exists and was not made by the demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by dlc-workbench demo; deleted when the demo runs again\n")


def demo_finished(folder: str | Path) -> bool:
    """Whether ``folder`` holds a demo that ran to its end (its summary says it succeeded).

    A demo run with ``--epochs 0`` stops before training (status `STOPPED_BEFORE_TRAINING`):
    not finished.
    """
    try:
        summary = json.loads((Path(folder) / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("status", "succeeded") == "succeeded"


def uniform_frames(n_frames: int, n_pick: int) -> list[int]:
    """Evenly spaced, distinct frame numbers from the whole video."""
    return sorted(set(np.linspace(0, n_frames - 1, min(n_pick, n_frames)).round().astype(int)))


def run_job(name: str, log: Log, **kwargs: Any) -> Any:
    """Run a DLC job in a child process; log its epochs; return its result or raise."""
    from napari_dlc_workbench.dlc.runner import Job, run

    def show(event: JobEvent) -> None:
        if (
            event.kind in ("epoch", "snapshot")
            or (event.kind == "log" and "warning" in event.message)
            or (event.kind == "progress" and event.stage == "subset")
        ):
            log(f"[demo]   {event.describe()}")

    final = run(Job(name, kwargs), on_event=show, log_events=False)
    if final.kind != "finished":
        detail = final.traceback.strip().splitlines()[-1:] if final.traceback else []
        raise RuntimeError(" ".join([final.message or final.kind, *detail]))
    return final.result


def disable_crop_sampling(train_folder: Path, side: int) -> None:
    """Train on whole clips: no 448 px crop sampling when the clip is smaller."""
    # DLC trains on 448 px crops by default: a smaller clip is padded up to
    # 448 px, several times the work per image on a CPU for nothing.
    from napari_dlc_workbench.io.config import load_config, save_config

    path = train_folder / "pytorch_config.yaml"
    cfg = load_config(path, validate=False)
    crop = (cfg["data"]["train"] or {}).get("crop_sampling") or {}
    if crop and side <= min(int(crop.get("width", 0)), int(crop.get("height", 0))):
        cfg["data"]["train"]["crop_sampling"] = None
        save_config(cfg, path, validate=False)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 2)


def evaluation_figures(result: dict[str, Any]) -> dict[str, Any]:
    """Collect the figures of one ``evaluate`` job: overall RMSE, mAP and test RMSE per bodypart."""
    (snapshot,) = result["results"]
    overall = snapshot["overall"]
    return {
        "snapshot": snapshot["snapshot"],
        **{
            key.replace(" ", "_"): _number(overall[key])
            for key in ("train rmse", "test rmse", "test rmse_pcutoff", "test mAP", "test mAR")
            if key in overall
        },
        "test_rmse_per_bodypart": {
            bp: _number(v["Test error (px)"]) for bp, v in snapshot["bodyparts"].items()
        },
        "results_csv": snapshot["results_csv"],
    }


def loss_series(train_folder: Path) -> dict[str, list[float | None]]:
    """Train loss, eval loss and test RMSE per epoch from DLC's ``learning_stats.csv``."""
    from napari_dlc_workbench.dlc.training import read_learning_stats

    rows = read_learning_stats(train_folder)
    columns = {
        "epoch": "step",
        "train_loss": "losses/train.total_loss",
        "eval_loss": "losses/eval.total_loss",
        "test_rmse": "metrics/test.rmse",
    }

    def value(row: dict[str, float], column: str) -> float | None:
        cell = row.get(column, math.nan)
        return None if math.isnan(cell) else float(f"{cell:.4g}")

    return {key: [value(row, column) for row in rows] for key, column in columns.items()}
