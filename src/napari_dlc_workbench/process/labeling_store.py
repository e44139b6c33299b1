"""Where labels come from and go to, for the "Labeling" dock (Qt-free).

Opening a ``labeled-data/<stem>`` folder or a project video for labelling
(image-size and bodypart checks, the row key of each frame); what a save writes
(only rows DLC can use, checked against the config as it is now, with the saved
points it would drop); and the small sidecar file that remembers "not visible"
marks between sessions (DLC's CollectedData cannot tell "not visible" from "not
labelled yet").
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_dlc_workbench.io.atomic import atomic_write_text
from napari_dlc_workbench.io.config import load_config
from napari_dlc_workbench.io.images import ImageFolder
from napari_dlc_workbench.io.labels import (
    LabelsError,
    check_against_config,
    dropped_points,
    labels_paths,
    read_labels,
    write_labels,
)
from napari_dlc_workbench.model.keypoints import KeypointTable, RowKey
from napari_dlc_workbench.model.project import Project
from napari_dlc_workbench.process.labeling import Keypoint
from napari_dlc_workbench.process.labeling_frames import (
    image_size_problems,
    points_outside,
    rows_with_images,
    video_row_keys,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LabelsTarget",
    "labels_for_save",
    "load_not_visible",
    "not_visible_path",
    "open_folder_target",
    "open_video_target",
    "save_labels",
    "save_not_visible",
]


# -- "not visible" marks between sessions ---------------------------------------------------
def not_visible_path(folder: str | os.PathLike[str], scorer: str) -> Path:
    """Return the sidecar beside the labels: ``.not-visible_<scorer>.json``.

    DLC ignores it (a dot file); it only lets the next session know which NaN
    points were seen as "not visible" rather than "not labelled yet".
    """
    return Path(folder) / f".not-visible_{scorer}.json"


def load_not_visible(
    path: str | os.PathLike[str], row_keys: Sequence[RowKey], keypoints: Sequence[Keypoint]
) -> set[tuple[int, Keypoint]]:
    """Read the sidecar into ``(frame, keypoint)`` pairs for the given frames.

    Marks for images or keypoints that no longer exist are dropped; a missing
    or unreadable sidecar gives no marks (it only saves the labeller a key
    press per mark, it never holds labels).

    Parameters
    ----------
    path : str or PathLike
        The sidecar.
    row_keys : sequence of RowKey
        Row key of each frame of the layer.
    keypoints : sequence of (individual, bodypart)
        The project's keypoints.

    Returns
    -------
    set of (frame, keypoint)
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        marks: Mapping[str, Any] = raw["not_visible"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    frame_of = {(k[-1] if isinstance(k, tuple) else str(k)): f for f, k in enumerate(row_keys)}
    known = {tuple(kp) for kp in keypoints}
    out = set()
    for image, kps in marks.items() if isinstance(marks, Mapping) else ():
        frame = frame_of.get(image)
        for kp in kps if frame is not None else ():
            pair = (str(kp[0]), str(kp[1]))
            if pair in known:
                out.add((frame, pair))
    return out


def save_not_visible(
    path: str | os.PathLike[str],
    hidden: Iterable[tuple[int, Keypoint]],
    row_keys: Sequence[RowKey],
) -> Path | None:
    """Write the "not visible" marks by image name, atomically.

    Nothing is written when there are no marks and no sidecar yet.

    Parameters
    ----------
    path : str or PathLike
        The sidecar.
    hidden : iterable of (frame, keypoint)
        The marks.
    row_keys : sequence of RowKey
        Row key of each frame of the layer.

    Returns
    -------
    Path or None
        The sidecar, or None if nothing was written.
    """
    by_image: dict[str, list[list[str]]] = {}
    for frame, (ind, bp) in sorted(hidden):
        key = row_keys[frame]
        by_image.setdefault(key[-1] if isinstance(key, tuple) else str(key), []).append([ind, bp])
    path = Path(path)
    if not by_image and not path.exists():
        return None
    text = json.dumps({"version": 1, "not_visible": by_image}, indent=1) + "\n"
    return atomic_write_text(path, text, keep_backups=0)


# -- where labels come from and go to ------------------------------------------------------
@dataclass(frozen=True)
class LabelsTarget:
    """The labels file a layer is saved to, and the frames its points sit on.

    Attributes
    ----------
    project : Project
        The DLC project (scorer, keypoints, ``config.yaml``).
    folder : Path
        ``labeled-data/<video_stem>``.
    row_keys : list of RowKey
        DLC row key of each frame of the layer.
    video : Path or None
        The video whose frames the layer sits on; None for the folder's images.
    """

    project: Project
    folder: Path
    row_keys: list[RowKey]
    video: Path | None = None

    @property
    def h5(self) -> Path:
        """``CollectedData_<scorer>.h5`` in the folder."""
        return labels_paths(self.folder, self.project.scorer)[0]

    @property
    def sidecar(self) -> Path:
        """The "not visible" sidecar (see :func:`not_visible_path`)."""
        return not_visible_path(self.folder, self.project.scorer)


def _read_checked(h5: Path, project: Project) -> KeypointTable:
    if not h5.exists():
        empty = np.zeros((0, len(project.keypoints), 3))
        return KeypointTable(
            project.scorer, [], project.keypoints, empty, False, project.multianimal
        )
    df = read_labels(h5)
    check_against_config(df, project.raw, h5)
    return KeypointTable.from_dataframe(df)


def _outside_warning(table: KeypointTable, shape: Sequence[int]) -> list[str]:
    n = points_outside(table.to_points()[0], shape[0], shape[1])
    if not n:
        return []
    return [
        f"{n} labelled points lie outside the {shape[1]}×{shape[0]} frames: labels made on "
        "another video size?"
    ]


def open_folder_target(
    folder: str | os.PathLike[str], project: Project
) -> tuple[LabelsTarget, KeypointTable, list[str]]:
    """Check a ``labeled-data/<stem>`` folder and read its labels for labelling.

    Parameters
    ----------
    folder : str or PathLike
        The folder of extracted frames.
    project : Project
        The project it belongs to.

    Returns
    -------
    target : LabelsTarget
        Frames = the folder's images in natural order.
    table : KeypointTable
        The labels on disk, or an empty table.
    warnings : list of str
        Things the labeller should know (points outside the frames).

    Raises
    ------
    LabelsError, ImageFolderError
        If images differ in size, the labels do not match the config, or
        labelled images are missing from the folder (their points would be
        shown on the wrong frames).
    """
    frames = ImageFolder(folder)
    if problems := image_size_problems(frames.files):
        raise LabelsError(frames.path, "images differ in size: " + "; ".join(problems[:3]))
    target = LabelsTarget(project, frames.path, list(frames.row_keys))
    table = _read_checked(target.h5, project)
    present = set(frames.row_keys)
    if missing := [k[-1] for k in table.index if k not in present]:
        raise LabelsError(target.h5, f"labelled images missing from the folder: {missing[:5]}")
    return target, table, _outside_warning(table, frames.frame_shape)


def open_video_target(
    video: str | os.PathLike[str], project: Project, n_frames: int, frame_shape: Sequence[int]
) -> tuple[LabelsTarget, KeypointTable, list[str]]:
    """Prepare labelling on a project video's frames, with its labeled-data labels.

    Parameters
    ----------
    video : str or PathLike
        The video (its stem names the labeled-data folder).
    project : Project
        The project it belongs to.
    n_frames : int
        Frames in the video.
    frame_shape : sequence of int
        ``(height, width, ...)`` of a frame.

    Returns
    -------
    target, table, warnings
        As :func:`open_folder_target`; frames are the video's.

    Raises
    ------
    LabelsError
        If the folder's images are not the video's frame size, the labels do
        not match the config or name images that are not frames of the video.
    """
    video = Path(video)
    folder = project.labels_folder(video.stem)
    files = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if problems := image_size_problems(files, expected=tuple(frame_shape[:2])):
        raise LabelsError(folder, "frames do not match the video: " + "; ".join(problems[:3]))
    h5 = labels_paths(folder, project.scorer)[0]
    table = _read_checked(h5, project)
    try:
        keys = video_row_keys(video.stem, n_frames, table.index)
    except ValueError as exc:
        raise LabelsError(h5, str(exc)) from exc
    target = LabelsTarget(project, folder, keys, video)
    return target, table, _outside_warning(table, frame_shape)


def labels_for_save(table: KeypointTable, target: LabelsTarget) -> tuple[pd.DataFrame, list[str]]:
    """Check what a save would write; list the saved points it would drop.

    Parameters
    ----------
    table : KeypointTable
        The layer's labels, one row per frame.
    target : LabelsTarget
        Where they go.

    Returns
    -------
    df : pandas.DataFrame
        The labels to write: on a video, only rows whose frame is extracted
        (or already in the file).
    lost : list of str
        Points on disk this save would remove (see :func:`dropped_points`).

    Raises
    ------
    LabelsError
        If points sit on video frames not extracted into the folder, or the
        keypoints no longer match ``config.yaml`` as it is now.
    """
    h5 = target.h5
    if target.video is not None:
        images = os.listdir(target.folder) if target.folder.is_dir() else []
        on_disk = read_labels(h5).index if h5.exists() else []
        table, orphans = rows_with_images(table, images, keep=list(on_disk))
        if orphans:
            names = ", ".join(str(k[-1]) for k in orphans[:5])
            raise LabelsError(
                h5, f"frames without an image in {target.folder}: {names}; extract them first"
            )
    df = table.to_dataframe()
    check_against_config(df, _current_config(target.project.config_path), h5)
    return df, dropped_points(df, h5)


_CONFIGS: dict[Path, tuple[tuple[int, int], Mapping[str, Any]]] = {}


def _current_config(path: Path) -> Mapping[str, Any]:
    # Autosave checks the config at every frame change: parse it again only when the
    # file changed (ruamel takes ~35 ms for a DLC config).
    stat = Path(path).stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _CONFIGS.get(Path(path))
    if cached is None or cached[0] != stamp:
        cached = _CONFIGS[Path(path)] = (stamp, load_config(path))
    return cached[1]


def save_labels(
    df: pd.DataFrame, target: LabelsTarget, hidden: Iterable[tuple[int, Keypoint]]
) -> tuple[Path, Path]:
    """Write the labels (atomic, backups kept) and then the "not visible" sidecar.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`labels_for_save`.
    target : LabelsTarget
        Where they go.
    hidden : iterable of (frame, keypoint)
        The session's "not visible" marks.

    Returns
    -------
    tuple of Path
        The ``.h5`` and ``.csv`` written.
    """
    paths = write_labels(df, target.folder, target.project.scorer)
    save_not_visible(target.sidecar, hidden, target.row_keys)
    return paths
