"""How little image processing still works: the same frames, other preprocessing, DLC's RMSE.

:func:`compare_preprocessing` runs in a job's child (``Job("compare_preprocessing", {...})``):

1. DLC merges the project's labelled frames (into a temporary folder) and a seeded
   permutation picks one test set (as the learning curve does,
   :func:`napari_dlc_workbench.process.learning_curve.plan_subsets`);
2. per variant, :func:`napari_dlc_workbench.process.preprocessing_variants.make_variant_project`
   exports the labelled clips again from their recordings with that contrast and
   makes a copy of the project with the same labels and the same frames;
3. each copy gets shuffle 1 with exactly that split
   (``deeplabcut.create_training_dataset(trainIndices=..., testIndices=...)``), the
   reference shuffle's data settings (augmentation, cropping), is trained from the
   same kind of start and its last snapshot evaluated; the RMSE values are DLC's
   own results files.
4. ``preprocessing.json``, ``.csv`` and ``.png`` are written into the output folder.

The original project is only read.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc._env import import_deeplabcut
from napari_dlc_workbench.dlc.experiments import (
    clean_json,
    figure_png,
    find_reference_shuffle,
    labelled_rows,
    train_and_evaluate,
    use_reference_data,
    write_results,
)
from napari_dlc_workbench.dlc.reporting import Reporter
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.process.learning_curve import padded_split, plan_subsets
from napari_dlc_workbench.process.preprocessing_variants import (
    EXPORTED,
    VariantError,
    labelled_clips,
    make_variant_project,
    variant_settings,
)

__all__ = ["DEFAULT_VARIANTS", "compare_preprocessing", "plot_comparison", "write_comparison"]

DEFAULT_VARIANTS = ("none", EXPORTED)
"""No contrast at all against what the clips were made with."""
MARKER = ".dlc-workbench-preprocessing"


def _output_folder(out: Path) -> None:
    # A folder this function made before is replaced; anything else must be empty.
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise VariantError(f"{out} is not empty and was not made by a preprocessing comparison")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by dlc-workbench compare-preprocessing\n")


def compare_preprocessing(
    config: str | os.PathLike[str],
    out: str | os.PathLike[str],
    variants: Sequence[str] = DEFAULT_VARIANTS,
    *,
    record_folders: Sequence[str | os.PathLike[str]] = (),
    trainingsetindex: int = 0,
    seed: int = 0,
    net_type: str | None = None,
    reference_shuffle: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: str | None = "auto",
    weights: str | os.PathLike[str] = "random",
    report: Reporter | None = None,
) -> dict[str, Any]:
    """Train and evaluate the project's labelled frames under each preprocessing.

    Parameters
    ----------
    config : path
        The project's ``config.yaml`` (single-animal; its labelled clips made by the
        Crop dock, so their export records say how to make them again).
    out : path
        Output folder: one project copy per variant, and the results. Must be empty
        or an earlier comparison's.
    variants : sequence of str
        ``"exported"`` (each clip's recorded contrast) and names of
        :data:`~napari_dlc_workbench.process.preprocessing_variants.PRESETS`.
    record_folders : sequence of path
        Where else to look for the clips' export records (see
        :func:`~napari_dlc_workbench.process.preprocessing_variants.labelled_clips`).
    trainingsetindex : int
        Which ``TrainingFraction`` sets the test share.
    seed : int
        Seed of the test set.
    net_type : str, optional
        DLC network; default that of the reference shuffle, else the project's
        ``default_net_type``.
    reference_shuffle : int, optional
        Shuffle of the original project whose data settings every variant reuses.
    epochs, batch_size, device, weights
        As for :func:`napari_dlc_workbench.dlc.training.train` (random weights by
        default: offline, and the same kind of start for every variant).
    report : Reporter, optional
        Receives a ``progress`` event per variant and the training events.

    Returns
    -------
    dict
        ``variants`` (per variant: ``name``, ``contrast``, ``config``,
        ``test_rmse``, ``train_rmse``, ``test_rmse_pcutoff``, ``test_mAP``,
        ``bodyparts``, ``epochs``, ``train_seconds``), ``n_train``, ``n_test``,
        ``test_frames``, the settings used and ``files`` (``json``, ``csv``, ``plot``).

    Raises
    ------
    VariantError
        Unknown or repeated variant names, a project whose clips cannot be made
        again, or an output folder in use (before anything is written).
    """
    from napari_dlc_workbench.dlc.training import train_folder

    report = report or Reporter()
    names = list(variants)
    if not names or len(set(names)) != len(names):
        raise VariantError(f"give each variant once, got {names}")
    settings = {name: variant_settings(name) for name in names}
    labelled_clips(config, record_folders)  # every clip can be made again: checked first
    cfg = load_config(config)
    if cfg.get("multianimalproject"):
        raise VariantError(f"{config}: single-animal projects only")
    dlc = import_deeplabcut()
    from deeplabcut.utils import auxiliaryfunctions

    dlc_cfg = auxiliaryfunctions.read_config(str(config))
    project = Path(config).parent
    rows = labelled_rows(dlc_cfg)
    filed_under = float(cfg["TrainingFraction"][trainingsetindex])
    plan = plan_subsets(len(rows), [1.0], train_fraction=filed_under, seed=seed)
    train_idx, test_idx = padded_split(plan.subsets[0], plan.test, filed_under)
    ref_number, ref_cfg = find_reference_shuffle(project, dlc_cfg, filed_under, reference_shuffle)
    if net_type is None:
        net_type = str(ref_cfg["net_type"]) if ref_cfg else dlc_cfg.get("default_net_type")
    out = Path(out).resolve()
    _output_folder(out)
    started = time.time()
    results = []
    for number, name in enumerate(names, start=1):
        report.emit(
            "progress",
            stage="variant",
            step=number,
            total=len(names),
            message=f"variant {number}/{len(names)}: {name}",
        )
        variant = make_variant_project(
            config,
            out / name,
            settings[name],
            record_folders=record_folders,
            progress=lambda line: report.emit("log", message=line),
        )
        if labelled_rows(auxiliaryfunctions.read_config(str(variant))) != rows:
            raise RuntimeError(f"{variant}: the copy's labelled frames differ from the project's")
        dlc.create_training_dataset(
            str(variant),
            Shuffles=[1],
            trainIndices=[train_idx],
            testIndices=[test_idx],
            net_type=net_type,
            userfeedback=False,
        )
        if ref_cfg is not None and ref_cfg.get("net_type") == net_type:
            use_reference_data(
                train_folder(variant, 1, trainingsetindex) / "pytorch_config.yaml", ref_cfg
            )
        point = train_and_evaluate(
            variant,
            1,
            trainingsetindex=trainingsetindex,
            epochs=epochs,
            batch_size=batch_size,
            device=device,
            weights=weights,
            report=report,
        )
        contrast = settings[name]
        results.append(
            {
                "name": name,
                "contrast": contrast.to_dict() if contrast else EXPORTED,
                "config": str(variant),
                **point,
            }
        )
    summary = {
        "config": str(config),
        "net_type": net_type,
        "reference_shuffle": ref_number,
        "seed": seed,
        "weights": str(weights),
        "n_train": len(plan.subsets[0]),
        "n_test": len(plan.test),
        "test_frames": [rows[i] for i in plan.test],
        "variants": results,
        "elapsed_seconds": round(time.time() - started, 1),
    }
    with report.protect():
        files = write_comparison(summary, out)
    return clean_json({**summary, "files": files})


def plot_comparison(variants: Sequence[Mapping[str, Any]], title: str = "") -> bytes:
    """Draw test RMSE per variant (overall and per bodypart) as a PNG.

    Parameters
    ----------
    variants : sequence of mapping
        ``name``, ``test_rmse``, ``train_rmse`` and ``bodyparts`` per variant.
    title : str
        Figure title.

    Returns
    -------
    bytes
        The PNG image.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def value(v: Any) -> float:
        return math.nan if v is None else float(v)

    names = [str(v["name"]) for v in variants]
    bodyparts = sorted({b for v in variants for b in (v.get("bodyparts") or {})})
    series = [("test RMSE", [value(v.get("test_rmse")) for v in variants])]
    series += [
        (f"test, {b}", [value((v.get("bodyparts") or {}).get(b)) for v in variants])
        for b in bodyparts
    ]
    figure = Figure(figsize=(6.4, 4.4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = np.arange(len(names))
    width = 0.8 / len(series)
    for k, (label, heights) in enumerate(series):
        bars = axes.bar(x + (k - (len(series) - 1) / 2) * width, heights, width, label=label)
        if k == 0:
            axes.bar_label(bars, fmt="%.1f", fontsize=8)
    axes.set_xticks(x, names)
    axes.set_xlabel("preprocessing of the labelled clips")
    axes.set_ylabel("RMSE (px)")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=7)
    if title:
        axes.set_title(title, fontsize=8)
    return figure_png(figure)


def write_comparison(summary: Mapping[str, Any], folder: str | os.PathLike[str]) -> dict:
    """Write ``preprocessing.json``, ``.csv`` and ``.png`` atomically into ``folder``.

    Returns
    -------
    dict
        ``json``, ``csv`` and ``plot``: the paths written.
    """
    variants = list(summary["variants"])
    columns = ["name", "epochs", "test_rmse", "train_rmse", "test_rmse_pcutoff", "test_mAP"]
    title = (
        f"{summary['n_train']} training and {summary['n_test']} test frames, the same for "
        f"every variant; {summary['net_type']}, {variants[0]['epochs'] if variants else '?'} epochs"
    )
    plot = plot_comparison(variants, title)
    return write_results(folder, "preprocessing", summary, variants, columns, plot)
