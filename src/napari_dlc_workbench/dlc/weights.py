"""Where a training run's first weights come from, without touching the network.

DLC 3 builds a pose model with ImageNet-pretrained backbone weights whenever it
trains without a snapshot, whatever ``pretrained: false`` says in the config, and
fetches missing weights from the Hugging Face hub. Offline that fails. So before
training, :func:`initial_weights` decides:

``"pretrained"``
    the backbone weights DLC would use are already on disk (DLC's own
    ``pretrained_weights`` folder, the Hugging Face or torch hub cache): DLC
    loads them itself.
``"random"``
    a randomly initialised model is saved as ``random-init.pt`` in the shuffle's
    train folder and DLC starts from that snapshot. Much less accurate for the
    same number of epochs, hence :data:`RANDOM_INIT_WARNING`.
a file
    weights the user has (see :func:`snapshot_from_file` for the formats) are
    fitted into this project's model and saved as ``init-<name>.pt``.

Every snapshot made here is ``{"model": state_dict}`` with no ``metadata``, so
DLC counts epochs from 1 and starts a fresh optimizer.
"""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RANDOM_INIT_NAME",
    "RANDOM_INIT_WARNING",
    "InitialWeights",
    "WeightsError",
    "initial_weights",
    "pretrained_available",
    "random_init_snapshot",
    "snapshot_from_file",
]

RANDOM_INIT_NAME = "random-init.pt"
RANDOM_INIT_WARNING = (
    "starting from random weights: no pretrained backbone weights are available offline, "
    "so accuracy needs many more epochs (hundreds) than from pretrained weights"
)


class WeightsError(ValueError):
    """A weights file that cannot initialise this project's model; names the file."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class InitialWeights:
    """The start of a training run.

    Attributes
    ----------
    source : {"pretrained", "random", "file"}
        Where the weights come from.
    snapshot : Path or None
        Snapshot to pass to DLC as ``snapshot_path``; None lets DLC load the
        pretrained backbone itself.
    warning : str
        What the user should know about this start (empty if nothing).
    """

    source: str
    snapshot: Path | None
    warning: str = ""


@contextmanager
def _no_downloads() -> Iterator[None]:
    # Probing must never fetch anything: the hub is put in offline mode and any
    # internet connection (torch.hub, timm URLs) is refused for the duration.
    import huggingface_hub.constants as hub_constants

    original_connect = socket.socket.connect
    original_offline = hub_constants.HF_HUB_OFFLINE

    def refuse(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise ConnectionRefusedError("downloads are disabled while probing for weights")
        original_connect(sock, address)

    socket.socket.connect = refuse  # type: ignore[method-assign]
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        hub_constants.HF_HUB_OFFLINE = original_offline


def _build(model_cfg: Mapping[str, Any], *, pretrained: bool) -> Any:
    from deeplabcut.pose_estimation_pytorch.models import PoseModel

    # build() writes into the config it is given; the caller's copy stays as read.
    return PoseModel.build(copy.deepcopy(dict(model_cfg["model"])), pretrained_backbone=pretrained)


def pretrained_available(model_cfg: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether DLC would find this model's pretrained backbone weights offline.

    Builds the model as DLC's training would, with downloads disabled, so the
    answer covers every place DLC and timm look (DLC's ``pretrained_weights``
    folder, the Hugging Face cache, the torch hub cache).

    Parameters
    ----------
    model_cfg : Mapping
        The shuffle's ``pytorch_config.yaml`` content.

    Returns
    -------
    tuple of (bool, str)
        Whether they are there, and why not when they are not.
    """
    with _no_downloads():
        try:
            _build(model_cfg, pretrained=True)
        except Exception as exc:  # any failure means "not usable offline"
            return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def _save(state: Mapping[str, Any], path: Path) -> Path:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": dict(state)}, tmp)
    os.replace(tmp, path)
    return path


def random_init_snapshot(
    model_cfg: Mapping[str, Any],
    train_folder: str | os.PathLike[str],
    *,
    seed: int | None = None,
    name: str = RANDOM_INIT_NAME,
) -> Path:
    """Save a randomly initialised model as a snapshot DLC can start from.

    Parameters
    ----------
    model_cfg : Mapping
        The shuffle's ``pytorch_config.yaml`` content.
    train_folder : path
        The shuffle's ``train`` folder.
    seed : int, optional
        Seed for torch's generator, so a run can be repeated exactly
        (``train_settings.seed`` of the config is a good choice).
    name : str
        File name.

    Returns
    -------
    Path
        The snapshot, ``{"model": state_dict}``.
    """
    import torch

    if seed is not None:
        torch.manual_seed(int(seed))
    model = _build(model_cfg, pretrained=False)
    return _save(model.state_dict(), Path(train_folder) / name)


