"""DLC video predictions as napari Points and Tracks layer data (no viewer, no Qt).

:func:`prediction_layers` turns a :class:`~napari_dlc_workbench.io.predictions.Predictions`
into two layer data tuples on the video's frames:

- **Points** ``[frame, y, x]``, one point per keypoint and frame with finite
  coordinates, coloured per bodypart. Points whose likelihood is not above the
  p-cutoff are drawn hollow (transparent face, coloured border); the boolean
  feature ``valid`` marks the others, so ``layer.shown = layer.features["valid"]``
  hides the unreliable ones (:func:`shown_mask`). Features: ``label`` (bodypart),
  ``id`` (individual, ``""`` for single-animal), ``likelihood``, ``valid`` and
  ``keypoint`` (position in :func:`keypoint_order`), as napari-deeplabcut names them.
- **Tracks** ``[track_id, frame, y, x]`` drawing a tail behind each keypoint.
  napari joins consecutive vertices of one track with a line whatever the time
  between them, so frames without a reliable prediction (NaN or likelihood not
  above the p-cutoff) are left out **and split the track**: each run of
  consecutive reliable frames of a keypoint is its own napari track. Track ids are
  ``1, 2, ...`` numbered by keypoint (in :func:`keypoint_order`) then by first
  frame, so they are the same every time a file is opened with the same p-cutoff;
  the keypoint a track belongs to is its ``keypoint``/``bodypart``/``individual``
  feature, which never changes. (Ids encoding the keypoint in high digits would
  cost memory: napari indexes tracks with a sparse matrix as tall as the largest id.)

Coordinates are DLC's ``x``/``y`` plus the crop offset of a cropped analysis
(``cropping_parameters`` in ``_meta.pickle``: DLC writes crop-space
coordinates), so both layers sit exactly on the full video frame by frame.
All of it is vectorised numpy: 100 000 frames x 4 bodyparts build in well under
a second (``benchmarks/bench_predictions_view.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from napari_dlc_workbench.io.prediction_checks import check_frame_count, check_keypoints
from napari_dlc_workbench.io.predictions import Predictions
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.model.project import Project
from napari_dlc_workbench.napari_io.layers import WORKBENCH_KEY, LayerDataTuple, bodypart_colors
from napari_dlc_workbench.process.trajectories import reliable

__all__ = [
    "DEFAULT_PCUTOFF",
    "DEFAULT_TAIL_LENGTH",
    "keypoint_order",
    "prediction_layers",
    "prediction_points",
    "prediction_tracks",
    "shown_mask",
    "table_from_prediction_layer",
]

DEFAULT_PCUTOFF = 0.6
"""DLC's default ``pcutoff`` when no project config is found."""
DEFAULT_TAIL_LENGTH = 30
"""Frames of tail drawn behind each keypoint (one second at 30 fps)."""
_BORDER = 0.25  # relative border width: thick enough that a hollow point reads as a ring


def keypoint_order(preds: Predictions, project: Project | None = None) -> list[tuple[str, str]]:
    """Keypoints in the order layers use: the config's when known, else the file's.

    Parameters
    ----------
    preds : Predictions
        The predictions.
    project : Project, optional
        The project they belong to.

    Returns
    -------
    list of (individual, bodypart)
    """
    if project is None:
        return list(preds.table.keypoints)
    return list(project.keypoints)


def _style(project: Project | None, preds: Predictions) -> tuple[list[str], str, float]:
    bodyparts = list(project.all_bodyparts) if project else list(preds.table.bodyparts)
    bodyparts += [bp for bp in preds.table.bodyparts if bp not in bodyparts]
    colormap = project.colormap if project else "rainbow"
    pcutoff = project.pcutoff if project else DEFAULT_PCUTOFF
    return bodyparts, colormap, pcutoff


def _ordered(preds: Predictions, keypoints: Sequence[tuple[str, str]]) -> np.ndarray:
    table = preds.table
    columns = [table.column(bp, ind) for ind, bp in keypoints]
    data = table.data[:, columns]  # fancy indexing copies: (n_rows, K, 3) in layer order
    x0, y0 = preds.crop_offset
    data[..., 0] += x0
    data[..., 1] += y0
    return data


