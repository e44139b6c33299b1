"""Labeled videos drawn from predictions without DLC (issue 7)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_dlc_workbench.io.video import VideoReader
from napari_dlc_workbench.process.labeled_video import (
    LabeledVideoCancelled,
    LabelStyle,
    labeled_video_path,
    write_labeled_video,
)

SCORER = "DLC_Resnet50_wellsJan1shuffle1_snapshot_010"
GRAY = 128


def _gray_clip(folder: Path, n_frames: int = 20, size: tuple[int, int] = (96, 64)) -> Path:
    import av

    path = folder / "clip.mp4"
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25), options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), GRAY, np.uint8))
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _predictions(folder: Path, n_frames: int, crop: tuple[int, int] = (0, 0)) -> Path:
    # "a" confident at (30, 20), "b" unsure at (70, 40): x, y, likelihood per frame.
    values = np.tile([[30.0, 20.0, 0.95], [70.0, 40.0, 0.1]], (n_frames, 1, 1))
    values[..., 0] -= crop[0]
    values[..., 1] -= crop[1]
    columns = pd.MultiIndex.from_product(
        [[SCORER], ["a", "b"], ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"]
    )
    df = pd.DataFrame(values.reshape(n_frames, -1), columns=columns, index=range(n_frames))
    h5 = folder / f"clip{SCORER}.h5"
    df.to_hdf(h5, key="df_with_missing", format="table", mode="w")
    if crop != (0, 0):
        import pickle

        meta = {"data": {"cropping": True, "cropping_parameters": [crop[0], 96, crop[1], 64]}}
        (folder / f"clip{SCORER}_meta.pickle").write_bytes(pickle.dumps(meta))
    return h5


def _style(low: str = "skip") -> LabelStyle:
    return LabelStyle({"a": (255, 0, 0), "b": (0, 0, 255)}, radius=5, pcutoff=0.5, low=low)


def test_points_drawn_in_their_colour_and_frame_range_kept(tmp_path: Path) -> None:
    _gray_clip(tmp_path)
    h5 = _predictions(tmp_path, 20)
    seen: list[tuple[int, int]] = []
    out = write_labeled_video(
        h5, style=_style(), frames=(5, 15), progress=lambda d, n: seen.append((d, n))
    )
    assert out == labeled_video_path(h5) == tmp_path / f"clip{SCORER}_labeled.mp4"
    assert seen[-1] == (10, 10)
    with VideoReader(out) as reader:
        assert len(reader) == 10
        frame = reader[3].astype(int)
    red = frame[20, 30]
    assert red[0] > 200 and red[1] < 70 and red[2] < 70, red  # "a" in its colour
    assert np.abs(frame[40, 70] - GRAY).max() < 20  # "b" below pcutoff: skipped
    assert np.abs(frame[5, 5] - GRAY).max() < 20  # the rest untouched
    assert not list(tmp_path.glob(".*partial*"))


def test_unsure_points_hollow_and_crop_offset_applied(tmp_path: Path) -> None:
    _gray_clip(tmp_path)
    h5 = _predictions(tmp_path, 20, crop=(10, 6))  # coordinates in crop space
    out = write_labeled_video(h5, style=_style("hollow"), frames=(0, 2))
    with VideoReader(out) as reader:
        frame = reader[0].astype(int)
    assert frame[20, 30, 0] > 200  # moved back by the offset onto the full frame
    assert np.abs(frame[40, 70] - GRAY).max() < 25  # ring: centre empty
    ring = frame[40, 75]
    assert ring[2] > 180 and ring[0] < 90, ring  # ring of "b" in its colour


def test_cancel_leaves_no_file_and_bad_range_is_refused(tmp_path: Path) -> None:
    _gray_clip(tmp_path)
    h5 = _predictions(tmp_path, 20)
    with pytest.raises(LabeledVideoCancelled):
        write_labeled_video(h5, style=_style(), cancel=lambda: True)
    assert not labeled_video_path(h5).exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".mp4"] == ["clip.mp4"]
    with pytest.raises(ValueError, match="outside"):
        write_labeled_video(h5, style=_style(), frames=(10, 30))


def test_style_from_config_reads_dlc_keys() -> None:
    cfg = {
        "pcutoff": 0.3,
        "dotsize": 3,
        "colormap": "viridis",
        "skeleton": [["a", "b"]],
        "skeleton_color": "white",
    }
    style = LabelStyle.from_config(cfg, ["a", "b"])
    assert (style.pcutoff, style.radius, style.skeleton) == (0.3, 3, (("a", "b"),))
    assert style.skeleton_color == (255, 255, 255)
    assert style.colors["a"] != style.colors["b"]
