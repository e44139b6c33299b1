"""The outlier sub-commands of ``dlc-workbench``: ``outliers`` and ``export-corrections``.

``outliers`` ranks a predictions file's frames (the outlier dock's queue, headless) and
can save the queue sidecar; ``export-corrections`` writes a sidecar's accepted, corrected
frames into the DLC project as its next iteration. DLC's own detectors (``--dlc``) run in
a child process; this module never imports deeplabcut.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_outlier_commands"]

_EXIT_ERROR = 1


def _kinds(text: str) -> tuple[str, ...]:
    from napari_dlc_workbench.model.outliers import SCORE_KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = set(kinds) - set(SCORE_KINDS)
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {','.join(SCORE_KINDS)}")
    return kinds


def _dlc_methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    if not methods or set(methods) - {"uncertain", "jump", "fitting"}:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from uncertain,jump,fitting")
    return methods


def _run_dlc(predictions: Path, methods: tuple[str, ...], settings: Any) -> dict[str, Any]:
    from napari_dlc_workbench.dlc.runner import Job, run

    job = Job(
        "napari_dlc_workbench.dlc.outliers_dlc:dlc_outlier_frames",
        {"predictions": str(predictions.resolve()), "methods": list(methods)},
    )
    event = run(job, log_events=False)
    if event.kind != "finished":
        raise RuntimeError(f"DeepLabCut's outlier detection failed: {event.message}")
    return dict(event.result or {})


def _print_table(queue: Any, out: Any) -> None:
    print(f"{len(queue.rows)} frames to review in {queue.predictions}", file=out)
    print(f"{'rank':>4} {'frame':>7} {'score':>6}  flagged by          bodyparts", file=out)
    for rank, row in enumerate(queue.rows, start=1):
        why = ",".join(row.flagged_by) or "-"
        frames = f"{row.frame}" if row.run[0] == row.run[1] else f"{row.frame}*"
        print(
            f"{rank:>4} {frames:>7} {row.score:6.2f}  {why:<19} {', '.join(row.bodyparts)}",
            file=out,
        )
    if any(r.run[0] != r.run[1] for r in queue.rows):
        print("* worst frame of a run of adjacent flagged frames", file=out)


def _outliers(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.process.outlier_scores import OutlierSettings
    from napari_dlc_workbench.process.outliers import (
        find_outliers,
        load_queue,
        save_queue,
        sidecar_path,
    )

    try:
        settings = OutlierSettings(
            kinds=args.methods,
            p_bound=args.p_bound,
            epsilon=args.epsilon,
            smoother=args.smoother,
            window=args.window,
        )
        queue = find_outliers(
            args.predictions,
            config=args.config,
            others=args.other or (),
            settings=settings,
            quota=args.top,
            diverse=args.diverse,
            video=args.video,
        )
        if args.save is not None:
            target = Path(args.save) if args.save else sidecar_path(args.predictions)
            if target.exists() and not args.force:
                # Corrections in progress live in the rows and, for the dock, under its
                # own "review" key: both would be lost.
                reviewed = [
                    r
                    for r in load_queue(target).rows
                    if r.status != "pending" or r.points is not None
                ]
                in_dock = json.loads(target.read_text(encoding="utf-8")).get("review")
                if reviewed or in_dock:
                    raise ValueError(
                        f"{target}: holds {len(reviewed)} reviewed frames and the dock's "
                        "review; --force replaces them"
                    )
            save_queue(queue, target)
        dlc = _run_dlc(Path(args.predictions), args.dlc, settings) if args.dlc else None
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return _EXIT_ERROR
    if args.json:
        out = queue.to_dict()
        if dlc is not None:
            out["dlc"] = dlc
        print(json.dumps(out, indent=1))
        return 0
    _print_table(queue, sys.stdout)
    if args.save is not None:
        print(f"queue saved to {target}")
    for method in args.dlc or ():
        frames = dlc[method]["frames"]  # type: ignore[index]
        print(f"DeepLabCut '{method}': {len(frames)} frames {frames[:20]}")
    return 0


def _export(args: argparse.Namespace, rest: list[str]) -> int:
    from napari_dlc_workbench.process.corrections import corrections_from_queue, export_corrections
    from napari_dlc_workbench.process.outliers import load_queue, sidecar_path

    source = Path(args.queue)
    if source.suffix == ".h5":
        source = sidecar_path(source)
    try:
        queue = load_queue(source)
        item = corrections_from_queue(queue, args.video)
        summary = export_corrections(
            args.config,
            [item],
            bump_iteration=not args.no_bump,
            replace_existing=args.replace_existing,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return _EXIT_ERROR
    if args.json:
        print(json.dumps(summary.to_dict(), indent=1))
        return 0
    before, after = summary.iteration
    for video in summary.videos:
        print(
            f"{video['folder']}: {len(video['images_written'])} images written, "
            f"{video['rows_added']} labelled frames added, {video['rows_replaced']} replaced"
        )
    print(f"iteration {before} -> {after} in {summary.config}")
    print("next: create a training dataset (DLC's create_training_dataset) and train")
    return 0


def add_outlier_commands(sub: Any) -> None:
    """Add ``outliers`` and ``export-corrections`` to the ``dlc-workbench`` sub-parsers.

    Parameters
    ----------
    sub : argparse sub-parsers action
        What ``ArgumentParser.add_subparsers`` returned.
    """
    from napari_dlc_workbench.model.outliers import SCORE_KINDS

    find = sub.add_parser(
        "outliers", help="rank a predictions file's frames to correct, saying why"
    )
    find.add_argument("predictions", type=Path, help="<video>DLC_<scorer>.h5")
    find.add_argument("--config", type=Path, help="config.yaml: labels give the shape reference")
    find.add_argument("--top", type=int, help="keep the K best frames")
    find.add_argument("--json", action="store_true", help="print the queue as JSON")
    find.add_argument(
        "--methods",
        type=_kinds,
        default=SCORE_KINDS,
        help=f"signals to use, comma-separated (default: {','.join(SCORE_KINDS)})",
    )
    find.add_argument("--other", type=Path, nargs="+", help="other models' predictions")
    find.add_argument("--video", type=Path, help="the video (default: found by name)")
    find.add_argument("--diverse", action="store_true", help="k-means pick among the best")
    find.add_argument("--p-bound", type=float, default=0.6, help="likelihood threshold")
    find.add_argument("--epsilon", type=float, default=20.0, help="jump threshold, px")
    find.add_argument("--smoother", choices=["median", "savgol"], default="median")
    find.add_argument("--window", type=int, default=7, help="smoother window, frames")
    find.add_argument(
        "--save",
        nargs="?",
        const="",
        help="write the queue sidecar (default: <predictions>.outliers.json)",
    )
    find.add_argument("--force", action="store_true", help="replace a reviewed sidecar")
    find.add_argument(
        "--dlc",
        type=_dlc_methods,
        help="also run DeepLabCut's detectors, e.g. uncertain,jump,fitting",
    )
    find.set_defaults(run=_outliers)

    export = sub.add_parser(
        "export-corrections",
        help="write a queue's corrected frames into the project as its next iteration",
    )
    export.add_argument("queue", type=Path, help="the .outliers.json sidecar (or its .h5)")
    export.add_argument("--config", type=Path, required=True, help="the project's config.yaml")
    export.add_argument("--video", type=Path, help="the video (default: the queue's)")
    export.add_argument("--no-bump", action="store_true", help="keep the iteration")
    export.add_argument(
        "--replace-existing", action="store_true", help="overwrite differing labels"
    )
    export.add_argument("--json", action="store_true", help="print the summary as JSON")
    export.set_defaults(run=_export)
