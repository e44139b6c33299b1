"""Frame picking and extraction into labeled-data, exact and without duplicates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.cli import main
from napari_dlc_workbench.io.video import VideoError
from napari_dlc_workbench.process.frames import (
    FramePickError,
    existing_frames,
    extract_frames,
    pick_kmeans,
    pick_uniform,
    thumbnails,
)
from video_clips import burned_frame, read_number, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("v"), "h264_bframes_gop250")


def test_uniform_is_seeded_distinct_in_range_and_skips_existing() -> None:
    picks = pick_uniform(3597, 20, start=0.5, stop=1.0)
    assert picks == pick_uniform(3597, 20, start=0.5, stop=1.0)
    assert len(set(picks)) == 20 and min(picks) >= 1798 and max(picks) < 3597
    again = pick_uniform(3597, 20, start=0.5, stop=1.0, exclude=picks)
    assert not set(again) & set(picks)
    assert pick_uniform(10, 20) == list(range(10))
    with pytest.raises(FramePickError, match="start < stop"):
        pick_uniform(100, 5, start=0.8, stop=0.2)


def test_thumbnails_are_the_frames_shrunk(clip: Path) -> None:
    thumbs = thumbnails(clip, np.array([200, 5, 77]), width=40)
    assert thumbs.shape == (3, 24, 40)
    # Raw luma (video range 16-235), nearest-neighbour: frame order is sorted (5, 77, 200).
    expected = burned_frame(77).mean(axis=2)[::4, ::4]
    assert np.corrcoef(thumbs[1].ravel(), expected.ravel())[0, 1] > 0.95
    assert np.corrcoef(thumbs[0].ravel(), expected.ravel())[0, 1] < 0.9


def test_kmeans_picks_different_looking_frames(tmp_path: Path) -> None:
    import av

    # Three "postures": 30 frames each of three very different images.
    path = tmp_path / "three_states.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for i in range(90):
            image = np.full((96, 160, 3), (40, 128, 220)[i // 30], np.uint8)
            image[:, (i % 30) * 5 : (i % 30) * 5 + 4] = 0
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    picks = pick_kmeans(path, 3, seed=1)
    assert sorted(p // 30 for p in picks) == [0, 1, 2]
    assert picks == pick_kmeans(path, 3, seed=1)


def test_extract_writes_exact_frames_with_dlc_names_once(clip: Path, tmp_path: Path) -> None:
    result = extract_frames(clip, tmp_path, [250, 3, 137])
    assert [p.name for p in result.written] == ["img003.png", "img137.png", "img250.png"]
    assert result.folder == tmp_path / "labeled-data" / clip.stem
    from imageio.v3 import imread

    assert read_number(imread(result.folder / "img250.png")) == 250
    again = extract_frames(clip, tmp_path, [137, 138])
    assert [p.name for p in again.written] == ["img138.png"] and again.skipped == [137]
    assert existing_frames(result.folder) == {3, 137, 138, 250}
    with pytest.raises(VideoError, match="frame 300 does not exist"):
        extract_frames(clip, tmp_path, [300])


def test_extract_frames_command(openfield: Path) -> None:
    # The real project's video, registered under the name DLC would look for.
    video = openfield / "videos" / "m3v1mp4.mp4"
    assert (
        main(
            [
                "extract-frames",
                str(openfield / "config.yaml"),
                str(video),
                "--mode",
                "uniform",
                "--n",
                "5",
            ]
        )
        == 0
    )
    folder = openfield / "labeled-data" / "m3v1mp4"
    assert len(existing_frames(folder)) == 5
    assert (
        main(["extract-frames", str(openfield / "config.yaml"), str(video), "--frames", "0,2329"])
        == 0
    )
    assert {0, 2329} <= existing_frames(folder)
    assert (folder / "img2329.png").is_file()
