"""Labelling speed in the Labeling dock: actions per labelled point and frame-switch latency.

Project: ``dlc-workbench demo --size tiny`` (5 clips of 160x160 px, 4 extracted frames each,
bodyparts ``manubrium_base, mouth, prey, tentacle_base``), run once in the work folder, with a
3-segment skeleton added to ``config.yaml``.

1. Scripted labelling with REAL mouse clicks (``QTest`` clicks on napari's canvas, mapped from
   image to canvas coordinates): the labels the demo wrote for ``DSC_3189_#1`` are read, the
   file removed, and the 4 frames labelled again by clicking, for the bodypart the dock says is
   current, where the demo had put it. Nothing else is pressed: the dock advances the
   bodypart after each click and the frame after each complete frame, and autosaves on frame
   change. ``actions_per_point`` is (clicks + key presses) / labelled points (target 1.0);
   ``max_error_px`` checks that the clicks landed where meant (the file written by the dock
   against the demo's labels). A second flow marks ``prey`` "not visible" (key ``H``) on two
   frames instead of clicking it: one key per keypoint, so still 1.0. ``click_ms`` is the
   median time napari and the dock take to handle one click (press to release processed).
2. Frame switching with a video, points and skeleton shown: a 448x448 px, 600-frame H.264 clip
   (x264 default GOP, like the users' well clips) is written into the project's ``videos/``
   and opened in video mode; 4 keypoints are placed on 30 frames (points + 3 skeleton
   segments per frame). A frame change is timed from the dock's ``go_to`` (what the keys and
   auto-advance call) to the end of the next canvas draw (``total``, target median < 50 ms);
   ``until_sliced`` is the synchronous part (napari slices every layer, the frame is decoded,
   the dock updates its checklist), ``dock_handler`` the dock's own share of it. The same
   frame changes made by napari alone (dock disconnected, interleaved with the others) give
   ``napari_only_total``, and ``redraw_only`` is one canvas repaint without any change: under
   Xvfb the canvas is drawn by Mesa's software OpenGL (llvmpipe), so these two bound what any
   plugin can reach on a machine without a GPU. ``next_frame`` steps one frame at a time,
   ``jump`` goes to random frames (decoding from the previous keyframe), ``folder_next``
   steps through a labeled-data folder of 20 PNG frames of that clip. ``autosave`` is one
   dirty save of that folder's labels (``write_labels``: .csv + .h5 + fsync + backups), which
   runs 150 ms after a frame change once the new frame is drawn.

Run as ``python benchmarks/bench_labeling.py [--screenshot docs/images/labeling.png]`` (it
starts a virtual X display when there is none); prints one JSON object. The screenshot shows
the dock on frame 250 of the clip, three bodyparts placed at their true positions, the
skeleton, and ``prey`` current in the checklist.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _gui import demo_project, ensure_display, process_events, stats

BODYPARTS = ["manubrium_base", "mouth", "prey", "tentacle_base"]
SKELETON = [["manubrium_base", "mouth"], ["mouth", "prey"], ["manubrium_base", "tentacle_base"]]


def make_project(work: Path) -> Path:
    from napari_dlc_workbench.io.config import load_config, save_config

    project = demo_project(work)
    cfg = load_config(project / "config.yaml")
    cfg["skeleton"] = SKELETON
    save_config(cfg, project / "config.yaml")
    return project


class Canvas:
    """Real clicks on napari's canvas, and waiting for its next draw."""

    def __init__(self, viewer: Any, app: Any) -> None:
        self.qt = viewer.window._qt_viewer.canvas
        self.app = app
        self.draws = 0
        self.qt._scene_canvas.events.draw.connect(self._drawn)

    def _drawn(self, _event: Any) -> None:
        self.draws += 1

    def click(self, y: float, x: float) -> None:
        from qtpy.QtCore import QPoint, Qt
        from qtpy.QtTest import QTest

        px, py = self.qt.view.scene.transform.map([x, y, 0, 1])[:2]
        QTest.mouseClick(
            self.qt.native, Qt.MouseButton.LeftButton, pos=QPoint(round(px), round(py))
        )

    def key(self, key: Any) -> None:
        from qtpy.QtTest import QTest

        QTest.keyClick(self.qt.native, key)

    def timed_switch(self, switch: Any) -> tuple[float, float]:
        """Seconds spent in ``switch()`` (slicing, the dock) and until the next draw ended."""
        before = self.draws
        start = time.perf_counter()
        switch()
        called = time.perf_counter() - start
        while self.draws == before and time.perf_counter() - start < 5:
            self.app.processEvents()
        return called, time.perf_counter() - start

    def settle(self, seconds: float = 0.3) -> None:
        process_events(seconds)