def _info(
    preds: Predictions,
    project: Project | None,
    keypoints: Sequence[tuple[str, str]],
    pcutoff: float,
    kind: str,
) -> dict[str, Any]:
    table = preds.table
    frames = np.asarray(table.index, dtype=np.int64)
    meta = {
        k: v for k, v in preds.meta.items() if isinstance(v, (int, float, str, bool, list, tuple))
    }
    return {
        "kind": kind,
        "source": str(preds.path),
        "scorer": table.scorer,
        # File column order: what table_from_layer needs to write the file back exactly.
        "keypoints": [list(kp) for kp in table.keypoints],
        "layer_keypoints": [list(kp) for kp in keypoints],
        "multianimal": table.multianimal,
        "has_likelihood": True,
        "row_keys": frames.tolist(),
        "n_frames": int(frames.max()) + 1 if len(frames) else 0,
        "offset": list(preds.crop_offset),
        "pcutoff": float(pcutoff),
        "colormap": project.colormap if project else "rainbow",
        "video_stem": preds.video_stem,
        "project": str(project.config_path) if project else None,
        "meta": meta,
    }


def prediction_points(
    preds: Predictions, project: Project | None = None, *, name: str | None = None
) -> LayerDataTuple:
    """Make the Points layer data tuple of a predictions file.

    Parameters
    ----------
    preds : Predictions
        Predictions of one video.
    project : Project, optional
        Gives bodypart order, colours, ``pcutoff`` and ``dotsize``.
    name : str, optional
        Layer name; default: the file stem.

    Returns
    -------
    tuple
        ``(data, kwargs, "points")``: ``data`` is ``[frame, y, x]`` in full-frame
        pixels, ordered by frame then keypoint; unreliable points are hollow.
    """
    import pandas as pd

    keypoints = keypoint_order(preds, project)
    bodyparts, colormap, pcutoff = _style(project, preds)
    individuals = list(dict.fromkeys(ind for ind, _ in keypoints))
    data3 = _ordered(preds, keypoints)
    frames = np.asarray(preds.table.index, dtype=np.float64)
    rows, ks = np.nonzero(np.isfinite(data3[..., :2]).all(axis=2))
    points = data3[rows, ks]
    likelihood = points[:, 2]
    with np.errstate(invalid="ignore"):
        valid = likelihood > pcutoff
    bp_code = np.array([bodyparts.index(bp) for _, bp in keypoints], dtype=np.int64)[ks]
    id_code = np.array([individuals.index(ind) for ind, _ in keypoints], dtype=np.int64)[ks]
    colors = bodypart_colors(bodyparts, colormap)
    palette = np.array([colors[bp] for bp in bodyparts], dtype=np.float32).reshape(-1, 4)
    border = palette[bp_code]
    face = border.copy()
    face[~valid, 3] = 0.0
    features = pd.DataFrame(
        {
            "label": pd.Categorical.from_codes(bp_code, categories=bodyparts),
            "id": pd.Categorical.from_codes(id_code, categories=individuals),
            "likelihood": likelihood,
            "valid": valid,
            "keypoint": ks.astype(np.int64),
        }
    )
    stem = name or preds.path.stem
    metadata: dict[str, Any] = {
        "header": {
            "columns": [tuple(map(str, c)) for c in preds.table.columns()],
            "names": list(preds.table.columns().names),
        },
        "paths": [],
        "root": str(preds.path.parent),
        "name": stem,
        "face_color_cycles": {"label": colors, "id": bodypart_colors(individuals, "viridis")},
        "colormap_name": colormap,
        WORKBENCH_KEY: _info(preds, project, keypoints, pcutoff, "predictions"),
    }
    if project is not None:
        metadata["project"] = str(project.folder)
    kwargs: dict[str, Any] = {
        "name": stem,
        "ndim": 3,
        "features": features,
        "face_color": face,
        "border_color": border,
        "border_width": _BORDER,
        "border_width_is_relative": True,
        "size": project.dotsize if project else 8,
        "metadata": metadata,
    }
    data = np.column_stack([frames[rows], points[:, 1], points[:, 0]])
    return data, kwargs, "points"


