"""Exporting corrected outlier frames into a DLC project: content, DLC's acceptance, safety."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from imageio.v3 import imread, imwrite

from napari_dlc_workbench.demo import DEMO_SIZES
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.labels import check_against_config, read_labels, write_labels
from napari_dlc_workbench.io.video import decode_frames
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.process.corrections import (
    CorrectionsError,
    VideoCorrections,
    corrections_from_queue,
    export_corrections,
)
from napari_dlc_workbench.process.outlier_scores import OutlierSettings
from napari_dlc_workbench.process.outliers import find_outliers, load_queue, save_queue
from napari_dlc_workbench.sample import BODYPARTS, SampleSpec, ground_truth

from support import snapshot_tree

STEM = "DSC_3189_#1"
SCORER = "DLC_Resnet50_Cladonema_starvedNov29shuffle1_snapshot_010"
FRAMES = [3, 8, 13, 17, 25, 30, 35, 44, 49, 54]  # the tiny project labels 0, 20, 39, 59
KEYPOINTS = [("", bp) for bp in BODYPARTS]


def _clip_truth(config: Path) -> np.ndarray:
    """Ground truth of clip #1 in clip pixels: (60 frames, 4 keypoints, xy)."""
    dims = DEMO_SIZES["tiny"]
    spec = SampleSpec(
        width=dims["width"],
        height=dims["height"],
        n_frames=dims["n_frames"],
        well_size=dims["well"],
    )
    truth = ground_truth(spec)[:, 0]
    labels = read_labels(config.parent / "labeled-data" / STEM / "CollectedData_Vlad&Genta.h5")
    first = KeypointTable.from_dataframe(labels).xy[0]  # img00.png, labelled from the truth
    offset = np.round(truth[0] - first).mean(axis=0)  # the crop corner of the well
    assert np.allclose(truth[0] - offset, first)
    return truth - offset


def _corrected_queue(config: Path) -> tuple[Path, np.ndarray]:
    """Predictions with a glitch at each of FRAMES, queued, corrected to the truth, saved."""
    truth = _clip_truth(config)
    rng = np.random.default_rng(0)
    data = np.empty((len(truth), 4, 3))
    data[..., :2] = truth + rng.normal(0, 0.3, truth.shape)
    data[..., 2] = 0.95
    for n, frame in enumerate(FRAMES):
        data[frame, n % 4, :2] += 30.0
    h5 = config.parent / "videos" / f"{STEM}{SCORER}.h5"
    table = KeypointTable(SCORER, list(range(len(truth))), KEYPOINTS, data, True)
    table.to_dataframe().to_hdf(h5, key="df_with_missing", mode="w")
    # Without "shape": 20 labels of five animals are too few a reference for this clip's
    # sped-up story, and its flags would merge the glitches into long runs.
    settings = OutlierSettings(kinds=("likelihood", "jump", "residual"))
    queue = find_outliers(h5, config=config, settings=settings)
    assert set(FRAMES) <= set(queue.frames)
    assert queue.settings["shape_reference"]["n_frames"] == 20  # 4 labels x 5 clips
    assert queue.video == str(config.parent / "videos" / f"{STEM}.mp4")
    for frame in FRAMES:
        queue.row(frame).accept(dict(zip(BODYPARTS, truth[frame].tolist(), strict=True)))
    return save_queue(queue), truth


def _labels_of(config: Path) -> KeypointTable:
    return KeypointTable.from_dataframe(
        read_labels(config.parent / "labeled-data" / STEM / "CollectedData_Vlad&Genta.h5")
    )


def _row(table: KeypointTable, frame: int) -> np.ndarray:
    return table.xy[table.index.index(("labeled-data", STEM, f"img{frame:02d}.png"))]