def _read_weights(path: Path) -> Mapping[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    # weights_only: a weights file must not be able to run code when loaded.
    return torch.load(path, map_location="cpu", weights_only=True)


def _tensors(content: Any) -> dict[str, Any] | None:
    import torch

    if (
        isinstance(content, Mapping)
        and content
        and all(isinstance(v, torch.Tensor) for v in content.values())
    ):
        return dict(content)
    return None


def _fit(model: Any, state: dict[str, Any], path: Path) -> str:
    """Load ``state`` into ``model`` (whole, or backbone only); say what was loaded."""
    problems: list[str] = []
    if any(k.startswith("backbone.") for k in state):
        try:
            model.load_state_dict(state, strict=True)
            return "whole model loaded"
        except RuntimeError as exc:
            problems.append(str(exc).splitlines()[0])
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
        note = "backbone loaded; heads start random (the file's heads do not fit this project)"
    else:
        note = "backbone loaded; heads start random"
    wanted = set(model.backbone.state_dict())
    # DLC's timm backbones (ResNet, HRNet) keep the timm network in `.model`.
    for candidate in (state, {f"model.{k}": v for k, v in state.items()}):
        missing = wanted - set(candidate)
        if missing:
            problems.append(
                f"{len(missing)} of {len(wanted)} backbone tensors missing "
                f"(e.g. {sorted(missing)[:3]})"
            )
            continue
        try:
            model.backbone.load_state_dict(
                {k: v for k, v in candidate.items() if k in wanted}, strict=True
            )
        except RuntimeError as exc:
            problems.append(" ".join(str(exc).split())[:300])
            continue
        ignored = len(set(candidate) - wanted)
        return note + (f"; {ignored} tensors not in the backbone ignored" if ignored else "")
    raise WeightsError(
        path,
        "does not fit this project's model (neither a DLC snapshot of the same network "
        "nor weights of its backbone): " + "; ".join(dict.fromkeys(problems)),
    )


def snapshot_from_file(
    weights_file: str | os.PathLike[str],
    model_cfg: Mapping[str, Any],
    train_folder: str | os.PathLike[str],
) -> tuple[Path, str]:
    """Fit a user's weights file into this project's model and save it as a snapshot.

    Accepted files (read with ``torch.load(weights_only=True)``, or safetensors):

    - a DLC 3 PyTorch snapshot, ``{"model": state_dict, ...}`` (e.g.
      ``snapshot-200.pt`` of another shuffle or project with the same network):
      the whole model is loaded; if the heads do not fit (other bodyparts), only
      the backbone;
    - backbone weights, ``{"state_dict": state_dict}`` (the files DLC downloads to
      its ``pretrained_weights`` folder, mmpose checkpoints) or a bare state dict
      (a timm/torchvision ``.pth`` or ``.safetensors``), with the backbone's own
      key names, the timm model's names, or a ``backbone.`` prefix; tensors the
      backbone lacks (a classifier) are ignored.

    Parameters
    ----------
    weights_file : path
        The user's file.
    model_cfg : Mapping
        The shuffle's ``pytorch_config.yaml`` content.
    train_folder : path
        Where ``init-<file stem>.pt`` is written.

    Returns
    -------
    tuple of (Path, str)
        The new snapshot and what was loaded from the file.

    Raises
    ------
    WeightsError
        If the file is missing, unreadable, or fits neither the model nor its
        backbone; the message names the file.
    """
    path = Path(weights_file).expanduser()
    if not path.is_file():
        raise WeightsError(path, "weights file not found")
    try:
        content = _read_weights(path)
    except Exception as exc:  # torch raises many types for a non-weights file
        raise WeightsError(
            path, f"not a PyTorch weights file ({type(exc).__name__}: {exc})"
        ) from exc
    state = None
    if isinstance(content, Mapping):
        for key in ("model", "state_dict"):
            state = state or _tensors(content.get(key))
        state = state or _tensors(content)
    if state is None:
        raise WeightsError(
            path, "holds no state dict: expected {'model': ...}, {'state_dict': ...} or tensors"
        )
    model = _build(model_cfg, pretrained=False)
    note = _fit(model, state, path)
    snapshot = _save(model.state_dict(), Path(train_folder) / f"init-{path.stem}.pt")
    return snapshot, f"{path.name}: {note}"


def initial_weights(
    model_cfg: Mapping[str, Any],
    train_folder: str | os.PathLike[str],
    weights: str | os.PathLike[str] = "auto",
    *,
    seed: int | None = None,
) -> InitialWeights:
    """Decide how a fresh training run starts (see the module docstring).

    Parameters
    ----------
    model_cfg : Mapping
        The shuffle's ``pytorch_config.yaml`` content.
    train_folder : path
        The shuffle's ``train`` folder, where snapshots made here go.
    weights : {"auto", "pretrained", "random"} or path
        ``auto``: pretrained if available offline, else random.
    seed : int, optional
        Seed for a random initialisation.

    Returns
    -------
    InitialWeights

    Raises
    ------
    WeightsError
        For ``"pretrained"`` when they are not available, or a bad file.
    """
    choice = str(weights)
    if choice in ("auto", "pretrained"):
        available, why = pretrained_available(model_cfg)
        if available:
            return InitialWeights("pretrained", None)
        if choice == "pretrained":
            raise WeightsError(
                train_folder,
                f"pretrained backbone weights for {model_cfg.get('net_type', 'this network')} "
                f"are not available offline ({why}); give a weights file or use random weights",
            )
    elif choice != "random":
        snapshot, note = snapshot_from_file(choice, model_cfg, train_folder)
        return InitialWeights("file", snapshot, note)
    snapshot = random_init_snapshot(model_cfg, train_folder, seed=seed)
    return InitialWeights("random", snapshot, RANDOM_INIT_WARNING)
