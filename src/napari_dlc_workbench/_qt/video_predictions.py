"""Find a video's layer in the viewer and put its predictions on it (Points + Tracks).

The predictions file is read and its layers built in a worker thread (a long
recording has hundreds of thousands of points); only adding the layers
happens in the GUI thread. The new layers take the video layer's scale
and translation, so they stay on its frames wherever the video sits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari_dlc_workbench._qt._inference_jobs import Failure, guarded, start_worker
from napari_dlc_workbench.io.predictions import read_predictions
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES
from napari_dlc_workbench.napari_io.layers import WORKBENCH_KEY
from napari_dlc_workbench.napari_io.predictions_layers import prediction_layers
from napari_dlc_workbench.napari_io.reader import find_project

__all__ = ["layers_of", "load_predictions", "video_layer", "video_of"]


def video_of(layer: Any) -> Path | None:
    """Return the video file a layer shows (opened by this plugin's reader), else None."""
    info = getattr(layer, "metadata", {}).get(WORKBENCH_KEY) or {}
    source = info.get("source")
    if info.get("kind") == "frames" and source and Path(source).suffix.lower() in VIDEO_SUFFIXES:
        return Path(source).resolve()
    return None


def video_layer(viewer: Any, video: Path) -> Any:
    """Return the layer showing ``video`` (an absolute path), or None."""
    return next((layer for layer in viewer.layers if video_of(layer) == video), None)


def layers_of(viewer: Any, h5: Path) -> list[Any]:
    """Return the layers made from the predictions file ``h5``."""
    return [
        layer
        for layer in viewer.layers
        if (layer.metadata.get(WORKBENCH_KEY) or {}).get("source") == str(h5)
    ]


def _make_layers(h5: Path, n_frames: int | None, video: Path) -> list[Any]:
    from napari_dlc_workbench.napari_io.prediction_layer_types import make_prediction_layers

    preds = read_predictions(h5)
    project = find_project(h5, levels=2)
    data = prediction_layers(preds, project, n_video_frames=n_frames, video=video)
    # Layers hold no Qt object until added: building them here spares the GUI thread
    # (a Tracks layer of a long video indexes every vertex).
    return make_prediction_layers(data)


def _add(viewer: Any, video: Path, h5: Path, report: Callable[[str], None], made: Any) -> None:
    if isinstance(made, Failure):
        report(f"{h5.name}: predictions not shown: {made}")
        return
    # A re-analysed video replaces its layers: the new ones are added before the old
    # ones go, since removing a Points + Tracks pair and then adding one crashed vispy
    # in Mesa's software renderer (swrast, as under Xvfb).
    old = layers_of(viewer, h5)
    image = video_layer(viewer, video)
    if all(layer._type_string != "tracks" for layer in made):  # no reliable point
        report(f"{h5.name}: no prediction above pcutoff, so no tracks (points are hollow)")
    names = [layer.name for layer in made]
    for layer in made:
        if image is not None and image.ndim >= 3:
            layer.scale = tuple(image.scale[:3])
            layer.translate = tuple(image.translate[:3])
        viewer.add_layer(layer)
    for layer in old:
        viewer.layers.remove(layer)
    for layer, name in zip(made, names, strict=True):  # napari named them "<name> [1]"
        layer.name = name


def load_predictions(
    viewer: Any, video: Path, h5: Path, report: Callable[[str], None] = print
) -> Any:
    """Add ``h5`` as Points + Tracks on the frames of ``video``'s layer, without blocking.

    Parameters
    ----------
    viewer : napari.Viewer
        Where the layers go.
    video : Path
        The analysed video (absolute); when its layer is open, the predictions
        must cover exactly its frames.
    h5 : Path
        The predictions file.
    report : callable
        Called (GUI thread) with a message when the file cannot be shown.

    Returns
    -------
    worker
        The started thread worker.
    """
    layer = video_layer(viewer, video)
    n_frames = int(layer.data.shape[0]) if layer is not None else None
    add = functools.partial(_add, viewer, video, h5, report)
    return start_worker(guarded, _make_layers, h5, n_frames, video, returned=add)
