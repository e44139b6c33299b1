"""What the Inference dock costs: wall time against the runner alone, and GUI stalls.

Project: ``dlc-workbench demo --size tiny --epochs N`` (160x160 clips, cspnext_s, shuffle 1,
trained on the CPU from random weights). The clip analysed is ``DSC_3189_#1`` repeated to
``--frames`` frames. The same ``analyze`` job (built by ``process.inference_plan`` from the
dock's settings, "re-analyse" ticked so every run does the work, CPU, batch 8) runs two ways,
alternating:

* ``direct``: ``dlc.runner.run(Job("analyze", ...))`` in this process, no GUI work at all;
* ``dock``: the Inference dock's Run button in a shown napari viewer (Xvfb when there is no
  display) with the clip open as a video layer, timed from the click until the dock has
  handled the job's final event, while the Qt event loop runs (planning the videos included).
  ``ratio`` = fastest dock run / fastest direct run (target <= 1.05).

Both include starting the child and importing DeepLabCut. During the dock runs a 10 ms precise
``QTimer`` records the gaps between its ticks (``gui_gap_ms``: how long the GUI thread was
ever busy; ``max_per_run``: the first run also compiles the new layers' shaders), and
``layers_s`` is how long after the final event the layers of the predictions were in the
viewer (0: they came with the video's own "done" event, before the job ended): Points, and
Tracks only when some prediction is above the p-cutoff (``tracks`` says whether it was).

Run as ``python benchmarks/bench_inference_dock.py [--frames 1200] [--repeats 2] [--epochs 3]
[--pcutoff P] [--no-layers] [--screenshot docs/images/inference.png]``; prints one JSON
object (``--no-layers``: the predictions are not loaded as layers). A network
trained a few epochs from random weights is rarely above DLC's default p-cutoff (0.6): its
points are then hollow and it has no tracks. ``--pcutoff`` sets the project's ``pcutoff`` (for
the screenshot only; it changes no timing), and ``likelihood`` reports what the network gave.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _gui import Ticks, demo_project, ensure_display, process_events, wait

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_project(work: Path, epochs: int, pcutoff: float | None) -> Path:
    from napari_dlc_workbench.io.config import load_config, save_config

    config = demo_project(work, "--epochs", str(epochs), timeout=3600) / "config.yaml"
    if pcutoff is not None:
        cfg = load_config(config)
        cfg["pcutoff"] = pcutoff
        save_config(cfg, config)
    return config


def long_clip(source: Path, dest: Path, frames: int) -> Path:
    """Write ``source``'s frames over and over until ``frames`` frames."""
    import av

    with av.open(str(source)) as reader:
        images = [f.to_ndarray(format="rgb24") for f in reader.decode(video=0)]
    with av.open(str(dest), "w") as writer:
        stream = writer.add_stream("libx264", rate=30)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for number in range(frames):
            image = av.VideoFrame.from_ndarray(images[number % len(images)], format="rgb24")
            writer.mux(stream.encode(image))
        writer.mux(stream.encode())
    return dest


def run_direct(dock: Any) -> float:
    from napari_dlc_workbench.dlc.runner import Job, run
    from napari_dlc_workbench.process.inference_plan import plan_inference

    kwargs = plan_inference(dock.settings(), dock.videos).job_kwargs()
    begin = time.perf_counter()
    final = run(Job("analyze", kwargs))
    seconds = time.perf_counter() - begin
    if final.kind != "finished":
        raise SystemExit(f"direct run: {final.message}\n{final.traceback}")
    return seconds


