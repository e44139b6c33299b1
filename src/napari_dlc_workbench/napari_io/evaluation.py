"""Layers that show where an evaluated snapshot fails: images worst first, labels, predictions.

For one evaluated snapshot, :func:`load_evaluation_view` pairs DLC's evaluation
predictions (``<scorer>.h5``) with the labels DLC evaluated against, for the
test images (and, when asked, the train images), sorted by mean error, worst
first. :func:`evaluation_layers` turns that into four layer data tuples:

- an Image layer: the ``labeled-data`` PNGs stacked in that order, read lazily
  (one dask chunk per image). Images of different videos may differ in size:
  each is padded with black at the right and bottom to the largest height and
  width, so every image keeps its own pixel coordinates (top-left origin) and
  the points need no shift; grey images are repeated to RGB when others are colour.
- ``ground truth`` (Points, "+" markers) and ``predictions`` (Points, discs) in
  the project's bodypart colours (``layers.bodypart_colors``); a prediction whose
  likelihood is below the p-cutoff DLC used is drawn hollow (transparent face),
  as it is left out of "RMSE with p-cutoff" (DLC keeps ``likelihood >= pcutoff``);
- ``errors`` (Vectors): one arrow per keypoint from the label to the prediction.

Frame ``i`` of every layer is the ``i``-th worst image; :func:`frame_descriptions`
says which image it is and its errors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.dlc.evaluation import read_evaluation_results
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.evaluation_files import (
    EvaluationFiles,
    ShuffleFiles,
    find_evaluation,
    list_snapshots,
    read_evaluation_predictions,
    read_ground_truth,
    read_split,
    shuffle_files,
)
from napari_dlc_workbench.model.evaluation_table import AnimalSize, parse_pcutoff
from napari_dlc_workbench.model.project import Project
from napari_dlc_workbench.napari_io.layers import LayerDataTuple, bodypart_colors
from napari_dlc_workbench.process.evaluation_errors import (
    EvaluatedImage,
    animal_size,
    evaluated_images,
)

__all__ = [
    "EVALUATION_KIND",
    "EvaluationView",
    "add_evaluation_layers",
    "evaluation_layers",
    "frame_descriptions",
    "image_stack",
    "load_evaluation_view",
    "read_results",
    "table_context",
]

EVALUATION_KIND = "evaluation"
"""``metadata["workbench"]["kind"]`` of every layer made here."""


@dataclass(eq=False)
class EvaluationView:
    """What the evaluation layers show.

    Attributes
    ----------
    project : Project
        The project (colours, marker size, folder of the images).
    files : ShuffleFiles
        The shuffle's files.
    evaluation : EvaluationFiles
        The snapshot's evaluation files.
    snapshot : str
        Snapshot name, e.g. ``"snapshot-002"``.
    images : list of EvaluatedImage
        The images shown, worst first.
    pcutoff : float or list of float
        The cutoff DLC used (one per bodypart when DLC got a list).
    animal : AnimalSize or None
        The animal's size in the labels (scales the markers).
    """

    project: Project
    files: ShuffleFiles
    evaluation: EvaluationFiles
    snapshot: str
    images: list[EvaluatedImage]
    pcutoff: float | list[float]
    animal: AnimalSize | None = None

    def marker_size(self) -> float:
        """Return the points' size: ``dotsize``, but at most a quarter of the animal's size.

        ``dotsize`` suits the full frames DLC labels on; on a small animal such markers
        would hide the keypoints whose errors are being looked at.
        """
        if self.animal is None:
            return float(self.project.dotsize)
        return float(min(self.project.dotsize, max(2.0, self.animal.scale / 4)))

    def cutoffs(self) -> np.ndarray:
        """Return the p-cutoff of each bodypart, in the images' bodypart order."""
        n = len(self.images[0].bodyparts) if self.images else len(self.project.all_bodyparts)
        if isinstance(self.pcutoff, list):
            return np.asarray(self.pcutoff[:n], dtype=float)
        return np.full(n, float(self.pcutoff))

    def image_paths(self) -> list[Path]:
        """Return the PNG of each shown image, in display order."""
        return [self.project.folder.joinpath(*image.key) for image in self.images]


