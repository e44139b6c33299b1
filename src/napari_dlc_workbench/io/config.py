"""Round-trip reading and writing of a DLC project's ``config.yaml``.

Users edit ``config.yaml`` by hand and DLC's template carries comments that
explain each key, so the file is loaded with ruamel.yaml in round-trip mode:
comments, key order, quoting and blank lines survive, and a save that changed
nothing writes the same bytes. DLC 3 validates the file against a schema that
rejects unknown keys, so this module never adds keys of its own (the plugin's
own state lives in a sidecar file).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from napari_dlc_workbench.io.atomic import atomic_write_text

__all__ = [
    "ConfigError",
    "add_video_set",
    "dump_config",
    "load_config",
    "save_config",
    "validate_config",
]

SINGLE_ANIMAL_KEYS = ("Task", "scorer", "video_sets", "bodyparts")
MULTI_ANIMAL_KEYS = ("Task", "scorer", "video_sets", "individuals", "multianimalbodyparts")


class ConfigError(ValueError):
    """A ``config.yaml`` that is missing, unreadable or lacks required keys.

    Parameters
    ----------
    path : PathLike
        The file concerned; it is always named in the message.
    problem : str
        What is wrong with it, in words a user can act on.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    # DLC's own dumper uses a huge width: long video paths as keys must stay on
    # one line, otherwise ruamel emits them as complex "? key" entries.
    yaml.width = 1_000_000
    yaml.preserve_quotes = True
    yaml.representer.add_multi_representer(PurePath, lambda r, p: r.represent_str(str(p)))
    return yaml


def _is_multianimal(cfg: Mapping[str, Any]) -> bool:
    return bool(cfg.get("multianimalproject"))


def validate_config(cfg: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Check that ``cfg`` has the keys every DLC step needs.

    Parameters
    ----------
    cfg : Mapping
        The loaded configuration.
    path : str or PathLike
        Where it came from, for the error message.

    Raises
    ------
    ConfigError
        Naming the file and every missing or empty key.
    """
    required = MULTI_ANIMAL_KEYS if _is_multianimal(cfg) else SINGLE_ANIMAL_KEYS
    missing = [key for key in required if key not in cfg]
    if missing:
        kind = "multi-animal" if _is_multianimal(cfg) else "single-animal"
        raise ConfigError(
            path, f"missing required key(s) for a {kind} project: {', '.join(missing)}"
        )
    parts_key = "multianimalbodyparts" if _is_multianimal(cfg) else "bodyparts"
    parts = cfg[parts_key]
    if not isinstance(parts, list) or not parts:
        raise ConfigError(path, f"'{parts_key}' must be a non-empty list of bodypart names")
    if len(set(map(str, parts))) != len(parts):
        raise ConfigError(path, f"'{parts_key}' lists a bodypart twice: {list(parts)}")
    if cfg["video_sets"] is not None and not isinstance(cfg["video_sets"], Mapping):
        raise ConfigError(path, "'video_sets' must map video paths to {crop: 'x1, x2, y1, y2'}")
    if not str(cfg["scorer"] or "").strip():
        raise ConfigError(path, "'scorer' is empty: labels files are named after it")


def load_config(path: str | os.PathLike[str], *, validate: bool = True) -> CommentedMap:
    """Load ``config.yaml`` for editing, keeping comments and key order.

    Parameters
    ----------
    path : str or PathLike
        The project's ``config.yaml``.
    validate : bool
        Check the required keys (see :func:`validate_config`).

    Returns
    -------
    ruamel.yaml.comments.CommentedMap
        A ``dict`` subclass; pass it back to :func:`save_config` to write it
        with its comments intact.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid YAML, is not a mapping, or lacks
        required keys.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(path, f"config file {what}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        cfg = _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, f"YAML syntax error{where}: {problem}") from exc
    if not isinstance(cfg, CommentedMap):
        raise ConfigError(path, "expected a mapping of keys (Task, scorer, ...) at the top level")
    if validate:
        validate_config(cfg, path)
    return cfg


def dump_config(cfg: Mapping[str, Any]) -> str:
    """Serialise ``cfg`` exactly as :func:`save_config` would write it.

    Parameters
    ----------
    cfg : Mapping
        A configuration, ideally as returned by :func:`load_config`.

    Returns
    -------
    str
        The YAML text.
    """
    stream = io.StringIO()
    _yaml().dump(cfg, stream)
    return stream.getvalue()


def save_config(
    cfg: Mapping[str, Any], path: str | os.PathLike[str], *, validate: bool = True
) -> Path:
    """Write ``cfg`` to ``path`` atomically, keeping a backup of the old file.

    Parameters
    ----------
    cfg : Mapping
        The configuration; a :func:`load_config` result keeps its comments.
    path : str or PathLike
        Destination ``config.yaml``.
    validate : bool
        Refuse to write a configuration lacking required keys.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ConfigError
        If ``validate`` and required keys are missing; nothing is written.
    """
    if validate:
        validate_config(cfg, path)
    return atomic_write_text(path, dump_config(cfg))


def add_video_set(
    cfg: CommentedMap, video: str | os.PathLike[str], width: int, height: int
) -> bool:
    """Register a video in ``video_sets`` with a full-frame crop.

    Parameters
    ----------
    cfg : CommentedMap
        Loaded configuration, changed in place.
    video : str or PathLike
        Path to the video as DLC should find it.
    width, height : int
        Frame size in pixels; the crop string is DLC's ``"0, w, 0, h"``.

    Returns
    -------
    bool
        True if the video was added, False if it was already registered.
    """
    if cfg.get("video_sets") is None:
        cfg["video_sets"] = CommentedMap()
    key = str(video)
    if key in cfg["video_sets"]:
        return False
    entry = CommentedMap()
    entry["crop"] = f"0, {int(width)}, 0, {int(height)}"
    cfg["video_sets"][key] = entry
    return True
