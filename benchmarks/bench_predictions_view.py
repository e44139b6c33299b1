"""Inspecting predictions: opening them into layers + plots, and frame-step latency.

Predictions are synthetic but in DLC's exact files (``df_with_missing`` table + ``_meta.pickle``),
4 bodyparts, made from the sample generator's ground truth of well ``#1`` as a *cropped*
analysis (crop-space coordinates, ``cropping_parameters`` in the meta file) with 1.5 px noise;
the likelihood is 0.95 except where the network "loses" a bodypart (likelihood 0.05-0.5, the
position jumping about the well): the prey for 150 frames, the mouth flickering around the
p-cutoff for 200 frames, and so on every 3597 frames.

1. ``open``: 3597 and 100 000 frames. ``read`` reads the ``.h5`` (pandas/PyTables),
   ``build`` makes the Points and Tracks layer data tuples (``prediction_layers``),
   ``napari_layers`` is napari building its own layers from them (as **File › Open** does),
   ``dock_layers`` the dock's (``make_prediction_layers``: one indexing pass, cached extent),
   ``dock`` is the Trajectories dock taking the pair (dense table from the Points layer,
   summaries, bodypart list, pyqtgraph curves and shading), ``total`` is ``dock.open_file``
   (read, build and the dock's layers in a worker thread, then the GUI thread adds them and
   the dock takes them) from the call to the end of the first canvas draw after that, in a
   shown viewer where the video is already open, as a user does it; ``total_fresh_viewer``
   in a viewer with no layer yet (it also pays napari's first-layer costs). ``cpu_*``: CPU
   seconds. ``gui_blocked*``: the longest the GUI thread went without handling events
   during the open (the freeze a user would feel).
2. ``frame_step``: a viewer with a video, the Points and Tracks layers and the dock (all
   4 bodyparts plotted). A frame change is timed from ``viewer.dims.set_current_step`` to the
   end of the next napari canvas draw AND the next repaint of the plots (``total``, target
   median < 50 ms); ``next_frame`` steps one frame at a time (100 steps), ``jump`` goes to
   random frames (50); ``dock_marker_and_repaint`` is the dock's own share (markers moved,
   until the plots have repainted; no napari slicing). ``napari_only_total`` is as many changes interleaved with
   those, the dock disconnected from the slider: what napari alone costs (under Xvfb its
   canvas is drawn by Mesa's software OpenGL). ``cpu_*`` are the same steps in CPU time of
   this process (all its threads): on a machine shared with other jobs they show the work
   done, where wall times also count the waiting for a core. For 3597 frames the video is a real H.264 file
   of the sample generator (600x432 px, 3597 frames); for 100 000 frames the frames come from
   memory, cycling through 300 decoded frames of it, so the figure isolates layers and plots.
   ``frame_step_napari_layers`` is the 100 000-frame next-frame run with napari's own layer
   classes (what **File › Open** makes): the baseline of the dock's cached extents.

Run as ``python benchmarks/bench_predictions_view.py [--screenshot docs/images/trajectories.png]``
(``--open-only``: part 1 alone; starts a virtual X display when there is none); prints one
JSON object.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _gui import ensure_display, process_events, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

BODYPARTS = ["manubrium_base", "mouth", "prey", "tentacle_base"]
PERIOD = 3597


def sample_spec(n_frames: int) -> Any:
    from napari_dlc_workbench.sample import SampleSpec

    return SampleSpec.small(n_frames=n_frames)


def crop_of_well(spec: Any) -> tuple[int, int, int, int]:
    from napari_dlc_workbench.sample.cladonema import well_rois

    _, x, y, w, h = well_rois(spec)[0]
    return x, x + w, y, y + h


def synthetic_values(n_frames: int) -> np.ndarray:
    """(n_frames, 4, 3) crop-space x, y, likelihood of well #1 with failures."""
    from napari_dlc_workbench.sample import ground_truth

    spec = sample_spec(min(n_frames, PERIOD))
    truth = ground_truth(spec)[:, 0]  # (frames, 4, xy), full frame
    reps = -(-n_frames // len(truth))
    truth = np.tile(truth, (reps, 1, 1))[:n_frames]
    x1, x2, y1, y2 = crop_of_well(spec)
    rng = np.random.default_rng(0)
    values = np.empty((n_frames, 4, 3))
    values[..., :2] = truth - [x1, y1] + rng.normal(0, 1.5, truth.shape)
    values[..., 2] = np.clip(rng.normal(0.95, 0.02, (n_frames, 4)), 0, 1)
    for start in range(0, n_frames, PERIOD):
        lost = [(2, 800, 950), (1, 1500, 1700), (3, 2600, 2640), (0, 3100, 3112)]
        for k, a, b in lost:
            a, b = start + a, min(start + b, n_frames)
            if a >= n_frames:
                continue
            values[a:b, k, 2] = rng.uniform(0.05, 0.5 if k != 1 else 0.75, b - a)
            jumps = rng.uniform(0, 160, (b - a, 2))
            bad = values[a:b, k, 2] < 0.6
            values[a:b, k, :2][bad] = jumps[bad]
    return values


def write_project(work: Path, n_frames: int) -> tuple[Path, Path]:
    """A project folder with config (4 bodyparts) and the predictions of ``video_stem``."""
    from predictions_files import write_config, write_predictions

    project = work / f"Cladonema-{n_frames}"
    write_config(project, BODYPARTS)
    crop = crop_of_well(sample_spec(min(n_frames, PERIOD)))
    stem = "DSC_3189"
    h5 = write_predictions(
        project / "videos", stem, synthetic_values(n_frames), BODYPARTS, crop=crop
    )
    return project, h5


def sample_video(cache: Path) -> Path:
    """The 600x432, 3597-frame sample video, encoded once into ``cache``."""
    from napari_dlc_workbench.sample import write_sample

    video = cache / "DSC_3189.mp4"
    if not video.is_file():
        write_sample(cache, sample_spec(PERIOD), name="DSC_3189", gop=30, preset="ultrafast")
    return video


class CycledFrames:
    """``n_frames`` frames from memory, cycling through ``cycle``: a long video without decoding.

    A plain array-like rather than a dask array: a 100 000-chunk dask graph would make
    every napari slice pay for graph optimisation, which no real reader does.
    """

    def __init__(self, cycle: np.ndarray, n_frames: int) -> None:
        self.cycle = cycle
        self.shape = (n_frames, *cycle.shape[1:])
        self.dtype = cycle.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        first, rest = index[0], index[1:]
        if isinstance(first, (int, np.integer)):
            return self.cycle[int(first) % len(self.cycle)][rest]
        frames = np.arange(self.shape[0])[first] % len(self.cycle)
        return self.cycle[frames][(slice(None), *rest)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("CycledFrames is not meant to be loaded whole")


class Waiter:
    """Waits for the next draw of napari's canvas and the next paint of the plots."""

    def __init__(self, viewer: Any, dock: Any) -> None:
        from qtpy.QtCore import QEvent, QObject
        from qtpy.QtWidgets import QApplication

        self.app = QApplication.instance()
        self.canvas_draws = 0
        self.plot_paints = 0
        self.longest_block = 0.0
        viewer.window._qt_viewer.canvas._scene_canvas.events.draw.connect(self._drawn)
        waiter = self

        class PaintCounter(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802
                if event.type() == QEvent.Type.Paint:
                    waiter.plot_paints += 1
                return False

        self._filter = PaintCounter()
        if dock is not None:
            dock.plots.view.viewport().installEventFilter(self._filter)

    def _drawn(self, _event: Any) -> None:
        self.canvas_draws += 1

    def timed(
        self,
        action: Any,
        plots: bool = True,
        canvas: bool = True,
        ready: Callable[[], bool] | None = None,
    ) -> float:
        """Seconds from ``action()`` to the next canvas draw and plot paint.

        With ``ready``, the draw and paint must come after ``ready()`` turned true
        (an action that finishes in a worker).
        """
        draws, paints = self.canvas_draws, self.plot_paints
        start = time.perf_counter()
        action()
        # The longest the GUI thread went without handling events: the call itself, then
        # each round of events (adding layers, drawing) until the end.
        self.longest_block = time.perf_counter() - start
        while ready is not None and not ready() and time.perf_counter() - start < 30:
            self._process()
            time.sleep(0.001)  # an idle Qt loop sleeps: spinning would take the GIL from the worker
        draws, paints = (self.canvas_draws, self.plot_paints) if ready else (draws, paints)
        while time.perf_counter() - start < 5:
            drawn = not canvas or self.canvas_draws > draws
            done = drawn and (not plots or self.plot_paints > paints)
            if done:
                break
            self._process()
        return time.perf_counter() - start

    def _process(self) -> None:
        start = time.perf_counter()
        self.app.processEvents()
        self.longest_block = max(self.longest_block, time.perf_counter() - start)

    def settle(self, seconds: float = 0.3) -> None:
        process_events(seconds)


def new_viewer(dock_too: bool = True) -> tuple[Any, Any]:
    import napari

    from napari_dlc_workbench._qt.trajectories_widget import TrajectoriesWidget

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1650, 1000)
    dock = None
    if dock_too:
        dock = TrajectoriesWidget(viewer)
        viewer.window.add_dock_widget(dock, name="Trajectories", area="right")
    return viewer, dock


def add_video(viewer: Any, project: Path, n_frames: int, cache: Path) -> None:
    """The frames the predictions are drawn on: the sample video, or cycled frames from memory."""
    if n_frames == PERIOD:
        video = shutil.copy(sample_video(cache), project / "videos" / "DSC_3189.mp4")
        viewer.open(video, plugin="napari-dlc-workbench")
        return
    from napari_dlc_workbench.io.video import VideoReader

    with VideoReader(sample_video(cache)) as reader:
        cycle = np.stack([reader.frame(i) for i in range(300)])
    viewer.add_image(
        CycledFrames(cycle, n_frames),
        name="DSC_3189",
        contrast_limits=(0, 255),
        metadata={"workbench": {"kind": "frames"}},
    )


def timed_open(viewer: Any, dock: Any, h5: Path) -> tuple[float, float, float]:
    """Time ``dock.open_file(h5)`` until the canvas and the plots have drawn.

    The file is read and its layers built in a worker; timing ends at the first draw and
    paint after the dock has taken them. Returns wall seconds, CPU seconds and the longest
    the GUI thread was busy without handling events (what a user feels as a freeze).
    """
    waiter = Waiter(viewer, dock)
    waiter.settle()
    ended: list[bool] = []
    dock.opened.connect(ended.append)
    cpu = time.process_time()
    wall = waiter.timed(lambda: dock.open_file(h5), ready=lambda: bool(ended))
    assert ended == [True], dock.status.text()
    return wall, time.process_time() - cpu, waiter.longest_block


def time_open(work: Path, n_frames: int, cache: Path) -> dict[str, Any]:
    from napari.layers import Layer

    from napari_dlc_workbench.io.predictions import read_predictions
    from napari_dlc_workbench.napari_io.prediction_layer_types import make_prediction_layers
    from napari_dlc_workbench.napari_io.predictions_layers import prediction_layers
    from napari_dlc_workbench.napari_io.reader import find_project

    project, h5 = write_project(work, n_frames)
    out: dict[str, Any] = {"frames": n_frames, "bodyparts": len(BODYPARTS)}
    start = time.perf_counter()
    preds = read_predictions(h5)
    out["read_s"] = time.perf_counter() - start
    start = time.perf_counter()
    layers = prediction_layers(preds, find_project(h5, levels=2))
    out["build_s"] = time.perf_counter() - start
    for name, make in (
        ("napari_layers_s", lambda: [Layer.create(*t) for t in layers]),
        ("dock_layers_s", lambda: make_prediction_layers(layers)),
    ):
        start = time.perf_counter()
        points, tracks = make()
        out[name] = time.perf_counter() - start
    out["points"], out["track_vertices"] = len(points.data), len(tracks.data)
    out["tracks"] = int(len(np.unique(tracks.data[:, 0])))

    viewer, dock = new_viewer()
    viewer.add_layer(tracks)
    viewer.add_layer(points)
    start = time.perf_counter()
    dock.use_layer(points)
    out["dock_s"] = time.perf_counter() - start
    viewer.close()

    # A fresh viewer pays napari's first-layer costs (imports, units registry) too.
    viewer, dock = new_viewer()
    (
        out["total_fresh_viewer_s"],
        out["cpu_total_fresh_viewer_s"],
        out["gui_blocked_fresh_viewer_s"],
    ) = timed_open(viewer, dock, h5)
    assert dock.table is not None and len(dock.table) == n_frames, dock.status.text()
    viewer.close()
    # As a user does it: the video is open, then its predictions.
    viewer, dock = new_viewer()
    add_video(viewer, project, n_frames, cache)
    out["total_s"], out["cpu_total_s"], out["gui_blocked_s"] = timed_open(viewer, dock, h5)
    viewer.close()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def steps(viewer: Any, dock: Any, waiter: Waiter, frames: list[int]) -> dict[str, Any]:
    with_dock, without, cpu_with, cpu_without = [], [], [], []
    for i, frame in enumerate(frames):
        step = viewer.dims.set_current_step
        cpu = time.process_time()
        if i % 2 == 0:
            with_dock.append(waiter.timed(lambda f=frame, s=step: s(0, f)))
            cpu_with.append(time.process_time() - cpu)
        else:
            viewer.dims.events.current_step.disconnect(dock._on_step)
            without.append(waiter.timed(lambda f=frame, s=step: s(0, f), plots=False))
            cpu_without.append(time.process_time() - cpu)
            viewer.dims.events.current_step.connect(dock._on_step)
    own, own_cpu = [], []
    for frame in frames[:50]:
        cpu = time.process_time()
        own.append(waiter.timed(lambda f=frame: dock.plots.set_frame(f), canvas=False))
        own_cpu.append(time.process_time() - cpu)
    viewer.dims.set_current_step(0, frames[-1])
    waiter.settle(0.1)
    return {
        "total": stats(with_dock),
        "napari_only_total": stats(without),
        "dock_marker_and_repaint": stats(own),
        "cpu_total": stats(cpu_with),
        "cpu_napari_only": stats(cpu_without),
        "cpu_dock_marker_and_repaint": stats(own_cpu),
    }


def frame_step(
    work: Path, n_frames: int, cache: Path, shot: Path | None, plain: bool = False
) -> dict[str, Any]:
    project, h5 = write_project(work, n_frames)
    viewer, dock = new_viewer()
    add_video(viewer, project, n_frames, cache)
    if plain:  # File > Open: napari's own Points and Tracks classes, taken by the dock
        viewer.open(h5, plugin="napari-dlc-workbench")
        assert dock.use_layer(viewer.layers[-1]), dock.status.text()
    else:
        ended: list[bool] = []
        dock.opened.connect(ended.append)
        dock.open_file(h5)
        while not ended:
            process_events(0.05)
        assert ended == [True], dock.status.text()
    waiter = Waiter(viewer, dock)
    viewer.reset_view()
    waiter.settle(0.5)
    rng = np.random.default_rng(1)
    result: dict[str, Any] = {
        "frames": n_frames,
        "layers": "napari's Points/Tracks (File > Open)"
        if plain
        else "the dock's (Open predictions…)",
        "points": len(dock.points_layer.data),
        "track_vertices": len(dock.tracks_layer.data),
        "plotted_bodyparts": len(dock.selected()),
    }
    start = n_frames // 3
    viewer.dims.set_current_step(0, start)
    waiter.settle()
    result["next_frame"] = steps(viewer, dock, waiter, list(range(start + 1, start + 201)))
    if not plain:
        result["jump"] = steps(viewer, dock, waiter, rng.integers(0, n_frames, 100).tolist())
    if shot is not None:
        screenshot(viewer, dock, waiter, shot)
    viewer.close()
    return result


def screenshot(viewer: Any, dock: Any, waiter: Waiter, path: Path) -> None:
    """Frame 880: the prey is lost (hollow, shaded), the other three are tracked with tails."""
    dock.set_selected(["mouth", "prey"])
    dock.tail_box.setValue(150)
    viewer.dims.set_current_step(0, 880)
    info = dock.points_layer.metadata["workbench"]
    x0, y0 = info["offset"]
    viewer.scene.camera.center = (880, y0 + 80, x0 + 80)
    viewer.scene.camera.zoom = 3.0
    waiter.settle(0.8)
    path.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(path), canvas_only=False)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--screenshot", type=Path, help="also save the dock in use (docs/images/trajectories.png)"
    )
    parser.add_argument("--work", type=Path, help="keep files here (default: a temporary folder)")
    parser.add_argument("--open-only", action="store_true", help="only the open figures")
    args = parser.parse_args()
    display = ensure_display((1700, 1050))
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-predictions-"))
    cache = work / "video-cache"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        result = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
            "open": [time_open(work / f"open-{n}", n, cache) for n in (PERIOD, 100_000)],
        }
        if not args.open_only:
            result["frame_step"] = [
                frame_step(work / f"step-{n}", n, cache, args.screenshot if n == PERIOD else None)
                for n in (PERIOD, 100_000)
            ]
            result["frame_step_napari_layers"] = [
                frame_step(work / "step-plain", 100_000, cache, None, plain=True)
            ]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        if display is not None:
            display.stop()
    result["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
