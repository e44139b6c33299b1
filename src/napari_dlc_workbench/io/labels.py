"""Read and write DLC's ``CollectedData_<scorer>.h5/.csv`` exactly as DLC 3 does.

DLC writes labels with ``df.to_hdf(path, key="df_with_missing", mode="w")``
and a ``.csv`` twin from ``df.to_csv``. Rows are indexed by the image path
split into a tuple ``("labeled-data", video_stem, "img0042.png")`` (older
projects used the joined string), columns by ``scorer/bodyparts/coords`` or,
for multi-animal projects, ``scorer/individuals/bodyparts/coords``. Labels
never carry a likelihood column: DLC's training-set creation breaks on one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_dlc_workbench.io.atomic import atomic_path
from napari_dlc_workbench.model.keypoints import KeypointError, KeypointTable
from napari_dlc_workbench.model.project import Project

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DLC_HDF_KEY",
    "LabelsError",
    "check_against_config",
    "dropped_points",
    "keypoint_differences",
    "labels_paths",
    "read_hdf_frame",
    "read_labels",
    "read_table",
    "write_labels",
]

DLC_HDF_KEY = "df_with_missing"


class LabelsError(ValueError):
    """A labels or predictions file that cannot be used, with the file named.

    Parameters
    ----------
    path : PathLike
        The file concerned.
    problem : str
        What is wrong, in words a user can act on.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def labels_paths(folder: str | os.PathLike[str], scorer: str) -> tuple[Path, Path]:
    """Return the ``.h5`` and ``.csv`` paths of a labeled-data folder's labels.

    Parameters
    ----------
    folder : str or PathLike
        ``labeled-data/<video_stem>``.
    scorer : str
        The project's scorer (``config.yaml``).

    Returns
    -------
    tuple of Path
        ``CollectedData_<scorer>.h5`` and ``CollectedData_<scorer>.csv``.
    """
    folder = Path(folder)
    return folder / f"CollectedData_{scorer}.h5", folder / f"CollectedData_{scorer}.csv"


