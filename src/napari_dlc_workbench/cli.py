"""The ``dlc-workbench`` command: every capability without a screen."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

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


def _demo(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.demo import DemoError, run_demo

    try:
        run_demo(args.out, size=args.size)
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


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

    demo = sub.add_parser("demo", help="run the loop on a synthetic recording")
    demo.add_argument("--out", type=Path, default=Path("demo-output"))
    demo.add_argument("--size", choices=["tiny", "small", "full"], default="small")
    demo.set_defaults(run=_demo)
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
