"""Plugins › DLC Workbench › Seek-friendly copy: fast scrubbing for long-GOP videos.

The copy is made in a background thread with a napari progress bar (created in
the GUI thread, advanced through a queued signal: :mod:`._progress`); the GUI
stays responsive and the job can be cancelled. When it is done, the video
layer is re-pointed at a reader that uses the copy, so the same frames show
up faster.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, Label, PushButton

from napari_dlc_workbench._qt._forms import if_alive
from napari_dlc_workbench._qt._progress import GuiProgress
from napari_dlc_workbench.io.transcode import CancelledError, make_seek_copy
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES, VideoReader

if TYPE_CHECKING:
    import napari

__all__ = ["SeekCopyWidget"]


def _video_layers(viewer: napari.Viewer) -> list[Any]:
    layers = []
    for layer in viewer.layers:
        info = layer.metadata.get("workbench", {}) if hasattr(layer, "metadata") else {}
        source = info.get("source")
        if (
            info.get("kind") == "frames"
            and source
            and Path(source).suffix.lower() in VIDEO_SUFFIXES
        ):
            layers.append(layer)
    return layers


class SeekCopyWidget(Container):
    """Dock widget: make the seek-friendly copy of an opened video.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose video layers are offered.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.viewer = napari_viewer
        self.layer_box = ComboBox(label="video", choices=self._choices)
        self.start = PushButton(text="Make seek-friendly copy")
        self.cancel = PushButton(text="Cancel", enabled=False)
        self.status = Label(value="")
        super().__init__(widgets=[self.layer_box, self.start, self.cancel, self.status])
        self._stop = threading.Event()
        self.worker: Any = None
        self.start.clicked.connect(self._start)
        self.cancel.clicked.connect(self._stop.set)
        napari_viewer.layers.events.inserted.connect(lambda _: self.layer_box.reset_choices())
        napari_viewer.layers.events.removed.connect(lambda _: self.layer_box.reset_choices())

    def _choices(self, _: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in _video_layers(self.viewer)]

    def _start(self) -> None:
        from napari.qt.threading import thread_worker

        layer = self.layer_box.value
        if layer is None:
            self.status.value = "Open a video first."
            return
        source = Path(layer.metadata["workbench"]["source"])
        self._stop.clear()
        # Made here, in the GUI thread; the worker only queues updates to it.
        bar = GuiProgress(layer.data.shape[0], f"Seek-friendly copy of {source.name}")

        @thread_worker
        def work() -> Path | None:
            try:
                return make_seek_copy(source, progress=bar.update, cancel=self._stop.is_set)
            except CancelledError:
                return None

        self.worker = bar.close_when_finished(work())
        self.worker.returned.connect(
            if_alive(self.native, lambda copy: self._done(layer, source, copy))
        )
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._finished)
        self.start.enabled, self.cancel.enabled = False, True
        self.status.value = f"Copying {source.name} ..."
        self.worker.start()

    def _done(self, layer: Any, source: Path, copy: Path | None) -> None:
        if copy is None:
            self.status.value = "Cancelled."
            return
        reader = VideoReader(source)
        layer.data = reader.as_dask()
        size = copy.stat().st_size / 1e6
        self.status.value = (
            f"Done: {copy.name} ({size:.0f} MB, keyframe every {reader.index.max_gop()} frames)"
        )

    def _failed(self, exc: Exception) -> None:
        self.status.value = f"Failed: {exc}"

    def _finished(self) -> None:
        self.start.enabled, self.cancel.enabled = True, False
