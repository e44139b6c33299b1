"""Regions of interest: the wells cropped out of a multi-well recording.

An :class:`ROI` is a rectangle in pixels with the origin at the top-left corner
of the frame: columns ``x .. x + w - 1`` and rows ``y .. y + h - 1``. DLC writes
the same rectangle as the crop string ``"x1, x2, y1, y2"`` with ``x2 = x + w``
and ``y2 = y + h``. Names become part of file names (``DSC_3189_#1.mp4``), so
the users' own ``#1``, ``&`` and Japanese names are kept, and only what no
file system accepts is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["ROI", "ROIError", "ROISet", "next_roi_name"]

_BAD_NAME = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


class ROIError(ValueError):
    """An ROI (or set of ROIs) that cannot be used, with the ROI named."""


@dataclass(frozen=True)
class ROI:
    """A named rectangle in pixels, top-left origin.

    Attributes
    ----------
    name : str
        Part of the exported clip's file name.
    x, y : int
        Top-left corner (column, row).
    w, h : int
        Width and height.
    """

    name: str
    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        for field in ("x", "y", "w", "h"):
            object.__setattr__(self, field, int(getattr(self, field)))
        name = str(self.name)
        if not name.strip() or name != name.strip() or _BAD_NAME.search(name):
            raise ROIError(
                f"ROI name {name!r} cannot be part of a file name "
                '(no leading/trailing spaces, none of / \\ : * ? " < > |)'
            )
        if self.w <= 0 or self.h <= 0:
            raise ROIError(f"ROI {name!r} is empty ({self.w}x{self.h} px)")

    @property
    def x2(self) -> int:
        """One past the last column (DLC's ``x2``)."""
        return self.x + self.w

    @property
    def y2(self) -> int:
        """One past the last row (DLC's ``y2``)."""
        return self.y + self.h

    @property
    def crop_string(self) -> str:
        """DLC's ``"x1, x2, y1, y2"``."""
        return f"{self.x}, {self.x2}, {self.y}, {self.y2}"

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` slices that cut this ROI out of a frame."""
        return slice(self.y, self.y2), slice(self.x, self.x2)

    def check_inside(self, width: int, height: int, source: str = "the frame") -> None:
        """Raise :class:`ROIError` unless the ROI lies fully inside a frame.

        Parameters
        ----------
        width, height : int
            Frame size in pixels.
        source : str
            What the frame belongs to, for the message (e.g. the video's path).
        """
        if self.x < 0 or self.y < 0 or self.x2 > width or self.y2 > height:
            raise ROIError(
                f"ROI {self.name!r} ({self.crop_string}) is outside {source} ({width}x{height} px)"
            )

    def snapped_inside(self, width: int, height: int, *, even: bool = False) -> ROI:
        """Move (and if needed shrink) the ROI so it fits a frame.

        Parameters
        ----------
        width, height : int
            Frame size in pixels.
        even : bool
            Also make position and size even, as 4:2:0 video (H.264) needs.

        Returns
        -------
        ROI
            Same name, same size where possible.
        """
        w, h = min(self.w, width), min(self.h, height)
        if even:
            w, h = max(2, w - w % 2), max(2, h - h % 2)
        x = min(max(self.x, 0), width - w)
        y = min(max(self.y, 0), height - h)
        if even:
            x, y = x - x % 2, y - y % 2
        return replace(self, x=x, y=y, w=w, h=h)

    @classmethod
    def from_corners(cls, name: str, corners: Sequence[Sequence[float]]) -> ROI:
        """Build from napari rectangle vertices ``[[row, col], ...]`` (any order).

        The rectangle covers the pixels whose centres lie inside it, rounded to
        whole pixels.
        """
        rows = [float(c[-2]) for c in corners]
        cols = [float(c[-1]) for c in corners]
        x, y = round(min(cols)), round(min(rows))
        return cls(name, x, y, round(max(cols)) - x, round(max(rows)) - y)

    def corners(self) -> list[list[float]]:
        """Return the napari rectangle vertices ``[[row, col], ...]`` of this ROI."""
        return [
            [self.y, self.x],
            [self.y, self.x2],
            [self.y2, self.x2],
            [self.y2, self.x],
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


def next_roi_name(existing: Iterable[str]) -> str:
    """Return the first free name of the form ``roiN`` (``roi1``, ``roi2``, ...)."""
    taken = set(existing)
    n = 1
    while f"roi{n}" in taken:
        n += 1
    return f"roi{n}"


@dataclass(frozen=True)
class ROISet:
    """The ROIs of one video (or one rig), in order, with unique names.

    Attributes
    ----------
    rois : tuple of ROI
        The regions.
    frame_size : tuple of int or None
        ``(width, height)`` of the video they were drawn on, when known.
    """

    rois: tuple[ROI, ...]
    frame_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rois", tuple(self.rois))
        names = [roi.name for roi in self.rois]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ROIError(f"ROI names must be unique; repeated: {', '.join(dups)}")
        if self.frame_size is not None:
            width, height = self.frame_size
            for roi in self.rois:
                roi.check_inside(width, height)

    def __iter__(self) -> Iterator[ROI]:
        return iter(self.rois)

    def __len__(self) -> int:
        return len(self.rois)

    def check_inside(self, width: int, height: int, source: str = "the frame") -> None:
        """Raise :class:`ROIError` if any ROI leaves a ``width`` × ``height`` frame."""
        for roi in self.rois:
            roi.check_inside(width, height, source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "rois": [roi.to_dict() for roi in self.rois],
            "frame_size": list(self.frame_size) if self.frame_size else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ROISet:
        """Inverse of :meth:`to_dict` (also accepts a bare list of ROI dicts)."""
        items = data if isinstance(data, list) else data.get("rois", [])
        size = None if isinstance(data, list) else data.get("frame_size")
        try:
            rois = tuple(
                ROI(**{k: item[k] for k in ("name", "x", "y", "w", "h")}) for item in items
            )
        except (KeyError, TypeError) as exc:
            raise ROIError(f"each ROI needs name, x, y, w, h ({exc})") from exc
        return cls(rois, tuple(size) if size else None)