def test_export_writes_dlc_files_and_dlc_trains_on_them(tiny_project: Path) -> None:
    from napari_dlc_workbench.dlc.runner import Job, run

    sidecar, truth = _corrected_queue(tiny_project)
    before = _labels_of(tiny_project)
    summary = export_corrections(tiny_project, [corrections_from_queue(load_queue(sidecar))])

    folder = tiny_project.parent / "labeled-data" / STEM
    after = _labels_of(tiny_project)
    for frame in FRAMES:
        assert np.array_equal(_row(after, frame), truth[frame])  # exactly the corrections
    for r, key in enumerate(before.index):
        assert np.array_equal(after.xy[after.index.index(key)], before.xy[r], equal_nan=True)
    assert len(after) == len(before) + 10 and not after.has_likelihood
    decoded = decode_frames(tiny_project.parent / "videos" / f"{STEM}.mp4", FRAMES)
    for frame in FRAMES:
        assert np.array_equal(imread(folder / f"img{frame:02d}.png"), decoded[frame])
    assert load_config(tiny_project)["iteration"] == 1
    assert summary.iteration == (0, 1) and summary.videos[0]["rows_added"] == 10

    # DLC's exact layout: what io.labels.write_labels would write, byte for byte in the csv.
    twin = tiny_project.parent.parent / "twin"
    twin.mkdir()
    write_labels(read_labels(folder / "CollectedData_Vlad&Genta.h5"), twin, "Vlad&Genta")
    assert (twin / "CollectedData_Vlad&Genta.csv").read_bytes() == (
        folder / "CollectedData_Vlad&Genta.csv"
    ).read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_hdf(twin / "CollectedData_Vlad&Genta.h5"),
        pd.read_hdf(folder / "CollectedData_Vlad&Genta.h5"),
    )
    # Machine labels as DLC's extract_outlier_frames keeps them: raw predictions, image rows.
    machine = pd.read_hdf(folder / "machinelabels-iter0.h5", "df_with_missing")
    assert list(machine.index) == [("labeled-data", STEM, f"img{f:02d}.png") for f in FRAMES]
    assert machine.columns.get_level_values(0)[0] == SCORER
    assert "likelihood" in machine.columns.get_level_values("coords")
    assert (folder / "machinelabels.csv").is_file()

    created = run(
        Job("create_training_dataset", {"config": str(tiny_project), "net_type": "cspnext_s"}),
        log_events=False,
    )
    assert created.kind == "finished", created.message
    assert created.result["n_train"] + created.result["n_test"] == 30
    merged = next(
        (tiny_project.parent / "training-datasets" / "iteration-1").glob("*/CollectedData_*.h5")
    )
    keys = set(pd.read_hdf(merged).index)
    assert {("labeled-data", STEM, f"img{f:02d}.png") for f in FRAMES} <= keys


CHILD = """
import os, signal, sys
from napari_dlc_workbench.process.corrections import corrections_from_queue, export_corrections
from napari_dlc_workbench.process.outliers import load_queue

config, sidecar, video, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
real, calls = os.replace, [0]

project = os.path.dirname(config)

def replace(src, dst):
    # Die the hard way just before the kill_at-th project file is moved into place (the
    # video index cache elsewhere is written the same way).
    if os.fspath(dst).startswith(project):
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        calls[0] += 1
    return real(src, dst)

os.replace = replace
export_corrections(config, [corrections_from_queue(load_queue(sidecar), video)])
"""


def _check_consistent(config: Path, before: KeypointTable, truth: np.ndarray) -> int:
    """Everything readable; labels whole; the iteration moves only with complete data."""
    cfg = load_config(config)
    h5 = config.parent / "labeled-data" / STEM / "CollectedData_Vlad&Genta.h5"
    df = read_labels(h5)
    check_against_config(df, cfg, h5)
    table = KeypointTable.from_dataframe(df)
    for key in table.index:
        assert (config.parent / Path(*key)).is_file(), key  # every labelled row has its image
        imread(config.parent / Path(*key))
    for r, key in enumerate(before.index):
        assert np.array_equal(table.xy[table.index.index(key)], before.xy[r], equal_nan=True)
    new_rows = len(table) - len(before)
    assert new_rows in (0, 10)  # never half-merged
    for machine in (config.parent / "labeled-data" / STEM).glob("machinelabels-iter*.h5"):
        pd.read_hdf(machine, "df_with_missing")
    if cfg["iteration"] == 1:
        assert new_rows == 10
        for frame in FRAMES:
            assert np.array_equal(_row(table, frame), truth[frame])
    return int(cfg["iteration"])


def test_a_kill_mid_export_leaves_the_project_consistent(
    tiny_project_source: Path,
    tmp_path: Path,
    copy_project: Callable[[Path, Path], Path],
) -> None:
    base = copy_project(tiny_project_source, tmp_path / "base")
    sidecar, truth = _corrected_queue(base)
    before = _labels_of(base)
    # 15 files are moved into place: 10 images, 2 machine labels, 2 labels, config.yaml.
    for kill_at in (0, 4, 10, 12, 13, 14):
        config = copy_project(base.parent, tmp_path / f"kill-{kill_at}")
        video = config.parent / "videos" / f"{STEM}.mp4"
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(config), str(sidecar), str(video), str(kill_at)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == -9, done.stderr
        assert _check_consistent(config, before, truth) == 0, kill_at
        # The labels' .h5 is the 14th file moved: killed later, the data are all there.
        assert (len(_labels_of(config)) == len(before) + 10) == (kill_at == 14)
        # Running the export again completes it.
        export_corrections(config, [corrections_from_queue(load_queue(sidecar), video)])
        assert _check_consistent(config, before, truth) == 1
        folder = config.parent / "labeled-data" / STEM
        assert not [p for p in folder.iterdir() if ".tmp" in p.name]


