"""The Inference dock: a real DLC analysis in a child, predictions as layers, skip, cancel."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_dlc_workbench._qt.inference_widget import InferenceWidget
from napari_dlc_workbench._qt.video_predictions import layers_of, load_predictions
from napari_dlc_workbench.dlc.analysis import PARTIAL_PREFIX
from napari_dlc_workbench.io.config import load_config, save_config
from napari_dlc_workbench.io.predictions import read_predictions
from predictions_files import smooth_values, write_predictions

pytestmark = pytest.mark.napari
PLUGIN = "napari-dlc-workbench"


@pytest.fixture
def trained(
    tiny_trained_source: dict[str, Any], copy_project: Callable[[Path, Path], Path], tmp_path: Path
) -> Path:
    """A writable copy of the trained tiny project (snapshot-002 and snapshot-best-001)."""
    source = tiny_trained_source["config"].parent
    config = copy_project(source, tmp_path / source.name).resolve()
    # Two epochs from random weights predict nothing above DLC's p-cutoff: with 0 every
    # prediction is reliable, so the Tracks layer has tracks to draw.
    cfg = load_config(config)
    cfg["pcutoff"] = 0.0
    save_config(cfg, config)
    return config


def long_clip(source: Path, dest: Path, repeats: int) -> Path:
    """Write ``source``'s frames ``repeats`` times: a clip that takes DLC a while."""
    import av

    with av.open(str(source)) as reader:
        frames = [f.to_ndarray(format="rgb24") for f in reader.decode(video=0)]
    with av.open(str(dest), "w") as writer:
        stream = writer.add_stream("libx264", rate=30)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for _ in range(repeats):
            for frame in frames:
                writer.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        writer.mux(stream.encode())
    return dest


def child_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.dlc
def test_run_adds_prediction_layers_then_skips_the_video(make_napari_viewer, qtbot, trained: Path):
    viewer = make_napari_viewer()
    clip = trained.parent / "videos" / "DSC_3189_#1.mp4"
    [video] = viewer.open(clip, plugin=PLUGIN)
    dock = InferenceWidget(viewer)
    viewer.window.add_dock_widget(dock)
    # The open video layer gives the project and the video to analyse.
    assert Path(dock.config_edit.text()) == trained
    assert dock.videos == [clip]
    choices = [dock.snapshot_box.itemData(i) for i in range(dock.snapshot_box.count())]
    assert choices[:2] == ["best", "last"] and "snapshot-002" in choices
    assert dock.snapshot_box.currentText() == "best (snapshot-best-001)"
    dock.device_box.setCurrentIndex(dock.device_box.findData("cpu"))
    dock.csv_box.setChecked(True)

    dock.run_button.click()
    assert dock.running and not dock.run_button.isEnabled() and dock.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dock.running, timeout=300_000)
    state = dock.progress.states[clip]
    assert state.status == "done", (dock.status.text(), dock.details.toPlainText())
    assert "finished: 1 done" in dock.status.text()
    h5 = state.h5
    assert h5.is_file() and h5.parent == clip.parent and h5.name.endswith("_snapshot_best-1.h5")
    assert h5.with_suffix(".csv").is_file()
    assert len(read_predictions(h5).table) == 60
    assert dock.table.item(0, 1).text() == "done"
    assert dock.table.item(0, 2).text() == "60/60"
    assert dock.bar.value() == dock.bar.maximum() == 60

    qtbot.waitUntil(lambda: len(layers_of(viewer, h5)) == 2, timeout=30_000)
    points, tracks = layers_of(viewer, h5)
    assert (points._type_string, tracks._type_string) == ("points", "tracks")
    assert points.metadata["workbench"]["n_frames"] == video.data.shape[0] == 60
    assert set(points.data[:, 0].astype(int)) <= set(range(60))
    assert tuple(points.scale) == tuple(video.scale[:3])

    # Again: done before, skipped without starting DeepLabCut; the layers are not duplicated.
    stamp = h5.stat().st_mtime_ns
    dock.run_button.click()
    qtbot.waitUntil(lambda: not dock.running, timeout=60_000)
    assert dock.handle is None and dock.progress.states[clip].status == "skipped"
    assert dock.table.item(0, 1).text() == f"skipped: done before: {h5.name}"
    assert "1 skipped (done before" in dock.status.text()
    assert h5.stat().st_mtime_ns == stamp
    qtbot.wait(300)
    assert len(layers_of(viewer, h5)) == 2


