"""The seek-friendly copy dock: background job with progress, cancel, layer re-pointed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench._qt.seek_copy import SeekCopyWidget
from napari_dlc_workbench.io.video import seek_copy_path
from video_clips import read_number, write_clip

pytestmark = pytest.mark.napari


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_clip(tmp_path, "h264_bframes_gop250")


def test_copy_in_background_then_layer_uses_it(make_napari_viewer, qtbot, video: Path) -> None:
    viewer = make_napari_viewer()
    [layer] = viewer.open(video, plugin="napari-dlc-workbench")
    widget = SeekCopyWidget(viewer)
    assert widget.layer_box.value is layer
    ticks = []
    from qtpy.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    widget.start.clicked()
    qtbot.waitUntil(lambda: widget.start.enabled, timeout=60000)
    timer.stop()
    assert widget.status.value.startswith("Done"), widget.status.value
    assert seek_copy_path(video).is_file()
    assert len(ticks) > 0  # the event loop kept running during the copy
    viewer.dims.set_point(0, 201)
    assert read_number(np.asarray(layer._slice.image.raw)) == 201


def test_cancel_leaves_no_copy(make_napari_viewer, qtbot, video: Path) -> None:
    viewer = make_napari_viewer()
    viewer.open(video, plugin="napari-dlc-workbench")
    widget = SeekCopyWidget(viewer)
    widget._stop.set()  # a cancel pressed before the first frame is encoded
    widget._start()
    widget._stop.set()
    qtbot.waitUntil(lambda: widget.start.enabled, timeout=60000)
    assert widget.status.value == "Cancelled."
    assert not seek_copy_path(video).exists()
