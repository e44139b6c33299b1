"""A DLC project as plain typed data (what the widgets and jobs need to know)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

__all__ = ["Project", "VideoEntry", "parse_crop"]


def parse_crop(crop: str | None) -> tuple[int, int, int, int] | None:
    """Parse DLC's crop string ``"x1, x2, y1, y2"``.

    Parameters
    ----------
    crop : str or None
        The ``crop`` value of a ``video_sets`` entry.

    Returns
    -------
    tuple of int or None
        ``(x1, x2, y1, y2)``, or None when absent.

    Raises
    ------
    ValueError
        If the string does not hold four integers with x1 < x2 and y1 < y2.
    """
    if crop is None:
        return None
    parts = [p.strip() for p in str(crop).split(",")]
    if len(parts) != 4:
        raise ValueError(f"crop must be 'x1, x2, y1, y2', got {crop!r}")
    x1, x2, y1, y2 = (int(float(p)) for p in parts)
    if not (x1 < x2 and y1 < y2):
        raise ValueError(f"crop {crop!r} is empty: need x1 < x2 and y1 < y2")
    return x1, x2, y1, y2


def _stem(video: str) -> str:
    # Projects made on Windows keep backslash paths in video_sets; the stem must
    # still be the file name, as DLC computes it on the machine that made it.
    return PureWindowsPath(video).stem if "\\" in video else Path(video).stem


@dataclass(frozen=True)
class VideoEntry:
    """One ``video_sets`` entry of ``config.yaml``.

    Attributes
    ----------
    path : str
        The key as written in the config (may be absolute, or from another OS).
    crop : tuple of int or None
        ``(x1, x2, y1, y2)``.
    """

    path: str
    crop: tuple[int, int, int, int] | None

    @property
    def stem(self) -> str:
        """Video name without folder and extension: the labeled-data folder name."""
        return _stem(self.path)


@dataclass(frozen=True)
class Project:
    """The parts of a DLC ``config.yaml`` the workbench uses.

    Attributes
    ----------
    config_path : Path
        The ``config.yaml`` (its folder is the project folder, whatever
        ``project_path`` inside says: users move projects between machines).
    task, scorer, date : str
        Project identity; ``scorer`` names the labels files.
    bodyparts : tuple of str
        Single-animal bodyparts, or multi-animal bodyparts.
    individuals : tuple of str
        Empty for single-animal projects.
    unique_bodyparts : tuple of str
        Multi-animal projects' bodyparts that belong to no individual.
    multianimal : bool
        ``multianimalproject`` in the config.
    videos : tuple of VideoEntry
        ``video_sets`` in config order.
    skeleton : tuple of (str, str)
        Bodypart pairs to draw as lines.
    colormap : str
        Matplotlib colormap name used for bodyparts.
    pcutoff : float
        Likelihood below which predictions are treated as unreliable.
    dotsize : int
        Marker size for points.
    iteration : int
        Active-learning iteration.
    raw : dict
        The full configuration as loaded.
    """

    config_path: Path
    task: str
    scorer: str
    date: str = ""
    bodyparts: tuple[str, ...] = ()
    individuals: tuple[str, ...] = ()
    unique_bodyparts: tuple[str, ...] = ()
    multianimal: bool = False
    videos: tuple[VideoEntry, ...] = ()
    skeleton: tuple[tuple[str, str], ...] = ()
    colormap: str = "rainbow"
    pcutoff: float = 0.6
    dotsize: int = 8
    iteration: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], config_path: str | os.PathLike[str]) -> Project:
        """Build from a loaded ``config.yaml`` mapping.

        Parameters
        ----------
        cfg : Mapping
            As returned by :func:`napari_dlc_workbench.io.config.load_config`.
        config_path : str or PathLike
            Where the config lives.

        Returns
        -------
        Project
        """
        multi = bool(cfg.get("multianimalproject"))
        parts = cfg.get("multianimalbodyparts") if multi else cfg.get("bodyparts")
        videos = tuple(
            VideoEntry(str(path), parse_crop((entry or {}).get("crop")))
            for path, entry in (cfg.get("video_sets") or {}).items()
        )
        skeleton = tuple((str(a), str(b)) for a, b in (cfg.get("skeleton") or []) if a is not None)
        return cls(
            config_path=Path(config_path),
            task=str(cfg.get("Task", "")),
            scorer=str(cfg.get("scorer", "")),
            date=str(cfg.get("date", "") or ""),
            bodyparts=tuple(map(str, parts or [])),
            individuals=tuple(map(str, cfg.get("individuals") or [])) if multi else (),
            unique_bodyparts=tuple(map(str, cfg.get("uniquebodyparts") or [])) if multi else (),
            multianimal=multi,
            videos=videos,
            skeleton=skeleton,
            colormap=str(cfg.get("colormap") or "rainbow"),
            pcutoff=float(cfg.get("pcutoff") if cfg.get("pcutoff") is not None else 0.6),
            dotsize=int(cfg.get("dotsize") or 8),
            iteration=int(cfg.get("iteration") or 0),
            raw=dict(cfg),
        )

    @property
    def folder(self) -> Path:
        """The project folder (where ``config.yaml`` is)."""
        return self.config_path.parent

    @property
    def labeled_data(self) -> Path:
        """``<project>/labeled-data``."""
        return self.folder / "labeled-data"

    def labels_folder(self, video_stem: str) -> Path:
        """``labeled-data/<video_stem>``: where a video's frames and labels live."""
        return self.labeled_data / video_stem

    def video_file(self, entry: VideoEntry) -> Path:
        """Where a ``video_sets`` video is on this machine.

        The key may be an absolute path from the machine that made the project
        (another OS, another user folder); if it does not exist, the file of
        the same name in ``<project>/videos/`` is used, as DLC does.
        """
        path = Path(entry.path)
        if path.is_file():
            return path
        name = PureWindowsPath(entry.path).name if "\\" in entry.path else path.name
        return self.folder / "videos" / name

    @property
    def keypoints(self) -> list[tuple[str, str]]:
        """(individual, bodypart) columns in DLC's order for labels files."""
        if not self.multianimal:
            return [("", bp) for bp in self.bodyparts]
        pairs = [(ind, bp) for ind in self.individuals for bp in self.bodyparts]
        return pairs + [("single", bp) for bp in self.unique_bodyparts]

    @property
    def all_bodyparts(self) -> tuple[str, ...]:
        """Bodyparts, then unique bodyparts."""
        return self.bodyparts + self.unique_bodyparts
