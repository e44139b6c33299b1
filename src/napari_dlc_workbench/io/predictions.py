"""Read DLC's video predictions ``<video>DLC_<scorer>.h5`` (+ ``_meta.pickle``).

``analyze_videos`` writes one row per frame (integer index), columns
``scorer/(individuals/)bodyparts/coords`` with ``x, y, likelihood``, under the
HDF key ``df_with_missing``; tracklet stitching writes ``tracks`` or ``df``
for multi-animal projects. Beside it, ``_meta.pickle`` holds the fps, frame
size and cropping used: the coordinates of a cropped analysis live in crop
space, so the crop offset must be known to draw them on the full video.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_dlc_workbench.io.labels import DLC_HDF_KEY, LabelsError, read_hdf_frame
from napari_dlc_workbench.model.keypoints import KeypointError, KeypointTable

__all__ = [
    "Predictions",
    "ScorerName",
    "find_meta",
    "parse_scorer",
    "read_meta",
    "read_predictions",
    "split_prediction_name",
]

_SCORER_RE = re.compile(
    r"""^DLC_?(?P<net>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*?)_
        (?P<project>.+?)
        shuffle(?P<shuffle>\d+)
        (?:_detector_(?P<detector>(?:best-)?\d+))?
        (?:_snapshot_(?P<snapshot>(?:best-)?\d+))?
        $""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class ScorerName:
    """The parts of a DLC scorer name, as far as they could be recognised.

    Attributes
    ----------
    raw : str
        The full scorer, e.g. ``DLC_Resnet50_Cladonema_starvedJun13shuffle1_snapshot_110``.
    net : str or None
        Network as DLC capitalises it (``Resnet50``, ``CspnextS``).
    project : str or None
        Task and date (``Cladonema_starvedJun13``).
    shuffle : int or None
        Shuffle number.
    snapshot : str or None
        Snapshot id: ``"110"`` or ``"best-50"``.
    detector : str or None
        Detector snapshot id for top-down models.
    """

    raw: str
    net: str | None = None
    project: str | None = None
    shuffle: int | None = None
    snapshot: str | None = None
    detector: str | None = None

    @property
    def snapshot_epoch(self) -> int | None:
        """Epoch of the pose snapshot, or None when unknown."""
        if self.snapshot is None:
            return None
        return int(self.snapshot.removeprefix("best-"))

    @property
    def is_best(self) -> bool:
        """Whether the best (not last) snapshot produced these predictions."""
        return bool(self.snapshot and self.snapshot.startswith("best-"))


def parse_scorer(scorer: str) -> ScorerName:
    """Parse a DLC scorer name leniently.

    Names from DLC 2 (``DLC_resnet50_openfieldOct30shuffle1_1030000``), DLC 3
    (``..._snapshot_010``, ``..._snapshot_best-50``) and top-down models
    (``..._detector_best-90_snapshot_080``) are recognised; anything else
    gives a :class:`ScorerName` with only ``raw`` set instead of an error.

    Parameters
    ----------
    scorer : str
        The scorer level of a predictions file, or its file-name part.

    Returns
    -------
    ScorerName
    """
    match = _SCORER_RE.match(scorer)
    if match is None:
        legacy = re.match(r"^DLC_?(?P<net>[a-z]+\d*)_(?P<project>.+?)shuffle(\d+)_(\d+)$", scorer)
        if legacy is None:
            return ScorerName(scorer)
        return ScorerName(scorer, legacy["net"], legacy["project"], int(legacy[3]), legacy[4], None)
    return ScorerName(
        raw=scorer,
        net=match["net"],
        project=match["project"],
        shuffle=int(match["shuffle"]),
        snapshot=match["snapshot"],
        detector=match["detector"],
    )


