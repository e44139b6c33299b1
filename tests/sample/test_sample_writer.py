"""Writing the synthetic recording: H.264 video, ground-truth csv and well crops."""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from napari_dlc_workbench.sample import (
    SampleFiles,
    SampleSpec,
    frame_rate,
    ground_truth,
    load_ground_truth,
    load_spec,
    load_wells,
    render_frame,
    well_rois,
    write_sample,
)

TINY = SampleSpec.tiny()
AWKWARD_NAME = "DSC_3231_roi_#5"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    folder = tmp_path_factory.mktemp("sample") / "Vlad&Genta 日本語"
    return write_sample(folder, TINY, name=AWKWARD_NAME)


def test_files_land_beside_each_other_under_an_awkward_name(written: SampleFiles) -> None:
    folder = written.video.parent
    assert folder.name == "Vlad&Genta 日本語"
    assert written.video == folder / f"{AWKWARD_NAME}.mp4"
    assert written.ground_truth == folder / f"{AWKWARD_NAME}_ground_truth.csv"
    assert written.wells == folder / f"{AWKWARD_NAME}_wells.json"
    assert all(p.is_file() for p in (written.video, written.ground_truth, written.wells))
    assert written.spec == TINY


def test_video_has_every_frame_at_the_exact_ntsc_rate(written: SampleFiles) -> None:
    with av.open(str(written.video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (240, 176)
        assert stream.average_rate == Fraction(30000, 1001)
        frames = list(container.decode(stream))
    assert len(frames) == TINY.n_frames
    for index, frame in enumerate(frames):
        # pts counts frames: the time stamp maps back to its frame index exactly.
        assert frame.pts * stream.time_base * Fraction(30000, 1001) == index
    errors = [
        np.abs(f.to_ndarray(format="gray").astype(float) - render_frame(TINY, i)).mean()
        for i, f in enumerate(frames)
    ]
    assert max(errors) < 3.0


def test_ground_truth_csv_round_trips(written: SampleFiles) -> None:
    with written.ground_truth.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["frame", "well", "bodypart", "x", "y"]
    assert rows[1][:3] == ["0", "#1", "manubrium_base"]
    assert len(rows) == 1 + TINY.n_frames * TINY.n_wells * 4
    np.testing.assert_allclose(
        load_ground_truth(written.ground_truth), ground_truth(TINY), rtol=0, atol=1e-6
    )


def test_wells_json_holds_the_crops_and_the_spec(written: SampleFiles) -> None:
    data = json.loads(written.wells.read_text(encoding="utf-8"))
    name, x, y, w, h = well_rois(TINY)[0]
    assert data["wells"][0] == {"name": name, "x": x, "y": y, "w": w, "h": h}
    assert load_wells(written.wells) == well_rois(TINY)
    assert load_spec(written.wells) == TINY


def test_gop_sets_the_keyframe_interval(tmp_path: Path) -> None:
    spec = SampleSpec.tiny(n_frames=24)
    files = write_sample(tmp_path, spec, gop=8, preset="ultrafast")
    with av.open(str(files.video)) as container:
        keys = [i for i, f in enumerate(container.decode(video=0)) if f.key_frame]
    assert keys == [0, 8, 16]


def test_odd_frame_size_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even frame size"):
        write_sample(tmp_path / "out", SampleSpec.tiny(width=241))
    assert not (tmp_path / "out").exists()


def test_bad_ground_truth_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text("frame,individual,bodypart,x,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected header"):
        load_ground_truth(path)


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (29.97, Fraction(30000, 1001)),
        (SampleSpec.full().fps, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (30.0, Fraction(30)),
        (25, Fraction(25)),
        (12.5, Fraction(25, 2)),
    ],
)
def test_frame_rate_is_exact(fps: float, expected: Fraction) -> None:
    assert frame_rate(fps) == expected
