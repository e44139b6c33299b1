"""napari glue of the "Outliers" dock: one queue frame as an editable Points layer.

The layer holds the points of the frame under review only (``[frame, y, x]``, one point
per visible keypoint), so a drag, a deletion or a point added in add mode is an edit of
that frame, read back with :func:`layer_points`. Points are coloured per bodypart; the
border tells the review state (:data:`STATE_COLORS`) and a prediction below the
p-cutoff that nobody has looked at is hollow. The video the predictions were made from
is opened (lazily) as an Image layer underneath. napari is imported lazily; no Qt here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.model.outliers import parse_keypoint_label
from napari_dlc_workbench.model.project import Project
from napari_dlc_workbench.napari_io.layers import WORKBENCH_KEY, LayerDataTuple, bodypart_colors
from napari_dlc_workbench.napari_io.reader import read_frames_layers
from napari_dlc_workbench.process.outlier_session import OutlierSession

__all__ = [
    "OUTLIER_KIND",
    "STATE_COLORS",
    "add_frame_layer",
    "frame_layer_data",
    "hide_prediction_points",
    "is_outlier_layer",
    "layer_points",
    "prediction_layer_source",
    "selected_keypoints",
    "show_frame",
    "video_layer",
]

OUTLIER_KIND = "outlier_frame"
STATE_COLORS: dict[str, tuple[float, float, float, float]] = {
    "accepted": (0.2, 1.0, 0.3, 1.0),
    "moved": (1.0, 0.85, 0.0, 1.0),
}
"""Border colour of a reviewed point; untouched predictions keep their bodypart colour."""
_BORDER = 0.3  # relative border width: a state ring must read at a glance


def _style(session: OutlierSession, project: Project | None) -> tuple[list[str], dict, float]:
    keypoints = [parse_keypoint_label(k, session.queue.multianimal) for k in session.labels]
    bodyparts = list(project.all_bodyparts) if project else []
    bodyparts += [bp for _, bp in keypoints if bp not in bodyparts]
    colors = bodypart_colors(bodyparts, project.colormap if project else "rainbow")
    return bodyparts, colors, project.pcutoff if project else 0.6


def _frame_arrays(
    session: OutlierSession, frame: int, project: Project | None
) -> tuple[np.ndarray, Any, np.ndarray, np.ndarray]:
    import pandas as pd

    bodyparts, colors, pcutoff = _style(session, project)
    keypoints = [parse_keypoint_label(k, session.queue.multianimal) for k in session.labels]
    xy, likelihood, states = session.points(frame), session.likelihood(frame), session.states(frame)
    ks = np.flatnonzero(np.isfinite(xy).all(axis=1))
    data = np.column_stack([np.full(len(ks), float(frame)), xy[ks, 1], xy[ks, 0]])
    features = pd.DataFrame(
        {
            "label": pd.Categorical([keypoints[k][1] for k in ks], categories=bodyparts),
            "id": [keypoints[k][0] for k in ks],
            "keypoint": ks.astype(np.int64),
            "likelihood": likelihood[ks],
            "state": [states[k] for k in ks],
        }
    )
    face = np.array([colors[keypoints[k][1]] for k in ks], dtype=np.float32).reshape(-1, 4)
    border = face.copy()
    for i, k in enumerate(ks):
        if states[k] in STATE_COLORS:
            border[i] = STATE_COLORS[states[k]]
        elif not likelihood[k] > pcutoff:
            face[i, 3] = 0.0  # unsure and not looked at yet: hollow, as in the predictions layer
    return data, features, face, border


def frame_layer_data(
    session: OutlierSession, frame: int, project: Project | None = None
) -> LayerDataTuple:
    """Make the Points layer data tuple of queue frame ``frame``.

    Parameters
    ----------
    session : OutlierSession
        The review.
    frame : int
        A queue frame.
    project : Project, optional
        Gives bodypart colours, ``pcutoff`` and ``dotsize``.

    Returns
    -------
    tuple
        ``(data, kwargs, "points")``; features ``label``, ``id``, ``keypoint`` (index in
        ``session.labels``), ``likelihood`` and ``state``.
    """
    data, features, face, border = _frame_arrays(session, frame, project)
    info = {
        "kind": OUTLIER_KIND,
        "source": str(session.queue.predictions),
        "sidecar": str(session.path),
        "project": str(project.config_path) if project else None,
    }
    kwargs: dict[str, Any] = {
        "name": f"outliers {Path(session.queue.predictions).stem}",
        "ndim": 3,
        "features": features,
        "face_color": face,
        "border_color": border,
        "border_width": _BORDER,
        "border_width_is_relative": True,
        "size": project.dotsize if project else 8,
        "text": {"string": "{label}", "color": "white", "size": 8, "anchor": "upper_left"},
        "metadata": {WORKBENCH_KEY: info},
    }
    return data, kwargs, "points"


def add_frame_layer(viewer: Any, session: OutlierSession, project: Project | None = None) -> Any:
    """Add the editable Points layer of the session's current frame; return it (active)."""
    from napari.layers import Layer

    layer = Layer.create(*frame_layer_data(session, session.frame or 0, project))
    viewer.add_layer(layer)
    viewer.layers.selection.active = layer
    layer.mode = "select"
    return layer


