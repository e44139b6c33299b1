"""napari-dlc-workbench: the whole DeepLabCut loop in one napari window.

Importing this package is cheap on purpose: it never imports deeplabcut, torch,
Qt or napari, so napari's plugin discovery and the command line stay fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-dlc-workbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
