"""An exported clip is a video DLC itself analyses (issue: crop & contrast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_dlc_workbench.dlc.runner import Job, run
from napari_dlc_workbench.io.predictions import read_predictions

pytestmark = pytest.mark.dlc


def test_deeplabcut_analyze_videos_runs_on_an_exported_clip(tiny_project: Path) -> None:
    trained = run(
        Job(
            "train",
            {
                "config": str(tiny_project),
                "shuffle": 1,
                "epochs": 1,
                "batch_size": 4,
                "weights": "random",
            },
        )
    )
    assert trained.kind == "finished", trained.message
    clip = (
        tiny_project.parent / "videos" / "DSC_3189_#2.mp4"
    )  # written by the workbench's crop export
    analysed = run(
        Job(
            "deeplabcut:analyze_videos",
            {"config": str(tiny_project), "videos": [str(clip)], "shuffle": 1, "save_as_csv": True},
        )
    )
    assert analysed.kind == "finished", analysed.message + (analysed.traceback or "")
    [h5] = [
        p for p in clip.parent.glob("DSC_3189_#2DLC_*.h5") if not p.name.endswith("_filtered.h5")
    ]
    predictions = read_predictions(h5)
    assert predictions.video_stem == "DSC_3189_#2"
    assert len(predictions.table) == 60  # every frame of the clip
    assert predictions.table.bodyparts == ("manubrium_base", "mouth", "prey", "tentacle_base")
    assert predictions.meta["nframes"] == 60