def show_frame(
    layer: Any, session: OutlierSession, frame: int, project: Project | None = None
) -> None:
    """Replace the layer's points by those of ``frame`` (selection kept when it can be)."""
    data, features, face, border = _frame_arrays(session, frame, project)
    same = np.array_equal(layer.features["keypoint"].to_numpy(), features["keypoint"].to_numpy())
    selected = set(layer.selected_data) if same else set()
    layer.selected_data = set()
    layer.data = data
    layer.features = features
    layer.face_color = face
    layer.border_color = border
    missing = [k for k, s in enumerate(session.states(frame)) if s == "deleted"]
    # A point added in add mode brings back the first keypoint that is not visible.
    keypoint = missing[0] if missing else -1
    label = parse_keypoint_label(session.labels[keypoint], session.queue.multianimal)
    layer.feature_defaults = {
        "label": label[1] if missing else features["label"].cat.categories[0],
        "id": label[0] if missing else "",
        "keypoint": keypoint,
        "likelihood": 1.0,
        "state": "moved",
    }
    layer.selected_data = selected


def layer_points(layer: Any, frame: int) -> dict[int, tuple[float, float]]:
    """Keypoint index -> ``(x, y)`` of the layer's points on ``frame``.

    Points of other frames and points that stand for no keypoint (added with none left
    to restore) are ignored; a keypoint with two points takes the later one (the point
    just added).
    """
    data = np.asarray(layer.data, dtype=np.float64).reshape(-1, 3)
    ks = np.asarray(layer.features["keypoint"], dtype=np.int64)
    on_frame = np.rint(data[:, 0]) == frame
    return {
        int(k): (float(x), float(y))
        for k, (_, y, x), here in zip(ks, data, on_frame, strict=True)
        if here and k >= 0
    }


def selected_keypoints(layer: Any) -> list[int]:
    """Keypoint indices of the selected points."""
    ks = np.asarray(layer.features["keypoint"], dtype=np.int64)
    return sorted(int(ks[i]) for i in layer.selected_data if ks[i] >= 0)


def is_outlier_layer(layer: Any) -> bool:
    """Whether ``layer`` is an Outliers dock frame layer."""
    info = getattr(layer, "metadata", {}).get(WORKBENCH_KEY) or {}
    return info.get("kind") == OUTLIER_KIND


def prediction_layer_source(layer: Any) -> tuple[Path, Path | None] | None:
    """``(predictions .h5, config.yaml or None)`` of a predictions Points layer, else None."""
    info = getattr(layer, "metadata", {}).get(WORKBENCH_KEY) or {}
    if info.get("kind") != "predictions" or not info.get("source"):
        return None
    return Path(info["source"]), Path(info["project"]) if info.get("project") else None


def hide_prediction_points(viewer: Any, predictions: str | os.PathLike[str]) -> None:
    """Hide the predictions Points layers of ``predictions``.

    Their uncorrected points would sit under the ones being dragged and hide the
    correction; their Tracks layers stay, to show the motion around the frame.
    """
    target = Path(predictions).resolve()
    for layer in viewer.layers:
        source = prediction_layer_source(layer)
        if source is not None and source[0].resolve() == target:
            layer.visible = False


def video_layer(viewer: Any, video: str | os.PathLike[str]) -> Any:
    """Return the open Image layer of ``video``, opening it (lazily) when it is not open."""
    from napari.layers import Layer

    video = Path(video)
    for layer in viewer.layers:
        info = getattr(layer, "metadata", {}).get(WORKBENCH_KEY) or {}
        source = info.get("source")
        if info.get("kind") == "frames" and source and Path(source).resolve() == video.resolve():
            return layer
    layer = Layer.create(*read_frames_layers(video)[0])
    viewer.add_layer(layer)
    return layer
