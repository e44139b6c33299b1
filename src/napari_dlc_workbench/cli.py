"""The ``dlc-workbench`` command: every capability without a screen."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from napari_dlc_workbench._cli_dlc import add_dlc_commands
from napari_dlc_workbench._cli_outliers import add_outlier_commands

__all__ = ["main"]


def _doctor(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench import doctor

    return doctor.main(rest)


def _sample(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.sample import SampleSpec, write_sample

    spec = SampleSpec.from_name(args.preset, seed=args.seed)
    files = write_sample(args.out, spec, name=args.name)
    print(f"video:        {files.video}")
    print(f"ground truth: {files.ground_truth}")
    print(f"wells:        {files.wells}")
    return 0


def _seek_copy(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.io.transcode import make_seek_copy
    from napari_dlc_workbench.io.video import VideoError

    status = 0
    for video in args.videos:

        def show(done: int, total: int, name: str = video.name) -> None:
            if done == total or done % 50 == 0:
                print(f"\r{name}: {done}/{total} frames", end="", file=sys.stderr, flush=True)

        try:
            copy = make_seek_copy(video, gop=args.gop, progress=show)
        except VideoError as exc:
            print(f"\nerror: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"\n{video} -> {copy}")
    return status


def _crop(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.io.rois import load_rois
    from napari_dlc_workbench.process.contrast import ContrastSettings
    from napari_dlc_workbench.process.crop_batch import crop_batch, link_crops
    from napari_dlc_workbench.process.crop_export import ExportOptions, load_recipe

    if args.like:
        rois, contrast, options = load_recipe(args.like)
    else:
        if args.rois is None:
            print("error: give --rois ROIS.json or --like EARLIER.crops.json", file=sys.stderr)
            return 2
        rois = load_rois(args.rois)
        contrast = None
        if args.contrast != "none" or args.gamma != 1.0:
            contrast = ContrastSettings(
                method=args.contrast,
                saturated=args.saturated,
                normalize=not args.no_normalize,
                gamma=args.gamma,
            )
        options = ExportOptions(codec=args.codec, crf=args.crf, gop=args.gop)
    out = args.out or (Path(args.config).parent / "videos" if args.config else Path("."))
    if args.no_reencode:
        if not args.config:
            print(
                "error: --no-reencode writes crop strings into a DLC config: give --config",
                file=sys.stderr,
            )
            return 2
        for video in args.videos:
            for link in link_crops(video, rois, out, args.config):
                print(link)
        return 0

    def show(i: int, n: int, frame: int, total: int, video: Path) -> None:
        if frame == total or frame % 25 == 0:
            print(
                f"\r[{i + 1}/{n}] {video.name}: {frame}/{total} frames ",
                end="",
                file=sys.stderr,
                flush=True,
            )

    report = crop_batch(
        args.videos,
        rois,
        out,
        contrast=contrast,
        options=options,
        config=args.config,
        progress=show,
    )
    print(file=sys.stderr)
    print(report.summary())
    return 1 if report.failed or report.cancelled else 0


def _extract_frames(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.io.config import load_config
    from napari_dlc_workbench.io.video import VideoError, load_index
    from napari_dlc_workbench.model.project import Project
    from napari_dlc_workbench.process.frames import (
        existing_frames,
        extract_frames,
        pick_kmeans,
        pick_uniform,
    )

    cfg = load_config(args.config)
    project = Project.from_config(cfg, args.config)
    videos = args.videos or [project.video_file(entry) for entry in project.videos]
    n = args.n or int(cfg.get("numframes2pick") or 20)
    start = args.start if args.start is not None else float(cfg.get("start", 0) or 0)
    stop = args.stop if args.stop is not None else float(cfg.get("stop", 1) or 1)
    status = 0
    for video in map(Path, videos):
        try:
            have = existing_frames(project.labels_folder(video.stem))
            if args.frames:
                picks = [int(f) for f in args.frames.split(",")]
            elif args.mode == "kmeans":
                picks = pick_kmeans(video, n, start=start, stop=stop, exclude=have, seed=args.seed)
            else:
                n_frames = len(load_index(video))
                picks = pick_uniform(
                    n_frames, n, start=start, stop=stop, exclude=have, seed=args.seed
                )
            result = extract_frames(video, project.folder, picks)
        except (VideoError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{video.name}: {len(result.written)} frames -> {result.folder}")
    return status


DEMO_GUI_MODULE = "napari_dlc_workbench._qt.demo_gui"


def _demo(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.demo import DemoError, demo_finished, run_demo

    if args.gui and demo_finished(args.out):
        print(f"[demo] reusing the finished demo in {args.out}", file=sys.stderr)
    else:
        try:
            run_demo(
                args.out, size=args.size, epochs=args.epochs, screenshots=not args.no_screenshots
            )
        except DemoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if not args.gui:
        return 0
    # napari runs in its own process: this layer never imports Qt (ARCHITECTURE.md).
    import subprocess

    command = [sys.executable, "-m", DEMO_GUI_MODULE, str(Path(args.out).resolve())]
    try:
        return subprocess.run(command, check=False).returncode
    except KeyboardInterrupt:  # Ctrl+C in the terminal: napari got it too and closes
        return 130


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (one sub-command per capability).

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="dlc-workbench",
        description="The DeepLabCut loop (prepare, label, train, analyse, correct) from napari "
        "or the command line.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    doctor = sub.add_parser(
        "doctor",
        help="check Python, napari/Qt, torch/CUDA, DeepLabCut, FFmpeg and disk",
        add_help=False,
    )
    doctor.set_defaults(run=_doctor)

    sample = sub.add_parser("sample", help="write a synthetic Cladonema recording")
    sample.add_argument("--preset", choices=["tiny", "small", "full"], default="small")
    sample.add_argument("--out", type=Path, default=Path("sample-data"))
    sample.add_argument("--name", default="DSC_3189")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=_sample)

    seek = sub.add_parser(
        "seek-copy",
        help="make lossless short-GOP copies (in the cache) that the viewer scrubs fast",
    )
    seek.add_argument("videos", nargs="+", type=Path)
    seek.add_argument("--gop", type=int, default=8, help="frames between keyframes")
    seek.set_defaults(run=_seek_copy)

    crop = sub.add_parser(
        "crop",
        help="cut ROIs (wells) out of many videos in one pass each, with contrast",
    )
    crop.add_argument("videos", nargs="+", type=Path)
    crop.add_argument("--rois", type=Path, help="ROI set (.json) saved from the dock")
    crop.add_argument("--like", type=Path, help="reuse ROIs and settings of an earlier .crops.json")
    crop.add_argument(
        "--contrast", choices=["none", "enhance", "equalize", "clahe"], default="none"
    )
    crop.add_argument("--saturated", type=float, default=0.35, help="percent, as ImageJ")
    crop.add_argument("--no-normalize", action="store_true")
    crop.add_argument("--gamma", type=float, default=1.0)
    crop.add_argument("--codec", choices=["h264", "ffv1"], default="h264")
    crop.add_argument("--crf", type=int, default=17)
    crop.add_argument("--gop", type=int, default=10)
    crop.add_argument(
        "--out", type=Path, help="folder for the clips (default: the project's videos/)"
    )
    crop.add_argument("--config", type=Path, help="DLC config.yaml: register the clips")
    crop.add_argument(
        "--no-reencode",
        action="store_true",
        help="write DLC crop strings instead of clips (no contrast possible)",
    )
    crop.set_defaults(run=_crop)

    extract = sub.add_parser(
        "extract-frames", help="pick frames to label into labeled-data/<video>/ (as DLC)"
    )
    extract.add_argument("config", type=Path, help="the project's config.yaml")
    extract.add_argument("videos", nargs="*", type=Path, help="default: the project's video_sets")
    extract.add_argument("--mode", choices=["uniform", "kmeans"], default="kmeans")
    extract.add_argument("--n", type=int, help="frames per video (default: numframes2pick)")
    extract.add_argument("--start", type=float, help="fraction of the video (default: config)")
    extract.add_argument("--stop", type=float, help="fraction of the video (default: config)")
    extract.add_argument("--frames", help="explicit frame numbers, e.g. 10,250,3001")
    extract.add_argument("--seed", type=int, default=0)
    extract.set_defaults(run=_extract_frames)

    demo = sub.add_parser("demo", help="run the loop on a synthetic recording")
    demo.add_argument("--out", type=Path, default=Path("demo-output"))
    demo.add_argument("--size", choices=["tiny", "small", "full"], default="small")
    demo.add_argument(
        "--epochs",
        type=int,
        help="training epochs (default per size: tiny 3, small and full 30); 0 stops before training",
    )
    demo.add_argument(
        "--no-screenshots",
        action="store_true",
        help="leave the docks' screenshots out of the report (they need a display or xvfb-run)",
    )
    demo.add_argument(
        "--gui",
        action="store_true",
        help="then open napari with the demo loaded into every dock "
        "(reuses a finished demo in --out instead of running it again)",
    )
    demo.set_defaults(run=_demo)

    add_dlc_commands(sub)
    add_outlier_commands(sub)

    from napari_dlc_workbench._cli_analyze import add_analyze_command

    add_analyze_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dlc-workbench``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit status.
    """
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "doctor":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args.run(args, rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