def read_hdf_frame(path: str | os.PathLike[str], preferred: Sequence[str] = ()) -> pd.DataFrame:
    """Read the DataFrame stored in a DLC ``.h5`` file, whatever its key.

    DLC uses ``df_with_missing``; older labels use ``calib`` or ``keypoints``,
    multi-animal predictions ``tracks`` or ``df``. A file with one key is read
    under it; with several, the first of ``preferred`` present wins.

    Parameters
    ----------
    path : str or PathLike
        The ``.h5`` file.
    preferred : sequence of str
        Keys to choose among several, in order of preference.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    LabelsError
        If the file is missing, empty, truncated, not HDF5, holds no table or
        holds several without a preferred one.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise LabelsError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise LabelsError(path, "file is empty (0 bytes): an interrupted save?")
    try:
        with pd.HDFStore(path, mode="r") as store:
            keys = [k.lstrip("/") for k in store.keys()]  # noqa: SIM118 - HDFStore iterates differently
            if not keys:
                raise LabelsError(path, "HDF5 file holds no table")
            chosen = next((k for k in preferred if k in keys), None)
            if chosen is None:
                if len(keys) > 1:
                    raise LabelsError(
                        path, f"HDF5 file holds several tables {keys}; expected {DLC_HDF_KEY!r}"
                    )
                chosen = keys[0]
            df = store.get(chosen)
    except LabelsError:
        raise
    except Exception as exc:  # tables raises HDF5ExtError, OSError, ValueError...
        raise LabelsError(path, f"not a readable HDF5 table ({type(exc).__name__}: {exc})") from exc
    if not isinstance(df, pd.DataFrame):
        raise LabelsError(path, f"HDF5 key holds a {type(df).__name__}, not a DataFrame")
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        with path.open(encoding="utf-8", newline="") as fh:
            head = [fh.readline() for _ in range(5)]
    except UnicodeDecodeError as exc:
        raise LabelsError(path, "not UTF-8 text") from exc
    if not head[0].startswith("scorer,"):
        raise LabelsError(path, "not a DLC labels CSV: the first line must start with 'scorer,'")
    n_header = 4 if head[1].startswith("individuals,") else 3
    # The header rows carry one empty cell per extra index column, which is how
    # DLC's own CSVs tell a 3-part path index from a joined-string index.
    first = head[0].rstrip("\r\n").split(",")
    n_index = 1 + next((i for i, v in enumerate(first[1:]) if v), 0)
    try:
        return pd.read_csv(
            path,
            header=list(range(n_header)),
            index_col=list(range(n_index)),
            encoding="utf-8",
            float_precision="round_trip",
        )
    except Exception as exc:
        raise LabelsError(path, f"cannot parse CSV ({exc})") from exc


def _normalise_index(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    index = df.index
    if isinstance(index, pd.MultiIndex):
        if all(
            level.dtype == object and all(isinstance(v, str) for v in level)
            for level in index.levels
        ):
            return df  # already DLC's tuples of strings: rebuilding 20k tuples costs 50 ms
        keys = [tuple(str(part) for part in key) for key in index]
    elif len(index) and all(isinstance(k, str) for k in index):
        keys = [tuple(k.replace("\\", "/").split("/")) for k in index]
    else:
        return df
    return df.set_axis(pd.MultiIndex.from_tuples(keys), axis=0)


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a DLC keypoints file (``.h5`` or ``.csv``) into a DLC DataFrame.

    Parameters
    ----------
    path : str or PathLike
        ``CollectedData_*.h5/.csv`` or a predictions ``.h5``.

    Returns
    -------
    pandas.DataFrame
        float64 values, column MultiIndex with DLC's level names, and path
        rows as tuples (``guarantee_multiindex_rows`` in DLC's terms).

    Raises
    ------
    LabelsError
        If the file is unreadable or not in DLC's layout.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".h5":
        df = read_hdf_frame(path, preferred=(DLC_HDF_KEY,))
    elif suffix == ".csv":
        if not path.is_file():
            raise LabelsError(path, "file does not exist")
        df = _read_csv(path)
    else:
        raise LabelsError(path, "expected a .h5 or .csv file")
    try:
        table = KeypointTable.from_dataframe(df)
    except KeypointError as exc:
        raise LabelsError(path, f"not in DLC's keypoint layout: {exc}") from exc
    # Same rows in the same order: keep the file's own index instead of rebuilding it.
    return _normalise_index(table.to_dataframe().set_axis(df.index, axis=0))


def read_labels(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``CollectedData_<scorer>.h5`` or ``.csv`` as DLC would.

    Parameters
    ----------
    path : str or PathLike
        The labels file.

    Returns
    -------
    pandas.DataFrame
        In DLC layout (see :func:`read_table`).

    Raises
    ------
    LabelsError
        If the file is unreadable, not in DLC's layout, or carries a
        likelihood column (those are predictions, not labels).
    """
    df = read_table(path)
    if "likelihood" in df.columns.get_level_values(-1):
        raise LabelsError(path, "has a likelihood column: it holds predictions, not human labels")
    return df


def check_against_config(
    df: pd.DataFrame, cfg: Mapping[str, Any], path: str | os.PathLike[str]
) -> None:
    """Check that a labels DataFrame has exactly the config's keypoints.

    Parameters
    ----------
    df : pandas.DataFrame
        Labels in DLC layout.
    cfg : Mapping
        The project's configuration.
    path : str or PathLike
        The file the labels belong to, for the message.

    Raises
    ------
    LabelsError
        Listing the keypoints missing from the file and those the config lacks.
    """
    project = Project.from_config(cfg, path)
    expected, multianimal = project.keypoints, project.multianimal
    table = KeypointTable.from_dataframe(df)
    if table.multianimal != multianimal:
        kinds = ("multi-animal", "single-animal")
        raise LabelsError(
            path,
            f"labels are {kinds[not table.multianimal]} but the project is "
            f"{kinds[not multianimal]}",
        )
    if problems := keypoint_differences(table.keypoints, expected):
        raise LabelsError(path, f"bodyparts do not match the config ({problems})")