def open_viewer() -> tuple[Any, Any, Canvas]:
    """A shown viewer with the dock.

    Each measurement gets its own viewer: removing a viewer's image and labels layers and
    then clicking into new ones crashed in vispy's picking render under Xvfb (Mesa llvmpipe).
    """
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_dlc_workbench._qt.labeling_widget import LabelingWidget

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    dock = LabelingWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Labeling")
    canvas = Canvas(viewer, QApplication.instance())
    canvas.settle()
    return viewer, dock, canvas


def scripted_flow(folder: Path, hide: set) -> dict:
    """Label ``folder`` again by clicking where its labels were; ``hide``: (frame, bp) to skip."""
    from qtpy.QtCore import Qt

    from napari_dlc_workbench.io.labels import read_labels

    h5 = next(folder.glob("CollectedData_*.h5"))
    truth = read_labels(h5)
    scorer = truth.columns.get_level_values(0)[0]
    for path in folder.glob("CollectedData_*"):
        path.unlink()
    viewer, dock, canvas = open_viewer()
    dock.open_folder(folder)
    viewer.reset_view()
    canvas.settle()
    click_times = []
    n_frames = dock.session.n_frames
    for _ in range(n_frames * len(BODYPARTS)):
        if dock.session.is_complete(dock.frame):
            break
        frame, (_, bp) = dock.frame, dock.session.current
        if (frame, bp) in hide:
            canvas.key(Qt.Key.Key_H)
            continue
        row = truth.iloc[frame]
        start = time.perf_counter()
        canvas.click(row[(scorer, bp, "y")], row[(scorer, bp, "x")])
        click_times.append(time.perf_counter() - start)
    canvas.settle(0.5)  # the autosave after the last frame change
    saved = read_labels(h5)
    expected = truth.copy()
    for frame, bp in hide:
        expected.loc[expected.index[frame], (scorer, bp)] = np.nan
    err = np.abs(saved.to_numpy() - expected.to_numpy())
    result = dock.session.actions.as_dict()
    result.update(
        {
            "frames": n_frames,
            "complete_frames": dock.session.n_complete(),
            "not_visible_marks": len(hide),
            "max_error_px": round(float(np.nanmax(err)), 3),
            "nan_where_expected": bool(np.array_equal(np.isnan(saved), np.isnan(expected))),
            "click": stats(click_times),
            "saved_without_ctrl_s": not dock.session.dirty,
        }
    )
    viewer.close()
    return result


DOCK_TIMES: list[float] = []


def time_dock_handler() -> None:
    """Record how long the dock's own frame-change handler runs, each time."""
    from napari_dlc_workbench._qt.labeling_widget import LabelingWidget

    handler = LabelingWidget._on_frame

    def timed(self: Any, event: Any = None) -> None:
        start = time.perf_counter()
        handler(self, event)
        DOCK_TIMES.append(time.perf_counter() - start)

    LabelingWidget._on_frame = timed


def switches(viewer: Any, dock: Any, canvas: Canvas, frames: list[int]) -> dict:
    """Frame changes through the dock, alternating with napari's own (dock disconnected)."""
    with_dock, calls, without = [], [], []
    DOCK_TIMES.clear()
    for i, frame in enumerate(frames):
        if i % 2 == 0:
            called, total = canvas.timed_switch(lambda f=frame: dock.go_to(f))
            with_dock.append(total)
            calls.append(called)
        else:
            viewer.dims.events.current_step.disconnect(dock._on_frame)
            step = viewer.dims.set_current_step
            without.append(canvas.timed_switch(lambda f=frame, s=step: s(0, f))[1])
            viewer.dims.events.current_step.connect(dock._on_frame)
    return {
        "total": stats(with_dock),
        "until_sliced": stats(calls),
        "dock_handler": stats(DOCK_TIMES),
        "napari_only_total": stats(without),
    }


def place_truth(dock: Any, truth: np.ndarray, frame: int, order: list[int]) -> None:
    """Place bodyparts ``order`` (indices) on ``frame`` at the generator's true positions."""
    dock.go_to(frame)
    for k in order:
        dock.session.select(("", BODYPARTS[k]))
        dock._apply_defaults()
        x, y = truth[frame, k]
        dock.layer.add([[frame, y, x]])


