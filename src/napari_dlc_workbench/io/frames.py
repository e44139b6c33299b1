"""One array protocol for every source of frames: videos, TIFF stacks, image folders.

Each source is array-like (``shape``, ``dtype``, ``len``, ``__getitem__`` with an
int, a slice or a list, optionally followed by per-frame indices) and reads
nothing until asked. :meth:`LazyFrames.as_dask` wraps any of them for napari,
one frame per chunk.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import dask.array

__all__ = ["LazyFrames", "open_frames"]


class LazyFrames(ABC):
    """Base of frame sources: numpy-style indexing and a dask view over ``frame(n)``.

    Subclasses set ``path``, ``frame_shape`` and ``dtype`` and implement
    :meth:`frame`, ``__len__`` and :meth:`token`.
    """

    path: Path
    frame_shape: tuple[int, ...]
    dtype: np.dtype

    @abstractmethod
    def frame(self, number: int) -> np.ndarray:
        """Return frame ``number`` (already checked to be in range)."""

    @abstractmethod
    def __len__(self) -> int:
        """Return the number of frames."""

    @abstractmethod
    def token(self) -> str:
        """Return a string that changes whenever the frames could (file, options)."""

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_frames, *frame_shape)``."""
        return (len(self), *self.frame_shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def check_index(self, number: int) -> int:
        """Normalise a frame number (negative counts from the end) or raise IndexError."""
        n = len(self)
        if number < 0:
            number += n
        if not 0 <= number < n:
            raise IndexError(f"frame {number} is outside 0..{n - 1} of {self.path}")
        return number

    def frames(self, numbers: Any) -> list[np.ndarray]:
        """Frames for several numbers, read in ascending order."""
        numbers = [self.check_index(int(n)) for n in numbers]
        found = {n: self.frame(n) for n in sorted(set(numbers))}
        return [found[n] for n in numbers]

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: tuple[Any, ...] = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            frame = self.frame(self.check_index(int(key)))
            return frame[rest] if rest else frame
        numbers = (
            range(*key.indices(len(self)))
            if isinstance(key, slice)
            else np.asarray(key, dtype=np.int64).reshape(-1)
        )
        frames = self.frames(numbers)
        out = np.stack(frames) if frames else np.empty((0, *self.frame_shape), self.dtype)
        return out[(slice(None), *rest)] if rest else out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out.astype(dtype) if dtype is not None else out

    def __dask_tokenize__(self) -> str:
        return self.token()

    def as_dask(self) -> dask.array.Array:
        """Wrap the frames as a lazy dask array, one frame per chunk (for napari).

        Returns
        -------
        dask.array.Array
            Computing a chunk reads just that frame.
        """
        import dask.array as da

        return da.from_array(
            self,
            chunks=(1, *self.frame_shape),
            name=f"frames-{self.token()}",
            lock=False,
            asarray=False,
            meta=np.empty((0,) * self.ndim, dtype=self.dtype),
        )


def open_frames(path: str | os.PathLike[str], **kwargs: Any) -> LazyFrames:
    """Open a video, a TIFF stack or a folder of PNG/JPEG frames lazily.

    Parameters
    ----------
    path : str or PathLike
        ``.mp4 .avi .mov .mkv ...``, ``.tif/.tiff``, or a folder of images
        (a DLC ``labeled-data/<video>`` folder).
    **kwargs
        Passed to the reader (e.g. ``gray=True`` for videos).

    Returns
    -------
    LazyFrames
        A :class:`~napari_dlc_workbench.io.video.VideoReader`,
        :class:`~napari_dlc_workbench.io.tiff.TiffStack` or
        :class:`~napari_dlc_workbench.io.images.ImageFolder`.
    """
    path = Path(path)
    if path.is_dir():
        from napari_dlc_workbench.io.images import ImageFolder

        return ImageFolder(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        from napari_dlc_workbench.io.tiff import TiffStack

        return TiffStack(path)
    from napari_dlc_workbench.io.video import VideoReader

    return VideoReader(path, **kwargs)
