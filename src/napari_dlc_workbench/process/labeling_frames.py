"""Frames to label: the skeleton as napari vectors, row keys, image and point checks.

Qt-free helpers of the "Labeling" dock: the skeleton segments of every frame,
the DLC row key of each frame of a video, the rows a save may write (those
whose image is extracted), image sizes that differ, and points outside a frame.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.io.images import frame_image_name
from napari_dlc_workbench.model.keypoints import KeypointTable, RowKey

__all__ = [
    "as_text",
    "image_size_problems",
    "points_outside",
    "rows_with_images",
    "skeleton_vectors",
    "video_row_keys",
]

_IMAGE_NUMBER = re.compile(r"^img(\d+)\.(png|jpe?g)$", re.IGNORECASE)


def as_text(values: Any, n: int) -> np.ndarray:
    """Return a feature column (``label`` or ``id``) as ``n`` strings; None gives ``""``."""
    if values is None:
        return np.full(n, "", dtype=object)
    return np.array(["" if v is None else str(v) for v in np.asarray(values, dtype=object)])


# -- skeleton -------------------------------------------------------------------------------
def skeleton_vectors(
    data: np.ndarray, labels: Any, ids: Any, skeleton: Iterable[tuple[str, str]]
) -> np.ndarray:
    """Skeleton segments as napari Vectors data, for every frame at once.

    Parameters
    ----------
    data : ndarray, shape (n, 3)
        Points data ``[frame, y, x]``.
    labels, ids : array-like
        The ``label`` and ``id`` features.
    skeleton : iterable of (bodypart, bodypart)
        Pairs from ``config.yaml``; pairs naming unknown bodyparts draw nothing.

    Returns
    -------
    ndarray, shape (m, 2, 3)
        ``[start, direction]`` per segment whose two ends are placed on the
        same frame by the same individual.
    """
    data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
    labels, ids = as_text(labels, len(data)), as_text(ids, len(data))
    frames = np.rint(data[:, 0]).astype(np.int64)
    out = []
    for ind in dict.fromkeys(ids.tolist()):
        of_ind = ids == ind
        for a, b in skeleton:
            ia = np.flatnonzero(of_ind & (labels == a))
            ib = np.flatnonzero(of_ind & (labels == b))
            if not len(ia) or not len(ib):
                continue
            _, pa, pb = np.intersect1d(frames[ia], frames[ib], return_indices=True)
            start, end = data[ia[pa]], data[ib[pb]]
            direction = end - start
            direction[:, 0] = 0.0
            out.append(np.stack([start, direction], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2, 3))


# -- frames of a video in labeled-data ----------------------------------------------------
def video_row_keys(stem: str, n_frames: int, existing: Iterable[RowKey] = ()) -> list[RowKey]:
    """DLC row key of each frame of a video, as ``extract_frames`` names its images.

    Parameters
    ----------
    stem : str
        The video's stem (its ``labeled-data`` folder name).
    n_frames : int
        Frames in the video.
    existing : iterable of RowKey
        Rows of the labels file already there; their keys are kept as written
        (``img42.png`` and ``img0042.png`` both mean frame 42).

    Returns
    -------
    list of RowKey
        ``("labeled-data", stem, "imgNNN.png")`` per frame.

    Raises
    ------
    ValueError
        If an existing row is not named after a frame of this video: its
        labels could not be shown on the video, so it is left to the folder view.
    """
    keys: list[RowKey] = [
        ("labeled-data", stem, frame_image_name(i, n_frames)) for i in range(n_frames)
    ]
    strays = []
    for key in existing:
        name = key[-1] if isinstance(key, tuple) else str(key)
        match = _IMAGE_NUMBER.match(name)
        if match is None or int(match.group(1)) >= n_frames:
            strays.append(name)
        else:
            keys[int(match.group(1))] = key
    if strays:
        shown = ", ".join(strays[:5]) + (" …" if len(strays) > 5 else "")
        raise ValueError(
            f"{len(strays)} labelled image(s) are not frames of this {n_frames}-frame video "
            f"({shown}); open the labeled-data folder instead"
        )
    return keys


def rows_with_images(
    table: KeypointTable, images: Iterable[str], keep: Iterable[RowKey] = ()
) -> tuple[KeypointTable, list[RowKey]]:
    """Keep the rows DLC can use: those whose image is in the folder.

    A labels layer on a video has a row per video frame; only frames extracted
    into ``labeled-data/<stem>/`` may be written (DLC reads the image of every
    row). Rows already in the file are kept even without an image, so a save
    never drops them.

    Parameters
    ----------
    table : KeypointTable
        Labels with one row per frame.
    images : iterable of str
        Image file names present in the folder.
    keep : iterable of RowKey
        Rows of the file on disk.

    Returns
    -------
    table : KeypointTable
        The rows to write.
    orphans : list of RowKey
        Rows with points but neither an image nor a row on disk: saving them
        needs the frame extracted first.
    """
    present, keep = set(images), set(keep)
    has_points = np.isfinite(table.xy).all(axis=2).any(axis=1)
    rows, orphans = [], []
    for r, key in enumerate(table.index):
        name = key[-1] if isinstance(key, tuple) else str(key)
        if name in present or key in keep:
            rows.append(r)
        elif has_points[r]:
            orphans.append(key)
    kept = KeypointTable(
        table.scorer,
        [table.index[r] for r in rows],
        table.keypoints,
        table.data[rows],
        table.has_likelihood,
        table.multianimal,
    )
    return kept, orphans


# -- image sizes ----------------------------------------------------------------------------
def image_size_problems(
    files: Sequence[str | os.PathLike[str]], expected: tuple[int, int] | None = None
) -> list[str]:
    """Images whose size differs from ``expected`` (default: the first image's).

    Only the image headers are read, so a folder of hundreds of frames is
    checked in milliseconds.

    Parameters
    ----------
    files : sequence of path
        Image files.
    expected : (height, width), optional
        The size they must have (e.g. the video's frame size).

    Returns
    -------
    list of str
        One ``"img0003.png is 320×240 px, expected 640×480 px"`` per mismatch.
    """
    from PIL import Image

    problems = []
    for path in map(Path, files):
        try:
            with Image.open(path) as image:
                width, height = image.size
        except OSError as exc:
            problems.append(f"{path.name} cannot be read ({exc})")
            continue
        if expected is None:
            expected = (height, width)
        if (height, width) != tuple(expected):
            problems.append(
                f"{path.name} is {width}×{height} px, expected {expected[1]}×{expected[0]} px"
            )
    return problems


def points_outside(data: np.ndarray, height: int, width: int) -> int:
    """Count the points ``[frame, y, x]`` outside an image of ``height`` × ``width``."""
    data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
    y, x = data[:, 1], data[:, 2]
    return int(np.count_nonzero((y < 0) | (x < 0) | (y > height) | (x > width)))