def split_prediction_name(path: str | os.PathLike[str]) -> tuple[str, str] | None:
    """Split ``<video_stem>DLC_<...>.h5`` into the video stem and the scorer.

    Parameters
    ----------
    path : str or PathLike
        A predictions file (``.h5``, ``.csv`` or ``_meta.pickle``).

    Returns
    -------
    tuple of str or None
        ``(video_stem, scorer)``, or None if the name has no ``DLC_`` part.
    """
    name = Path(path).name
    for suffix in ("_meta.pickle", "_filtered.h5", ".h5", "_filtered.csv", ".csv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    # rfind: users' video names may themselves contain "DLC".
    cut = name.rfind("DLC_")
    if cut <= 0:
        return None
    return name[:cut], name[cut:]


def find_meta(path: str | os.PathLike[str]) -> Path | None:
    """Return the ``_meta.pickle`` written beside a predictions file, if any."""
    path = Path(path)
    stem = path.name.removesuffix(".h5").removesuffix("_filtered")
    for candidate in (path.with_name(f"{stem}_meta.pickle"),):
        if candidate.is_file():
            return candidate
    return None


# Callables under the allowed modules that could still run code.
_FORBIDDEN = {("builtins", n) for n in ("eval", "exec", "compile", "open", "getattr", "__import__")}


class _DlcValue(str):
    """Stand-in for DLC's own classes in a meta file (its enums: ``NetType``, ``MethodType``).

    Unpickling calls it with the enum's value, so the value is what is kept; no DLC
    code is imported or run to read a meta file.
    """

    def __new__(cls, *args: Any) -> _DlcValue:
        return super().__new__(cls, args[0] if args else "")

    def __setstate__(self, state: Any) -> None:
        """Ignore object state: only the value matters."""


class _MetaUnpickler(pickle.Unpickler):
    # The meta file holds plain Python and numpy values plus DLC's enums; refusing
    # anything else means a tampered pickle cannot run code when a user opens a file.
    _ALLOWED = ("builtins", "collections", "numpy", "pathlib", "datetime")

    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if root in self._ALLOWED and (root, name) not in _FORBIDDEN:
            return super().find_class(module, name)
        if root == "deeplabcut":
            return _DlcValue
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a meta file")


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read DLC's ``_meta.pickle`` and return its ``data`` dict.

    Parameters
    ----------
    path : str or PathLike
        The ``_meta.pickle`` file.

    Returns
    -------
    dict
        fps, frame_dimensions, nframes, cropping, cropping_parameters, ...

    Raises
    ------
    LabelsError
        If the file cannot be read as a DLC meta file.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            meta = _MetaUnpickler(fh).load()
    except Exception as exc:
        raise LabelsError(path, f"not a readable DLC meta file ({exc})") from exc
    if not isinstance(meta, dict):
        raise LabelsError(path, "meta file does not hold a dict")
    data = meta.get("data", meta)
    return dict(data) if isinstance(data, dict) else {}


@dataclass(eq=False)
class Predictions:
    """Predictions of one video by one network.

    Attributes
    ----------
    path : Path
        The ``.h5`` file.
    table : KeypointTable
        One row per frame (index = frame number), x/y/likelihood.
    scorer : ScorerName
        The parsed scorer.
    video_stem : str or None
        Stem of the analysed video, from the file name.
    meta : dict
        Contents of ``_meta.pickle`` (empty if there was none).
    """

    path: Path
    table: KeypointTable
    scorer: ScorerName
    video_stem: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def crop_offset(self) -> tuple[float, float]:
        """``(x1, y1)`` to add to coordinates to place them on the full frame."""
        if self.meta.get("cropping") and self.meta.get("cropping_parameters"):
            x1, _, y1, _ = self.meta["cropping_parameters"]
            return float(x1), float(y1)
        return 0.0, 0.0

    @property
    def fps(self) -> float | None:
        """Frame rate recorded by DLC, if known."""
        fps = self.meta.get("fps")
        return float(fps) if fps else None


def read_predictions(path: str | os.PathLike[str]) -> Predictions:
    """Read a DLC predictions ``.h5`` into a :class:`Predictions`.

    Parameters
    ----------
    path : str or PathLike
        ``<video>DLC_<scorer>.h5`` (also ``_filtered.h5``, ``_el.h5`` tracks).
        Any single HDF key is accepted; with several, ``df_with_missing``,
        ``tracks`` and ``df`` are preferred in that order.

    Returns
    -------
    Predictions

    Raises
    ------
    LabelsError
        If the file is unreadable, not DLC's layout, lacks likelihood, or its
        rows are not frame numbers.
    """
    path = Path(path)
    df = read_hdf_frame(path, preferred=(DLC_HDF_KEY, "tracks", "df"))
    try:
        table = KeypointTable.from_dataframe(df)
    except KeypointError as exc:
        raise LabelsError(path, f"not in DLC's keypoint layout: {exc}") from exc
    if not table.has_likelihood:
        raise LabelsError(path, "has no likelihood column: these are labels, not predictions")
    try:
        table.index = [int(i) for i in table.index]
    except (TypeError, ValueError):
        raise LabelsError(path, "rows are not frame numbers: is this a labels file?") from None
    meta: dict[str, Any] = {}
    meta_path = find_meta(path)
    if meta_path is not None:
        try:
            meta = read_meta(meta_path)
        except LabelsError as exc:
            warnings.warn(f"ignoring meta file: {exc}", stacklevel=2)
    parts = split_prediction_name(path)
    return Predictions(
        path=path,
        table=table,
        scorer=parse_scorer(table.scorer),
        video_stem=parts[0] if parts else None,
        meta=meta,
    )