def prediction_tracks(
    preds: Predictions,
    project: Project | None = None,
    *,
    name: str | None = None,
    tail_length: int = DEFAULT_TAIL_LENGTH,
) -> LayerDataTuple:
    """Make the Tracks layer data tuple of a predictions file.

    Parameters
    ----------
    preds : Predictions
        Predictions of one video.
    project : Project, optional
        Gives keypoint order, colours and ``pcutoff``.
    name : str, optional
        Layer name; default: ``"<file stem> tracks"``.
    tail_length : int
        Frames of tail behind the current frame.

    Returns
    -------
    tuple
        ``(data, kwargs, "tracks")``: ``data`` is ``[track_id, frame, y, x]`` of the
        reliable points only; a keypoint's track is split where it is unreliable
        (see the module docstring for the track ids).
    """
    import pandas as pd
    from napari.utils.colormaps import Colormap

    keypoints = keypoint_order(preds, project)
    bodyparts, colormap, pcutoff = _style(project, preds)
    data3 = _ordered(preds, keypoints)
    frames = np.asarray(preds.table.index, dtype=np.int64)
    ok = reliable(data3, pcutoff).T  # (K, n_rows): row-major order is keypoint, then frame
    starts = ok.copy()
    # A run starts where the previous row is unreliable or not the previous frame.
    starts[:, 1:] &= ~ok[:, :-1] | (np.diff(frames) != 1)[None, :]
    run_id = np.cumsum(starts.ravel()).reshape(ok.shape)
    ks, rows = np.nonzero(ok)
    points = data3[rows, ks]
    bp_code = np.array([bodyparts.index(bp) for _, bp in keypoints], dtype=np.int64)
    individuals = list(dict.fromkeys(ind for ind, _ in keypoints))
    id_code = np.array([individuals.index(ind) for ind, _ in keypoints], dtype=np.int64)
    colors = bodypart_colors(bodyparts, colormap)
    n_bp = len(bodyparts)
    # napari maps a colour feature through colormaps_dict without rescaling: each
    # bodypart gets the middle of its own bin of a stepwise colormap.
    cmap = Colormap(
        colors=np.array([colors[bp] for bp in bodyparts]),
        controls=np.linspace(0.0, 1.0, n_bp + 1),
        interpolation="zero",
        name="workbench bodyparts",
    )
    features = pd.DataFrame(
        {
            "keypoint": ks.astype(np.int64),
            "bodypart": pd.Categorical.from_codes(bp_code[ks], categories=bodyparts),
            "individual": pd.Categorical.from_codes(id_code[ks], categories=individuals),
            "likelihood": points[:, 2],
            "bodypart_color": (bp_code[ks] + 0.5) / n_bp,
        }
    )
    data = np.column_stack([run_id[ks, rows], frames[rows], points[:, 1], points[:, 0]])
    kwargs: dict[str, Any] = {
        "name": name or f"{preds.path.stem} tracks",
        "features": features,
        "color_by": "bodypart_color",
        "colormaps_dict": {"bodypart_color": cmap},
        "tail_length": int(tail_length),
        "tail_width": 2,
        "blending": "translucent",
        "metadata": {WORKBENCH_KEY: _info(preds, project, keypoints, pcutoff, "prediction_tracks")},
    }
    return data.astype(np.float64).reshape(-1, 4), kwargs, "tracks"


