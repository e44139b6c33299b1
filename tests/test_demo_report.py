"""The demo's report, outlier precision and screenshots step, without DeepLabCut."""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_dlc_workbench.demo import (
    DemoError,
    core,
    render_report,
    run_demo,
    screenshots,
    write_report,
)
from napari_dlc_workbench.demo.correction import frame_errors, outlier_precision
from napari_dlc_workbench.io.images import write_png
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.sample import BODYPARTS

PNG = b"\x89PNG\r\n\x1a\n"


def loss(epochs: range) -> dict[str, list[Any]]:
    last = epochs[-1]
    return {
        "epoch": list(epochs),
        "train_loss": [0.02 / e for e in epochs],
        "eval_loss": [0.001 if e == last else None for e in epochs],
        "test_rmse": [4.0 if e == last else None for e in epochs],
    }


def evaluation(rmse: float, snapshot: str) -> dict[str, Any]:
    return {
        "snapshot": snapshot,
        "train_rmse": 2.5,
        "test_rmse": rmse,
        "test_rmse_pcutoff": 2.7,
        "test_mAP": 18.4,
        "test_mAR": 32.0,
        "test_rmse_per_bodypart": dict(zip(BODYPARTS, [2.3, 2.8, 8.4, 3.2], strict=True)),
    }


