"""Learning curve: "how many labelled frames do I need?", answered with DLC itself.

:func:`learning_curve` runs in a job's child (``Job("learning_curve", {...})``):

1. DLC merges the labelled frames as ``create_training_dataset`` does (into a
   temporary folder, so a bad request writes nothing); a seeded permutation
   picks one test set and nested training subsets of the rest
   (:func:`napari_dlc_workbench.process.learning_curve.plan_subsets`).
2. Each subset becomes a new shuffle, numbered after every shuffle the project
   has ever had, through ``deeplabcut.create_training_dataset(trainIndices=...,
   testIndices=...)``; the splits are padded with ``-1`` so DLC files them under
   the project's ``TrainingFraction`` and ``config.yaml`` is not touched.
3. Each shuffle is trained (:func:`napari_dlc_workbench.dlc.training.train`) and its
   last snapshot evaluated (:func:`napari_dlc_workbench.dlc.evaluation.evaluate`);
   the RMSE values are DLC's own results files, never recomputed.
4. ``learning-curve.json``, ``.csv`` and ``.png`` are written atomically into
   ``<project>/learning-curve/iteration-<N>/``.
"""

from __future__ import annotations

import math
import os
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc._env import import_deeplabcut
from napari_dlc_workbench.dlc.experiments import (
    clean_json,
    existing_shuffles,
    figure_png,
    find_reference_shuffle,
    labelled_rows,
    row_name,
    train_and_evaluate,
    use_reference_data,
    write_results,
)
from napari_dlc_workbench.dlc.reporting import Reporter
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.process.learning_curve import (
    DEFAULT_FRACTIONS,
    check_fractions,
    curve_flattened,
    padded_split,
    plan_subsets,
)

__all__ = [
    "OUTPUT_FOLDER",
    "existing_shuffles",
    "learning_curve",
    "output_folder",
    "plot_learning_curve",
    "write_learning_curve",
]

OUTPUT_FOLDER = "learning-curve"


def output_folder(project: str | os.PathLike[str], iteration: int) -> Path:
    """Where a learning curve of ``iteration`` is written: ``<project>/learning-curve/iteration-N``."""
    return Path(project) / OUTPUT_FOLDER / f"iteration-{int(iteration)}"