def screenshot(viewer: Any, dock: Any, canvas: Canvas, truth: np.ndarray, path: Path) -> None:
    """The dock in use: a frame half labelled, the skeleton, "prey" current in the checklist."""
    frame = 250
    place_truth(dock, truth, frame, [0, 1, 3])
    dock.session.select(("", "prey"))
    dock._apply_defaults()
    dock._refresh()
    dock._say("Click places prey; H marks it not visible on this frame.")
    viewer.reset_view()
    centre = truth[frame].mean(axis=0)
    viewer.camera.center = (frame, centre[1], centre[0])
    viewer.camera.zoom *= 2.2
    canvas.settle(0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(path), canvas_only=False)


def frame_switching(project: Path, shot: Path | None) -> dict:
    from napari_dlc_workbench.io.images import frame_image_name, write_png
    from napari_dlc_workbench.io.video import VideoReader
    from napari_dlc_workbench.sample import SampleSpec, ground_truth, write_sample

    videos = project / "videos"
    spec = SampleSpec(448, 448, 600, n_wells=1, well_size=400)
    files = write_sample(project / "bench-raw", spec, name="bench_400")
    video = videos / "bench_400.mp4"
    shutil.copy(files.video, video)
    time_dock_handler()
    viewer, dock, canvas = open_viewer()
    dock.open_video(video)
    truth = ground_truth(spec)[:, 0]  # (frames, bodyparts, xy) of the one well
    rng = np.random.default_rng(0)
    for frame in sorted(rng.choice(600, 30, replace=False).tolist()):
        place_truth(dock, truth, frame, [0, 1, 2, 3])
    dock.session.mark_saved()  # nothing to extract here: keep autosave out of the timing
    viewer.reset_view()
    canvas.settle()
    result: dict[str, Any] = {
        "video": {"width": spec.width, "height": spec.height, "frames": spec.n_frames},
        "points": len(dock.layer.data),
        "skeleton_segments": len(dock.skeleton_layer.data),
    }
    dock.go_to(100)
    canvas.settle()
    result["next_frame"] = switches(viewer, dock, canvas, list(range(101, 161)))
    result["jump"] = switches(viewer, dock, canvas, rng.integers(0, 600, 40).tolist())
    result["redraw_only"] = stats(
        [canvas.timed_switch(canvas.qt.native.update)[1] for _ in range(20)]
    )
    if shot is not None:
        screenshot(viewer, dock, canvas, truth, shot)

    # A labeled-data folder of 20 extracted PNG frames of the same clip.
    folder = project / "labeled-data" / "bench_400"
    folder.mkdir()
    reader = VideoReader(video)
    for frame in range(0, 600, 30):
        write_png(folder / frame_image_name(frame, 600), reader.frame(frame))
    viewer.close()
    viewer, dock, canvas = open_viewer()
    dock.open_folder(folder)
    for frame in range(20):
        place_truth(dock, truth[::30], frame, [0, 1, 2, 3])
    canvas.settle(0.5)
    dock.go_to(0)
    canvas.settle()
    result["folder_next"] = switches(viewer, dock, canvas, [f % 20 for f in range(1, 41)])
    saves = []
    for _ in range(10):
        dock.session.mark_changed()
        start = time.perf_counter()
        assert dock.save(auto=True), dock.status.text()
        saves.append(time.perf_counter() - start)
    result["autosave"] = stats(saves)
    viewer.close()
    return result


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--screenshot", type=Path, help="also save the dock in use here (docs/images/labeling.png)"
    )
    args = parser.parse_args()
    display = ensure_display((1600, 1000))
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    work = Path(tempfile.mkdtemp(prefix="bench-labeling-"))
    try:
        project = make_project(work)
        import napari

        labeled = project / "labeled-data"
        out: dict[str, Any] = {
            "benchmark": "labeling",
            "python": platform.python_version(),
            "napari": napari.__version__,
            "machine": platform.machine(),
            "targets": {"actions_per_point": 1.0, "frame_switch_median_ms": 50},
            "scripted_clicks": scripted_flow(labeled / "DSC_3189_#1", set()),
            "scripted_clicks_prey_not_visible": scripted_flow(
                labeled / "DSC_3189_#2", {(1, "prey"), (3, "prey")}
            ),
            "frame_switch": frame_switching(project, args.screenshot),
        }
        print(json.dumps(out, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if display is not None:
            display.stop()


if __name__ == "__main__":
    main()