def _corrections(values: np.ndarray, frames: list[int], keypoints=KEYPOINTS) -> KeypointTable:
    data = np.concatenate([values, np.full((*values.shape[:2], 1), np.nan)], axis=2)
    return KeypointTable("x", frames, keypoints, data)


def test_bad_input_is_refused_and_changes_nothing(tiny_project: Path) -> None:
    folder = tiny_project.parent
    video = folder / "videos" / f"{STEM}.mp4"
    truth = _clip_truth(tiny_project)
    imwrite(folder / "labeled-data" / STEM / "img08.png", np.zeros((160, 160, 3), np.uint8))
    snapshot = snapshot_tree(folder)
    cases = [
        (
            _corrections(truth[[3]], [3], [("", "manubrium base"), *KEYPOINTS[1:]]),
            r"bodyparts do not match the config \(missing manubrium_base; not in config.yaml: "
            r"manubrium base\)",
        ),
        (_corrections(truth[[3, 60 - 1]] * 0 + 5, [3, 60]), r"frame 60 is outside the video"),
        (_corrections(truth[[8]], [8]), r"img08.png: an image with different pixels"),
        (_corrections(truth[[20]] + 1, [20]), r"img20.png is already labelled with other points"),
    ]
    for table, message in cases:
        with pytest.raises(CorrectionsError, match=message):
            export_corrections(tiny_project, [VideoCorrections(video, table)])
        assert snapshot_tree(folder) == snapshot
    with pytest.raises(CorrectionsError, match="no accepted row"):
        queue_path, _ = _corrected_queue(tiny_project)
        queue = load_queue(queue_path)
        for row in queue.rows:
            row.status = "rejected"
        corrections_from_queue(queue)


def test_same_points_again_write_nothing_new_and_replacing_needs_consent(
    tiny_project: Path,
) -> None:
    video = tiny_project.parent / "videos" / f"{STEM}.mp4"
    truth = _clip_truth(tiny_project)
    item = VideoCorrections(video, _corrections(truth[[20, 25]], [20, 25]))  # 20: as labelled
    config_bytes = tiny_project.read_bytes()
    first = export_corrections(tiny_project, [item], bump_iteration=False)
    assert tiny_project.read_bytes() == config_bytes  # nothing to change there
    assert tiny_project not in first.files
    assert first.videos[0]["images_written"] == ["img25.png"]
    assert first.videos[0]["images_kept"] == ["img20.png"]
    assert first.videos[0]["rows_added"] == 1 and first.videos[0]["rows_replaced"] == 0
    again = export_corrections(tiny_project, [item])
    assert again.videos[0]["images_written"] == [] and again.videos[0]["rows_added"] == 0
    assert again.iteration == (0, 1)
    moved = VideoCorrections(video, _corrections(truth[[25]] + 2.0, [25]))
    with pytest.raises(CorrectionsError, match="already labelled"):
        export_corrections(tiny_project, [moved])
    replaced = export_corrections(tiny_project, [moved], replace_existing=True)
    assert replaced.videos[0]["rows_replaced"] == 1
    assert np.array_equal(_row(_labels_of(tiny_project), 25), truth[25] + 2.0)


def test_a_new_video_is_registered_in_video_sets(tiny_project: Path, tmp_path: Path) -> None:
    folder = tiny_project.parent
    source = folder / "videos" / f"{STEM}.mp4"
    other = tmp_path / "DSC_3190_#2.mp4"
    other.write_bytes(source.read_bytes())
    truth = _clip_truth(tiny_project)
    summary = export_corrections(
        tiny_project, [VideoCorrections(other, _corrections(truth[[7]], [7]))]
    )
    assert summary.videos[0]["video_added"] is True
    cfg = load_config(tiny_project)
    assert cfg["video_sets"][str(other.resolve())]["crop"] == "0, 160, 0, 160"
    assert (folder / "labeled-data" / "DSC_3190_#2" / "img07.png").is_file()
    os.remove(other)
