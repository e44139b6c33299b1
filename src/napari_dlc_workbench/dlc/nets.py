"""The network types the installed DeepLabCut offers, found without importing it.

Importing ``deeplabcut`` takes seconds and loads torch, which must never happen in
the napari process. DLC 3 derives its list of models from its configuration
folder (``pose_estimation_pytorch/config``, see DLC's ``available_models``):
every backbone file ``backbones/<name>.yaml`` is a bottom-up model and, with a
``top_down_`` prefix, a top-down one; every other folder (except ``base`` and
``detectors``) holds complete models, one per YAML file. :func:`available_nets`
reads the same folder, located with :func:`importlib.util.find_spec`, which
finds a package without running it.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

__all__ = ["DEFAULT_NET", "available_nets", "dlc_config_folder", "net_method"]

DEFAULT_NET = "cspnext_s"
"""Small and fast: trains on a CPU in minutes on a few hundred images."""

_NOT_MODELS = ("backbones", "base", "detectors")
_METHOD = re.compile(r"^method:\s*([A-Za-z]+)", re.MULTILINE)


def dlc_config_folder() -> Path | None:
    """Locate DLC's PyTorch model configuration folder without importing deeplabcut.

    Returns
    -------
    Path or None
        ``<site-packages>/deeplabcut/pose_estimation_pytorch/config``, or None
        when deeplabcut is not installed (or has no PyTorch engine).
    """
    try:
        spec = importlib.util.find_spec("deeplabcut")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / "pose_estimation_pytorch" / "config"
        if folder.is_dir():
            return folder
    return None


def _stems(folder: Path) -> list[str]:
    return [p.stem for p in folder.iterdir() if p.suffix == ".yaml" and p.is_file()]


def available_nets(config_folder: str | os.PathLike[str] | None = None) -> list[str]:
    """List the ``net_type`` values DLC accepts, as DLC's ``available_models`` does.

    Parameters
    ----------
    config_folder : path, optional
        DLC's ``pose_estimation_pytorch/config`` folder; the installed one if
        omitted.

    Returns
    -------
    list of str
        Bottom-up models (plain backbones) first, then the others, each group
        sorted; empty when DLC is not found.
    """
    folder = Path(config_folder) if config_folder is not None else dlc_config_folder()
    if folder is None or not folder.is_dir():
        return []
    backbones = sorted(_stems(folder / "backbones")) if (folder / "backbones").is_dir() else []
    others = {f"top_down_{name}" for name in backbones}
    for sub in folder.iterdir():
        if sub.is_dir() and sub.name not in _NOT_MODELS and not sub.name.startswith("__"):
            others.update(_stems(sub))
    return backbones + sorted(others - set(backbones))


def net_method(net_type: str, config_folder: str | os.PathLike[str] | None = None) -> str:
    """Say how a network finds keypoints: ``"bottom-up"``, ``"top-down"`` or ``"conditional top-down"``.

    Top-down models need a detector for the animals (trained first, its own
    epochs); conditional top-down models need pose conditions from another model.

    Parameters
    ----------
    net_type : str
        A name from :func:`available_nets`.
    config_folder : path, optional
        DLC's configuration folder; the installed one if omitted.

    Returns
    -------
    str
        The method; ``"bottom-up"`` for a plain backbone or an unknown name.
    """
    if net_type.startswith("top_down_"):
        return "top-down"
    if net_type.startswith("ctd_"):
        return "conditional top-down"
    folder = Path(config_folder) if config_folder is not None else dlc_config_folder()
    if folder is None:
        return "bottom-up"
    path = folder / net_type.split("_")[0] / f"{net_type}.yaml"
    try:
        match = _METHOD.search(path.read_text(encoding="utf-8"))
    except OSError:
        return "bottom-up"
    method = match.group(1).lower() if match else "bu"
    return {"td": "top-down", "ctd": "conditional top-down"}.get(method, "bottom-up")
