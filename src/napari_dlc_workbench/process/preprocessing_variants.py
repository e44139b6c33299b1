"""Copies of a project that differ only in preprocessing: the same labelled frames, re-made.

"How little image processing still works?" has one fair answer: train the same
network on the same labelled frames, split the same way, with the images made by
different preprocessing. The Crop dock records how each clip was made (source
recording, ROI, contrast, encoding) in ``<recording>.crops.json`` beside the clips;
:func:`make_variant_project` uses that record to export the labelled clips again
from their recordings with other contrast settings (the same ROIs, encoder and
names), then builds a project folder with the same ``config.yaml`` (paths
changed), the same ``CollectedData_*`` files and the same frames extracted from
the new clips. The labels stay valid: cropping is the same, only intensities change.

Training and evaluating the variants is :mod:`napari_dlc_workbench.dlc.preprocessing`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from napari_dlc_workbench.io.config import load_config, save_config
from napari_dlc_workbench.model.roi import ROI, ROISet
from napari_dlc_workbench.process.contrast import ContrastSettings
from napari_dlc_workbench.process.crop_export import ExportOptions, export_clips
from napari_dlc_workbench.process.frames import existing_frames, extract_frames

__all__ = [
    "EXPORTED",
    "PRESETS",
    "LabelledClip",
    "VariantError",
    "labelled_clips",
    "make_variant_project",
    "variant_settings",
]

EXPORTED = "exported"
"""The variant made with each clip's own recorded contrast settings (the baseline)."""

PRESETS: dict[str, ContrastSettings] = {
    "none": ContrastSettings("none"),
    "enhance": ContrastSettings("enhance"),
    "equalize": ContrastSettings("equalize"),
    "clahe": ContrastSettings("clahe"),
}
"""Named contrast settings a comparison can ask for (ImageJ-like defaults)."""

_IMAGE_NUMBER = re.compile(r"^img(\d+)\.png$")


class VariantError(ValueError):
    """A project whose labelled frames cannot be made again (nothing was written)."""


@dataclass(frozen=True)
class LabelledClip:
    """A labelled clip of the project and how it was made.

    Attributes
    ----------
    stem : str
        Its name, also its ``labeled-data`` folder's.
    clip : Path
        The clip.
    source : Path
        The recording it was cut from.
    roi : ROI
        Where in the recording.
    contrast : ContrastSettings or None
        The contrast it was made with.
    options : ExportOptions
        Its encoding and naming.
    frames : tuple of int
        The frames extracted into ``labeled-data/<stem>/``.
    """

    stem: str
    clip: Path
    source: Path
    roi: ROI
    contrast: ContrastSettings | None
    options: ExportOptions
    frames: tuple[int, ...]


def variant_settings(name: str) -> ContrastSettings | None:
    """Return a preset's settings, or None for :data:`EXPORTED` (each clip's own).

    Raises
    ------
    VariantError
        For an unknown name.
    """
    if name == EXPORTED:
        return None
    if name not in PRESETS:
        raise VariantError(f"unknown preprocessing {name!r}: choose from {[EXPORTED, *PRESETS]}")
    return PRESETS[name]


def _clip_path(project: Path, video: str) -> Path | None:
    # Where config.yaml says, else in <project>/videos/ (a project moved from another machine).
    for path in (Path(video), project / "videos" / Path(video.replace("\\", "/")).name):
        if path.is_file():
            return path
    return None


def _records(clip: Path, folders: Sequence[Path]) -> list[Path]:
    # Beside the clip (the Crop dock exports into the project's videos/), beside the file
    # a linked clip points to, then in the folders given (clips copied into a project).
    places = dict.fromkeys([clip.parent, clip.resolve().parent, *map(Path, folders)])
    return [path for place in places for path in sorted(place.glob("*.crops.json"))]


