"""The package is cheap to import and its napari manifest is valid."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["deeplabcut", "torch", "qtpy", "PySide6", "PyQt5", "napari", "cv2", "tables"]

PROBE = """
import json, sys
import napari_dlc_workbench
import napari_dlc_workbench.io.config, napari_dlc_workbench.io.labels
import napari_dlc_workbench.io.predictions, napari_dlc_workbench.model.keypoints
from npe2 import PluginManager
pm = PluginManager.instance()
pm.discover()
manifest = pm.get_manifest("napari-dlc-workbench")
print(json.dumps({"loaded": sorted(m for m in sys.modules if m.split(".")[0] in %r),
                  "name": manifest.name}))
"""


def test_import_and_discovery_load_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,)], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["name"] == "napari-dlc-workbench"
    assert result["loaded"] == []


def test_manifest_validates_with_imports() -> None:
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_distribution("napari-dlc-workbench")
    manifest.validate_imports()
    readers = {r.command for r in manifest.contributions.readers}
    assert readers == {"napari-dlc-workbench.get_reader"}
    assert manifest.contributions.writers[0].layer_types == ["points"]


def test_version_is_exposed() -> None:
    import napari_dlc_workbench

    assert napari_dlc_workbench.__version__ != "0+unknown"