def run_dock(dock: Any, viewer: Any, ticks: Ticks) -> tuple[float, float, float]:
    from napari_dlc_workbench._qt.video_predictions import layers_of

    # The dock replaces the layers of the previous run itself (new ones first).
    before = {id(layer) for layer in viewer.layers}
    first_gap = len(ticks.gaps)
    ticks.start()
    begin = time.perf_counter()
    dock.run_button.click()
    wait(lambda: not dock.running, 1800, poll_ms=5)
    seconds = time.perf_counter() - begin
    state = dock.progress.states[dock.videos[0]]
    if state.status != "done":
        raise SystemExit(f"dock run: {dock.status.text()}\n{dock.details.toPlainText()}")
    if dock.show_box.isChecked():
        # All of a file's layers are added in one GUI-thread call: Points, and Tracks only
        # when some prediction is above pcutoff (a barely trained network has none).
        wait(lambda: any(id(x) not in before for x in layers_of(viewer, state.h5)), 120, 5)
    layers = time.perf_counter() - begin - seconds
    ticks.stop()
    return seconds, layers, max(ticks.gaps[first_gap:]) * 1e3


def likelihood(h5: Path) -> dict[str, float]:
    from napari_dlc_workbench.io.predictions import read_predictions

    values = read_predictions(h5).table.data[..., 2]
    return {
        "median": round(float(np.nanmedian(values)), 3),
        "max": round(float(np.nanmax(values)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pcutoff", type=float)
    parser.add_argument(
        "--no-layers", action="store_true", help="untick 'show predictions': no layer loading"
    )
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    display = ensure_display()  # noqa: F841 - kept alive until the end
    work = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    config = make_project(work, args.epochs, args.pcutoff)
    videos = config.parent / "videos"
    clip = long_clip(videos / "DSC_3189_#1.mp4", videos / "bench_clip.mp4", args.frames)

    import napari

    from napari_dlc_workbench._qt.inference_widget import InferenceWidget
    from napari_dlc_workbench._qt.video_predictions import layers_of

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 1050)
    [video] = viewer.open(clip, plugin="napari-dlc-workbench")
    dock = InferenceWidget(viewer)  # prefilled from the video layer: project and video
    viewer.window.add_dock_widget(dock, name="Inference")
    wait(lambda: dock.device_label.text().startswith("doctor"), 300, poll_ms=5)
    dock.device_box.setCurrentIndex(dock.device_box.findData("cpu"))
    dock.batch_box.setValue(8)
    dock.force_box.setChecked(True)
    dock.show_box.setChecked(not args.no_layers)

    ticks = Ticks()
    direct, docked, layers, stalls = [], [], [], []
    for _ in range(args.repeats):
        direct.append(run_direct(dock))
        seconds, shown, stall = run_dock(dock, viewer, ticks)
        docked.append(seconds)
        layers.append(shown)
        stalls.append(round(stall, 1))
    gaps_ms = np.asarray(ticks.gaps) * 1e3
    state = dock.progress.states[dock.videos[0]]
    result = {
        "project": f"demo tiny (160x160, cspnext_s, {args.epochs} epochs, CPU, batch 8)",
        "config_prefilled": Path(dock.config_edit.text()) == config.resolve(),
        "frames": state.total,
        "layers_loaded": not args.no_layers,
        "direct_s": [round(s, 2) for s in direct],
        "dock_s": [round(s, 2) for s in docked],
        "ratio": round(min(docked) / min(direct), 3),
        "dock_fps": round(state.fps, 1) if state.fps else None,
        "likelihood": likelihood(state.h5),
        "pcutoff": args.pcutoff,
        "layers_s": [round(s, 3) for s in layers],
        "tracks": any(x._type_string == "tracks" for x in layers_of(viewer, state.h5)),
        "gui_gap_ms": {
            "timer_ms": 10,
            "max": round(float(gaps_ms.max()), 1),
            "max_per_run": stalls,
            "p99": round(float(np.percentile(gaps_ms, 99)), 1),
            "median": round(float(np.median(gaps_ms)), 1),
            "ticks": int(gaps_ms.size),
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    if args.screenshot:
        viewer.dims.set_current_step(0, min(45, video.data.shape[0] - 1))
        viewer.reset_view()
        process_events(1.0)  # let the canvas draw the new frame
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        viewer.screenshot(str(args.screenshot), canvas_only=False)
        result["screenshot"] = str(args.screenshot)
    print(json.dumps(result, indent=2))
    viewer.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
