"""Frame images in ``labeled-data/<video_stem>/``, named and written as DLC does."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from napari_dlc_workbench.io.atomic import atomic_path

__all__ = ["frame_image_name", "write_png"]


def frame_image_name(index: int, n_frames: int) -> str:
    """DLC's file name for frame ``index`` of a video with ``n_frames`` frames.

    DLC's ``extract_frames`` zero-pads to ``ceil(log10(n_frames))`` digits
    (``img042.png`` for a 300-frame clip, ``img0042.png`` for 3597 frames).

    Parameters
    ----------
    index : int
        Frame number in the video.
    n_frames : int
        Number of frames of the video.

    Returns
    -------
    str
        ``img<index>.png``.
    """
    if not 0 <= index < max(n_frames, 1):
        raise ValueError(f"frame {index} is outside a video of {n_frames} frames")
    width = int(math.ceil(math.log10(n_frames))) if n_frames > 1 else 1
    return f"img{index:0{width}d}.png"


def write_png(path: str | os.PathLike[str], image: np.ndarray, *, overwrite: bool = False) -> Path:
    """Write an 8-bit image as PNG atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination ``.png``.
    image : ndarray
        ``(H, W)`` or ``(H, W, 3)`` uint8.
    overwrite : bool
        Replace an existing file with different pixels. An existing file with
        identical pixels is always left as it is.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists with different pixels and ``overwrite`` is False:
        a labelled image must never change under its labels.
    """
    from imageio.v3 import imread, imwrite

    path = Path(path)
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 pixels, got {image.dtype}")
    if path.exists():
        if np.array_equal(imread(path), image):
            return path
        if not overwrite:
            raise FileExistsError(f"{path}: a different image already exists there")
    with atomic_path(path, keep_backups=0) as tmp:
        imwrite(tmp, image, extension=".png")
    return path
