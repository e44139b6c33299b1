"""Import deeplabcut the way every job here needs it: offline, quiet, no prompts."""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["import_deeplabcut"]


def import_deeplabcut() -> ModuleType:
    """Import and return ``deeplabcut`` with hub downloads made to fail fast.

    DLC 3 resolves pretrained weights through the Hugging Face hub; offline, the
    default is to retry for minutes. ``HF_HUB_OFFLINE=1`` makes any such attempt
    fail at once, so a missing weight file is reported instead of hanging.
    Users who want downloads set ``HF_HUB_OFFLINE=0`` themselves.

    Returns
    -------
    module
        The ``deeplabcut`` package.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import deeplabcut

    return deeplabcut