@pytest.fixture
def demo_out(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """A hand-made summary of a whole run, with the images the demo leaves behind."""
    out = tmp_path / "demo"
    (out / "figures").mkdir(parents=True)
    rng = np.random.default_rng(0)
    full = rng.integers(90, 120, (120, 200), dtype=np.uint8)
    write_png(out / "figures" / "full.png", full)
    write_png(out / "figures" / "raw_crop.png", full[:40, :40].copy())
    write_png(out / "figures" / "clip.png", (full[:40, :40] - 90).astype(np.uint8) * 8)
    (out / "screenshots").mkdir()
    write_png(out / "screenshots" / "outliers-dock.png", np.full((8, 8, 3), 200, np.uint8))
    errors = [3.0] * 50
    for frame in (5, 6, 20, 30):
        errors[frame] = 40.0
    steps = [
        {"step": core.GENERATE, "seconds": 6.5, "video": "DSC_3189.mp4", "frames": 50},
        {
            "step": core.CROP,
            "seconds": 3.5,
            "clips": ["DSC_3189_#1.mp4"],
            "contrast": "enhance",
            "rois": [["#1", 0, 0, 40, 40]],
            "images": {k: f"figures/{k}.png" for k in ("full", "raw_crop", "clip")},
        },
        {"step": core.LABEL, "seconds": 2.0, "frames_per_video": 4, "points": 80},
        {"step": core.DATASET, "seconds": 7.0, "n_train": 19, "n_test": 1, "shuffle": 1},
        {
            "step": core.TRAIN,
            "seconds": 30.0,
            "epochs": 3,
            "init": "random",
            "loss": loss(range(1, 4)),
        },
        {"step": core.EVALUATE, "seconds": 9.0, **evaluation(4.15, "snapshot-003")},
        {
            "step": core.CURVE,
            "seconds": 40.0,
            "epochs": 3,
            "n_test": 4,
            "note": "more labelled frames still help",
            "plot": str(out / "missing.png"),  # redrawn from the points
            "points": [
                {"fraction": f, "n_train": n, "test_rmse": r, "train_rmse": 2.0, "bodyparts": {}}
                for f, n, r in ((0.25, 4, 30.0), (0.5, 8, 15.0), (1.0, 16, 9.0))
            ],
        },
        {
            "step": core.OUTLIERS,
            "seconds": 0.4,
            "flagged": 3,
            "corrected": [5, 20],
            "reasons": ["jump"],
            "iteration": [0, 1],
            "errors": errors,
            "flagged_frames": [5, 20, 40],
            "precision": outlier_precision(np.array(errors), [5, 20, 40], [5, 20], 16.0)
            | {"rule": "a frame is wrong when a bodypart is more than 16 px off"},
        },
        {"step": core.RETRAIN, "seconds": 20.0, "epochs": 4, "loss": loss(range(4, 5))},
        {"step": core.EVALUATE_AFTER, "seconds": 9.0, **evaluation(2.8, "snapshot-004")},
        {"step": core.SCREENSHOT_STEP, "seconds": 12.0, "screenshots": ["outliers-dock.png"]},
    ]
    summary = {"size": "tiny", "status": "succeeded", "total_seconds": 150.0, "steps": steps}
    return summary, out


def images(page: str) -> list[str]:
    return re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', page)


def test_report_is_self_contained_with_every_figure(demo_out) -> None:
    summary, out = demo_out
    path = write_report(summary, out)
    assert path == (out / "report.html").resolve()
    page = path.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', page)
    shown = dict(images(page))
    for alt in (
        "crop and contrast",
        "training loss",
        "learning curve",
        "outlier precision",
        "test RMSE per bodypart before and after the correction",
        "outliers-dock",
    ):
        assert base64.b64decode(shown[alt]).startswith(PNG), alt
    assert "figure unavailable" not in page
    # Timings table: every step with its seconds, and the total.
    for step in summary["steps"]:
        assert f"<td>{step['step']}</td>" in page
    assert "150.0" in page
    # Outlier precision: base rate 4/50, flagged 2/3, corrected 2/2.
    assert "8 %" in page and "67 %" in page and "100 %" in page
    assert 'Status: <span class="ok">succeeded' in page


def test_report_of_a_failed_run_names_the_failure(demo_out) -> None:
    summary, out = demo_out
    summary["steps"] = summary["steps"][:5] + [
        {"step": core.EVALUATE, "seconds": 1.0, "failed": True, "error": "boom"}
    ]
    summary |= {"status": "failed", "error": "demo step 'evaluate (DeepLabCut)' failed: boom"}
    page = render_report(summary, out)
    assert 'class="failed">failed' in page and "boom" in page
    assert "did not run" in page  # later sections say so instead of failing
    assert {alt for alt, _ in images(page)} >= {"crop and contrast", "training loss"}


def test_report_survives_missing_images(tmp_path: Path) -> None:
    summary = {
        "status": "succeeded",
        "steps": [
            {"step": core.GENERATE, "seconds": 1.0},
            {"step": core.CROP, "seconds": 1.0, "images": {"full": "nope.png"}},
        ],
    }
    page = render_report(summary, tmp_path)
    assert "crop and contrast: figure unavailable" in page


def test_outlier_precision_against_the_base_rate() -> None:
    errors = np.array([1.0, 30.0, 2.0, 25.0, np.nan, 3.0, 1.0, 1.0, 1.0, 1.0])
    result = outlier_precision(errors, [1, 2, 4], [1], 10.0, runs=[(1, 1), (3, 4)])
    assert result["wrong_frames"] == 3  # 30 px, 25 px and the missing prediction
    assert result["base_rate"] == 0.3
    assert (result["flagged_wrong"], result["precision_flagged"]) == (2, 0.667)
    assert (result["top_wrong"], result["precision_top"]) == (1, 1.0)
    assert result["wrong_covered"] == 1.0
    assert result["lift"] == pytest.approx(0.667 / 0.3, abs=0.01)
    empty = outlier_precision(errors, [], [], 10.0)
    assert empty["precision_flagged"] is None and empty["lift"] is None


def test_frame_errors_from_a_predictions_file(tmp_path: Path) -> None:
    truth = np.zeros((5, len(BODYPARTS), 2)) + 50.0
    data = np.concatenate([truth.copy(), np.ones((5, len(BODYPARTS), 1))], axis=2)
    data[2, 1, :2] += [3.0, 4.0]  # 5 px off
    data[4, 3, :2] = np.nan  # no prediction
    table = KeypointTable(
        "DLC_scorer", list(range(5)), [("", bp) for bp in BODYPARTS], data, has_likelihood=True
    )
    h5 = tmp_path / "clipDLC_scorer.h5"
    table.to_dataframe().to_hdf(h5, key="df_with_missing", mode="w")
    errors = frame_errors(h5, truth)
    assert errors.tolist() == [0.0, 0.0, 5.0, 0.0, np.inf]


def test_screenshot_command_needs_the_module_and_a_display(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(screenshots, "_module_file", lambda: tmp_path / "absent.py")
    assert "not part of this installation" in screenshots.screenshot_command(tmp_path, {})
    module = tmp_path / "screenshots.py"
    module.write_text("")
    monkeypatch.setattr(screenshots, "_module_file", lambda: module)
    command = screenshots.screenshot_command(tmp_path, {"DISPLAY": ":0"})
    assert command[1:] == [
        "-m",
        "napari_dlc_workbench._qt.screenshots",
        str(tmp_path),
        str(tmp_path / "screenshots"),
    ]
    monkeypatch.setattr(screenshots.shutil, "which", lambda name: f"/usr/bin/{name}")
    command = screenshots.screenshot_command(tmp_path, {})
    assert command[:2] == ["/usr/bin/xvfb-run", "-a"] and command[-4] == "-m"
    monkeypatch.setattr(screenshots.shutil, "which", lambda name: None)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert screenshots.screenshot_command(tmp_path, {}).startswith("no display")
    lines: list[str] = []
    assert "skipped" in screenshots.take_screenshots(tmp_path, lines.append)


def test_take_screenshots_lists_pngs_and_fails_on_a_failing_child(tmp_path, monkeypatch) -> None:
    writes = "import sys, pathlib; pathlib.Path(sys.argv[1], 'a.png').write_bytes(b'x')"
    monkeypatch.setattr(
        screenshots,
        "screenshot_command",
        lambda out: [sys.executable, "-c", writes, str(out / "screenshots")],
    )
    result = screenshots.take_screenshots(tmp_path, print)
    assert result["returncode"] == 0 and result["screenshots"] == ["a.png"]
    fails = "import sys; print('no GL context', file=sys.stderr); sys.exit(3)"
    monkeypatch.setattr(
        screenshots, "screenshot_command", lambda out: [sys.executable, "-c", fails]
    )
    with pytest.raises(DemoError, match="exited with 3: no GL context"):
        screenshots.take_screenshots(tmp_path, print)


def test_failed_demo_still_writes_summary_and_report(tmp_path, monkeypatch) -> None:
    import napari_dlc_workbench.demo.run as run

    def loop(report, log, dims, epochs, shots):
        with report.step(core.GENERATE, log) as fig:
            fig.update(frames=60)
        with report.step(core.CROP, log):
            raise ValueError("disk full")

    monkeypatch.setattr(run, "_loop", loop)
    lines: list[str] = []
    with pytest.raises(DemoError, match="crop wells with contrast.*disk full"):
        run_demo(tmp_path / "out", size="tiny", log=lines.append)
    summary = json.loads((tmp_path / "out" / "demo-summary.json").read_text())
    assert summary["status"] == "failed"
    assert [s.get("failed", False) for s in summary["steps"]] == [False, True]
    report = tmp_path.resolve() / "out" / "report.html"
    assert lines[-1] == f"[demo] report: {report}"
    assert "disk full" in report.read_text(encoding="utf-8")
