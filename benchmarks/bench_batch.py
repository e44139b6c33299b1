"""Batch analysis: what starting each next DLC child ahead (``prewarm``) saves.

Every video of a batch runs in its own child process (a crash fails one video
alone), and a child first spends seconds importing DLC (torch and much more).
With ``prewarm`` (the default) each dask worker starts its next video's child
during the last :data:`~napari_dlc_workbench.dlc.batch.SPARE_LEAD_S` seconds of
the current one (by its ETA) and hands it the next video.

The same five 400x400 well clips of a synthetic recording are analysed by
``analyze_many`` on a LocalCluster of one worker (the clips run one after the
other, as on a machine with one GPU), on the CPU, with a network trained
briefly on the demo's tiny project; ``force=True`` so each run does them all.
Runs alternate between ``prewarm`` off and on; each is timed from the call to
its return (wall seconds; the cluster's start and the plan are the same in both),
with the DLC seconds of each video (the ``analyze`` job's own timing, model
load excluded) and how many videos ran in a child started ahead.
The figure is ``ratio``: the fastest run with ``prewarm`` over the fastest
without. On a CPU-only machine DLC keeps every core busy, so the next child's
imports compete with the analysis; ``--threads 1`` on 2 cores leaves one free,
as analysing on a GPU does. Run as ``python benchmarks/bench_batch.py --frames
300 [--threads 1]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_analyze import make_project

from napari_dlc_workbench.dlc.batch import analyze_many
from napari_dlc_workbench.model.roi import ROI, ROISet
from napari_dlc_workbench.process.crop_export import export_clips
from napari_dlc_workbench.sample import SampleSpec, write_sample
from napari_dlc_workbench.sample.writer import load_wells


def well_clips(folder: Path, frames: int) -> list[Path]:
    """The sample recording's five wells as 400x400 clips."""
    files = write_sample(folder / "raw", SampleSpec(n_frames=frames), name="DSC_3189")
    rois = ROISet(
        tuple(
            ROI(name, x - x % 2, y - y % 2, w - w % 2, h - h % 2)
            for name, x, y, w, h in load_wells(files.wells)
        )
    )
    return [c.path for c in export_clips(files.video, rois, folder / "clips")]


def one_batch(
    config: Path, clips: list[Path], dest: Path, prewarm: bool, threads: int | None
) -> dict[str, Any]:
    begin = time.perf_counter()
    result = analyze_many(
        config,
        clips,
        n_workers=1,
        threads_per_video=threads,
        prewarm=prewarm,
        force=True,
        destfolder=str(dest),
        snapshot="last",
        device="cpu",
        manifest=False,
    )
    wall = time.perf_counter() - begin
    bad = [o for o in result.outcomes if o.status != "analysed"]
    if bad:
        raise RuntimeError(f"{bad[0].video}: {bad[0].status} {bad[0].message}")
    return {
        "prewarm": prewarm,
        "wall_s": round(wall, 2),
        "dlc_s": round(sum(o.seconds for o in result.outcomes), 2),
        "warm_videos": sum(o.warm for o in result.outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames of each clip")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each kind")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of the model")
    parser.add_argument("--config", type=Path, help="a trained project instead of the demo's")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads of each DLC child (default: the batch's, min(4, cores)); 1 on a "
        "2-core machine leaves a core free, as DLC on a GPU does",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = args.config or make_project(tmp / "demo", args.epochs)
        clips = well_clips(tmp, args.frames)
        runs = [
            one_batch(config, clips, tmp / f"out-{i}-{prewarm}", prewarm, args.threads)
            for i in range(args.repeats)
            for prewarm in (False, True)
        ]
    best = {
        prewarm: min(r["wall_s"] for r in runs if r["prewarm"] is prewarm)
        for prewarm in (False, True)
    }
    print(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                },
                "videos": f"{len(clips)} clips of 400x400, {args.frames} frames each, CPU",
                "threads_per_video": args.threads or "default",
                "runs": runs,
                "ratio": round(best[True] / best[False], 3),
                "saved_per_video_s": round((best[False] - best[True]) / len(clips), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
