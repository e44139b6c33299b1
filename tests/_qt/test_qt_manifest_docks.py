"""Every dock the manifest lists opens from napari's Plugins menu machinery."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.napari

DOCKS = [
    "Seek-friendly copy",
    "Crop & contrast",
    "Labeling",
    "Training",
    "Evaluation",
    "Inference",
    "Trajectories",
    "Outliers",
]


def test_manifest_lists_each_dock_once() -> None:
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("napari-dlc-workbench")
    assert [w.display_name for w in manifest.contributions.widgets] == DOCKS


@pytest.mark.parametrize("name", DOCKS)
def test_dock_opens_in_a_viewer(make_napari_viewer, name: str, monkeypatch) -> None:
    # The Training and Inference docks probe torch in a child at start: not needed here.
    from napari_dlc_workbench._qt import _devices

    monkeypatch.setattr(_devices, "_PROBED", [([("cpu", "cpu")], "torch: not probed")])
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-dlc-workbench", name)
    assert dock.isVisible() or not viewer.window._qt_window.isVisible()
    assert widget is not None and type(widget).__module__.startswith("napari_dlc_workbench._qt.")
