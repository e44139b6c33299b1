"""npe2 reader contributions: DLC ``config.yaml``, labels and predictions.

napari asks each reader whether it takes a path (``get_reader``): we answer
only for files whose name says they are DLC's, and once we have claimed one,
bad content raises an error that names the file instead of silently handing
the path to another plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.frames import open_frames
from napari_dlc_workbench.io.images import IMAGE_SUFFIXES, ImageFolder
from napari_dlc_workbench.io.labels import check_against_config, read_labels, read_table
from napari_dlc_workbench.io.predictions import (
    Predictions,
    read_predictions,
    split_prediction_name,
)
from napari_dlc_workbench.io.video import VIDEO_SUFFIXES, VideoError, probe_video
from napari_dlc_workbench.model.keypoints import KeypointTable, RowKey, natural_key
from napari_dlc_workbench.model.project import Project
from napari_dlc_workbench.napari_io.layers import (
    LayerDataTuple,
    empty_keypoints_layer,
    keypoints_layer,
)
from napari_dlc_workbench.napari_io.predictions_layers import prediction_layers

__all__ = [
    "find_project",
    "get_reader",
    "read_config_layers",
    "read_frames_layers",
    "read_labels_layers",
    "read_predictions_layers",
]

ReaderFunction = Callable[[str | Sequence[str]], list[LayerDataTuple]]
FRAME_SUFFIXES = (*VIDEO_SUFFIXES, ".tif", ".tiff")


def find_project(path: str | os.PathLike[str], levels: int = 3) -> Project | None:
    """Find the DLC project a file belongs to by looking for ``config.yaml`` above it.

    Parameters
    ----------
    path : str or PathLike
        A file inside a project (labels in ``labeled-data/<video>/``,
        predictions in ``videos/``).
    levels : int
        How many folders up to look.

    Returns
    -------
    Project or None
        None if no readable, valid ``config.yaml`` is found.
    """
    folder = Path(path).resolve().parent
    for _ in range(levels):
        candidate = folder / "config.yaml"
        if candidate.is_file():
            return Project.from_config(load_config(candidate), candidate)
        folder = folder.parent
    return None


def read_config_layers(path: str | os.PathLike[str]) -> list[LayerDataTuple]:
    """Open a ``config.yaml`` as an empty keypoints layer of the project.

    Parameters
    ----------
    path : str or PathLike
        The project's ``config.yaml``.

    Returns
    -------
    list of tuple
        One Points layer data tuple.
    """
    project = Project.from_config(load_config(path), path)
    return [empty_keypoints_layer(project)]


def _frame_keys(folder: Path, table: KeypointTable) -> list[RowKey]:
    # The image stack napari shows for a labeled-data folder is every image in it,
    # in natural order; labelled rows whose image was deleted still get a frame
    # so that saving never drops them.
    images = [
        ("labeled-data", folder.name, p.name)
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    ]
    keys = set(images) | {k for k in table.index if isinstance(k, tuple)}
    return sorted(keys, key=natural_key)


def read_labels_layers(path: str | os.PathLike[str]) -> list[LayerDataTuple]:
    """Open ``CollectedData_<scorer>.h5/.csv`` as a keypoints layer.

    Parameters
    ----------
    path : str or PathLike
        The labels file, normally in ``labeled-data/<video_stem>/``.

    Returns
    -------
    list of tuple
        One Points layer data tuple whose frames follow the folder's images.

    Raises
    ------
    LabelsError
        If the file is unreadable or its bodyparts do not match the project's.
    """
    path = Path(path)
    df = read_labels(path)
    project = find_project(path)
    if project is not None:
        check_against_config(df, project.raw, path)
    table = KeypointTable.from_dataframe(df)
    layer = keypoints_layer(
        table,
        kind="labels",
        name=path.stem,
        source=path,
        project=project,
        paths=_frame_keys(path.parent, table),
    )
    return [layer]


def _video_beside(preds: Predictions) -> Path | None:
    # DLC writes predictions beside the analysed video unless told otherwise.
    if not preds.video_stem:
        return None
    for suffix in VIDEO_SUFFIXES:
        for candidate in (suffix, suffix.upper()):
            video = preds.path.with_name(preds.video_stem + candidate)
            if video.is_file():
                return video
    return None


def read_predictions_layers(path: str | os.PathLike[str]) -> list[LayerDataTuple]:
    """Open a predictions ``.h5`` as a Points and a Tracks layer on the video's frames.

    The project (``config.yaml`` up to two folders above) gives bodypart order,
    colours and ``pcutoff``; its keypoints must be the file's. When the analysed
    video lies beside the file (``<video_stem>.mp4`` ...), the file must cover
    exactly its frames. See :mod:`.predictions_layers` for the layers.

    Parameters
    ----------
    path : str or PathLike
        ``<video>DLC_<scorer>.h5``.

    Returns
    -------
    list of tuple
        Points then Tracks layer data tuples (Points only when no frame is above
        the p-cutoff), coordinates moved to full-frame space when the analysis
        was cropped.

    Raises
    ------
    LabelsError
        Unreadable file, bodyparts that differ from the project's, or a frame count
        that differs from the video's beside it; no layer is made then.
    """
    preds = read_predictions(path)
    project = find_project(path, levels=2)
    video = _video_beside(preds)
    n_frames = None
    if video is not None:
        try:
            n_frames = probe_video(video).n_frames or None  # 0: the container does not say
        except VideoError:
            n_frames = None  # an unreadable video does not make the predictions wrong
    return prediction_layers(preds, project, n_video_frames=n_frames, video=video)


def read_frames_layers(path: str | os.PathLike[str]) -> list[LayerDataTuple]:
    """Open a video, TIFF stack or image folder lazily as an Image layer.

    Nothing is decoded up front: napari asks for the frames it shows, one dask
    chunk (one frame) at a time. A DLC ``labeled-data`` folder also opens its
    ``CollectedData_*`` labels on the same frames.

    Parameters
    ----------
    path : str or PathLike
        ``.mp4 .avi .mov .mkv .tif .tiff`` or a folder of PNG/JPEG frames.

    Returns
    -------
    list of tuple
        The Image layer tuple, then any labels layers.
    """
    path = Path(path)
    frames = open_frames(path)
    info: dict[str, object] = {"kind": "frames", "source": str(path), "n_frames": len(frames)}
    fps = getattr(frames, "fps", None)
    if fps:
        info["fps"] = float(fps)
    metadata: dict[str, object] = {"workbench": info, "root": str(path.parent)}
    if isinstance(frames, ImageFolder):
        metadata["paths"] = ["/".join(key) for key in frames.row_keys]
        metadata["root"] = str(path)
    kwargs = {
        "name": path.stem if path.is_file() else path.name,
        "rgb": frames.ndim == 4 and frames.shape[-1] in (3, 4),
        "metadata": metadata,
    }
    if frames.dtype == np.uint8:
        kwargs["contrast_limits"] = (0, 255)  # skip napari computing them from the data
    layers: list[LayerDataTuple] = [(frames.as_dask(), kwargs, "image")]
    if isinstance(frames, ImageFolder):
        for labels in sorted(path.glob("CollectedData_*.h5")):
            layers.extend(read_labels_layers(labels))
    return layers


def _read_any_h5(path: str | os.PathLike[str]) -> list[LayerDataTuple]:
    df = read_table(path)
    if "likelihood" in df.columns.get_level_values(-1):
        return read_predictions_layers(path)
    return read_labels_layers(path)


def get_reader(path: str | Sequence[str]) -> ReaderFunction | None:
    """npe2 ``get_reader``: pick the reader for a DLC file, or decline.

    Parameters
    ----------
    path : str or list of str
        What the user opened.

    Returns
    -------
    callable or None
        A function returning layer data tuples, or None if the path is not a
        DLC config, labels or predictions file.
    """
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    name = p.name
    if p.is_dir():
        has_images = any(c.suffix.lower() in IMAGE_SUFFIXES for c in p.iterdir() if c.is_file())
        return _wrap(read_frames_layers) if has_images else None
    if p.suffix.lower() in FRAME_SUFFIXES:
        return _wrap(read_frames_layers)
    if name.endswith((".yaml", ".yml")):
        if name not in ("config.yaml", "config.yml"):
            return None
        reader: Callable[[str | os.PathLike[str]], list[LayerDataTuple]] = read_config_layers
    elif name.startswith("CollectedData_") and p.suffix in (".h5", ".csv"):
        reader = read_labels_layers
    elif p.suffix == ".h5" and split_prediction_name(p) is not None:
        reader = read_predictions_layers
    elif p.suffix == ".h5":
        reader = _read_any_h5
    else:
        return None
    return _wrap(reader)


def _wrap(reader: Callable[[str | os.PathLike[str]], list[LayerDataTuple]]) -> ReaderFunction:
    def read(paths: str | Sequence[str]) -> list[LayerDataTuple]:
        target = paths[0] if isinstance(paths, (list, tuple)) else paths
        return reader(target)

    return read
