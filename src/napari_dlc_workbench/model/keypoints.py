"""Keypoint tables: DLC's labels and predictions as plain numpy arrays.

DLC stores keypoints as a pandas DataFrame whose columns are a MultiIndex
``scorer/(individuals/)bodyparts/coords`` and whose rows are either image paths
(labels: ``("labeled-data", video_stem, "img0001.png")``) or frame numbers
(predictions). :class:`KeypointTable` holds the same numbers as one array
``rows × keypoints × (x, y, likelihood)`` plus the names needed to rebuild the
exact DataFrame, so the rest of the code works with numpy and never has to
guess column orders.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas costs ~0.3 s to import; only functions that need it load it
    import pandas as pd

__all__ = ["POINTS_FEATURES", "KeypointError", "KeypointTable", "RowKey", "natural_key"]

RowKey = Hashable
"""A row of a table: a tuple of path parts for labels, an ``int`` frame for predictions."""

POINTS_FEATURES = ("label", "id", "likelihood")
"""Feature names of a keypoints Points layer (napari-deeplabcut's convention)."""

_COORDS_XY = ("x", "y")
_COORDS_XYL = ("x", "y", "likelihood")


class KeypointError(ValueError):
    """A DataFrame or Points data that cannot be a DLC keypoint table."""


def natural_key(key: RowKey) -> tuple[Any, ...]:
    """Sort key that orders ``img2.png`` before ``img10.png`` (row keys or strings).

    Parameters
    ----------
    key : RowKey
        A path tuple, a string or a frame number.

    Returns
    -------
    tuple
        Comparable key: text and numbers alternate, so mixed names still compare.
    """
    text = "/".join(key) if isinstance(key, tuple) else str(key)
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text)
        if part
    )


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(eq=False)
class KeypointTable:
    """Keypoints of many rows (images or frames), exactly as DLC stores them.

    Parameters
    ----------
    scorer : str
        The ``scorer`` column level: the labeller's name for labels, the network
        name (``DLC_Resnet50_...``) for predictions.
    index : sequence of RowKey
        Row keys, in file order: tuples of path parts
        (``("labeled-data", "DSC_3189_#1", "img0042.png")``) or frame numbers.
    keypoints : sequence of (individual, bodypart)
        The keypoint columns in file order. Single-animal tables use ``""`` as
        individual and have ``multianimal=False``.
    data : ndarray, shape (n_rows, n_keypoints, 3)
        x, y and likelihood in pixels; NaN marks a missing point. Likelihood is
        NaN throughout when ``has_likelihood`` is False.
    has_likelihood : bool
        Whether the table has ``likelihood`` columns (predictions do, labels
        must not: a likelihood column in CollectedData breaks DLC's
        training-set creation).
    multianimal : bool
        Whether the columns carry an ``individuals`` level.
    """

    scorer: str
    index: list[RowKey]
    keypoints: list[tuple[str, str]]
    data: np.ndarray
    has_likelihood: bool = False
    multianimal: bool = False
    _positions: dict[tuple[str, str], int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = list(self.index)
        self.keypoints = [(str(i), str(b)) for i, b in self.keypoints]
        self.data = np.asarray(self.data, dtype=np.float64)
        expected = (len(self.index), len(self.keypoints), 3)
        if self.data.shape != expected:
            raise KeypointError(f"data has shape {self.data.shape}, expected {expected}")
        if len(set(self.keypoints)) != len(self.keypoints):
            raise KeypointError(f"a keypoint column appears twice: {self.keypoints}")
        if not self.multianimal and any(ind for ind, _ in self.keypoints):
            raise KeypointError("a single-animal table cannot name individuals")
        self._positions = {kp: i for i, kp in enumerate(self.keypoints)}

    # -- shape ---------------------------------------------------------------------------
    @property
    def individuals(self) -> tuple[str, ...]:
        """Individuals in column order (``("",)`` for single-animal tables)."""
        return _unique([ind for ind, _ in self.keypoints])

    @property
    def bodyparts(self) -> tuple[str, ...]:
        """Bodyparts in column order, unique bodyparts last as DLC writes them."""
        return _unique([bp for _, bp in self.keypoints])

    @property
    def xy(self) -> np.ndarray:
        """View of the coordinates, shape (n_rows, n_keypoints, 2)."""
        return self.data[..., :2]

    @property
    def likelihood(self) -> np.ndarray:
        """View of the likelihoods, shape (n_rows, n_keypoints)."""
        return self.data[..., 2]

    def __len__(self) -> int:
        return len(self.index)

    def column(self, bodypart: str, individual: str = "") -> int:
        """Position of a keypoint in the second axis of :attr:`data`.

        Parameters
        ----------
        bodypart : str
            Bodypart name.
        individual : str
            Individual name; ``""`` for single-animal tables.

        Returns
        -------
        int
            The column position.
        """
        try:
            return self._positions[(individual, bodypart)]
        except KeyError:
            raise KeyError(f"no keypoint {bodypart!r} for individual {individual!r}") from None

    def dense(self) -> np.ndarray:
        """Return an array ``rows × individuals × bodyparts × 3``.

        Pairs that do not exist (a unique bodypart for an animal) are NaN.

        Returns
        -------
        ndarray
            Shape ``(n_rows, len(individuals), len(bodyparts), 3)``.
        """
        inds = {name: i for i, name in enumerate(self.individuals)}
        bps = {name: i for i, name in enumerate(self.bodyparts)}
        out = np.full((len(self), len(inds), len(bps), 3), np.nan)
        for k, (ind, bp) in enumerate(self.keypoints):
            out[:, inds[ind], bps[bp]] = self.data[:, k]
        return out

    def equals(self, other: KeypointTable) -> bool:
        """Exact equality: names, order, and values with NaN in the same places."""
        return (
            self.scorer == other.scorer
            and self.index == other.index
            and self.keypoints == other.keypoints
            and self.has_likelihood == other.has_likelihood
            and self.multianimal == other.multianimal
            and np.array_equal(self.data, other.data, equal_nan=True)
        )

    def without_likelihood(self) -> KeypointTable:
        """Return a copy fit for ``CollectedData``: no likelihood columns."""
        data = self.data.copy()
        data[..., 2] = np.nan
        return KeypointTable(self.scorer, self.index, self.keypoints, data, False, self.multianimal)

    # -- pandas --------------------------------------------------------------------------
    @classmethod
    def from_dataframe(cls, df: pd.DataFrame) -> KeypointTable:
        """Build a table from a DLC DataFrame.

        Parameters
        ----------
        df : pandas.DataFrame
            Columns ``scorer/bodyparts/coords`` or
            ``scorer/individuals/bodyparts/coords``; rows as in DLC.

        Returns
        -------
        KeypointTable

        Raises
        ------
        KeypointError
            If the columns do not follow DLC's layout.
        """
        import pandas as pd

        cols = df.columns
        if not isinstance(cols, pd.MultiIndex) or cols.nlevels not in (3, 4):
            raise KeypointError(
                "columns must be a MultiIndex scorer/(individuals/)bodyparts/coords, got "
                f"{getattr(cols, 'names', None)}"
            )
        multianimal = cols.nlevels == 4
        scorers = _unique([str(s) for s in cols.get_level_values(0)])
        if len(scorers) != 1:
            raise KeypointError(f"expected one scorer, found {list(scorers)}")
        coords = _unique([str(c) for c in cols.get_level_values(-1)])
        if coords not in (_COORDS_XY, _COORDS_XYL):
            raise KeypointError(f"coords level must be x, y(, likelihood), got {list(coords)}")
        has_likelihood = coords == _COORDS_XYL
        inds = cols.get_level_values(1) if multianimal else [""] * len(cols)
        bps = cols.get_level_values(-2)
        keypoints = _unique(list(zip(map(str, inds), map(str, bps), strict=True)))
        values = df.to_numpy(dtype=np.float64, na_value=np.nan)
        lookup = {
            (str(i), str(b), str(c)): k
            for k, (i, b, c) in enumerate(zip(inds, bps, cols.get_level_values(-1), strict=True))
        }
        data = np.full((len(df), len(keypoints), 3), np.nan)
        for k, (ind, bp) in enumerate(keypoints):
            for c, coord in enumerate(coords):
                try:
                    data[:, k, c] = values[:, lookup[(ind, bp, coord)]]
                except KeyError:
                    raise KeypointError(
                        f"keypoint {ind!r}/{bp!r} has no {coord!r} column"
                    ) from None
        index = [tuple(map(str, key)) if isinstance(key, tuple) else key for key in df.index]
        return cls(scorers[0], index, list(keypoints), data, has_likelihood, multianimal)

    def columns(self) -> pd.MultiIndex:
        """Return the DLC column MultiIndex of this table."""
        import pandas as pd

        coords = _COORDS_XYL if self.has_likelihood else _COORDS_XY
        if self.multianimal:
            tuples = [(self.scorer, i, b, c) for i, b in self.keypoints for c in coords]
            names = ["scorer", "individuals", "bodyparts", "coords"]
        else:
            tuples = [(self.scorer, b, c) for _, b in self.keypoints for c in coords]
            names = ["scorer", "bodyparts", "coords"]
        return pd.MultiIndex.from_tuples(tuples, names=names)

    def row_index(self) -> pd.Index:
        """Return the DLC row index: a MultiIndex for path tuples, a plain index otherwise."""
        import pandas as pd

        if self.index and all(isinstance(k, tuple) for k in self.index):
            return pd.MultiIndex.from_tuples(self.index)
        return pd.Index(self.index)

    def to_dataframe(self) -> pd.DataFrame:
        """Rebuild the DLC DataFrame (same columns, index and float64 values).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        n_coords = 3 if self.has_likelihood else 2
        values = self.data[..., :n_coords].reshape(len(self), -1)
        return pd.DataFrame(values, index=self.row_index(), columns=self.columns())

    # -- napari Points -------------------------------------------------------------------
    def display_keys(self) -> list[RowKey]:
        """Row keys in the order napari shows them as frames.

        Returns
        -------
        list of RowKey
            Frame numbers as they are for predictions; image paths in natural
            order for labels (the order of the images in the folder).
        """
        if all(isinstance(k, (int, np.integer)) for k in self.index):
            return list(self.index)
        return sorted(self.index, key=natural_key)

    def frame_numbers(self, paths: Sequence[RowKey] | None = None) -> np.ndarray:
        """Map each row to a napari frame (the first axis of Points data).

        Parameters
        ----------
        paths : sequence of RowKey, optional
            The image stack's rows in display order. Defaults to integer row
            keys themselves (predictions) or the sorted row keys (labels, in natural order).

        Returns
        -------
        ndarray of int
            One frame number per row; -1 for rows missing from ``paths``.
        """
        if paths is None:
            if all(isinstance(k, (int, np.integer)) for k in self.index):
                return np.asarray(self.index, dtype=int)
            paths = self.display_keys()
        where = {key: i for i, key in enumerate(paths)}
        return np.array([where.get(key, -1) for key in self.index], dtype=int)

    def to_points(
        self, paths: Sequence[RowKey] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Points layer data ``[frame, y, x]`` and features, NaN points left out.

        Parameters
        ----------
        paths : sequence of RowKey, optional
            See :meth:`frame_numbers`.

        Returns
        -------
        data : ndarray, shape (n_points, 3)
            ``[frame, y, x]`` per visible point, ordered by row then keypoint.
        features : dict
            ``label`` (bodypart), ``id`` (individual), ``likelihood`` (1.0 for
            labels) arrays aligned with ``data``.
        """
        frames = self.frame_numbers(paths)
        rows, kps = np.nonzero(np.isfinite(self.xy).all(axis=2) & (frames >= 0)[:, None])
        data = np.column_stack(
            [frames[rows], self.data[rows, kps, 1], self.data[rows, kps, 0]]
        ).astype(np.float64)
        likelihood = self.data[rows, kps, 2] if self.has_likelihood else np.ones(len(rows))
        features = {
            "label": np.array([self.keypoints[k][1] for k in kps], dtype=object),
            "id": np.array([self.keypoints[k][0] for k in kps], dtype=object),
            "likelihood": np.asarray(likelihood, dtype=np.float64),
        }
        return data.reshape(-1, 3), features

    @classmethod
    def from_points(
        cls,
        data: np.ndarray,
        features: dict[str, Any],
        *,
        scorer: str,
        keypoints: Sequence[tuple[str, str]],
        paths: Sequence[RowKey],
        multianimal: bool = False,
        has_likelihood: bool = False,
        keep_empty_rows: bool = False,
    ) -> KeypointTable:
        """Build a table from Points layer data, the inverse of :meth:`to_points`.

        Parameters
        ----------
        data : ndarray, shape (n_points, 3)
            ``[frame, y, x]``.
        features : dict or DataFrame
            At least ``label``; ``id`` for multi-animal; ``likelihood`` if
            ``has_likelihood``.
        scorer : str
            Scorer of the table.
        keypoints : sequence of (individual, bodypart)
            Column order (from the config or the file the layer came from).
        paths : sequence of RowKey
            Row key of each frame number (``paths[frame]``).
        multianimal, has_likelihood : bool
            Column layout of the result.
        keep_empty_rows : bool
            Keep frames without any point as all-NaN rows (DLC keeps rows of
            images that were extracted but not labelled yet).

        Returns
        -------
        KeypointTable

        Raises
        ------
        KeypointError
            For a point with an unknown bodypart/individual, a frame outside
            ``paths``, or two points for the same keypoint on one frame.
        """
        data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
        labels = [str(v) for v in np.asarray(features["label"], dtype=object)]
        if multianimal:
            ids = [str(v) for v in np.asarray(features["id"], dtype=object)]
        else:
            ids = [""] * len(labels)
        if len(labels) != len(data) or len(ids) != len(data):
            raise KeypointError("features and data have different lengths")
        likelihood = (
            np.asarray(features["likelihood"], dtype=np.float64)
            if has_likelihood
            else np.full(len(data), np.nan)
        )
        frames = np.rint(data[:, 0]).astype(int) if len(data) else np.zeros(0, dtype=int)
        bad = (frames < 0) | (frames >= len(paths))
        if bad.any():
            raise KeypointError(f"point on frame {frames[bad][0]} but only {len(paths)} frames")
        used = sorted(range(len(paths))) if keep_empty_rows else sorted(set(frames.tolist()))
        row_of = {f: r for r, f in enumerate(used)}
        positions = {(str(i), str(b)): k for k, (i, b) in enumerate(keypoints)}
        out = np.full((len(used), len(positions), 3), np.nan)
        for n, (frame, ind, bp) in enumerate(zip(frames, ids, labels, strict=True)):
            k = positions.get((ind, bp))
            if k is None:
                raise KeypointError(
                    f"point {n} is {ind + '/' if ind else ''}{bp!r}: not in the config"
                )
            r = row_of[frame]
            if np.isfinite(out[r, k, 0]):
                raise KeypointError(f"{bp!r} is placed twice on frame {frame} ({paths[frame]})")
            out[r, k] = (data[n, 2], data[n, 1], likelihood[n])
        return cls(
            scorer, [paths[f] for f in used], list(positions), out, has_likelihood, multianimal
        )
