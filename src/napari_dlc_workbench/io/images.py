"""Frame images in ``labeled-data/<video_stem>/``, named and written as DLC does."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from napari_dlc_workbench.io.atomic import atomic_path
from napari_dlc_workbench.io.frames import LazyFrames
from napari_dlc_workbench.io.video_index import cache_key
from napari_dlc_workbench.model.keypoints import natural_key

__all__ = ["IMAGE_SUFFIXES", "ImageFolder", "ImageFolderError", "frame_image_name", "write_png"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class ImageFolderError(ValueError):
    """A folder that cannot be read as a stack of frames, with the folder named."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


class ImageFolder(LazyFrames):
    """A folder of PNG/JPEG frames (a DLC ``labeled-data/<video>``) as a stack.

    Images are in natural order (``img2.png`` before ``img10.png``), read when
    asked, and all must have the first image's shape. Grey images stay 2D; an
    alpha channel is dropped.

    Parameters
    ----------
    folder : str or PathLike
        The folder.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder)
        if not self.path.is_dir():
            raise ImageFolderError(self.path, "is not a folder")
        # Hidden files are not frames: an interrupted atomic save leaves ``.name.tmp.png``.
        self.files = sorted(
            (
                p
                for p in self.path.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
            ),
            key=lambda p: natural_key(p.name),
        )
        if not self.files:
            raise ImageFolderError(self.path, "folder has no frames (.png, .jpg, .jpeg)")
        first = self._read(self.files[0])
        self.frame_shape = first.shape
        self.dtype = first.dtype

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        from imageio.v3 import imread

        try:
            image = np.asarray(imread(path))
        except Exception as exc:
            raise ImageFolderError(path, f"cannot read image ({exc})") from exc
        return image[..., :3] if image.ndim == 3 and image.shape[2] == 4 else image

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.path)!r}, shape={self.shape})"

    @property
    def row_keys(self) -> list[tuple[str, str, str]]:
        """DLC's row key of each frame: ``("labeled-data", folder, file)``."""
        return [("labeled-data", self.path.name, p.name) for p in self.files]

    def token(self) -> str:
        """Identity of the frames: every file's name, size and modification time."""
        import hashlib

        digest = hashlib.sha1()
        for p in self.files:
            digest.update(cache_key(p).encode())
        return f"folder-{digest.hexdigest()}"

    def frame(self, number: int) -> np.ndarray:
        """Return image ``number`` in natural order."""
        path = self.files[self.check_index(number)]
        image = self._read(path)
        if image.shape != self.frame_shape:
            raise ImageFolderError(
                path, f"has shape {image.shape}, the folder's first image {self.frame_shape}"
            )
        return image


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
