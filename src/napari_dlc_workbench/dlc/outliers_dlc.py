"""DLC 3's own outlier detection ("uncertain", "jump", "fitting"), for comparison.

``deeplabcut.extract_outlier_frames`` chooses frames and then extracts them into the
project in one call; there is no function that only says *which* frames. This module
runs that very function on a predictions DataFrame with the steps around the choice
replaced: the project config, the scorer lookup and the file reading feed it the given
predictions, and the extraction step records the frames instead of writing anything.
The choice itself (thresholds, the SARIMAX fits of "fitting", its fallback to the
``2 × numframes2pick`` most deviant frames) is DLC's code, with DLC's defaults unless
parameters are passed.

Run it in a child process (``dlc.runner`` with the job
``"napari_dlc_workbench.dlc.outliers_dlc:dlc_outlier_frames"``): it imports deeplabcut.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest import mock

from napari_dlc_workbench.dlc._env import import_deeplabcut

__all__ = ["DLC_METHODS", "dlc_defaults", "dlc_outlier_frames"]

DLC_METHODS: tuple[str, ...] = ("uncertain", "jump", "fitting")
_PARAMETERS = ("epsilon", "p_bound", "ARdegree", "MAdegree", "alpha")


def _outlier_module() -> types.ModuleType:
    import_deeplabcut()
    from deeplabcut.refine_training_dataset import outlier_frames

    return outlier_frames


def dlc_defaults() -> dict[str, Any]:
    """Return the default parameters of the installed DLC's ``extract_outlier_frames``.

    Returns
    -------
    dict
        ``epsilon``, ``p_bound``, ``ARdegree``, ``MAdegree``, ``alpha``, read from the
        function's signature (not copied), plus DLC's version.
    """
    module = _outlier_module()
    import deeplabcut

    signature = inspect.signature(module.extract_outlier_frames)
    out: dict[str, Any] = {name: signature.parameters[name].default for name in _PARAMETERS}
    out["deeplabcut"] = deeplabcut.__version__
    return out


def dlc_outlier_frames(
    predictions: str | os.PathLike[str],
    methods: Sequence[str] = DLC_METHODS,
    *,
    numframes2pick: int = 20,
    start: float = 0.0,
    stop: float = 1.0,
    comparisonbodyparts: str | Sequence[str] = "all",
    **parameters: Any,
) -> dict[str, Any]:
    """Frames DLC's ``extract_outlier_frames`` would pass on to frame extraction.

    Parameters
    ----------
    predictions : str or PathLike
        A predictions ``.h5`` (single-animal layout: ``scorer/bodyparts/coords``).
    methods : sequence of str
        Any of ``"uncertain"``, ``"jump"``, ``"fitting"``.
    numframes2pick : int
        The config value DLC's "fitting" fallback uses (``2 ×`` this many frames are
        taken when fewer exceed ``epsilon``).
    start, stop : float
        The config's part of the video.
    comparisonbodyparts : str or sequence of str
        DLC's parameter: ``"all"`` or bodypart names.
    **parameters
        ``epsilon``, ``p_bound``, ``ARdegree``, ``MAdegree``, ``alpha``; DLC's defaults
        otherwise.

    Returns
    -------
    dict
        ``defaults`` (DLC's), ``parameters`` (used), ``n_frames``, and per method
        ``{"frames": [...], "seconds": float}``.

    Raises
    ------
    ValueError
        For an unknown method or parameter.
    """
    import pandas as pd

    unknown = set(methods) - set(DLC_METHODS)
    if unknown:
        raise ValueError(f"unknown DLC outlier method(s) {sorted(unknown)}; use {DLC_METHODS}")
    if set(parameters) - set(_PARAMETERS):
        raise ValueError(f"unknown parameter(s) {sorted(set(parameters) - set(_PARAMETERS))}")
    module = _outlier_module()
    defaults = dlc_defaults()
    df = pd.read_hdf(predictions)
    bodyparts = list(dict.fromkeys(df.columns.get_level_values("bodyparts")))
    cfg = {
        "multianimalproject": False,
        "bodyparts": bodyparts,
        "start": start,
        "stop": stop,
        "numframes2pick": numframes2pick,
        "TrainingFraction": [0.95],
        "video_sets": {},
        "iteration": 0,
    }
    result: dict[str, Any] = {
        "defaults": defaults,
        "parameters": {name: parameters.get(name, defaults[name]) for name in _PARAMETERS},
        "n_frames": len(df),
    }
    with tempfile.TemporaryDirectory() as tmp:
        video = str(Path(tmp) / "video.mp4")
        cfg["project_path"] = tmp
        for method in methods:
            chosen: list[int] = []
            tick = time.perf_counter()
            with _dlc_sees(module, cfg, df, video, chosen):
                module.extract_outlier_frames(
                    str(Path(tmp) / "config.yaml"),
                    [video],
                    outlieralgorithm=method,
                    comparisonbodyparts=comparisonbodyparts,
                    automatic=True,
                    **parameters,
                )
            result[method] = {
                "frames": sorted(int(i) for i in chosen),
                "seconds": round(time.perf_counter() - tick, 4),
            }
    return result


def _dlc_sees(
    module: types.ModuleType, cfg: dict[str, Any], df: Any, video: str, chosen: list[int]
) -> Any:
    """Patch what ``extract_outlier_frames`` reads and writes; keep what it decides."""
    real = module.auxiliaryfunctions
    proxy = types.SimpleNamespace(
        **{name: getattr(real, name) for name in dir(real) if not name.startswith("__")}
    )
    proxy.read_config = lambda *_a, **_k: dict(cfg)
    proxy.get_scorer_name = lambda *_a, **_k: (str(df.columns[0][0]), str(df.columns[0][0]))
    proxy.load_analyzed_data = lambda *_a, **_k: (df.copy(), f"{video}.h5", "", "")
    proxy.load_video_metadata = lambda *_a, **_k: {"data": {"cropping": False}}

    def record(indices: Any, *_a: Any, **_k: Any) -> None:
        chosen.extend(int(i) for i in indices)

    stack = mock.patch.multiple(
        module,
        auxiliaryfunctions=proxy,
        collect_video_paths=lambda *_a, **_k: [video],
        ExtractFramesbasedonPreselection=record,
    )
    return stack
