from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.io.images import frame_image_name, write_png
from napari_dlc_workbench.io.video import VideoError, decode_frames, probe_video
from napari_dlc_workbench.sample import SampleSpec, render_frame, write_sample

from support import snapshot_tree


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSpec]:
    spec = SampleSpec.tiny()
    files = write_sample(
        tmp_path_factory.mktemp("video") / "Vlad&Genta 日本語", spec, name="DSC_3231_roi_#5"
    )
    return files.video, spec


def test_probe(clip: tuple[Path, SampleSpec]) -> None:
    video, spec = clip
    info = probe_video(video)
    assert (info.width, info.height, info.n_frames) == (spec.width, spec.height, spec.n_frames)
    assert info.fps.numerator == 30000 and info.fps.denominator == 1001
    assert info.codec == "h264"


def test_decode_is_exact_frame_by_number(clip: tuple[Path, SampleSpec]) -> None:
    video, spec = clip
    frames = decode_frames(video, [30, 3, 17, 3], gray=True)
    assert sorted(frames) == [3, 17, 30]
    for i, frame in frames.items():
        # Closest rendered frame is the one asked for (neighbours differ by motion and noise).
        errors = {
            j: np.abs(frame.astype(int) - render_frame(spec, j)).mean() for j in (i - 1, i, i + 1)
        }
        assert min(errors, key=errors.get) == i
    rgb = decode_frames(video, [0])[0]
    assert rgb.shape == (spec.height, spec.width, 3) and rgb.dtype == np.uint8


def test_bad_videos_are_named(tmp_path: Path, clip: tuple[Path, SampleSpec]) -> None:
    video, spec = clip
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    garbage = tmp_path / "DSC_3189_#1.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    before = snapshot_tree(tmp_path)
    with pytest.raises(VideoError, match="empty.avi: file is empty"):
        probe_video(empty)
    with pytest.raises(VideoError, match=r"DSC_3189_#1.mp4: cannot open as a video"):
        decode_frames(garbage, [0])
    with pytest.raises(VideoError, match="missing.mp4: file does not exist"):
        probe_video(tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match=f"video ends before frame {spec.n_frames}"):
        decode_frames(video, [spec.n_frames])
    assert snapshot_tree(tmp_path) == before


def test_frame_names_follow_dlc() -> None:
    assert frame_image_name(42, 300) == "img042.png"
    assert frame_image_name(42, 3597) == "img0042.png"
    assert frame_image_name(0, 10) == "img0.png"
    with pytest.raises(ValueError, match="outside"):
        frame_image_name(300, 300)


def test_write_png_never_replaces_a_different_image(tmp_path: Path) -> None:
    image = np.arange(64 * 48 * 3, dtype=np.uint8).reshape(48, 64, 3)
    path = write_png(tmp_path / "img001.png", image)
    from imageio.v3 import imread

    np.testing.assert_array_equal(imread(path), image)
    write_png(path, image)  # same pixels: fine
    with pytest.raises(FileExistsError, match="img001.png: a different image already exists"):
        write_png(path, image[::-1].copy())
    np.testing.assert_array_equal(imread(path), image)
