"""The DLC sub-commands of ``dlc-workbench``: train, evaluate, learning-curve, compare-preprocessing.

DeepLabCut runs in a child process started by :func:`napari_dlc_workbench.dlc.runner.run`
(this module never imports deeplabcut or torch); the events it sends drive a
progress line on stderr and a summary on stdout. Exit status: 0 finished,
1 error, 130 cancelled (Ctrl-C stops the child cleanly, keeping its snapshots).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from napari_dlc_workbench.model.jobs import JobEvent
from napari_dlc_workbench.process.training_session import TrainingProgress, format_duration

__all__ = ["ProgressLine", "add_dlc_commands"]

EXIT_ERROR = 1
EXIT_CANCELLED = 130
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_TRACEBACK_LINES = 15


def _device(text: str) -> str:
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r}: use auto, cpu or cuda:N")
    return text


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


class ProgressLine:
    """Turn job events into a terminal progress display.

    On a terminal, batch progress rewrites one line; every finished epoch and
    every message gets a line of its own (so a log file or a pipe reads well).

    Parameters
    ----------
    stream : text stream
        Where to write (stderr).
    verbose : bool
        Also show DeepLabCut's own output lines.
    """

    def __init__(self, stream: IO[str] | None = None, *, verbose: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_snapshot: str | None = None
        self._open = False  # a \r line is on screen
        # Epoch timing and ETA, as the Training dock computes them: one tracker per
        # stage, since a top-down model's detector trains with epochs of its own.
        self._trackers: dict[str, TrainingProgress] = {}
        self._loss = ""

    def _line(self, text: str) -> None:
        if self._open:
            self.stream.write("\r\x1b[K")
            self._open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def _status(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            self.stream.flush()
            self._open = True

    def _track(self, event: JobEvent) -> TrainingProgress:
        tracker = self._trackers.setdefault(event.stage or "pose", TrainingProgress())
        tracker.feed(replace(event, stage=""))  # the tracker times pose-model events only
        return tracker

    def __call__(self, event: JobEvent) -> None:
        """Show one event."""
        if event.kind == "progress" and event.stage in ("subset", "variant"):
            self._trackers, self._loss = {}, ""
            self._line(f"== {event.message}")
        elif event.kind == "progress" and event.total and event.epoch is not None and event.stage:
            eta = self._track(event).eta()
            self._status(
                f"epoch {event.epoch}/{event.epochs} batch {event.step}/{event.total}"
                f"{self._loss}  ETA {format_duration(eta)}"
            )
        elif event.kind == "progress":
            if event.stage:  # start of a training run: the first epoch starts now
                self._track(event)
            if event.message:
                self._line(event.message)
        elif event.kind == "epoch":
            tracker = self._track(event)
            self._loss = f"  loss {event.loss:.5f}" if event.loss is not None else ""
            per_epoch = tracker.durations[-1] if tracker.durations else math.nan
            self._line(
                f"{event.describe()}  ({per_epoch:.1f} s/epoch, ETA {format_duration(tracker.eta())})"
            )
        elif event.kind == "snapshot":
            self.last_snapshot = event.snapshot
        elif event.kind == "log" and event.message:
            # Only the job's own messages (warnings, the plan) arrive here unless
            # --verbose asked the runner to forward DLC's output lines too.
            self._line(event.message)
        elif event.terminal:
            if self._open:
                self._line("")
            if event.snapshot:
                self.last_snapshot = event.snapshot


def _finish(final: JobEvent, progress: ProgressLine, summary: Callable[[Any], None]) -> int:
    if final.kind == "finished":
        summary(final.result)
        return 0
    if final.kind == "cancelled":
        snapshot = final.snapshot or progress.last_snapshot
        kept = f"; last snapshot kept: {snapshot}" if snapshot else ""
        print(f"cancelled ({final.message}){kept}", file=sys.stderr)
        return EXIT_CANCELLED
    print(f"error: {final.message}", file=sys.stderr)
    tail = final.traceback.strip().splitlines()[-_TRACEBACK_LINES:]
    if tail:
        print("\n".join(["--- traceback (last lines) ---", *tail]), file=sys.stderr)
    return EXIT_ERROR


def _check_config(config: Path) -> str | None:
    # Fail fast, in this process, on a file that is not a DLC config (no child, no writes).
    from napari_dlc_workbench.io.config import ConfigError, load_config

    try:
        load_config(config)
    except ConfigError as exc:
        return str(exc)
    return None


def _run(name: str, kwargs: Mapping[str, Any], verbose: bool) -> tuple[JobEvent, ProgressLine]:
    from napari_dlc_workbench.dlc.runner import Job, run

    progress = ProgressLine(verbose=verbose)
    final = run(Job(name, dict(kwargs)), on_event=progress, log_events=verbose)
    return final, progress


def _train(args: argparse.Namespace, rest: list[str]) -> int:
    problem = _check_config(args.config)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    kwargs = {
        "config": str(args.config.resolve()),
        "shuffle": args.shuffle,
        "trainingsetindex": args.trainingsetindex,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "device": args.device,
        "save_epochs": args.save_every,
        "weights": args.weights,
        "resume": args.resume,
    }
    final, progress = _run("train", kwargs, args.verbose)

    def summary(result: Mapping[str, Any]) -> None:
        first, last = result.get("first_epoch"), result.get("last_epoch")
        trained = f"{first}-{last}" if first is not None else "none (already trained)"
        print(f"snapshot folder: {result['train_folder']}")
        print(f"last snapshot:   {result['last_snapshot']}")
        print(f"epochs trained:  {trained}")
        print(f"started from:    {result['init']} {result.get('init_snapshot') or ''}".rstrip())
        if result.get("warning"):
            print(f"warning:         {result['warning']}")

    return _finish(final, progress, summary)


def _evaluate(args: argparse.Namespace, rest: list[str]) -> int:
    problem = _check_config(args.config)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    config = args.config.resolve()
    kwargs: dict[str, Any] = {
        "config": str(config),
        "shuffle": args.shuffle,
        "trainingsetindex": args.trainingsetindex,
        "device": None if args.device == "auto" else args.device,
    }
    if args.snapshot:
        kwargs["snapshots"] = args.snapshot
    final, progress = _run("evaluate", kwargs, args.verbose)

    def summary(result: Mapping[str, Any]) -> None:
        from napari_dlc_workbench.io.evaluation_files import shuffle_files
        from napari_dlc_workbench.model.evaluation_table import format_table
        from napari_dlc_workbench.napari_io.evaluation import table_context

        # The animal's size and the split's image counts put DLC's pixels in proportion.
        size, counts = table_context(shuffle_files(config, args.shuffle, args.trainingsetindex))
        for number, snapshot in enumerate(result["results"]):
            if number:
                print()
            print(format_table(snapshot, size, counts, explain_rows=not args.brief))
        print(f"\nresults: {result['evaluation_folder']}")

    return _finish(final, progress, summary)


def _cell(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def _experiment_options(args: argparse.Namespace) -> dict[str, Any]:
    # What the learning curve and the preprocessing comparison both pass on to training.
    keys = ("trainingsetindex", "seed", "net_type", "epochs", "batch_size", "device", "weights")
    return {key: getattr(args, key) for key in keys}


def _learning_curve(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.process.learning_curve import check_fractions

    try:
        fractions = check_fractions(args.fractions)
        if args.test_fraction is not None and not 0.0 < args.test_fraction < 1.0:
            raise ValueError(f"--test-fraction must lie in (0, 1), got {args.test_fraction}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    problem = _check_config(args.config)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    kwargs = {
        "config": str(args.config.resolve()),
        "fractions": fractions,
        "test_fraction": args.test_fraction,
        **_experiment_options(args),
    }
    final, progress = _run("learning_curve", kwargs, args.verbose)

    def summary(result: Mapping[str, Any]) -> None:
        print(f"{'fraction':>8}  {'frames':>6}  {'test RMSE':>9}  {'train RMSE':>10}  shuffle")
        for p in result["points"]:
            print(
                f"{100 * p['fraction']:>6.0f} %  {p['n_train']:>6}  {_cell(p['test_rmse']):>9}  "
                f"{_cell(p['train_rmse']):>10}  {p['shuffle']}"
            )
        print(f"test set: {result['points'][0]['n_test']} frames, the same for every row")
        print(result["note"])
        print(f"plot: {result['files']['plot']}")
        print(f"data: {result['files']['json']}")

    return _finish(final, progress, summary)


def _compare_preprocessing(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.process.preprocessing_variants import (
        VariantError,
        labelled_clips,
        variant_settings,
    )

    problem = _check_config(args.config)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    try:  # in this process: a bad request starts no child and writes nothing
        for name in args.variants:
            variant_settings(name)
        labelled_clips(args.config, args.records)
    except VariantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    kwargs = {
        "config": str(args.config.resolve()),
        "out": str(args.out.resolve()),
        "variants": args.variants,
        "record_folders": [str(f.resolve()) for f in args.records],
        **_experiment_options(args),
    }
    final, progress = _run("compare_preprocessing", kwargs, args.verbose)

    def summary(result: Mapping[str, Any]) -> None:
        print(f"{'preprocessing':<14}  {'test RMSE':>9}  {'train RMSE':>10}  {'test mAP':>8}")
        for v in result["variants"]:
            print(
                f"{v['name']:<14}  {_cell(v['test_rmse']):>9}  {_cell(v['train_rmse']):>10}  "
                f"{_cell(v['test_mAP']):>8}"
            )
        print(
            f"{result['n_train']} training and {result['n_test']} test frames, the same for "
            "every variant"
        )
        print(f"plot: {result['files']['plot']}")
        print(f"data: {result['files']['json']}")

    return _finish(final, progress, summary)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="the project's config.yaml")
    parser.add_argument("--trainingsetindex", type=int, default=0)
    parser.add_argument("--epochs", type=_positive, help="default: pytorch_config.yaml")
    parser.add_argument("--batch-size", type=_positive)
    parser.add_argument("--device", type=_device, default="auto", help="auto, cpu or cuda:N")
    parser.add_argument("-v", "--verbose", action="store_true", help="show DLC's output")


def add_dlc_commands(sub: Any) -> None:
    """Add the DLC sub-commands to the ``dlc-workbench`` sub-parsers.

    Parameters
    ----------
    sub : argparse sub-parsers action
        What ``ArgumentParser.add_subparsers`` returned.
    """
    train = sub.add_parser("train", help="train a shuffle with DeepLabCut (live progress)")
    _common(train)
    train.add_argument("--shuffle", type=int, default=1)
    train.add_argument("--save-every", type=_positive, help="save a snapshot every N epochs")
    train.add_argument(
        "--weights",
        default="auto",
        help="auto, pretrained, random or a weights file (fresh runs only)",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last snapshot; --epochs is then the total to reach",
    )
    train.set_defaults(run=_train)

    evaluate = sub.add_parser(
        "evaluate", help="evaluate snapshots with DeepLabCut; explain the table per bodypart"
    )
    evaluate.add_argument("config", type=Path, help="the project's config.yaml")
    evaluate.add_argument("--shuffle", type=int, default=1)
    evaluate.add_argument("--trainingsetindex", type=int, default=0)
    evaluate.add_argument(
        "--snapshot",
        nargs="+",
        help="snapshot names, e.g. snapshot-050 (default: the config's snapshotindex)",
    )
    evaluate.add_argument(
        "--device", type=_device, default="auto", help="auto (the shuffle's), cpu or cuda:N"
    )
    evaluate.add_argument("--brief", action="store_true", help="the table without explanations")
    evaluate.add_argument("-v", "--verbose", action="store_true", help="show DLC's output")
    evaluate.set_defaults(run=_evaluate)

    curve = sub.add_parser(
        "learning-curve", help="train growing subsets of the labelled frames, one test set"
    )
    _common(curve)
    curve.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=[0.25, 0.5, 0.75, 1.0],
        help="fractions of the training frames, each in (0, 1]",
    )
    curve.add_argument("--net-type", help="default: that of the project's first shuffle")
    curve.add_argument("--seed", type=int, default=0, help="draws the test set and subsets")
    curve.add_argument(
        "--test-fraction",
        type=float,
        help="share of labelled frames held out (default: 1 - TrainingFraction)",
    )
    curve.add_argument("--weights", default="random", help="auto, pretrained, random or a file")
    curve.set_defaults(run=_learning_curve)

    compare = sub.add_parser(
        "compare-preprocessing",
        help="train the same labelled frames with other contrast settings, one test set",
    )
    _common(compare)
    compare.add_argument("--out", type=Path, required=True, help="folder for the copies/results")
    compare.add_argument(
        "--variants",
        nargs="+",
        default=["none", "exported"],
        help="exported (each clip's own settings), none, enhance, equalize, clahe",
    )
    compare.add_argument(
        "--records",
        type=Path,
        nargs="*",
        default=[],
        help="folders with the clips' .crops.json when the clips were copied since",
    )
    compare.add_argument("--net-type", help="default: that of the project's first shuffle")
    compare.add_argument("--seed", type=int, default=0, help="draws the test set")
    compare.add_argument("--weights", default="random", help="auto, pretrained, random or a file")
    compare.set_defaults(run=_compare_preprocessing)
