"""``dlc-workbench analyze``: analyse videos with a trained network, on a dask cluster.

Each video is one task of :func:`napari_dlc_workbench.dlc.batch.analyze_many`;
DeepLabCut runs in child processes (this module imports neither deeplabcut nor
torch). Progress goes to stderr, the summary to stdout. Exit status: 0 every
video analysed or already done, 1 a video failed or the input is bad (nothing is
written then), 130 cancelled (Ctrl-C; a second Ctrl-C stops waiting).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any

__all__ = ["add_analyze_command", "collect_videos"]

EXIT_ERROR = 1
EXIT_CANCELLED = 130


def _snapshot(text: str) -> str:
    if text in ("best", "last") or text.startswith("snapshot-"):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: use best, last or a name like snapshot-050")


def _at_least(minimum: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text}: must be at least {minimum}")
        return value

    return parse


def _is_output(path: Path) -> bool:
    # Labeled videos written beside the predictions are not recordings to analyse.
    return "DLC_" in path.stem and path.stem.endswith("_labeled")


def collect_videos(items: list[Path]) -> list[Path]:
    """Expand folders into the videos they hold (not recursive), keeping order.

    Parameters
    ----------
    items : list of Path
        Video files or folders.

    Returns
    -------
    list of Path
        Video files, each once. Hidden files and labeled videos
        (``<video>DLC_<scorer>_labeled.mp4``) in folders are left out.

    Raises
    ------
    FileNotFoundError
        If an item does not exist, or a folder holds no video.
    """
    from napari_dlc_workbench.io.video import VIDEO_SUFFIXES

    found: list[Path] = []
    for item in items:
        if item.is_dir():
            inside = sorted(
                p
                for p in item.iterdir()
                if p.is_file()
                and p.suffix.lower() in VIDEO_SUFFIXES
                and not p.name.startswith(".")
                and not _is_output(p)
            )
            if not inside:
                raise FileNotFoundError(
                    f"{item}: folder holds no video ({', '.join(VIDEO_SUFFIXES)})"
                )
            found += inside
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such video file or folder")
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)


class _Printer:
    """Progress on a terminal: one rewritten line for frames, a full line per outcome."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.open_line = False

    def __call__(self, update: Any) -> None:
        name = Path(update.video).name if update.video else ""
        head = f"[{update.finished}/{update.total}]"
        if update.kind == "frames":
            text = f"{head} {name}: {update.frames}/{update.frames_total or '?'} frames"
            if update.fps:
                text += f", {update.fps:.1f} frames/s"
            if update.eta_s is not None:
                text += f", {update.eta_s:.0f} s left"
            self.stream.write("\r" + text.ljust(79))
            self.open_line = True
        else:
            if self.open_line:
                self.stream.write("\n")
                self.open_line = False
            self.stream.write(f"{head} {update.message}\n")
        self.stream.flush()


def _analyze(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.dlc.batch import BatchError, analyze_many
    from napari_dlc_workbench.io.config import ConfigError

    try:
        videos = collect_videos(list(args.videos))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    options: dict[str, Any] = {
        "shuffle": args.shuffle,
        "trainingsetindex": args.trainingsetindex,
        "snapshot": args.snapshot,
        "batch_size": args.batch_size,
        "device": args.device,
        "save_as_csv": args.csv,
        "force": args.force,
    }
    if args.destfolder is not None:
        options["destfolder"] = str(args.destfolder)
    if args.filter:
        options.update(filter_predictions=True, filter_window=args.filter_window)
    cancel = threading.Event()

    def interrupt(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting for the clean stop
        print("\ncancelling: running videos stop, queued ones are dropped", file=sys.stderr)
        cancel.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupt) if in_main else None
    printer = _Printer(sys.stderr)
    try:
        result = analyze_many(
            args.config,
            videos,
            scheduler=args.scheduler,
            n_workers=args.workers,
            threads_per_video=args.threads,
            retries=args.retries,
            on_progress=printer,
            cancel=cancel,
            **options,
        )
    except (BatchError, ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if printer.open_line:
        print(file=sys.stderr)
    print(result.summary())
    if result.cancelled:
        return EXIT_CANCELLED
    return EXIT_ERROR if result.failures else 0


def add_analyze_command(sub: Any) -> None:
    """Add ``analyze`` to the sub-command parsers of ``dlc-workbench``.

    Parameters
    ----------
    sub : argparse sub-parsers action
        What ``ArgumentParser.add_subparsers`` returned.
    """
    parser = sub.add_parser(
        "analyze",
        help="analyse videos with a trained network (one dask task per video)",
        description="Analyse videos with DeepLabCut. Videos that already have predictions "
        "from the same snapshot are skipped (--force analyses them again).",
    )
    parser.add_argument("config", type=Path, help="the project's config.yaml")
    parser.add_argument("videos", nargs="+", type=Path, help="video files or folders of videos")
    parser.add_argument("--shuffle", type=_at_least(0), default=1)
    parser.add_argument("--trainingsetindex", type=_at_least(0), default=0)
    parser.add_argument(
        "--snapshot",
        type=_snapshot,
        help="best, last or snapshot-NNN (default: snapshotindex of config.yaml)",
    )
    parser.add_argument("--batch-size", type=_at_least(1), help="frames per forward pass")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the shuffle's)")
    parser.add_argument("--filter", action="store_true", help="also median-filter (DLC)")
    parser.add_argument("--filter-window", type=_at_least(1), default=5)
    parser.add_argument("--csv", action="store_true", help="also write .csv files")
    parser.add_argument("--force", action="store_true", help="analyse finished videos again")
    parser.add_argument("--destfolder", type=Path, help="output folder (default: beside videos)")
    parser.add_argument(
        "--scheduler",
        default="local",
        help="'local' (a cluster on this machine) or a dask scheduler address",
    )
    parser.add_argument("--workers", type=_at_least(1), help="local: videos at a time")
    parser.add_argument("--threads", type=_at_least(1), help="CPU threads per video")
    parser.add_argument("--retries", type=_at_least(0), default=1, help="per failed video")
    parser.set_defaults(run=_analyze)