def keypoint_differences(have: Iterable[tuple[str, str]], want: Iterable[tuple[str, str]]) -> str:
    """Say which ``(individual, bodypart)`` keypoints differ; ``""`` when none do.

    Parameters
    ----------
    have : iterable of (str, str)
        The file's keypoints.
    want : iterable of (str, str)
        The config's keypoints.

    Returns
    -------
    str
        ``"missing a, b; not in config.yaml: c"`` (``individual/bodypart`` for
        multi-animal keypoints), or ``""``.
    """
    have, want = set(have), set(want)

    def names(pairs: set[tuple[str, str]]) -> str:
        return ", ".join(sorted(f"{i}/{b}" if i else b for i, b in pairs))

    problems = []
    if want - have:
        problems.append(f"missing {names(want - have)}")
    if have - want:
        problems.append(f"not in config.yaml: {names(have - want)}")
    return "; ".join(problems)


def dropped_points(df: pd.DataFrame, existing: str | os.PathLike[str]) -> list[str]:
    """List the labelled points on disk that saving ``df`` would remove.

    A save that drops labels (fewer points than on disk) must be confirmed by
    the user; this says which ones, as ``"img0042.png: mouth"`` (with the
    individual for multi-animal projects).

    Parameters
    ----------
    df : pandas.DataFrame
        The labels about to be written.
    existing : str or PathLike
        The ``CollectedData_<scorer>.h5`` (or ``.csv``) currently on disk; a
        missing file drops nothing.

    Returns
    -------
    list of str
        One entry per point present on disk and missing from ``df``.
    """
    existing = Path(existing)
    if not existing.exists():
        return []
    old = KeypointTable.from_dataframe(read_labels(existing))
    new = KeypointTable.from_dataframe(df)
    new_rows = {key: i for i, key in enumerate(new.index)}
    new_cols = {kp: k for k, kp in enumerate(new.keypoints)}
    lost = []
    for r, key in enumerate(old.index):
        for k, (ind, bp) in enumerate(old.keypoints):
            if not np.isfinite(old.xy[r, k]).all():
                continue
            nr, nk = new_rows.get(key), new_cols.get((ind, bp))
            if nr is None or nk is None or not np.isfinite(new.xy[nr, nk]).all():
                image = key[-1] if isinstance(key, tuple) else str(key)
                lost.append(f"{image}: {ind + '/' if ind else ''}{bp}")
    return lost


def write_labels(
    df: pd.DataFrame, folder: str | os.PathLike[str], scorer: str, *, keep_backups: int = 10
) -> tuple[Path, Path]:
    """Write labels as ``CollectedData_<scorer>.h5`` and ``.csv``, atomically.

    Parameters
    ----------
    df : pandas.DataFrame
        Labels in DLC layout. Likelihood columns are dropped, the scorer level
        is set to ``scorer``, string paths become DLC's tuples, values float64.
    folder : str or PathLike
        ``labeled-data/<video_stem>``; must exist.
    scorer : str
        The project's scorer.
    keep_backups : int
        Timestamped backups of the previous files to keep.

    Returns
    -------
    tuple of Path
        The ``.h5`` and ``.csv`` written.

    Raises
    ------
    LabelsError
        If the DataFrame is not in DLC's layout, rows are not image paths, or
        an image appears twice; nothing is written then.
    """
    folder = Path(folder)
    h5_path, csv_path = labels_paths(folder, scorer)
    try:
        table = KeypointTable.from_dataframe(df)
    except KeypointError as exc:
        raise LabelsError(h5_path, f"refusing to write: {exc}") from exc
    table = table.without_likelihood()
    table.scorer = scorer
    out = _normalise_index(table.to_dataframe())
    if not all(isinstance(key, tuple) for key in out.index):
        raise LabelsError(h5_path, "refusing to write: rows must be image paths, not frame numbers")
    if out.index.has_duplicates:
        dup = out.index[out.index.duplicated()][0]
        raise LabelsError(h5_path, f"refusing to write: image {'/'.join(dup)} appears twice")
    if not folder.is_dir():
        raise LabelsError(h5_path, f"folder {folder} does not exist")
    # The .h5 is what DLC reads, so it is written last: if the process dies in
    # between, the file DLC trusts is still the previous complete version.
    with atomic_path(csv_path, keep_backups=keep_backups) as tmp:
        out.to_csv(tmp)
    with atomic_path(h5_path, keep_backups=keep_backups) as tmp:
        out.to_hdf(tmp, key=DLC_HDF_KEY, mode="w")
    return h5_path, csv_path
