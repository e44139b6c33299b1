"""Pair DLC's evaluation predictions with the labels, image by image, worst first.

DLC's evaluation files give the numbers (see :mod:`..model.evaluation_table`);
to SEE where a network fails, each evaluated image needs its labels, the
predictions and the distance between them. This module lines those up from the
tables read by :mod:`..io.evaluation_files` and orders the images by their
mean error, the same mean (of keypoint distances) DLC reports as "RMSE", so the
worst images come first. It also measures the animal's size in the labels, the
scale DLC's OKS divides errors by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from napari_dlc_workbench.model.evaluation_table import AnimalSize
from napari_dlc_workbench.model.keypoints import KeypointTable, natural_key

__all__ = ["EvaluatedImage", "animal_size", "evaluated_images"]


@dataclass(frozen=True, eq=False)
class EvaluatedImage:
    """One evaluated image: labels, predictions and errors per bodypart.

    Attributes
    ----------
    key : tuple of str
        ``("labeled-data", video_stem, image_name)``.
    split : str
        ``"train"`` or ``"test"``.
    bodyparts : tuple of str
        Column order of the arrays.
    truth, predicted : ndarray, shape (n_bodyparts, 2)
        ``x, y`` in pixels (NaN: not labelled / not predicted).
    likelihood : ndarray, shape (n_bodyparts,)
        The network's likelihood of each prediction.
    error : ndarray, shape (n_bodyparts,)
        Euclidean distance prediction-label in pixels; NaN where either is missing.
    """

    key: tuple[str, ...]
    split: str
    bodyparts: tuple[str, ...]
    truth: np.ndarray
    predicted: np.ndarray
    likelihood: np.ndarray
    error: np.ndarray

    @property
    def mean_error(self) -> float:
        """Mean of the bodyparts' errors (NaN when no bodypart has one)."""
        finite = self.error[np.isfinite(self.error)]
        return float(finite.mean()) if finite.size else float("nan")

    @property
    def worst(self) -> tuple[str, float] | None:
        """The bodypart with the largest error and that error, if any."""
        if not np.isfinite(self.error).any():
            return None
        k = int(np.nanargmax(self.error))
        return self.bodyparts[k], float(self.error[k])

    @property
    def name(self) -> str:
        """``video_stem/image_name``: how the image is named in the dock."""
        return "/".join(self.key[-2:])


def animal_size(table: KeypointTable) -> AnimalSize | None:
    """Measure the animal in the labels: median ``sqrt(w * h)`` of its keypoints' box.

    This is the scale DLC's OKS uses for each pose (the area of the box around
    the labelled keypoints), so errors compared with it read the way mAP does.

    Parameters
    ----------
    table : KeypointTable
        Labels (``CollectedData``); each row × individual is one pose.

    Returns
    -------
    AnimalSize or None
        None when no pose has two labelled keypoints spanning an area.
    """
    dense = table.dense()[..., :2]  # rows, individuals, bodyparts, xy
    poses = dense.reshape(-1, dense.shape[-2], 2)
    sizes = []
    for pose in poses:
        points = pose[np.isfinite(pose).all(axis=1)]
        if len(points) < 2:
            continue
        area = float(np.prod(np.ptp(points, axis=0)))
        if area > 0:
            sizes.append(np.sqrt(area))
    if not sizes:
        return None
    return AnimalSize(scale=float(np.median(sizes)), n_poses=len(sizes))


def _prediction_columns(truth: KeypointTable, predictions: KeypointTable) -> list[int]:
    # DLC writes an "individuals" level even for single-animal projects (one
    # individual): match each labelled bodypart to the first prediction of that name.
    columns = []
    for _, bodypart in truth.keypoints:
        found = [k for k, (_, bp) in enumerate(predictions.keypoints) if bp == bodypart]
        if not found:
            raise ValueError(
                f"the evaluation predictions have no bodypart {bodypart!r} "
                f"(they have {list(predictions.bodyparts)})"
            )
        columns.append(found[0])
    return columns


def evaluated_images(
    truth: KeypointTable,
    predictions: KeypointTable,
    split: Mapping[str, Iterable[int]],
    splits: Iterable[str] = ("test",),
) -> list[EvaluatedImage]:
    """Pair labels and predictions for the images of some splits, worst first.

    Parameters
    ----------
    truth : KeypointTable
        The dataset's labels (``training-datasets/.../CollectedData_*.h5``).
    predictions : KeypointTable
        DLC's evaluation ``<scorer>.h5`` (all labelled images).
    split : Mapping
        ``{"train": [...], "test": [...]}``: row positions in ``truth``.
    splits : iterable of str
        Which splits to include.

    Returns
    -------
    list of EvaluatedImage
        Sorted by decreasing mean error; images without any error last; ties
        in image-name order.

    Raises
    ------
    ValueError
        For multi-animal labels (DLC matches predicted animals to labelled ones
        by OKS, which these files do not record), a split index outside the
        labels, or an evaluated image missing from the predictions.
    """
    if truth.multianimal:
        raise ValueError(
            "error vectors are drawn for single-animal projects only: DLC matches predicted "
            "animals to labelled ones by OKS and does not save that matching"
        )
    columns = _prediction_columns(truth, predictions)
    rows_of = {key: r for r, key in enumerate(predictions.index)}
    bodyparts = tuple(bp for _, bp in truth.keypoints)
    images = []
    for name in splits:
        for index in split.get(name, []):
            if not 0 <= index < len(truth):
                raise ValueError(
                    f"{name} index {index} is outside the {len(truth)} labelled images"
                )
            key = truth.index[index]
            if key not in rows_of:
                raise ValueError(f"{'/'.join(key)} has no prediction in the evaluation results")
            gt = truth.xy[index]
            pred = predictions.data[rows_of[key], columns]
            error = np.linalg.norm(pred[:, :2] - gt, axis=1)
            images.append(
                EvaluatedImage(
                    key=tuple(key),
                    split=name,
                    bodyparts=bodyparts,
                    truth=gt.copy(),
                    predicted=pred[:, :2].copy(),
                    likelihood=pred[:, 2].copy(),
                    error=error,
                )
            )

    def order(image: EvaluatedImage) -> tuple[bool, float, tuple]:
        value = image.mean_error
        missing = not np.isfinite(value)
        return missing, 0.0 if missing else -value, natural_key(image.key)

    return sorted(images, key=order)