def prediction_layers(
    preds: Predictions,
    project: Project | None = None,
    *,
    n_video_frames: int | None = None,
    video: str | os.PathLike[str] | None = None,
    tail_length: int = DEFAULT_TAIL_LENGTH,
) -> list[LayerDataTuple]:
    """Check predictions against the project and video, then make Points + Tracks.

    Parameters
    ----------
    preds : Predictions
        Predictions of one video.
    project : Project, optional
        The project; its keypoints must be the file's.
    n_video_frames : int, optional
        Frames of the video they will be shown on; the file must cover exactly these.
    video : str or PathLike, optional
        That video, for messages.
    tail_length : int
        Initial tail of the Tracks layer, in frames.

    Returns
    -------
    list of tuple
        ``[points, tracks]`` layer data tuples; only ``[points]`` when no frame is
        reliable (a model that did not track at all): napari has no empty Tracks layer.

    Raises
    ------
    LabelsError
        If the bodyparts differ from the config's or the frame count from the video's;
        nothing is built then.
    """
    if project is not None:
        check_keypoints(preds, project)
    if n_video_frames is not None:
        check_frame_count(preds, n_video_frames, video)
    points = prediction_points(preds, project)
    tracks = prediction_tracks(preds, project, tail_length=tail_length)
    # napari cannot make a Tracks layer without vertices (it indexes the first one).
    return [points, tracks] if len(tracks[0]) else [points]


def shown_mask(features: Mapping[str, Any], show_unreliable: bool) -> np.ndarray:
    """Say which points of a predictions Points layer to show.

    Parameters
    ----------
    features : DataFrame or Mapping
        The layer's features (with ``valid``).
    show_unreliable : bool
        Whether hollow (below p-cutoff) points are shown too.

    Returns
    -------
    ndarray of bool
        For ``layer.shown``.
    """
    valid = np.asarray(features["valid"], dtype=bool)
    return np.ones_like(valid) if show_unreliable else valid


def table_from_prediction_layer(
    data: np.ndarray, features: Mapping[str, Any], metadata: Mapping[str, Any]
) -> KeypointTable:
    """Rebuild a dense frames x keypoints table from a predictions Points layer.

    Rows are every frame ``0 .. n_frames - 1`` (NaN where a keypoint has no point),
    coordinates stay in the layer's full-frame space, and edits made in the layer
    (moved or deleted points) are what is returned.

    Parameters
    ----------
    data : ndarray
        Layer data ``[frame, y, x]``.
    features : DataFrame or Mapping
        Layer features with ``label``, ``id`` and ``likelihood``.
    metadata : Mapping
        Layer metadata made by :func:`prediction_points`.

    Returns
    -------
    KeypointTable
        Multi-animal layout (individual ``""`` for single-animal projects), keypoints
        in the layer's order.

    Raises
    ------
    ValueError
        If the layer was not made from a predictions file by this plugin.
    """
    import pandas as pd

    info = metadata.get(WORKBENCH_KEY) or {}
    if info.get("kind") != "predictions":
        raise ValueError("this layer was not made from a DLC predictions file by this plugin")
    keypoints = [(str(i), str(b)) for i, b in info["layer_keypoints"]]
    n_frames = int(info["n_frames"])
    individuals = list(dict.fromkeys(ind for ind, _ in keypoints))
    bodyparts = list(dict.fromkeys(bp for _, bp in keypoints))
    lookup = np.full((len(individuals) + 1, len(bodyparts) + 1), -1, dtype=np.int64)
    for k, (ind, bp) in enumerate(keypoints):
        lookup[individuals.index(ind), bodyparts.index(bp)] = k
    # Unknown names get code -1, which indexes the extra row/column of -1s.
    bp_code = pd.Categorical(np.asarray(features["label"], dtype=object), bodyparts).codes
    id_code = pd.Categorical(np.asarray(features["id"], dtype=object), individuals).codes
    k = lookup[id_code, bp_code]
    data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
    frames = np.rint(data[:, 0]).astype(np.int64)
    keep = (k >= 0) & (frames >= 0) & (frames < n_frames)
    dense = np.full((n_frames, len(keypoints), 3), np.nan)
    likelihood = np.asarray(features["likelihood"], dtype=np.float64)
    dense[frames[keep], k[keep]] = np.column_stack([data[keep, 2], data[keep, 1], likelihood[keep]])
    multi = bool(info.get("multianimal"))
    return KeypointTable(info["scorer"], range(n_frames), keypoints, dense, True, multi)