def _export_record(
    clip: Path, folders: Sequence[Path]
) -> tuple[Path, ROI, ContrastSettings | None, ExportOptions]:
    for record_path in _records(clip, folders):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            entry = next((c for c in record["clips"] if c["path"] == clip.name), None)
            if entry is None:
                continue
            roi = ROI(**entry["roi"])
            contrast = (
                ContrastSettings.from_dict(record["contrast"]) if record["contrast"] else None
            )
            options = ExportOptions(**record["options"])
            source = Path(record["source"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VariantError(
                f"{record_path}: not an export record of the workbench ({exc})"
            ) from exc
        if not source.is_file():  # moved together with the record
            source = record_path.parent / source.name
        if not source.is_file():
            raise VariantError(
                f"{clip.name}: its recording {record['source']} is not there any more "
                f"(nor beside {record_path.name}); the frames can only be made again from it"
            )
        return source, roi, contrast, options
    raise VariantError(
        f"{clip}: no export record (<recording>.crops.json) names this clip, so how it was "
        "cut is unknown; preprocessing can be compared for clips exported by the Crop dock "
        "(give the folder the clips were exported to when they were copied since)"
    )


def labelled_clips(
    config: str | os.PathLike[str], record_folders: Sequence[str | os.PathLike[str]] = ()
) -> list[LabelledClip]:
    """Return the project's labelled clips (``video_sets`` order) and how each was made.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    record_folders : sequence of path
        Where else to look for the clips' export records (``*.crops.json``) than
        beside each clip: the folder they were exported to, when they were copied
        into the project since (DLC's ``copy_videos``).

    Returns
    -------
    list of LabelledClip

    Raises
    ------
    VariantError
        If there is no labelled frame, or a labelled clip was not exported by the
        workbench (no record), or its recording is gone.
    """
    config = Path(config)
    cfg = load_config(config)
    project = config.parent
    found = []
    for video in cfg.get("video_sets") or {}:
        stem = Path(str(video).replace("\\", "/")).stem
        folder = project / "labeled-data" / stem
        if not (folder / f"CollectedData_{cfg['scorer']}.h5").is_file():
            continue
        clip = _clip_path(project, str(video))
        if clip is None:
            raise VariantError(f"{video}: labelled, but the clip is not there any more")
        source, roi, contrast, options = _export_record(clip, [Path(f) for f in record_folders])
        found.append(
            LabelledClip(
                stem, clip, source, roi, contrast, options, tuple(sorted(existing_frames(folder)))
            )
        )
    if not found:
        raise VariantError(f"{config}: no labelled frames (labeled-data/*/CollectedData_*.h5)")
    return found


def make_variant_project(
    config: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    contrast: ContrastSettings | None,
    *,
    record_folders: Sequence[str | os.PathLike[str]] = (),
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Make a copy of the project whose labelled frames come from clips with ``contrast``.

    Parameters
    ----------
    config : path
        The project's ``config.yaml``.
    folder : path
        An empty or missing folder: gets ``videos/`` (the new clips) and the
        project folder (same name as the original).
    contrast : ContrastSettings or None
        Settings for every clip; None keeps each clip's recorded settings.
    record_folders : sequence of path
        See :func:`labelled_clips`.
    progress : callable, optional
        Called with a line per recording exported.

    Returns
    -------
    Path
        The copy's ``config.yaml``.

    Raises
    ------
    VariantError
        See :func:`labelled_clips`; or ``folder`` is not empty.
    """
    config = Path(config)
    clips = labelled_clips(config, record_folders)
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise VariantError(f"{folder} is not empty")
    videos = folder / "videos"
    made: dict[str, Path] = {}
    groups: dict[tuple[Path, ExportOptions, str], list[LabelledClip]] = {}
    for clip in clips:
        settings = clip.contrast if contrast is None else contrast
        key = (clip.source, clip.options, json.dumps(settings.to_dict() if settings else None))
        groups.setdefault(key, []).append(clip)
    for (source, options, _), group in groups.items():
        settings = group[0].contrast if contrast is None else contrast
        if progress is not None:
            progress(f"{source.name}: {len(group)} clip(s), contrast {_describe(settings)}")
        results = export_clips(
            source, ROISet(tuple(c.roi for c in group)), videos, contrast=settings, options=options
        )
        for clip, result in zip(group, results, strict=True):
            if result.path.stem != clip.stem:  # the recorded name template makes the same names
                raise VariantError(f"{clip.clip.name}: exported again as {result.path.name}")
            made[clip.stem] = result.path
    project = folder / config.parent.name
    cfg = load_config(config)
    cfg["project_path"] = str(project)
    cfg["video_sets"] = {str(made[c.stem]): {"crop": f"0, {c.roi.w}, 0, {c.roi.h}"} for c in clips}
    project.mkdir(parents=True)
    save_config(cfg, project / "config.yaml")
    for clip in clips:
        source_folder = config.parent / "labeled-data" / clip.stem
        target = project / "labeled-data" / clip.stem
        target.mkdir(parents=True)
        for labels in source_folder.glob("CollectedData_*"):
            shutil.copy2(labels, target / labels.name)
        extract_frames(made[clip.stem], project, clip.frames)
        _keep_image_names(source_folder, target)
    return project / "config.yaml"


def _image_names(folder: Path) -> dict[int, str]:
    return {
        int(match.group(1)): path.name
        for path in folder.iterdir()
        if (match := _IMAGE_NUMBER.match(path.name))
    }


def _keep_image_names(original: Path, copy: Path) -> None:
    # The labels name their images: frames extracted by DLC itself may be padded to
    # another width than ours, so each new image takes its original's name.
    wanted, have = _image_names(original), _image_names(copy)
    if set(wanted) != set(have):
        raise VariantError(f"{copy}: the frames were not all made again")
    for number, name in wanted.items():
        if have[number] != name:
            os.replace(copy / have[number], copy / name)


def _describe(settings: ContrastSettings | None) -> str:
    return "none (as recorded)" if settings is None else settings.method