def load_evaluation_view(
    config: str | os.PathLike[str],
    snapshot: str,
    shuffle: int = 1,
    trainingsetindex: int = 0,
    splits: Sequence[str] = ("test",),
) -> EvaluationView:
    """Read an evaluated snapshot's files and pair labels with predictions.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    snapshot : str
        ``"snapshot-002"`` or ``"snapshot-best-001"`` (``.pt`` optional).
    shuffle, trainingsetindex : int
        Which training dataset.
    splits : sequence of str
        ``("test",)``, ``("train",)`` or both.

    Returns
    -------
    EvaluationView

    Raises
    ------
    FileNotFoundError
        If the snapshot does not exist or has not been evaluated (nothing is
        read or written then).
    ValueError
        If a file is unreadable or does not match the others (``LabelsError``
        names the file), or the project is multi-animal.
    """
    files = shuffle_files(config, shuffle, trainingsetindex)
    name = Path(snapshot).name.removesuffix(".pt")
    found = [s for s in list_snapshots(files.train_folder) if s.name == name]
    if not found:
        raise FileNotFoundError(f"{files.train_folder}: no {name}.pt in this shuffle")
    evaluation = find_evaluation(files, found[0])
    if evaluation is None:
        raise FileNotFoundError(
            f"{name} of shuffle {shuffle} has not been evaluated yet (no results in "
            f"{files.evaluation_folder}): press Evaluate first"
        )
    if not evaluation.predictions.is_file():
        raise FileNotFoundError(
            f"{evaluation.predictions}: DLC's evaluation predictions are missing"
        )
    project = Project.from_config(load_config(config), config)
    overall = read_evaluation_results(evaluation.results_csv)["overall"]
    truth = read_ground_truth(files)
    images = evaluated_images(
        truth, read_evaluation_predictions(evaluation.predictions), read_split(files), splits
    )
    pcutoff = parse_pcutoff(overall.get("pcutoff", 0.6))
    view = EvaluationView(project, files, evaluation, name, images, pcutoff, animal_size(truth))
    missing = [str(p) for p in view.image_paths() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"labelled images are missing: {', '.join(missing[:3])}")
    return view


def read_results(files: ShuffleFiles, snapshot: str) -> dict[str, Any] | None:
    """Read DLC's results for ``snapshot`` if it was evaluated (DLC is not run).

    Parameters
    ----------
    files : ShuffleFiles
        The shuffle.
    snapshot : str
        Snapshot name, ``.pt`` optional.

    Returns
    -------
    dict or None
        ``read_evaluation_results``' ``overall`` and ``bodyparts`` plus
        ``snapshot``, ``epochs``, ``scorer`` and ``results_csv``; None when the
        snapshot or its results do not exist.
    """
    name = Path(snapshot).name.removesuffix(".pt")
    found = [s for s in list_snapshots(files.train_folder) if s.name == name]
    evaluation = find_evaluation(files, found[0]) if found else None
    if evaluation is None:
        return None
    result = read_evaluation_results(evaluation.results_csv, evaluation.keypoint_csv)
    result.update(snapshot=name, epochs=found[0].epochs, scorer=evaluation.scorer)
    result["results_csv"] = str(evaluation.results_csv)
    return result


def table_context(files: ShuffleFiles) -> tuple[AnimalSize | None, dict[str, int] | None]:
    """Measure what puts the table's numbers in proportion: animal size, images per split.

    Returns
    -------
    tuple
        :class:`AnimalSize` (None without labels to measure) and
        ``{"train": n, "test": n}`` (None without a training dataset).
    """
    try:
        counts = {name: len(indices) for name, indices in read_split(files).items()}
    except ValueError:
        counts = None
    try:
        size = animal_size(read_ground_truth(files))
    except ValueError:
        size = None
    return size, counts


