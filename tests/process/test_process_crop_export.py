"""Crop export: one decode, one encoder per ROI, exact clips, safe names, DLC project updated."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.video import VideoReader, probe_video
from napari_dlc_workbench.model.roi import ROI, ROIError, ROISet
from napari_dlc_workbench.process.contrast import ContrastMapping, ContrastSettings
from napari_dlc_workbench.process.crop_batch import crop_batch, link_crops
from napari_dlc_workbench.process.crop_export import (
    ExportCancelled,
    ExportOptions,
    export_clips,
    luma_mapper,
    register_clips,
)
from napari_dlc_workbench.sample import SampleSpec, well_rois, write_sample

from support import snapshot_tree

ENHANCE = ContrastSettings(method="enhance", saturated=0.35, sample_frames=10)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ROISet]:
    spec = SampleSpec.tiny()
    files = write_sample(tmp_path_factory.mktemp("raw"), spec, name="DSC_3189")
    rois = ROISet(
        tuple(
            ROI(n, x, y, w, h).snapped_inside(spec.width, spec.height, even=True)
            for n, x, y, w, h in well_rois(spec)
        )
    )
    return files.video, rois


def sequential_grey(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def yuv_frames(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    import av

    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frame = frame.reformat(format="yuv420p")
            planes = []
            for plane in frame.planes:
                data = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
                planes.append(data[:, : plane.width].copy())
            out.append(tuple(planes))
    return out


def test_lossless_clips_equal_mapped_crops_of_every_frame(
    recording: tuple[Path, ROISet], tmp_path: Path
) -> None:
    video, rois = recording
    clips = export_clips(
        video, rois, tmp_path, contrast=ENHANCE, options=ExportOptions(codec="ffv1")
    )
    source = yuv_frames(video)
    assert [c.path.name for c in clips] == [f"DSC_3189_#{i}.mkv" for i in range(1, 6)]
    source_grey = sequential_grey(video)
    for clip in clips:
        mapping = ContrastMapping.from_dict(clip.mapping)
        mapper = luma_mapper(mapping)
        rows, cols = clip.roi.slices
        half = (slice(rows.start // 2, rows.stop // 2), slice(cols.start // 2, cols.stop // 2))
        exported = yuv_frames(clip.path)
        assert len(exported) == len(source) == 40
        for (y, u, v), (cy, cu, cv) in zip(source, exported, strict=True):
            np.testing.assert_array_equal(cy, mapper(y[rows, cols]))
            np.testing.assert_array_equal(cu, u[half])
            np.testing.assert_array_equal(cv, v[half])
        # What a reader shows is the mapping applied to what it showed of the source
        # (up to one grey level of rounding through the video's 16..235 luma range).
        for k, grey in enumerate(sequential_grey(clip.path)):
            expected = mapping.apply(source_grey[k][rows, cols]).astype(int)
            assert np.abs(grey.astype(int) - expected).max() <= 1
        assert not mapping.is_identity


def test_h264_clips_are_close_seekable_and_opencv_reads_them(
    recording: tuple[Path, ROISet], tmp_path: Path
) -> None:
    import cv2

    video, rois = recording
    clips = export_clips(video, rois, tmp_path, contrast=ENHANCE, options=ExportOptions(gop=5))
    source = yuv_frames(video)
    info = probe_video(clips[0].path)
    assert info.fps == Fraction(30000, 1001) and info.n_frames == 40
    assert VideoReader(clips[0].path).index.max_gop() <= 5
    for clip in clips:
        capture = cv2.VideoCapture(str(clip.path))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
        assert (
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        ) == (clip.roi.w, clip.roi.h)
        ok, first = capture.read()
        assert ok and first.shape == (clip.roi.h, clip.roi.w, 3)
        capture.release()
        mapper = luma_mapper(ContrastMapping.from_dict(clip.mapping))
        rows, cols = clip.roi.slices
        for (y, _, _), (cy, _, _) in zip(source, yuv_frames(clip.path), strict=True):
            error = np.abs(cy.astype(int) - mapper(y[rows, cols]).astype(int))
            # Lossy: within 2 % of the range on average. The sample's sensor noise, stretched
            # about 4x by the contrast, is what H.264 at crf 17 smooths most.
            assert error.mean() < 0.02 * 255


def test_rerun_skips_finished_clips_and_no_contrast_is_a_plain_crop(
    recording: tuple[Path, ROISet], tmp_path: Path
) -> None:
    video, rois = recording
    first = export_clips(video, rois, tmp_path, options=ExportOptions(codec="ffv1"))
    mtimes = [c.path.stat().st_mtime_ns for c in first]
    again = export_clips(video, rois, tmp_path, options=ExportOptions(codec="ffv1"))
    assert all(c.skipped for c in again)
    assert [c.path.stat().st_mtime_ns for c in again] == mtimes
    y = yuv_frames(video)[7][0]
    rows, cols = rois.rois[2].slices
    np.testing.assert_array_equal(yuv_frames(first[2].path)[7][0], y[rows, cols])
    sidecar = json.loads((tmp_path / "DSC_3189.crops.json").read_text())
    assert sidecar["options"]["codec"] == "ffv1" and sidecar["contrast"] is None


def test_cancel_leaves_no_clip_under_final_name(
    recording: tuple[Path, ROISet], tmp_path: Path
) -> None:
    video, rois = recording
    calls = iter(range(10_000))
    with pytest.raises(ExportCancelled):
        export_clips(video, rois, tmp_path, cancel=lambda: next(calls) > 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_bad_rois_and_outputs(recording: tuple[Path, ROISet], tmp_path: Path) -> None:
    video, rois = recording
    (tmp_path / "a file").write_text("not a folder")
    before = snapshot_tree(tmp_path)
    with pytest.raises(
        ROIError, match=r"'big' \(200, 400, 0, 64\) is outside .*DSC_3189.mp4 \(240x176 px\)"
    ):
        export_clips(video, ROISet((ROI("big", 200, 0, 200, 64),)), tmp_path)
    with pytest.raises(ROIError, match="needs even position and size"):
        export_clips(video, ROISet((ROI("odd", 1, 0, 64, 64),)), tmp_path)
    with pytest.raises(ROIError, match="repeated: #1"):
        ROISet((rois.rois[0], rois.rois[0]))
    with pytest.raises(OSError):
        export_clips(video, rois, tmp_path / "a file" / "clips")
    assert snapshot_tree(tmp_path) == before
    (tmp_path / "DSC_3189_#2.mp4").write_bytes(b"the user's own file")
    with pytest.raises(FileExistsError, match=r"DSC_3189_#2.mp4: a different file already has"):
        export_clips(video, rois, tmp_path)
    assert (tmp_path / "DSC_3189_#2.mp4").read_bytes() == b"the user's own file"


def test_register_changes_only_video_sets(openfield: Path, recording: tuple[Path, ROISet]) -> None:
    video, rois = recording
    clips = export_clips(video, rois, openfield / "videos", options=ExportOptions(codec="ffv1"))
    config = openfield / "config.yaml"
    before = config.read_text().splitlines()
    assert len(register_clips(config, clips)) == 5
    assert register_clips(config, clips) == []  # idempotent
    after = config.read_text().splitlines()
    added = [line for line in after if line not in before]
    assert len(after) == len(before) + 10 and len(added) == 10
    start = after.index("video_sets:")
    assert all(start < after.index(line) < after.index("bodyparts:") for line in added)
    cfg = load_config(config)
    entry = cfg["video_sets"][str((openfield / "videos" / "DSC_3189_#1.mkv").resolve())]
    assert entry["crop"] == f"0, {rois.rois[0].w}, 0, {rois.rois[0].h}"


def test_batch_reports_bad_videos_and_resumes(
    recording: tuple[Path, ROISet], tmp_path: Path
) -> None:
    import shutil

    video, rois = recording
    raw = tmp_path / "raw"
    raw.mkdir()
    good = [shutil.copy(video, raw / f"DSC_{n}.mp4") for n in (3190, 3191)]
    broken = raw / "DSC_3192.mp4"
    broken.write_bytes(b"\x00" * 1000)
    seen = []
    report = crop_batch(
        [good[0], broken, good[1]],
        rois,
        tmp_path / "clips",
        contrast=ENHANCE,
        progress=lambda i, n, f, nf, v: seen.append((i, n, v.name)),
    )
    assert len(report.clips) == 10 and list(report.failed) == [broken]
    assert "cannot open as a video" in report.failed[broken]
    assert {s[2] for s in seen} == {"DSC_3190.mp4", "DSC_3191.mp4"}
    again = crop_batch([good[0], good[1]], rois, tmp_path / "clips", contrast=ENHANCE)
    assert (
        all(c.skipped for c in again.clips)
        and "0 clips written, 10 already done" in again.summary()
    )
    stop = crop_batch([good[0]], rois, tmp_path / "other", cancel=lambda: True)
    assert (
        stop.cancelled
        and not (tmp_path / "other").exists()
        or not list((tmp_path / "other").iterdir())
    )


def test_no_reencode_links_with_dlc_crop_strings(
    openfield: Path, recording: tuple[Path, ROISet]
) -> None:
    video, rois = recording
    links = link_crops(video, rois, openfield / "videos", openfield / "config.yaml")
    assert [p.name for p in links] == [f"DSC_3189_#{i}.mp4" for i in range(1, 6)]
    assert links[0].resolve() == video.resolve()
    cfg = load_config(openfield / "config.yaml")
    assert cfg["video_sets"][str(links[3])]["crop"] == rois.rois[3].crop_string


def test_full_range_mjpeg_source_shows_the_same_mapping(tmp_path: Path) -> None:
    from video_clips import write_clip

    video = write_clip(tmp_path, "mjpeg_avi", n_frames=20)
    rois = ROISet((ROI("#1", 16, 16, 64, 64),))
    [clip] = export_clips(
        video, rois, tmp_path / "out", contrast=ENHANCE, options=ExportOptions(codec="ffv1")
    )
    mapping = ContrastMapping.from_dict(clip.mapping)
    # The clip stores TV-range luma (220 levels for the source's 256): going there before the
    # mapping and back after it rounds twice, each time by up to a level that the contrast
    # stretch (slope 255 / (hmax - hmin)) can widen.
    hmin, hmax = mapping.display_range
    tolerance = 2 * int(np.ceil(256 / 220 * 255 / (hmax - hmin))) + 1
    for src, out in zip(sequential_grey(video), sequential_grey(clip.path), strict=True):
        error = np.abs(out.astype(int) - mapping.apply(src[clip.roi.slices]).astype(int))
        assert error.max() <= tolerance and error.mean() < 1
