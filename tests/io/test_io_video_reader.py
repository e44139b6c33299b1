"""VideoReader returns exactly the frame asked for, from every kind of file users have."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.io import video as video_module
from napari_dlc_workbench.io.transcode import CancelledError, make_seek_copy
from napari_dlc_workbench.io.video import VideoError, VideoReader, seek_copy_path
from napari_dlc_workbench.io.video_index import VariableFrameRateWarning
from video_clips import CLIPS, read_number, sequential_decode, write_clip

from support import snapshot_tree


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[np.ndarray]]]:
    folder = tmp_path_factory.mktemp("clips")
    out = {}
    for name in CLIPS:
        path = write_clip(folder, name)
        out[name] = (path, sequential_decode(path))
    return out


OPENFIELD_RANDOM = sorted({int(i) for i in np.random.default_rng(2).integers(0, 2330, 130)})


@pytest.fixture(scope="module")
def openfield_video(openfield_source: Path) -> tuple[Path, list[np.ndarray | None]]:
    path = openfield_source / "videos" / "m3v1mp4.mp4"
    return path, sequential_decode(path, keep=set(OPENFIELD_RANDOM))


def random_indices(n: int, k: int = 120, seed: int = 0) -> list[int]:
    return [int(i) for i in np.random.default_rng(seed).integers(0, n, k)]


@pytest.mark.parametrize("name", list(CLIPS))
def test_random_access_is_exact(clips: dict, name: str) -> None:
    path, reference = clips[name]
    assert [read_number(f) for f in reference] == list(range(len(reference)))
    reader = VideoReader(path, use_seek_copy=False)
    assert reader.shape == (len(reference), 96, 160, 3) and reader.dtype == np.uint8
    for i in random_indices(len(reference)):
        frame = reader[i]
        assert read_number(frame) == i
        np.testing.assert_array_equal(frame, reference[i])
    lazy = reader.as_dask()
    assert lazy.chunks[0] == (1,) * len(reference)
    for i in random_indices(len(reference), k=40, seed=1):
        np.testing.assert_array_equal(lazy[i].compute(), reference[i])


def test_long_gop_file_is_long_gop(clips: dict) -> None:
    reader = VideoReader(clips["h264_bframes_gop250"][0], use_seek_copy=False)
    assert reader.index.max_gop() == 250
    assert VideoReader(clips["mjpeg_avi"][0]).index.max_gop() == 1


def test_real_openfield_video_is_exact(openfield_video: tuple[Path, list[np.ndarray]]) -> None:
    path, reference = openfield_video
    reader = VideoReader(path, use_seek_copy=False)
    assert len(reader) == len(reference) == 2330
    # Its x264 build predates FFmpeg's 4:4:4 fix: seeking without priming gives garbage.
    order = np.random.default_rng(5).permutation(OPENFIELD_RANDOM)
    assert len(order) > 100
    for i in order:
        np.testing.assert_array_equal(reader[int(i)], reference[i])
    lazy = VideoReader(path, use_seek_copy=False).as_dask()
    for i in order[:20]:
        np.testing.assert_array_equal(lazy[int(i)].compute(), reference[i])


def test_slices_lists_steps_and_gray(clips: dict) -> None:
    path, reference = clips["h264_bframes_gop250"]
    reader = VideoReader(path, cache_mb=1)
    np.testing.assert_array_equal(reader[10:14], np.stack(reference[10:14]))
    np.testing.assert_array_equal(
        reader[[200, 3, 200]], np.stack([reference[i] for i in (200, 3, 200)])
    )
    np.testing.assert_array_equal(reader[-1], reference[-1])
    np.testing.assert_array_equal(reader[5, 10:20, :, 0], reference[5][10:20, :, 0])
    for i in range(120, 100, -1):  # stepping backwards through a long GOP
        assert read_number(reader[i]) == i
    gray = VideoReader(path, gray=True)
    assert gray.shape == (300, 96, 160) and read_number(gray[77]) == 77
    with pytest.raises(IndexError, match="frame 300 is outside 0..299"):
        reader[300]


def test_threads_get_the_same_frames(clips: dict) -> None:
    path, reference = clips["mpeg4_avi"]
    reader = VideoReader(path, cache_mb=2)
    errors: list[str] = []

    def work(seed: int) -> None:
        for i in random_indices(len(reference), k=60, seed=seed):
            if not np.array_equal(reader[i], reference[i]):
                errors.append(f"thread {seed}: frame {i}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_index_is_cached_outside_the_project(
    clips: dict, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = clips["h264_gop10"]
    before = snapshot_tree(path.parent)
    VideoReader(path)
    assert list((private_cache / "video-index").glob("*.npz"))
    assert snapshot_tree(path.parent) == before  # nothing written beside the video

    def fail(_: Path) -> None:
        raise AssertionError("re-indexed although the index is cached")

    monkeypatch.setattr(video_module, "build_index", fail)
    assert len(VideoReader(path)) == 300


def test_seek_friendly_copy_is_preferred_and_identical(clips: dict) -> None:
    path, reference = clips["h264_bframes_gop250"]
    seen: list[tuple[int, int]] = []
    copy = make_seek_copy(path, progress=lambda done, total: seen.append((done, total)))
    assert copy == seek_copy_path(path) and copy.is_file()
    assert seen[-1] == (300, 300)
    reader = VideoReader(path)
    assert reader.source == copy and reader.index.max_gop() <= 8
    for i in random_indices(300, k=60, seed=4):
        np.testing.assert_array_equal(reader[i], reference[i])  # lossless: same pixels
    original = VideoReader(path, use_seek_copy=False).index.frame_times()
    np.testing.assert_allclose(reader.index.frame_times(), original, atol=1e-3)


def test_cancelled_copy_leaves_nothing(clips: dict) -> None:
    path, _ = clips["mpeg4_avi"]
    calls = iter(range(1000))
    with pytest.raises(CancelledError):
        make_seek_copy(path, cancel=lambda: next(calls) > 50)
    target = seek_copy_path(path)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_corrupt_frame_raises_for_that_frame_only(clips: dict, tmp_path: Path) -> None:
    import av

    path, _ = clips["mjpeg_avi"]
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    pos, size = packets[150]
    data = bytearray(path.read_bytes())
    data[pos + size // 3 : pos + size // 3 + 200] = bytes(200)
    damaged = tmp_path / "DSC_3189_#1.avi"
    damaged.write_bytes(bytes(data))
    reader = VideoReader(damaged)
    assert read_number(reader[149]) == 149 and read_number(reader[151]) == 151
    with pytest.raises(VideoError, match=r"DSC_3189_#1.avi: frame 150 is corrupt"):
        reader[150]
    assert read_number(reader[10]) == 10


def test_bad_files_are_named(clips: dict, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    half = tmp_path / "half.mp4"
    mp4 = clips["h264_gop10"][0].read_bytes()
    half.write_bytes(mp4[: len(mp4) // 2])
    cut_avi = tmp_path / "cut.avi"
    avi = clips["mpeg4_avi"][0].read_bytes()
    cut_avi.write_bytes(avi[: len(avi) // 2])
    codec = tmp_path / "DSC_3231_roi_#5.avi"
    codec.write_bytes(clips["mjpeg_avi"][0].read_bytes().replace(b"MJPG", b"ZZZZ"))
    before = snapshot_tree(tmp_path)
    cases = [
        (empty, "empty.mp4: file is empty"),
        (half, "half.mp4: cannot open as a video"),
        (cut_avi, "cut.avi: file is truncated: its header announces 300 frames"),
        (codec, r"DSC_3231_roi_#5.avi: unsupported video codec"),
        (tmp_path / "missing.avi", "missing.avi: file does not exist"),
        (tmp_path, "is a folder, not a video file"),
    ]
    for path, message in cases:
        with pytest.raises(VideoError, match=message):
            VideoReader(path)
    assert snapshot_tree(tmp_path) == before


def test_variable_frame_rate_warns(tmp_path: Path) -> None:
    import av

    from video_clips import burned_frame

    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuvj420p"
        stream.time_base = Fraction(1, 1000)
        t = 0
        for i in range(40):
            frame = av.VideoFrame.from_ndarray(burned_frame(i), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            t += 33 if i % 2 else 80
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.warns(VariableFrameRateWarning, match="vfr.mkv: variable frame rate"):
        reader = VideoReader(path)
    assert read_number(reader[21]) == 21
