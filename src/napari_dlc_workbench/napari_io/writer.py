"""npe2 writer contribution: a keypoints Points layer -> ``CollectedData_<scorer>``.

Layers made by this plugin carry the exact keypoint order and row keys in
their metadata; layers made by napari-deeplabcut carry the DLC header and the
image paths, which are enough to rebuild the same table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.io.labels import LabelsError, write_labels
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.napari_io.layers import WORKBENCH_KEY, table_from_layer

__all__ = ["table_from_attributes", "write_points"]


def _columns_of(header: Any) -> list[tuple[str, ...]]:
    columns = header.get("columns") if isinstance(header, Mapping) else None
    if columns is None:
        columns = getattr(header, "columns", None)
    if columns is None:
        raise ValueError("layer metadata has no DLC header")
    return [tuple(map(str, c)) for c in columns]


def _table_from_dlc_metadata(
    data: np.ndarray, metadata: Mapping[str, Any], features: Any
) -> KeypointTable:
    # napari-deeplabcut's layers: header = scorer/(individuals/)bodyparts/coords
    # columns, paths = "labeled-data/<stem>/imgNNNN.png" per frame.
    columns = _columns_of(metadata["header"])
    multianimal = len(columns[0]) == 4
    keypoints = list(dict.fromkeys((c[1] if multianimal else "", c[-2]) for c in columns))
    paths = [tuple(str(p).replace("\\", "/").split("/")) for p in metadata.get("paths", [])]
    return KeypointTable.from_points(
        np.asarray(data),
        {key: np.asarray(features[key]) for key in ("label", "id")},
        scorer=columns[0][0],
        keypoints=keypoints,
        paths=paths,
        multianimal=multianimal,
        keep_empty_rows=True,
    )


def table_from_attributes(data: np.ndarray, attributes: Mapping[str, Any]) -> KeypointTable:
    """Rebuild the keypoint table of a Points layer from its napari state.

    Parameters
    ----------
    data : ndarray
        Layer data ``[frame, y, x]``.
    attributes : Mapping
        ``layer._get_state()`` as napari passes it to writers (``metadata``,
        ``features``).

    Returns
    -------
    KeypointTable
    """
    metadata = attributes.get("metadata") or {}
    features = attributes.get("features")
    if features is None:
        features = attributes.get("properties") or {}
    if WORKBENCH_KEY in metadata:
        return table_from_layer(data, metadata, features)
    return _table_from_dlc_metadata(data, metadata, features)


def write_points(
    path: str | os.PathLike[str], data: np.ndarray, attributes: dict[str, Any]
) -> list[str]:
    """npe2 single-layer writer for keypoints Points layers.

    Parameters
    ----------
    path : str or PathLike
        ``.../labeled-data/<video_stem>/CollectedData_<scorer>.h5`` (the scorer
        is taken from the file name when it has one, otherwise from the layer).
    data : ndarray
        Layer data.
    attributes : dict
        Layer state.

    Returns
    -------
    list of str
        The ``.h5`` and ``.csv`` written.

    Raises
    ------
    LabelsError
        If the layer cannot be written as DLC labels; nothing is written.
    """
    path = Path(path)
    if path.suffix != ".h5":
        path = path.with_suffix(".h5")
    try:
        table = table_from_attributes(data, attributes)
    except (KeyError, ValueError) as exc:
        raise LabelsError(path, f"cannot save this layer as DLC labels: {exc}") from exc
    scorer = (
        path.stem.removeprefix("CollectedData_")
        if path.stem.startswith("CollectedData_")
        else table.scorer
    )
    h5, csv = write_labels(table.to_dataframe(), path.parent, scorer)
    return [str(h5), str(csv)]