@pytest.mark.dlc
def test_cancel_and_closing_the_viewer_stop_the_child(make_napari_viewer, qtbot, trained: Path):
    videos = trained.parent / "videos"
    clip = long_clip(videos / "DSC_3189_#2.mp4", videos / "long.mp4", repeats=40)
    viewer = make_napari_viewer()
    dock = InferenceWidget(viewer)
    viewer.window.add_dock_widget(dock)
    assert dock.set_config(trained)
    assert dock.set_videos([clip])
    dock.device_box.setCurrentIndex(dock.device_box.findData("cpu"))
    dock.batch_box.setValue(1)

    dock.run_button.click()
    qtbot.waitUntil(lambda: dock.handle is not None, timeout=60_000)
    pid = dock.handle.pid
    state = dock.progress.states[clip.resolve()]
    qtbot.waitUntil(lambda: state.status == "running", timeout=300_000)
    assert 0 < state.frames < state.total == 2400
    dock.cancel_button.click()
    qtbot.waitUntil(lambda: not dock.running, timeout=20_000)
    assert child_gone(pid)
    assert state.status == "cancelled" and dock.status.text().startswith("cancelled")
    assert not list(videos.glob("longDLC_*")) and not list(videos.glob(f"{PARTIAL_PREFIX}*"))

    dock.run_button.click()
    qtbot.waitUntil(lambda: dock.handle is not None, timeout=60_000)
    pid = dock.handle.pid
    viewer.close()
    qtbot.waitUntil(lambda: child_gone(pid), timeout=20_000)


@pytest.mark.dlc
def test_a_dask_batch_reports_each_video(make_napari_viewer, qtbot, trained: Path):
    videos = trained.parent / "videos"
    one, two = videos / "DSC_3189_#3.mp4", videos / "DSC_3189_#4.mp4"
    broken = videos / "broken.mp4"
    broken.write_bytes(b"not a video")
    viewer = make_napari_viewer()
    dock = InferenceWidget(viewer)
    viewer.window.add_dock_widget(dock)
    assert dock.set_config(trained)
    assert dock.set_videos([one, two, broken])
    dock.device_box.setCurrentIndex(dock.device_box.findData("cpu"))
    dock.snapshot_box.setCurrentIndex(dock.snapshot_box.findData("last"))
    dock.cluster_box.setChecked(True)  # scheduler "local": a LocalCluster for the batch

    dock.run_button.click()
    qtbot.waitUntil(lambda: not dock.running, timeout=600_000)
    states = dock.progress.states
    assert [states[v].status for v in (one, two)] == ["done", "done"], dock.details.toPlainText()
    assert all(states[v].h5.name.endswith("_snapshot_2.h5") for v in (one, two))
    assert states[broken].status == "failed" and "unreadable" in states[broken].message
    assert dock.status.text() == "finished: 2 done, 1 failed"
    assert dock.bar.value() == 120
    assert (trained.parent / "analysis-batches").is_dir()  # the batch's manifest


def test_predictions_sit_on_the_video_layer_or_say_why_not(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    video = tmp_path / "clip.mp4"  # only its name matters: the layer says which file it shows
    image = viewer.add_image(
        np.zeros((50, 40, 40), np.uint8),
        scale=(1, 2, 2),
        translate=(0, 10, 20),
        metadata={"workbench": {"kind": "frames", "source": str(video)}},
    )
    values = smooth_values(50, 2)
    values[..., 2] = 0.1  # nothing reliable: no track to draw
    h5 = write_predictions(tmp_path, "clip", values, ["mouth", "prey"])
    said: list[str] = []
    worker = load_predictions(viewer, video, h5, said.append)
    qtbot.waitUntil(lambda: not worker.is_running and len(said) == 1, timeout=20_000)
    [points] = layers_of(viewer, h5)
    assert len(points.data) == 100 and not points.features["valid"].any()
    assert tuple(points.scale) == tuple(image.scale) and tuple(points.translate) == (0, 10, 20)
    assert "no tracks" in said[0]
    # Predictions of another video (60 frames) are refused, naming both.
    other = write_predictions(tmp_path, "other", smooth_values(60, 2), ["mouth", "prey"])
    worker = load_predictions(viewer, video, other, said.append)
    qtbot.waitUntil(lambda: len(said) == 2, timeout=20_000)
    assert "60 frames but the video clip.mp4 has 50" in said[1]
    assert not layers_of(viewer, other)
    # Re-analysed: the file's layers are replaced, under the same names.
    h5 = write_predictions(tmp_path, "clip", smooth_values(50, 2), ["mouth", "prey"])
    first = load_predictions(viewer, video, h5, said.append)
    qtbot.waitUntil(lambda: not first.is_running and len(layers_of(viewer, h5)) == 2)
    old = layers_of(viewer, h5)
    load_predictions(viewer, video, h5, said.append)
    qtbot.waitUntil(lambda: set(map(id, layers_of(viewer, h5))).isdisjoint(map(id, old)))
    assert [layer.name for layer in layers_of(viewer, h5)] == [layer.name for layer in old]
    assert [layer.name for layer in viewer.layers][1:] == [h5.stem, f"{h5.stem} tracks"]
    assert len(said) == 2
