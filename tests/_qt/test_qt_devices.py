"""The device probe the Training and Inference docks share, and the config file dialog."""

from __future__ import annotations

from pathlib import Path

import pytest
from qtpy import QtWidgets as qw

from napari_dlc_workbench._qt import _devices, _forms
from napari_dlc_workbench._qt._inference_jobs import Failure

pytestmark = pytest.mark.napari

PROBED = ([("auto", "auto"), ("cpu", "cpu"), ("cuda:0 (H200)", "cuda:0")], "torch: 2.5")


def test_one_probe_for_every_dock_asking(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(_devices, "_PROBED", [])
    monkeypatch.setattr(_devices, "_WAITING", [])
    monkeypatch.setattr(_devices, "probe_devices", lambda: calls.append(1) or PROBED)
    got: list = []
    _devices.probe_devices_once(got.append)
    _devices.probe_devices_once(got.append)  # a second dock while the probe runs
    qtbot.waitUntil(lambda: len(got) == 2)
    _devices.probe_devices_once(got.append)  # later: the remembered answer, at once
    assert got == [PROBED] * 3 and calls == [1]


def test_a_failed_probe_is_said_and_not_kept(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise RuntimeError("torch is broken")

    monkeypatch.setattr(_devices, "_PROBED", [])
    monkeypatch.setattr(_devices, "_WAITING", [])
    monkeypatch.setattr(_devices, "probe_devices", fail)
    box, label = qw.QComboBox(), qw.QLabel()
    _devices.set_choices(box, [("auto", "auto"), ("cpu", "cpu")])
    box.setCurrentIndex(1)
    got: list = []
    _devices.probe_devices_once(got.append)
    qtbot.waitUntil(lambda: bool(got))
    assert isinstance(got[0], Failure) and _devices._PROBED == []
    assert _devices.show_probe(box, label, got[0]) == "torch is broken"
    assert label.text() == "doctor could not probe torch: torch is broken"
    # A probe that answers keeps the device chosen before.
    assert _devices.show_probe(box, label, PROBED) == "torch: 2.5"
    assert box.count() == 3 and box.currentData() == "cpu"
    assert label.text() == "doctor: torch: 2.5"


def test_pick_config(qtbot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    asked = []

    def dialog(parent, title, start, pattern):
        asked.append((title, start, pattern))
        return answer, pattern

    monkeypatch.setattr(qw.QFileDialog, "getOpenFileName", staticmethod(dialog))
    parent = qw.QWidget()
    qtbot.addWidget(parent)
    answer = str(tmp_path / "config.yaml")
    assert _forms.pick_config(parent, "/p/config.yaml") == tmp_path / "config.yaml"
    answer = ""  # cancelled
    assert _forms.pick_config(parent) is None
    assert asked[0] == (
        "DLC project config",
        "/p/config.yaml",
        "config.yaml (config.yaml config.yml)",
    )
    assert asked[1][1] == ""