def plot_learning_curve(points: Sequence[Mapping[str, Any]], title: str = "") -> bytes:
    """Draw test (and train) RMSE against training frames as a PNG.

    Parameters
    ----------
    points : sequence of mapping
        ``n_train``, ``test_rmse``, ``train_rmse`` and ``bodyparts``
        (``{name: test error}``) per point.
    title : str
        Figure title (e.g. the verdict).

    Returns
    -------
    bytes
        The PNG image.
    """
    # Figure + Agg canvas directly: no pyplot state, no GUI backend, safe in any process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def series(key: str) -> list[float]:
        return [math.nan if p.get(key) is None else float(p[key]) for p in points]

    x = [int(p["n_train"]) for p in points]
    figure = Figure(figsize=(6.4, 4.4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bodyparts = sorted({name for p in points for name in (p.get("bodyparts") or {})})
    for name in bodyparts:
        errors = [(p.get("bodyparts") or {}).get(name) for p in points]
        axes.plot(
            x,
            [math.nan if e is None else float(e) for e in errors],
            linewidth=0.8,
            alpha=0.6,
            marker=".",
            label=f"test, {name}",
        )
    axes.plot(x, series("train_rmse"), "k--", marker="s", markersize=4, label="train RMSE")
    axes.plot(x, series("test_rmse"), "k-", marker="o", linewidth=2, label="test RMSE")
    for p, value in zip(points, series("test_rmse"), strict=True):
        if math.isfinite(value):
            axes.annotate(
                f"{100 * float(p['fraction']):.0f} %",
                (int(p["n_train"]), value),
                textcoords="offset points",
                xytext=(4, 6),
                fontsize=8,
            )
    axes.set_xlabel("labelled training frames")
    axes.set_ylabel("RMSE (px)")
    axes.set_xticks(x)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    if title:
        axes.set_title(title, fontsize=8)
    return figure_png(figure)


def write_learning_curve(summary: Mapping[str, Any], folder: str | os.PathLike[str]) -> dict:
    """Write ``learning-curve.json``, ``.csv`` and ``.png`` atomically into ``folder``.

    Parameters
    ----------
    summary : mapping
        What :func:`learning_curve` returns (``points``, ``note``, ...); NaN
        values are written as JSON ``null`` and empty CSV cells.
    folder : path
        Created if missing.

    Returns
    -------
    dict
        ``json``, ``csv`` and ``plot``: the paths written.
    """
    points = list(summary["points"])
    columns = ["fraction", "n_train", "n_test", "shuffle", "snapshot", "epochs"]
    columns += ["test_rmse", "train_rmse", "test_rmse_pcutoff", "test_mAP"]
    title = textwrap.fill(str(summary.get("note", "")), width=90)
    plot = plot_learning_curve(points, title)
    return write_results(folder, "learning-curve", summary, points, columns, plot)


def _merged_rows_changed(project: Path, dlc_cfg: Mapping[str, Any], rows: list[str]) -> bool:
    # create_training_dataset rewrites the merged labels file, and DLC later splits
    # that file by each shuffle's stored row positions: if labels were added since
    # the existing shuffles were made, their positions now name other frames.
    import pandas as pd
    from deeplabcut.utils.auxiliaryfunctions import get_training_set_folder

    merged = project / get_training_set_folder(dlc_cfg) / f"CollectedData_{dlc_cfg['scorer']}.h5"
    if not merged.is_file():
        return False
    return [row_name(row) for row in pd.read_hdf(merged).index] != rows


def learning_curve(
    config: str | os.PathLike[str],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    *,
    trainingsetindex: int = 0,
    test_fraction: float | None = None,
    seed: int = 0,
    net_type: str | None = None,
    reference_shuffle: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: str | None = "auto",
    save_epochs: int | None = None,
    weights: str | os.PathLike[str] = "random",
    pytorch_cfg_updates: Mapping[str, Any] | None = None,
    report: Reporter | None = None,
) -> dict[str, Any]:
    """Train and evaluate one new shuffle per subset size and write the curve.

    Parameters
    ----------
    config : path
        The project's ``config.yaml`` (single-animal).
    fractions : sequence of float
        Fractions of the training pool, each in (0, 1].
    trainingsetindex : int
        Which ``TrainingFraction`` the new shuffles are filed under.
    test_fraction : float, optional
        Share of all labelled frames held out for testing; default
        ``1 - TrainingFraction[trainingsetindex]``, rounded down as DLC does.
    seed : int
        Seed of the test set and subset draw.
    net_type : str, optional
        DLC network; default that of the reference shuffle, else the project's
        ``default_net_type``.
    reference_shuffle : int, optional
        Shuffle whose ``net_type`` and ``data`` settings (augmentation,
        cropping) the curve reuses; default the lowest existing shuffle with a
        PyTorch config. Its data settings are copied only for the same network.
    epochs, batch_size, save_epochs : int, optional
        Training settings, as :func:`napari_dlc_workbench.dlc.training.train`.
    device : str, optional
        ``"auto"``, ``"cpu"``, ``"cuda:0"``...
    weights : {"auto", "pretrained", "random"} or path
        First weights of every subset (random by default: offline, and the same
        start for all points).
    pytorch_cfg_updates : Mapping, optional
        Further dotted-key overrides for every shuffle's training.
    report : Reporter, optional
        Receives a ``progress`` event per subset and the training events.

    Returns
    -------
    dict
        ``points`` (per subset: ``fraction``, ``n_train``, ``n_test``, ``shuffle``,
        ``snapshot``, ``epochs``, ``test_rmse``, ``train_rmse``,
        ``test_rmse_pcutoff``, ``test_mAP``, ``bodyparts`` (test error per
        bodypart), ``results_csv``, ``train_seconds``), ``flattened``, ``note``,
        ``shuffles``, ``test_frames``, the settings used and ``files``
        (``json``, ``csv``, ``plot``).

    Raises
    ------
    ValueError
        Bad fractions, a multi-animal project, or too few labelled frames
        (before anything is written).
    """
    report = report or Reporter()
    cfg = load_config(config)
    check_fractions(fractions)
    if cfg.get("multianimalproject"):
        raise ValueError(f"{config}: learning curves support single-animal projects only")
    filed_under = float(cfg["TrainingFraction"][trainingsetindex])
    pool_share = filed_under if test_fraction is None else round(1.0 - float(test_fraction), 2)
    dlc = import_deeplabcut()
    from deeplabcut.utils import auxiliaryfunctions

    dlc_cfg = auxiliaryfunctions.read_config(str(config))
    project = Path(config).parent
    rows = labelled_rows(dlc_cfg)
    plan = plan_subsets(len(rows), fractions, train_fraction=pool_share, seed=seed)
    splits = [padded_split(subset, plan.test, filed_under) for subset in plan.subsets]
    ref_number, ref_cfg = find_reference_shuffle(project, dlc_cfg, filed_under, reference_shuffle)
    if existing_shuffles(project) and _merged_rows_changed(project, dlc_cfg, rows):
        report.emit(
            "log",
            message="warning: the labelled frames changed since the last training dataset; "
            "DeepLabCut re-merges them, so the existing shuffles of this iteration will be "
            "split by row numbers that now name other frames (start a new iteration first "
            "to keep them exact)",
        )
    if net_type is None:
        net_type = str(ref_cfg["net_type"]) if ref_cfg else dlc_cfg.get("default_net_type")
    first = max(existing_shuffles(project), default=0) + 1
    shuffles = list(range(first, first + len(plan.subsets)))
    report.emit(
        "log",
        message=f"learning curve: {len(plan.test)} test frames, subsets of "
        f"{[len(s) for s in plan.subsets]} of {plan.n_pool} training frames, "
        f"new shuffles {shuffles}, {net_type}",
    )
    started = time.time()
    points = []
    for number, (fraction, subset, (train_idx, test_idx), shuffle) in enumerate(
        zip(plan.fractions, plan.subsets, splits, shuffles, strict=True), start=1
    ):
        report.emit(
            "progress",
            stage="subset",
            step=number,
            total=len(plan.subsets),
            message=f"subset {number}/{len(plan.subsets)}: {len(subset)} training frames "
            f"({100 * fraction:.0f} % of {plan.n_pool}), shuffle {shuffle}",
        )
        dlc.create_training_dataset(
            str(config),
            Shuffles=[shuffle],
            trainIndices=[train_idx],
            testIndices=[test_idx],
            net_type=net_type,
            userfeedback=False,
        )
        if ref_cfg is not None and ref_cfg.get("net_type") == net_type:
            from napari_dlc_workbench.dlc.training import train_folder

            folder = train_folder(config, shuffle, trainingsetindex)
            use_reference_data(folder / "pytorch_config.yaml", ref_cfg)
        point = train_and_evaluate(
            config,
            shuffle,
            trainingsetindex=trainingsetindex,
            epochs=epochs,
            batch_size=batch_size,
            device=device,
            save_epochs=save_epochs,
            weights=weights,
            pytorch_cfg_updates=pytorch_cfg_updates,
            report=report,
        )
        points.append(
            {
                "fraction": fraction,
                "n_train": len(subset),
                "n_test": len(plan.test),
                "shuffle": shuffle,
                **point,
            }
        )
    flattened, note = curve_flattened([p["test_rmse"] for p in points])
    summary = {
        "config": str(config),
        "iteration": int(dlc_cfg["iteration"]),
        "trainingsetindex": trainingsetindex,
        "net_type": net_type,
        "reference_shuffle": ref_number,
        "seed": seed,
        "n_labeled": plan.n_labeled,
        "n_pool": plan.n_pool,
        "shuffles": shuffles,
        "test_frames": [rows[i] for i in plan.test],
        "points": points,
        "flattened": flattened,
        "note": note,
        "elapsed_seconds": round(time.time() - started, 1),
    }
    with report.protect():
        files = write_learning_curve(summary, output_folder(project, summary["iteration"]))
    return clean_json({**summary, "files": files})
