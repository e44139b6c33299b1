"""Network types are read from DLC's config folder, never by importing deeplabcut."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from napari_dlc_workbench.dlc.nets import (
    DEFAULT_NET,
    available_nets,
    dlc_config_folder,
    net_method,
)


@pytest.fixture
def config_folder(tmp_path: Path) -> Path:
    """A miniature of DLC's pose_estimation_pytorch/config folder."""
    root = tmp_path / "config"
    for path, text in {
        "backbones/resnet_50.yaml": "model: {}\n",
        "backbones/cspnext_s.yaml": "model: {}\n",
        "base/base.yaml": "method: bu\n",
        "detectors/ssdlite.yaml": "type: ssd\n",
        "rtmpose/rtmpose_s.yaml": "data: {}\nmethod: td  # Need to add a detector\n",
        "dekr/dekr_w32.yaml": "model: {}\n",
        "ctd/ctd_coam_w32.yaml": "method: ctd\n",
        "rtmpose/notes.txt": "not a model\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_lists_backbones_first_then_the_other_models(config_folder: Path) -> None:
    assert available_nets(config_folder) == [
        "cspnext_s",
        "resnet_50",
        "ctd_coam_w32",
        "dekr_w32",
        "rtmpose_s",
        "top_down_cspnext_s",
        "top_down_resnet_50",
    ]
    assert available_nets(config_folder / "missing") == []


def test_methods(config_folder: Path) -> None:
    assert net_method("resnet_50", config_folder) == "bottom-up"
    assert net_method("dekr_w32", config_folder) == "bottom-up"
    assert net_method("rtmpose_s", config_folder) == "top-down"
    assert net_method("top_down_resnet_50", config_folder) == "top-down"
    assert net_method("ctd_coam_w32", config_folder) == "conditional top-down"
    assert net_method("unknown_net", config_folder) == "bottom-up"


def test_finds_the_installed_dlc_without_importing_it() -> None:
    code = (
        "import sys; from napari_dlc_workbench.dlc.nets import available_nets; "
        "nets = available_nets(); print(','.join(nets)); "
        "print('deeplabcut' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    nets, imported = out.stdout.strip().splitlines()
    assert imported == "False False"
    assert DEFAULT_NET in nets.split(",")
    assert dlc_config_folder() is not None


def _dlc_models() -> tuple[list[str], dict[str, bool]]:
    from deeplabcut.pose_estimation_pytorch.config.utils import available_models, is_model_top_down

    models = available_models()
    return models, {m: is_model_top_down(m) for m in models if not m.startswith("ctd_")}


@pytest.mark.dlc
def test_same_list_as_dlc_available_models(in_child) -> None:
    models, top_down = in_child(_dlc_models)
    assert sorted(available_nets()) == sorted(models)
    for net, is_td in top_down.items():
        assert (net_method(net) == "top-down") == is_td, net
