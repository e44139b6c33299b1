from __future__ import annotations

from pathlib import Path

import pytest

from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.model.project import Project, parse_crop


def test_project_from_real_config(openfield_source: Path) -> None:
    project = Project.from_config(
        load_config(openfield_source / "config.yaml"), openfield_source / "config.yaml"
    )
    assert project.scorer == "Pranav" and project.task == "openfield"
    assert project.bodyparts == ("snout", "leftear", "rightear", "tailbase")
    assert not project.multianimal and project.individuals == ()
    assert project.keypoints[0] == ("", "snout")
    assert project.pcutoff == 0.4 and project.colormap == "jet" and project.dotsize == 8
    assert project.videos[0].crop == (0, 640, 0, 480)
    assert project.labels_folder("m4s1") == openfield_source / "labeled-data" / "m4s1"


def test_multianimal_keypoint_order() -> None:
    cfg = {
        "Task": "t",
        "scorer": "s",
        "multianimalproject": True,
        "individuals": ["w1", "w2"],
        "multianimalbodyparts": ["mouth", "prey"],
        "uniquebodyparts": ["light"],
        "video_sets": {
            r"C:\Users\lab\Cladonema_starved-Vlad&Genta-2025-06-13\videos\DSC_3189_#1.avi": {
                "crop": "0, 400, 0, 400"
            }
        },
    }
    project = Project.from_config(cfg, "config.yaml")
    assert project.keypoints == [
        ("w1", "mouth"),
        ("w1", "prey"),
        ("w2", "mouth"),
        ("w2", "prey"),
        ("single", "light"),
    ]
    assert project.videos[0].stem == "DSC_3189_#1"


def test_parse_crop() -> None:
    assert parse_crop("0, 400, 10, 410") == (0, 400, 10, 410)
    assert parse_crop(None) is None
    with pytest.raises(ValueError, match="x1, x2, y1, y2"):
        parse_crop("0, 400")
    with pytest.raises(ValueError, match="empty"):
        parse_crop("10, 5, 0, 1")