def _read_padded(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    from imageio.v3 import imread

    image = np.asarray(imread(path))
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]  # alpha means nothing for a camera frame
    if len(shape) == 3 and image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    out = np.zeros(shape, dtype=dtype)
    out[: image.shape[0], : image.shape[1]] = image
    return out


def image_stack(paths: Sequence[Path]) -> tuple[Any, bool]:
    """Stack images of possibly different sizes lazily, padded at the right and bottom.

    Parameters
    ----------
    paths : sequence of Path
        PNG/JPEG files, in display order.

    Returns
    -------
    dask.array.Array
        ``(n, H, W[, 3])`` with ``H``, ``W`` the largest height and width; an
        image is read only when its chunk is computed.
    bool
        Whether the stack is RGB.
    """
    import dask
    import dask.array as da
    from imageio.v3 import improps

    props = [improps(p) for p in paths]
    if not props:
        return da.zeros((0, 1, 1), dtype=np.uint8), False
    rgb = any(len(p.shape) == 3 for p in props)
    height = max(p.shape[0] for p in props)
    width = max(p.shape[1] for p in props)
    dtype = np.result_type(*[p.dtype for p in props])
    shape = (height, width, 3) if rgb else (height, width)
    read = dask.delayed(_read_padded, pure=True)
    frames = [da.from_delayed(read(Path(p), shape, dtype), shape=shape, dtype=dtype) for p in paths]
    return da.stack(frames), rgb


