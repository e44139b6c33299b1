"""The Crop & contrast dock's Qt-free state: shapes to ROIs, mapping cache, preview, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.rois import save_rois
from napari_dlc_workbench.io.video import VideoReader
from napari_dlc_workbench.model.roi import ROI, ROIError, ROISet
from napari_dlc_workbench.process import crop_session as cs
from napari_dlc_workbench.process.contrast import ContrastSettings, fit_contrast
from napari_dlc_workbench.process.crop_export import ExportOptions
from napari_dlc_workbench.sample import SampleSpec, write_sample

SPEC = SampleSpec.tiny()  # 240 x 176 px, 40 frames
FRAME = (SPEC.width, SPEC.height)
ENHANCE = ContrastSettings(method="enhance", sample_frames=8)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("raw"), SPEC, name="DSC_3189").video


def rect(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[y, x], [y, x + w], [y + h, x + w], [y + h, x]], dtype=float)


def test_video_source_only_for_video_frames_layers() -> None:
    meta = {"workbench": {"kind": "frames", "source": "/data/DSC_3189.MP4"}}
    assert cs.video_source(meta) == Path("/data/DSC_3189.MP4")
    assert cs.video_source({"workbench": {"kind": "frames", "source": "/data/stack.tif"}}) is None
    assert cs.video_source({"workbench": {"kind": "labels", "source": "/d/a.mp4"}}) is None
    assert cs.video_source({}) is None


def test_shapes_become_snapped_even_rois_inside_the_frame() -> None:
    shapes = [rect(-13.3, 89.4, 64.2, 63.7), rect(201.0, 150.6, 61.0, 41.0)]
    rois = cs.rois_from_shapes(shapes, ["#1", "#2"], FRAME)
    assert rois.frame_size == FRAME
    assert [r.crop_string for r in rois] == ["0, 64, 88, 152", "180, 240, 136, 176"]
    for roi in rois:
        assert not (roi.x | roi.y | roi.w | roi.h) % 2
        roi.check_inside(*FRAME)


def test_fixed_size_keeps_the_centre_and_caps_at_the_frame() -> None:
    [roi] = cs.rois_from_shapes([rect(100, 60, 31, 20)], ["a"], FRAME, fixed_size=(65, 64))
    assert (roi.w, roi.h) == (64, 64)  # even
    assert abs(roi.x + roi.w / 2 - 115.5) <= 2 and abs(roi.y + roi.h / 2 - 70) <= 2
    [big] = cs.rois_from_shapes([rect(10, 10, 20, 20)], ["a"], FRAME, fixed_size=(400, 400))
    assert big.crop_string == "0, 240, 0, 176"


def test_any_shape_becomes_its_bounding_rectangle() -> None:
    polygon = np.array([[10, 20], [50, 80], [30, 5]], dtype=float)
    in_3d = np.array([[7, 10, 20], [7, 10, 30], [7, 40, 30], [7, 40, 20]], dtype=float)
    dot = rect(50, 50, 0, 0)
    rois = cs.rois_from_shapes([polygon, in_3d, dot], ["p", "q", "r"], FRAME)
    assert [r.crop_string for r in rois] == ["4, 78, 10, 50", "20, 30, 10, 40", "50, 52, 50, 52"]


def test_missing_repeated_or_unusable_names_get_free_roi_names() -> None:
    shapes = [rect(0, 0, 10, 10)] * 5
    rois = cs.rois_from_shapes(shapes, ["", "roi1", float("nan"), "roi1", "a/b"], FRAME)
    assert [r.name for r in rois] == ["roi2", "roi1", "roi3", "roi4", "roi5"]


def test_same_geometry() -> None:
    rois = ROISet((ROI("a", 2, 4, 10, 12),))
    corners = [np.array(rois.rois[0].corners())]
    assert cs.same_geometry(corners, ["rectangle"], rois)
    assert not cs.same_geometry(corners, ["polygon"], rois)
    assert not cs.same_geometry([corners[0] + 0.5], ["rectangle"], rois)
    assert not cs.same_geometry([], [], rois)


def test_add_roi_centres_names_and_snaps() -> None:
    rois = ROISet((ROI("roi1", 0, 0, 10, 10),))
    roi = cs.add_roi(rois, (88.0, 120.0), (64, 64), FRAME)
    assert (roi.name, roi.crop_string) == ("roi2", "88, 152, 56, 120")
    corner = cs.add_roi(ROISet(()), (170.0, 235.0), (400, 400), FRAME)
    assert (corner.name, corner.crop_string) == ("roi1", "0, 240, 0, 176")


def test_rename_refuses_duplicates_and_bad_names() -> None:
    rois = ROISet((ROI("roi1", 0, 0, 10, 10), ROI("roi2", 10, 0, 10, 10)), FRAME)
    renamed = cs.rename_roi(rois, 0, "#1")
    assert [r.name for r in renamed] == ["#1", "roi2"] and renamed.frame_size == FRAME
    with pytest.raises(ROIError, match="unique"):
        cs.rename_roi(rois, 0, "roi2")
    with pytest.raises(ROIError, match="file name"):
        cs.rename_roi(rois, 0, "a:b")


def test_read_roi_file_takes_saved_sets_and_export_records(tmp_path: Path) -> None:
    rois = ROISet((ROI("#1", 0, 0, 64, 64), ROI("#2", 64, 0, 64, 64)), FRAME)
    save_rois(rois, tmp_path / "rig.json")
    assert cs.read_roi_file(tmp_path / "rig.json") == rois
    record = {
        "source": "DSC_3189.mp4",
        "options": {"codec": "h264", "crf": 17, "gop": 10, "name_template": "{stem}_{roi}"},
        "contrast": ENHANCE.to_dict(),
        "clips": [{"roi": r.to_dict(), "path": f"DSC_3189_{r.name}.mp4"} for r in rois],
    }
    (tmp_path / "DSC_3189.crops.json").write_text(json.dumps(record), encoding="utf-8")
    assert cs.read_roi_file(tmp_path / "DSC_3189.crops.json").rois == rois.rois
    with pytest.raises(ROIError, match="nothing.json"):
        cs.read_roi_file(tmp_path / "nothing.json")


def test_default_out_dir() -> None:
    video, config = Path("/raw/DSC_3189.mp4"), Path("/proj/config.yaml")
    assert cs.default_out_dir(video, config) == Path("/proj/videos")
    assert cs.default_out_dir(video, None) == Path("/raw/crops")
    assert cs.default_out_dir(None, None) is None


def test_fit_missing_matches_the_export_and_refits_only_what_changed(
    video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rois = ROISet((ROI("#1", 8, 8, 64, 64), ROI("#2", 88, 8, 64, 64)))
    fitted: list[list[str]] = []
    real = cs.fit_roi_mappings

    def counting(reader, todo, settings):
        fitted.append([r.name for r in todo])
        return real(reader, todo, settings)

    monkeypatch.setattr(cs, "fit_roi_mappings", counting)
    cache, decoded = cs.MappingCache(), []
    with VideoReader(video, gray=True) as reader:
        mappings = cs.fit_missing(reader, rois, ENHANCE, cache, progress=decoded.append)
        assert mappings == real(reader, rois, ENHANCE)  # what export_clips applies
        assert decoded == list(range(1, len(decoded) + 1)) and len(decoded) == 8
        moved = ROISet((rois.rois[0], ROI("#2", 100, 8, 64, 64)))
        renamed = ROISet((ROI("well A", 8, 8, 64, 64), rois.rois[1]))
        cs.fit_missing(reader, moved, ENHANCE, cache)
        again = cs.fit_missing(reader, renamed, ENHANCE, cache)
        cs.fit_missing(reader, rois, ContrastSettings("enhance", gamma=0.8, sample_frames=8), cache)
    assert fitted == [["#1", "#2"], ["#2"], ["#1", "#2"]]
    assert again["well A"] == mappings["#1"]


def test_fit_cancel_stores_nothing(video: Path) -> None:
    rois = ROISet((ROI("#1", 8, 8, 64, 64),))
    cache = cs.MappingCache()
    with VideoReader(video, gray=True) as reader, pytest.raises(cs.FitCancelled):
        cs.fit_missing(reader, rois, ENHANCE, cache, cancel=lambda: True)
    assert len(cache.missing(rois, ENHANCE)) == 1


def test_preview_maps_only_the_rois_grey() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 140, (176, 240), dtype=np.uint8)
    rois = ROISet((ROI("a", 10, 20, 64, 64), ROI("b", 100, 20, 64, 64)))
    mapping = fit_contrast(frame[None, 20:84, 10:74], ContrastSettings("enhance"))
    out = cs.preview_frame(frame, rois, {"a": mapping})  # "b" has no mapping yet
    np.testing.assert_array_equal(out[20:84, 10:74], mapping.apply(frame[20:84, 10:74]))
    outside = np.ones(frame.shape, bool)
    outside[20:84, 10:74] = False
    np.testing.assert_array_equal(out[outside], frame[outside])
    assert out is not frame and not np.array_equal(out, frame)


def test_preview_on_rgb_maps_luma_and_keeps_colour() -> None:
    rng = np.random.default_rng(1)
    grey = rng.integers(60, 140, (50, 60), dtype=np.uint8)
    roi = ROISet((ROI("a", 0, 0, 40, 50),))
    mapping = fit_contrast(grey[None, :, :40], ContrastSettings("enhance"))
    out = cs.preview_frame(np.repeat(grey[..., None], 3, axis=2), roi, {"a": mapping})
    for channel in range(3):  # a grey recording shows exactly the mapped grey
        np.testing.assert_array_equal(out[:, :40, channel], mapping.apply(grey[:, :40]))
    np.testing.assert_array_equal(out[:, 40:, 0], grey[:, 40:])
    tint = np.clip(np.stack([grey + 20, grey, grey - 20], axis=-1), 0, 255).astype(np.uint8)
    shown = cs.preview_frame(tint, roi, {"a": mapping}).astype(int)[:, :40]
    unclipped = (shown > 0).all(-1) & (shown < 255).all(-1)
    # The colour planes are kept: channel differences survive where nothing clipped.
    assert np.array_equal((shown[..., 0] - shown[..., 1])[unclipped], np.full(unclipped.sum(), 20))
    identity = fit_contrast(grey[None], ContrastSettings("none"))
    np.testing.assert_array_equal(cs.preview_frame(tint, roi, {"a": identity}), tint)


def test_export_job_checks_its_inputs() -> None:
    rois = ROISet((ROI("a", 0, 0, 64, 64),))
    with pytest.raises(ValueError, match="config.yaml"):
        cs.ExportJob((Path("v.mp4"),), rois, Path("out"), link_only=True)
    with pytest.raises(ROIError, match="at least one ROI"):
        cs.ExportJob((Path("v.mp4"),), ROISet(()), Path("out"))
    job = cs.ExportJob((Path("v.mp4"),), rois, Path("out"), ContrastSettings("none"))
    assert job.contrast is None and job.options == ExportOptions()


def test_run_export_crops_reports_failures_and_cancels(video: Path, tmp_path: Path) -> None:
    rois = ROISet((ROI("#1", 8, 8, 64, 64),))
    missing = tmp_path / "missing.mp4"
    job = cs.ExportJob((missing, video), rois, tmp_path / "clips", ENHANCE)
    ticks: list[tuple[int, int]] = []
    report, summary = cs.run_export(job, progress=lambda i, n, f, nf, v: ticks.append((i, f)))
    assert (tmp_path / "clips" / "DSC_3189_#1.mp4").is_file()
    assert list(report.failed) == [missing] and "missing.mp4" in summary
    assert summary.startswith("1 clips written") and ticks[-1] == (1, SPEC.n_frames)
    cancelled = cs.ExportJob((video,), ROISet((ROI("#2", 88, 8, 64, 64),)), tmp_path / "c2")
    report, summary = cs.run_export(cancelled, cancel=lambda: True)
    assert report.cancelled and "cancelled" in summary


def test_run_export_without_reencode_links_and_registers(
    video: Path, openfield: Path, tmp_path: Path
) -> None:
    rois = ROISet((ROI("#1", 8, 8, 64, 64), ROI("#2", 88, 8, 64, 64)))
    config = openfield / "config.yaml"
    missing = tmp_path / "missing.mp4"
    job = cs.ExportJob((video, missing), rois, openfield / "videos", config=config, link_only=True)
    report, summary = cs.run_export(job)
    assert summary.startswith("2 links registered in config.yaml") and "missing.mp4" in summary
    cfg = load_config(config)
    for roi in rois:
        link = openfield / "videos" / f"DSC_3189_{roi.name}.mp4"
        assert link.resolve() == video.resolve()
        assert cfg["video_sets"][str(link)]["crop"] == roi.crop_string
