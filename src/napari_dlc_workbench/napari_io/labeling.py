"""napari glue of the "Labeling" dock: layers to label on, and the skeleton beside them.

Opening a ``labeled-data/<video>`` folder or a project video into an image
layer and a labels Points layer, telling a labels layer of this plugin, the
:class:`~..process.labeling_store.LabelsTarget` a layer is saved to, the
Points layer's feature defaults (what the next click places), and the skeleton
Vectors layer drawn under the labels. napari is imported lazily; no Qt here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.model.project import Project
from napari_dlc_workbench.napari_io.layers import LayerDataTuple, keypoints_layer
from napari_dlc_workbench.napari_io.reader import find_project, read_frames_layers
from napari_dlc_workbench.process.labeling_frames import skeleton_vectors
from napari_dlc_workbench.process.labeling_store import (
    LabelsTarget,
    open_folder_target,
    open_video_target,
)

__all__ = [
    "add_labeling_layers",
    "add_skeleton_layer",
    "detach_callbacks",
    "draw_skeleton",
    "is_labels_layer",
    "labels_target_of",
    "open_for_labeling",
    "relabel_point",
    "set_keypoint_defaults",
    "skeleton_pairs",
]


def open_for_labeling(
    path: str | Path, video: bool = False
) -> tuple[LayerDataTuple, LabelsTarget, KeypointTable, list[str]]:
    """Read the frames of a ``labeled-data/<video>`` folder (or a video) and their labels.

    Parameters
    ----------
    path : str or Path
        The folder, or the project video when ``video`` is true.
    video : bool
        Label on the video's frames (labels still live in ``labeled-data``).

    Returns
    -------
    image : LayerDataTuple
        The frames, as an image layer.
    target, table, warnings
        As :func:`~..process.labeling_store.open_folder_target`.

    Raises
    ------
    ValueError, OSError
        No DLC project above ``path``, or the frames or labels cannot be used
        (LabelsError, ImageFolderError, VideoError...).
    """
    path = Path(path)
    project = find_project(path if video else path / "CollectedData.h5")
    if project is None:
        raise ValueError(f"{path}: no DLC config.yaml above it")
    [image] = [t for t in read_frames_layers(path) if t[2] == "image"]
    frames = image[0]
    if video:
        target, table, warnings = open_video_target(
            path, project, frames.shape[0], frames.shape[1:]
        )
    else:
        target, table, warnings = open_folder_target(path, project)
    return image, target, table, warnings


def add_labeling_layers(
    viewer: Any, image: LayerDataTuple, target: LabelsTarget, table: KeypointTable
) -> Any:
    """Add the frames and the labels Points layer to ``viewer``; return the Points layer."""
    from napari.layers import Layer

    points = keypoints_layer(
        table,
        kind="labels",
        name=target.h5.stem,
        source=target.h5,
        project=target.project,
        paths=target.row_keys,
    )
    if target.video is not None:
        points[1]["metadata"]["workbench"]["video"] = str(target.video)
    viewer.add_layer(Layer.create(*image))
    viewer.add_layer(layer := Layer.create(*points))
    return layer


def is_labels_layer(layer: Any) -> bool:
    """Whether ``layer`` is a labels layer of this plugin on a ``CollectedData_*`` file."""
    info = getattr(layer, "metadata", {}).get("workbench") or {}
    name = Path(info.get("source") or "").name
    return info.get("kind") == "labels" and name.startswith("CollectedData_")


def labels_target_of(layer: Any) -> LabelsTarget:
    """Where a labels layer is saved to, from its metadata.

    Raises
    ------
    ValueError
        If there is no DLC ``config.yaml`` above its source file.
    """
    info = layer.metadata["workbench"]
    project = find_project(info["source"])
    if project is None:
        raise ValueError(f"{info['source']}: no DLC config.yaml above it.")
    keys = [tuple(k) if isinstance(k, list) else k for k in info["row_keys"]]
    video = Path(info["video"]) if info.get("video") else None
    return LabelsTarget(project, Path(info["source"]).parent, keys, video)


def detach_callbacks(
    layer: Any, on_data: Callable[..., Any], on_features: Callable[..., Any], on_press: Any
) -> None:
    """Disconnect the dock's callbacks from ``layer`` (those not connected are skipped)."""
    events = layer.events
    for disconnect in (
        lambda: events.data.disconnect(on_data),
        lambda: events.features.disconnect(on_features),
        lambda: layer.mouse_drag_callbacks.remove(on_press),
    ):
        with contextlib.suppress(TypeError, ValueError):
            disconnect()


def relabel_point(layer: Any, index: int, keypoint: tuple[str, str]) -> Any:
    """Give point ``index`` the ``(individual, bodypart)`` ``keypoint``; return the features."""
    ind, bp = keypoint
    feats = layer.features
    if (feats["label"].iloc[index], feats["id"].iloc[index]) != (bp, ind):
        feats = feats.copy()
        feats.loc[feats.index[index], ["label", "id"]] = [bp, ind]
        layer.features = feats
    return feats


def set_keypoint_defaults(layer: Any, keypoint: tuple[str, str]) -> None:
    """Make the next point added to ``layer`` the ``(individual, bodypart)`` ``keypoint``."""
    defaults = {c: layer.feature_defaults[c][0] for c in layer.features}
    ind, bp = keypoint
    if (defaults.get("label"), defaults.get("id")) != (bp, ind):  # the setter costs ~10 ms
        defaults.update({"label": bp, "id": ind, "likelihood": 1.0, "valid": True})
        layer.feature_defaults = defaults


def skeleton_pairs(project: Project) -> list[tuple[str, str]]:
    """Return the project's skeleton pairs whose two bodyparts exist."""
    known = set(project.all_bodyparts)
    return [(a, b) for a, b in project.skeleton if a in known and b in known]


def add_skeleton_layer(viewer: Any, project: Project, labels: Any) -> Any:
    """Add an empty skeleton Vectors layer just under ``labels``; ``labels`` stays active."""
    from napari.layers import Vectors

    skeleton = Vectors(
        np.zeros((0, 2, 3)), ndim=3, vector_style="line",
        edge_width=max(1.0, project.dotsize / 4),
        edge_color=str(project.raw.get("skeleton_color") or "black"),
    )  # fmt: skip
    viewer.add_layer(skeleton)
    layers = viewer.layers
    layers.move(layers.index(skeleton), layers.index(labels))
    layers.selection.active = labels
    return skeleton


def draw_skeleton(skeleton: Any, labels: Any, pairs: list[tuple[str, str]]) -> None:
    """Draw the ``pairs`` segments of the ``labels`` layer's points in ``skeleton``."""
    feats = labels.features
    skeleton.data = skeleton_vectors(labels.data, feats["label"], feats["id"], pairs)
