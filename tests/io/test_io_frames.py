"""TIFF stacks and image folders behave like videos: lazy, exact, same array protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_dlc_workbench.io.frames import open_frames
from napari_dlc_workbench.io.images import ImageFolder, ImageFolderError
from napari_dlc_workbench.io.tiff import TiffError, TiffStack
from napari_dlc_workbench.io.video import VideoReader

from support import snapshot_tree


@pytest.fixture
def stack() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (30, 40, 50), dtype=np.uint8)


def test_imagej_tiff_is_memory_mapped(tmp_path: Path, stack: np.ndarray) -> None:
    path = tmp_path / "DSC_3189_#1.tif"
    tifffile.imwrite(path, stack, imagej=True)
    frames = open_frames(path)
    assert isinstance(frames, TiffStack) and frames.memory_mapped
    assert frames.shape == stack.shape and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[17], stack[17])
    np.testing.assert_array_equal(frames[[3, 1]], stack[[3, 1]])
    np.testing.assert_array_equal(frames.as_dask()[5:9].compute(), stack[5:9])


def test_compressed_tiff_is_read_page_by_page(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 4000, (12, 32, 32), dtype=np.uint16)
    path = tmp_path / "stack.tiff"
    tifffile.imwrite(path, data, compression="zlib")
    frames = TiffStack(path)
    assert not frames.memory_mapped and frames.dtype == np.uint16
    for i in (11, 0, 6):
        np.testing.assert_array_equal(frames[i], data[i])


def test_imagej_hyperstack_frames_hold_channels(tmp_path: Path) -> None:
    data = np.random.default_rng(2).integers(0, 255, (6, 2, 16, 16), dtype=np.uint8)
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TCYX"})
    frames = TiffStack(path)
    assert frames.shape == data.shape
    np.testing.assert_array_equal(frames[4], data[4])


def test_single_image_tiff_is_one_frame(tmp_path: Path) -> None:
    image = np.random.default_rng(3).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "one.tif", image)
    frames = TiffStack(tmp_path / "one.tif")
    assert frames.shape == (1, 20, 30, 3)
    np.testing.assert_array_equal(frames[0], image)


def test_bad_tiffs(tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "junk.tif").write_bytes(b"II*\x00garbage" * 10)
    before = snapshot_tree(tmp_path)
    with pytest.raises(TiffError, match="empty.tif: file is empty"):
        TiffStack(tmp_path / "empty.tif")
    with pytest.raises(TiffError, match="junk.tif: not a readable TIFF"):
        TiffStack(tmp_path / "junk.tif")
    assert snapshot_tree(tmp_path) == before


def test_labeled_data_folder(openfield_source: Path) -> None:
    folder = openfield_source / "labeled-data" / "m4s1"
    frames = open_frames(folder)
    assert isinstance(frames, ImageFolder)
    assert frames.shape == (116, 480, 640, 3)
    assert frames.row_keys[10] == ("labeled-data", "m4s1", "img0010.png")
    from imageio.v3 import imread

    np.testing.assert_array_equal(frames[10], imread(folder / "img0010.png")[..., :3])
    np.testing.assert_array_equal(frames.as_dask()[115].compute(), frames[115])


def test_folder_order_is_natural_and_shapes_must_match(tmp_path: Path) -> None:
    from imageio.v3 import imwrite

    for i in (10, 2, 1):
        imwrite(tmp_path / f"img{i}.png", np.full((8, 8), i, dtype=np.uint8))
    # What an interrupted atomic save leaves behind is not a frame.
    imwrite(tmp_path / ".img3.png.tmp.png", np.full((8, 8), 3, dtype=np.uint8))
    frames = ImageFolder(tmp_path)
    assert [int(frames[k][0, 0]) for k in range(3)] == [1, 2, 10]
    assert len(frames) == 3
    imwrite(tmp_path / "img11.png", np.zeros((9, 8), dtype=np.uint8))
    with pytest.raises(ImageFolderError, match=r"img11.png: has shape \(9, 8\)"):
        ImageFolder(tmp_path)[3]


def test_folder_without_frames(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no frames here")
    with pytest.raises(ImageFolderError, match="folder has no frames"):
        open_frames(tmp_path)


def test_video_goes_to_video_reader(tmp_path: Path) -> None:
    from video_clips import write_clip

    path = write_clip(tmp_path, "mjpeg_avi", n_frames=5)
    frames = open_frames(path, gray=True)
    assert isinstance(frames, VideoReader) and frames.shape == (5, 96, 160)
