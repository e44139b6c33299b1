"""TIFF stacks (plain, OME and ImageJ hyperstacks) as lazy frame sources."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from napari_dlc_workbench.io.frames import LazyFrames
from napari_dlc_workbench.io.video_index import cache_key

__all__ = ["TiffError", "TiffStack"]


class TiffError(ValueError):
    """A TIFF that cannot be read as a stack of frames, with the file named."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


class TiffStack(LazyFrames):
    """The first series of a TIFF file, frame by frame, without loading it.

    Uncompressed, contiguous files (what ImageJ writes) are memory-mapped, so a
    frame costs a page-cache read; others are read page by page under a lock.
    The first axis of the series is the frame axis; a single image is one frame.

    Parameters
    ----------
    path : str or PathLike
        ``.tif`` / ``.tiff``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import tifffile

        self.path = Path(path)
        if not self.path.is_file():
            raise TiffError(self.path, "file does not exist")
        if self.path.stat().st_size == 0:
            raise TiffError(self.path, "file is empty (0 bytes)")
        try:
            self._tif = tifffile.TiffFile(self.path)
            series = self._tif.series[0]
        except Exception as exc:  # tifffile raises TiffFileError, ValueError, IndexError...
            raise TiffError(self.path, f"not a readable TIFF ({exc})") from exc
        shape = tuple(series.shape)
        if len(shape) < 2:
            raise TiffError(self.path, f"series has shape {shape}: not an image")
        self._series = series
        self._lock = threading.Lock()
        # A lone 2D (or RGB) image is a one-frame stack.
        single = len(shape) == 2 or (len(shape) == 3 and shape[-1] in (3, 4))
        self._n = 1 if single else shape[0]
        self.frame_shape = shape if single else shape[1:]
        self.dtype = np.dtype(series.dtype)
        self._memmap: np.ndarray | None = None
        try:
            mapped = tifffile.memmap(self.path, mode="r")
            if mapped.shape == shape:
                self._memmap = mapped.reshape((self._n, *self.frame_shape))
        except (ValueError, OSError):
            self._memmap = None  # compressed or scattered pages: read per frame
        n_pages = len(series.pages) or 1
        self._pages_per_frame = max(1, n_pages // self._n)

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        mode = "memmap" if self._memmap is not None else "pages"
        return f"TiffStack({str(self.path)!r}, shape={self.shape}, {mode})"

    def token(self) -> str:
        """Identity of the frames: the file's cache key."""
        return f"tiff-{cache_key(self.path)}"

    @property
    def memory_mapped(self) -> bool:
        """Whether frames are read through a memory map."""
        return self._memmap is not None

    def frame(self, number: int) -> np.ndarray:
        """Return frame ``number`` of the stack."""
        number = self.check_index(number)
        if self._memmap is not None:
            return np.asarray(self._memmap[number])
        per = self._pages_per_frame
        with self._lock:
            try:
                data = self._tif.asarray(key=slice(number * per, (number + 1) * per), series=0)
            except Exception as exc:
                raise TiffError(self.path, f"frame {number} cannot be read ({exc})") from exc
        return data.reshape(self.frame_shape)

    def close(self) -> None:
        """Close the file."""
        self._memmap = None
        self._tif.close()