def _rgba(colors: dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    return np.array([colors[n] for n in names], dtype=float).reshape(-1, 4)


def evaluation_layers(view: EvaluationView) -> list[LayerDataTuple]:
    """Build the Image, ground-truth Points, prediction Points and error Vectors tuples.

    Parameters
    ----------
    view : EvaluationView
        From :func:`load_evaluation_view`.

    Returns
    -------
    list of tuple
        ``(data, kwargs, layer_type)`` in drawing order: image, errors, ground
        truth, predictions. Points data are ``[frame, y, x]`` with frame the
        image's rank by error (0 = worst); features name the bodypart, the
        image, its split, the error (px) and the likelihood.
    """
    import pandas as pd

    project, images = view.project, view.images
    bodyparts = list(images[0].bodyparts) if images else list(project.all_bodyparts)
    colors = bodypart_colors(bodyparts, project.colormap)
    cutoffs = view.cutoffs()
    split_names = sorted({image.split for image in images})
    what = f"{view.snapshot} {'+'.join(split_names) or 'test'}"
    info = {
        "kind": EVALUATION_KIND,
        "config": str(project.config_path),
        "scorer": view.evaluation.scorer,
        "snapshot": view.snapshot,
        "images": ["/".join(image.key) for image in images],
    }

    truth_rows, pred_rows, vectors = [], [], []
    for frame, image in enumerate(images):
        for k, bodypart in enumerate(image.bodyparts):
            common = {"label": bodypart, "image": image.name, "split": image.split}
            common["error"] = float(image.error[k])
            x, y = image.truth[k]
            if np.isfinite([x, y]).all():
                truth_rows.append(([frame, y, x], common))
            px, py = image.predicted[k]
            if np.isfinite([px, py]).all():
                likelihood = float(image.likelihood[k])
                extra = {"likelihood": likelihood, "confident": bool(likelihood >= cutoffs[k])}
                pred_rows.append(([frame, py, px], {**common, **extra}))
                if np.isfinite([x, y]).all():
                    vectors.append(([[frame, y, x], [0.0, py - y, px - x]], common))

    def points(rows: list, columns: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
        data = np.array([r[0] for r in rows], dtype=float).reshape(-1, 3)
        feats = pd.DataFrame([r[1] for r in rows], columns=columns)
        feats["label"] = pd.Categorical(feats["label"], categories=bodyparts)
        return data, feats

    base = ["label", "image", "split", "error"]
    truth_data, truth_feats = points(truth_rows, base)
    pred_data, pred_feats = points(pred_rows, [*base, "likelihood", "confident"])
    truth_color = _rgba(colors, list(truth_feats["label"].astype(str)))
    pred_border = _rgba(colors, list(pred_feats["label"].astype(str)))
    pred_face = pred_border.copy()
    pred_face[:, 3] = np.where(pred_feats["confident"].to_numpy(bool), 1.0, 0.0)
    vector_data = np.array([v[0] for v in vectors], dtype=float).reshape(-1, 2, 3)
    vector_feats = pd.DataFrame([v[1] for v in vectors], columns=base)
    size = view.marker_size()

    stack, rgb = image_stack(view.image_paths())
    image_kwargs: dict[str, Any] = {
        "name": f"evaluation images ({what})",
        "rgb": rgb,
        "metadata": {"workbench": {**info, "layer": "images"}},
    }
    if stack.dtype == np.uint8:
        image_kwargs["contrast_limits"] = (0, 255)
    return [
        (stack, image_kwargs, "image"),
        (
            vector_data,
            {
                "name": f"errors ({what})",
                "ndim": 3,
                "features": vector_feats,
                "edge_color": _rgba(colors, list(vector_feats["label"].astype(str))),
                "edge_width": max(size / 5, 0.5),
                "length": 1.0,
                "vector_style": "arrow",
                "metadata": {"workbench": {**info, "layer": "errors"}},
            },
            "vectors",
        ),
        (
            truth_data,
            {
                "name": f"ground truth ({what})",
                "ndim": 3,
                "features": truth_feats,
                "symbol": "cross",
                "face_color": truth_color,
                "border_color": truth_color,
                "border_width": 0,
                "size": size,
                "metadata": {"workbench": {**info, "layer": "ground truth"}},
            },
            "points",
        ),
        (
            pred_data,
            {
                "name": f"predictions ({what})",
                "ndim": 3,
                "features": pred_feats,
                "symbol": "disc",
                "face_color": pred_face,
                "border_color": pred_border,
                "border_width": 0.25,
                "border_width_is_relative": True,
                "size": size,
                "text": {
                    "string": "{label} {error:.1f} px",
                    "size": 8,
                    "color": "white",
                    "anchor": "upper_left",
                    "visible": True,
                },
                "metadata": {
                    "workbench": {**info, "layer": "predictions", "pcutoff": cutoffs.tolist()}
                },
            },
            "points",
        ),
    ]


def frame_descriptions(view: EvaluationView) -> list[str]:
    """Describe each frame of the layers: rank, image, split and errors.

    Parameters
    ----------
    view : EvaluationView
        From :func:`load_evaluation_view`.

    Returns
    -------
    list of str
        E.g. ``"#1/7 test DSC_3189_#5/img39.png: mean error 30.8 px, worst prey
        82.8 px (likelihood 0.17)"``.
    """
    cutoffs = view.cutoffs()
    lines = []
    for rank, image in enumerate(view.images, start=1):
        text = f"#{rank}/{len(view.images)} {image.split} {image.name}: "
        worst = image.worst
        if worst is None:
            lines.append(text + "no keypoint both labelled and predicted")
            continue
        k = image.bodyparts.index(worst[0])
        unsure = image.likelihood[k] < cutoffs[k]
        text += f"mean error {image.mean_error:.1f} px, worst {worst[0]} {worst[1]:.1f} px"
        text += f" (likelihood {image.likelihood[k]:.2f}{', below p-cutoff' if unsure else ''})"
        lines.append(text)
    return lines


def add_evaluation_layers(viewer: Any, view: EvaluationView) -> list[Any]:
    """Replace earlier evaluation layers in ``viewer`` with this view's; return the new ones."""
    from napari.layers import Layer

    for layer in list(viewer.layers):
        if (layer.metadata.get("workbench") or {}).get("kind") == EVALUATION_KIND:
            viewer.layers.remove(layer)
    added = [viewer.add_layer(Layer.create(*data)) for data in evaluation_layers(view)]
    viewer.dims.set_current_step(0, 0)
    return added
