from __future__ import annotations

from pathlib import Path

import pytest

from napari_dlc_workbench.io.rois import load_rois, save_rois
from napari_dlc_workbench.model.roi import ROI, ROIError, ROISet, next_roi_name


def test_crop_string_and_slices_follow_dlc() -> None:
    roi = ROI("#1", 100, 50, 400, 400)
    assert roi.crop_string == "100, 500, 50, 450"
    assert roi.slices == (slice(50, 450), slice(100, 500))
    assert ROI.from_corners("#1", roi.corners()) == roi


def test_users_names_are_kept_and_bad_ones_refused() -> None:
    for name in ("#1", "Vlad&Genta", "井戸 3"):
        assert ROI(name, 0, 0, 2, 2).name == name
    for name in ("a/b", "", " x", "c:d", "t\tab"):
        with pytest.raises(ROIError, match="cannot be part of a file name"):
            ROI(name, 0, 0, 2, 2)


def test_zero_size_and_outside() -> None:
    with pytest.raises(ROIError, match=r"'roi1' is empty \(0x400 px\)"):
        ROI("roi1", 0, 0, 0, 400)
    roi = ROI("#5", 1200, 700, 400, 400)
    with pytest.raises(
        ROIError, match=r"'#5' \(1200, 1600, 700, 1100\) is outside DSC_3189.mp4 \(1500x1080 px\)"
    ):
        roi.check_inside(1500, 1080, "DSC_3189.mp4")
    snapped = roi.snapped_inside(1500, 1080)
    assert (snapped.x, snapped.y, snapped.w, snapped.h) == (1100, 680, 400, 400)
    odd = ROI("o", 3, 5, 401, 399).snapped_inside(1500, 1080, even=True)
    assert (odd.x, odd.y, odd.w, odd.h) == (2, 4, 400, 398)


def test_set_names_unique_and_auto_names() -> None:
    with pytest.raises(ROIError, match="repeated: #1"):
        ROISet((ROI("#1", 0, 0, 2, 2), ROI("#1", 2, 2, 2, 2)))
    assert next_roi_name([]) == "roi1"
    assert next_roi_name(["roi1", "roi3"]) == "roi2"


def test_save_and_load(tmp_path: Path) -> None:
    rois = ROISet((ROI("#1", 0, 0, 400, 400), ROI("#2", 500, 0, 400, 400)), frame_size=(1500, 1080))
    path = save_rois(rois, tmp_path / "rig A & wells.json")
    assert load_rois(path) == rois
    (tmp_path / "bad.json").write_text('{"rois": [{"name": "x"}]}')
    with pytest.raises(ROIError, match=r"bad.json: each ROI needs name, x, y, w, h"):
        load_rois(tmp_path / "bad.json")
    with pytest.raises(ROIError, match="missing.json: cannot read ROIs"):
        load_rois(tmp_path / "missing.json")
