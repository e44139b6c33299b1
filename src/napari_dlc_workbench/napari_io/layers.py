"""Keypoint tables <-> napari Points layer data, in napari-deeplabcut's conventions.

A keypoints layer carries ``data = [frame, y, x]`` and the features ``label``
(bodypart), ``id`` (individual, ``""`` for single-animal projects) and
``likelihood``, as napari-deeplabcut's layers do, so a layer made here can be
used by its keypoint controls and saved by either plugin. ``metadata`` holds
napari-deeplabcut's keys (``header``, ``paths``, ``root``, ``name``,
``project``, ``face_color_cycles``, ``colormap_name``) plus our own under
``"workbench"``: what the layer is (labels or predictions), the file it came
from, and what is needed to write it back exactly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.model.keypoints import KeypointTable, RowKey
from napari_dlc_workbench.model.project import Project

__all__ = [
    "LayerDataTuple",
    "bodypart_colors",
    "empty_keypoints_layer",
    "keypoints_layer",
    "table_from_layer",
]

LayerDataTuple = tuple[Any, dict[str, Any], str]
WORKBENCH_KEY = "workbench"


def bodypart_colors(names: Sequence[str], colormap: str = "rainbow") -> dict[str, np.ndarray]:
    """Give each name an RGBA colour sampled evenly from a colormap.

    Parameters
    ----------
    names : sequence of str
        Bodyparts (or individuals) in config order.
    colormap : str
        A napari or matplotlib colormap name, as in ``config.yaml``.

    Returns
    -------
    dict
        Name to RGBA float array.
    """
    from napari.utils.colormaps import ensure_colormap

    try:
        cmap = ensure_colormap(colormap)
    except (KeyError, ValueError):
        cmap = ensure_colormap("turbo")
    stops = np.linspace(0.0, 1.0, max(len(names), 1))
    colors = cmap.map(stops)
    return {name: colors[i] for i, name in enumerate(names)}


def _header(table: KeypointTable) -> dict[str, Any]:
    # napari-deeplabcut validates a dict with "columns" into its DLCHeaderModel;
    # a plain dict keeps pydantic models out of our layers.
    cols = table.columns()
    return {"columns": [tuple(map(str, c)) for c in cols], "names": list(cols.names)}


def _path_str(key: RowKey) -> str:
    return "/".join(key) if isinstance(key, tuple) else str(key)


def keypoints_layer(
    table: KeypointTable,
    *,
    kind: str,
    name: str,
    source: str | os.PathLike[str] | None = None,
    project: Project | None = None,
    paths: Sequence[RowKey] | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
) -> LayerDataTuple:
    """Make a Points layer data tuple from a keypoint table.

    Parameters
    ----------
    table : KeypointTable
        Labels (rows are image paths) or predictions (rows are frames).
    kind : {"labels", "predictions"}
        What the layer holds; decides how it can be written back.
    name : str
        Layer name (napari-deeplabcut uses the file stem).
    source : str or PathLike, optional
        File the table came from.
    project : Project, optional
        For colours, marker size, skeleton and the keypoint order.
    paths : sequence of RowKey, optional
        Row key of each frame of the image stack the layer sits on; default:
        the table's rows in natural order (see ``KeypointTable.frame_numbers``).
    offset : tuple of float
        ``(x, y)`` added to coordinates: a cropped analysis lives in crop space.

    Returns
    -------
    tuple
        ``(data, kwargs, "points")``.
    """
    import pandas as pd

    frame_keys = list(paths) if paths is not None else table.display_keys()
    data, features = table.to_points(frame_keys)
    data[:, 2] += offset[0]
    data[:, 1] += offset[1]
    bodyparts = list(project.all_bodyparts) if project else list(table.bodyparts)
    bodyparts += [bp for bp in table.bodyparts if bp not in bodyparts]
    individuals = list(table.individuals)
    colormap = project.colormap if project else "rainbow"
    cycles = {
        "label": bodypart_colors(bodyparts, colormap),
        "id": bodypart_colors(individuals, "viridis"),
    }
    multi = table.multianimal and any(individuals)
    feats = pd.DataFrame(
        {
            "label": pd.Categorical(features["label"], categories=bodyparts),
            "id": pd.Categorical(features["id"], categories=individuals),
            "likelihood": features["likelihood"],
        }
    )
    pcutoff = project.pcutoff if project else 0.6
    feats["valid"] = feats["likelihood"] > pcutoff
    source_path = Path(source) if source is not None else None
    metadata: dict[str, Any] = {
        "header": _header(table),
        "paths": [_path_str(k) for k in frame_keys if isinstance(k, tuple)],
        "root": str(source_path.parent) if source_path else "",
        "name": name,
        "face_color_cycles": cycles,
        "colormap_name": colormap,
        WORKBENCH_KEY: {
            "kind": kind,
            "source": str(source_path) if source_path else None,
            "scorer": table.scorer,
            "keypoints": [list(kp) for kp in table.keypoints],
            "multianimal": table.multianimal,
            "has_likelihood": table.has_likelihood,
            "row_keys": [list(k) if isinstance(k, tuple) else int(k) for k in frame_keys],
            "offset": list(offset),
        },
    }
    if project is not None:
        metadata["project"] = str(project.folder)
    kwargs: dict[str, Any] = {
        "name": name,
        "ndim": 3,
        "features": feats,
        "face_color": "id" if multi else "label",
        "face_color_cycle": cycles["id" if multi else "label"],
        "border_color": "valid",
        "border_color_cycle": ["black", "red"],
        "border_width": 0,
        "border_width_is_relative": False,
        "size": project.dotsize if project else 8,
        "text": {"string": "{id}–{label}" if multi else "{label}", "visible": False},
        "metadata": metadata,
    }
    return data, kwargs, "points"


def empty_keypoints_layer(project: Project) -> LayerDataTuple:
    """Make an empty labels layer for a project, ready for clicking points.

    Parameters
    ----------
    project : Project
        Gives the scorer, bodyparts and individuals.

    Returns
    -------
    tuple
        ``(data, kwargs, "points")`` with no points but every bodypart as a
        feature category.
    """
    table = KeypointTable(
        project.scorer,
        [],
        project.keypoints,
        np.zeros((0, len(project.keypoints), 3)),
        multianimal=project.multianimal,
    )
    return keypoints_layer(
        table,
        kind="labels",
        name=f"CollectedData_{project.scorer}",
        source=project.config_path,
        project=project,
        paths=[],
    )


def table_from_layer(data: np.ndarray, metadata: Mapping[str, Any], features: Any) -> KeypointTable:
    """Rebuild the keypoint table from a keypoints Points layer.

    Parameters
    ----------
    data : ndarray
        Layer data ``[frame, y, x]``.
    metadata : Mapping
        Layer metadata as made by :func:`keypoints_layer`.
    features : DataFrame or Mapping
        Layer features (``label``, ``id``, ``likelihood``).

    Returns
    -------
    KeypointTable
        With the scorer, keypoint order and row keys recorded in the metadata.

    Raises
    ------
    ValueError
        If the layer was not made by this plugin (no ``workbench`` metadata).
    """
    info = metadata.get(WORKBENCH_KEY)
    if not info:
        raise ValueError("this Points layer was not made by napari-dlc-workbench")
    row_keys = [tuple(k) if isinstance(k, list) else k for k in info["row_keys"]]
    data = np.array(data, dtype=np.float64).reshape(-1, 3)
    x0, y0 = info.get("offset", (0.0, 0.0))
    data[:, 2] -= x0
    data[:, 1] -= y0
    feats = {key: np.asarray(features[key]) for key in ("label", "id", "likelihood")}
    return KeypointTable.from_points(
        data,
        feats,
        scorer=info["scorer"],
        keypoints=[tuple(kp) for kp in info["keypoints"]],
        paths=row_keys,
        multianimal=info["multianimal"],
        has_likelihood=info["has_likelihood"],
        # DLC keeps a row for every extracted image, labelled or not.
        keep_empty_rows=info["kind"] == "labels",
    )
