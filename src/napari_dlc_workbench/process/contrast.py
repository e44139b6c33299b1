"""Contrast mappings fitted once per ROI and video, then applied to every frame without flicker.

The lab used ImageJ's *Process > Enhance Contrast* on its crops before training DeepLabCut, so
``"enhance"`` and ``"equalize"`` reproduce that command exactly for 8-bit and RGB images, from
ImageJ 1.54j's ``ij/plugin/ContrastEnhancer.java`` (github.com/imagej/ImageJ, commit
3b6281575d9db70ee33ad73a31193f561c45a6d4), ``getMinAndMax``, ``normalize`` and ``equalize``,
and the display-range tables of ``ij/process/ByteProcessor.java`` and ``ColorProcessor.java``.
The histogram is the sampled frames' summed histogram, as with ImageJ's *Use stack histogram*;
``"clahe"`` is local equalisation with fixed tile mappings (:mod:`.clahe`).

What ends up in exported pixels is always the stretched image the users saw:

* ``normalize=True`` bakes ImageJ's *Normalize* table into the pixels
  (``lut[i] = (int)((i - min) / (max - min) * 255)``);
* ``normalize=False`` bakes ImageJ's display range ``min..max`` the way ImageJ shows it and
  writes it into AVI files (the 8-bit palette is the display table):
  ``lut[i] = min(255, (int)(256.0 * (i - min) / (max - min)))``; the two differ by at most one
  grey level. RGB images have no *Normalize* in ImageJ and always get the display table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

import numpy as np

from napari_dlc_workbench.process import clahe

__all__ = [
    "ContrastMapping",
    "ContrastSettings",
    "Method",
    "equalize_lut",
    "fit_contrast",
    "gamma_lut",
    "luminance",
    "sample_indices",
    "stretch_lut",
    "stretch_range",
]

Method = Literal["none", "enhance", "equalize", "clahe"]
_METHODS: tuple[str, ...] = get_args(Method)
_IDENTITY = np.arange(256, dtype=np.uint8)


def _check_keys(data: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} key(s) {unknown}; expected some of {sorted(allowed)}")


@dataclass(frozen=True)
class ContrastSettings:
    """How to map intensities; the same settings give the same mapping for the same sample.

    Attributes
    ----------
    method : {"none", "enhance", "equalize", "clahe"}
        ``"enhance"``: ImageJ's linear stretch saturating ``saturated`` % of the pixels;
        ``"equalize"``: ImageJ's histogram equalisation; ``"clahe"``: local equalisation.
    saturated : float
        Percent of pixels allowed to saturate, half at each end, in ``[0, 50)`` (enhance only).
    normalize : bool
        Enhance on grey frames: ImageJ's *Normalize* table if true, else its display table.
    gamma : float
        Exponent applied after the method (ImageJ's *Math > Gamma*); ``1.0`` changes nothing.
    tiles : int
        CLAHE regions per side.
    clip_limit : float
        CLAHE clip limit in ``(0, 1]``, normalised like skimage's; ``1`` does not clip.
    sample_frames : int
        How many frames, spread over the video, the mapping is fitted on.
    classic_equalization : bool
        Equalize with the histogram itself instead of ImageJ's default square root of it
        (ImageJ's alt-key variant).
    """

    method: Method
    saturated: float = 0.35
    normalize: bool = True
    gamma: float = 1.0
    tiles: int = 8
    clip_limit: float = 0.01
    sample_frames: int = 30
    classic_equalization: bool = False

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"contrast method {self.method!r} is not one of {list(_METHODS)}")
        numbers = (int, float, np.integer, np.floating)
        for name, kind, accepted, what in [
            ("normalize", bool, (bool, np.bool_), "true or false"),
            ("classic_equalization", bool, (bool, np.bool_), "true or false"),
            ("saturated", float, numbers, "a number"),
            ("gamma", float, numbers, "a number"),
            ("clip_limit", float, numbers, "a number"),
            ("tiles", int, (int, np.integer), "a whole number"),
            ("sample_frames", int, (int, np.integer), "a whole number"),
        ]:
            value = getattr(self, name)
            if (kind is bool) != isinstance(value, (bool, np.bool_)) or not isinstance(
                value, accepted
            ):
                raise ValueError(f"{name} must be {what}, not {value!r}")
            object.__setattr__(self, name, kind(value))
        checks = [
            ("saturated", 0.0 <= self.saturated < 50.0, "in [0, 50) percent"),
            ("gamma", math.isfinite(self.gamma) and self.gamma > 0.0, "> 0"),
            ("tiles", self.tiles >= 1, ">= 1"),
            ("clip_limit", 0.0 < self.clip_limit <= 1.0, "in (0, 1]"),
            ("sample_frames", self.sample_frames >= 1, ">= 1"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name} must be {allowed}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-friendly dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContrastSettings:
        """Build settings from :meth:`to_dict` output; unknown keys are refused."""
        _check_keys(data, [f.name for f in fields(cls)], "contrast settings")
        if "method" not in data:
            raise ValueError("contrast settings need a 'method'")
        return cls(**data)


def stretch_range(histogram: np.ndarray, saturated: float) -> tuple[int, int]:
    """Find ImageJ's ``(hmin, hmax)`` for *Enhance Contrast* from a 256-bin histogram.

    Parameters
    ----------
    histogram : numpy.ndarray
        256 counts of grey values 0..255.
    saturated : float
        Percent of pixels to saturate, half at each end.

    Returns
    -------
    tuple of int
        ``hmin`` is the first bin where the running count from below exceeds
        ``threshold = (int)(pixelCount * saturated / 200.0)`` (255 if none does), ``hmax`` the
        first such bin from above (0 if none). ImageJ leaves the image alone unless
        ``hmax > hmin``.
    """
    hist = np.asarray(histogram, dtype=np.int64)
    # ImageJ: threshold = (int)(stats.pixelCount*saturated/200.0), truncated toward zero.
    threshold = int(int(hist.sum()) * saturated / 200.0) if saturated > 0.0 else 0
    # ImageJ's do-while loops stop at the first bin whose running count is > threshold,
    # and stop at the last bin (255 going up, 0 going down) when none is.
    up = np.flatnonzero(np.cumsum(hist) > threshold)
    down = np.flatnonzero(np.cumsum(hist[::-1]) > threshold)
    hmin = int(up[0]) if up.size else 255
    hmax = 255 - int(down[0]) if down.size else 0
    return hmin, hmax


def stretch_lut(hmin: int, hmax: int, normalize: bool) -> np.ndarray:
    """Return ImageJ's 8-bit table mapping ``hmin..hmax`` onto ``0..255`` (needs hmax > hmin).

    Parameters
    ----------
    hmin, hmax : int
        From :func:`stretch_range`.
    normalize : bool
        ``True``: ``ContrastEnhancer.normalize``; ``False``: the display table of
        ``ByteProcessor.setMinAndMax`` (identical to ``ColorProcessor``'s for whole numbers).

    Returns
    -------
    numpy.ndarray
        256 uint8 entries.
    """
    i = np.arange(256, dtype=np.float64)
    lo, hi = float(hmin), float(hmax)
    if normalize:
        # if (i<=min) 0; else if (i>=max) 255; else (int)(((double)(i-min)/(max-min))*max2)
        inner = np.trunc((i - lo) / (hi - lo) * 255.0)
        lut = np.where(i <= lo, 0.0, np.where(i >= hi, 255.0, inner))
    else:
        # if (i<min) 0; else if (i>max) 255; else index = (int)(256.0*(i-min)/(max-min)),
        # clipped to 0..255.
        inner = np.clip(np.trunc(256.0 * (i - lo) / (hi - lo)), 0.0, 255.0)
        lut = np.where(i < lo, 0.0, np.where(i > hi, 255.0, inner))
    return lut.astype(np.uint8)


def _java_round(x: float) -> int:
    # Math.round: nearest, ties toward +infinity; x - floor(x) is exact, x + 0.5 may not be.
    whole = math.floor(x)
    return whole + 1 if x - whole >= 0.5 else whole


def equalize_lut(histogram: np.ndarray, classic: bool = False) -> np.ndarray:
    """Return ImageJ's histogram-equalisation table (``ContrastEnhancer.equalize``).

    Parameters
    ----------
    histogram : numpy.ndarray
        256 counts, not all zero.
    classic : bool
        Weight bins by their counts; by default (ImageJ's) by the square root of counts >= 2.

    Returns
    -------
    numpy.ndarray
        256 uint8 entries; ``lut[0] = 0`` and ``lut[255] = 255`` as in ImageJ.
    """
    hist = [int(h) for h in np.asarray(histogram).ravel()]
    # getWeightedValue: if (h<2 || classicEqualization) return h; return Math.sqrt(h)
    weight = [float(h) if h < 2 or classic else math.sqrt(h) for h in hist]
    # Plain float loops, in ImageJ's order, so every rounding matches its doubles exactly:
    # sum = w[0] + 2*w[1] + ... + 2*w[254] + w[255]; scale = 255/sum;
    # lut[i] = Math.round((w[0] + 2*(w[1]+...+w[i-1]) + w[i]) * scale)
    total = weight[0]
    for i in range(1, 255):
        total += 2 * weight[i]
    total += weight[255]
    if total <= 0.0:
        raise ValueError("cannot equalise an empty histogram")
    scale = 255 / total
    lut = [0] * 256
    running = weight[0]
    for i in range(1, 255):
        running += weight[i]
        lut[i] = _java_round(running * scale)
        running += weight[i]
    lut[255] = 255
    return np.clip(np.array(lut), 0, 255).astype(np.uint8)


def gamma_lut(gamma: float) -> np.ndarray:
    """Return ImageJ's 8-bit gamma table, ``Math.round(exp(log(i/255.0)*gamma)*255.0)``."""
    with np.errstate(divide="ignore"):  # log(0) = -inf maps 0 to 0, as in Java
        values = np.exp(np.log(np.arange(256) / 255.0) * gamma) * 255.0
    return np.clip(np.floor(values + 0.5), 0, 255).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Return ImageJ's unweighted RGB brightness, ``(int)(r/3 + g/3 + b/3 + 0.5)``, as uint8.

    The same as ``(r + g + b + 1) // 3`` because thirds never land on a half.
    """
    total = rgb.astype(np.uint16).sum(axis=-1, dtype=np.uint16)
    return ((total + 1) // 3).astype(np.uint8)


def _grey_stack(frames: np.ndarray) -> np.ndarray:
    if frames.dtype != np.uint8:
        raise ValueError(f"contrast is fitted on uint8 frames, got {frames.dtype}")
    if frames.ndim == 4 and frames.shape[-1] == 3:
        return np.stack([luminance(f) for f in frames]) if len(frames) else frames[..., 0]
    if frames.ndim != 3:
        raise ValueError(
            f"expected frames shaped (n, height, width) or (n, height, width, 3), got {frames.shape}"
        )
    return frames


@dataclass(frozen=True, eq=False)
class ContrastMapping:
    """One fixed intensity mapping: fitted once, applied to every frame of a ROI's clip.

    Attributes
    ----------
    settings : ContrastSettings
        What was fitted.
    lut : numpy.ndarray
        256 uint8 entries applied last: the whole mapping for none/enhance/equalize (gamma
        included), the gamma table after the tile blend for CLAHE.
    tile_luts : numpy.ndarray or None
        CLAHE only: ``(tiles, tiles, 256)`` uint8 tables of the regions, row-major.
    shape : tuple of int or None
        CLAHE only: ``(height, width)`` of the frames the regions were laid on.
    display_range : tuple of int or None
        Enhance only: ImageJ's ``(hmin, hmax)``, or None when ImageJ would change nothing.
    frame_indices : tuple of int or None
        Which video frames the mapping was fitted on, if known (provenance).
    """

    settings: ContrastSettings
    lut: np.ndarray
    tile_luts: np.ndarray | None = None
    shape: tuple[int, int] | None = None
    display_range: tuple[int, int] | None = None
    frame_indices: tuple[int, ...] | None = None
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        lut = np.array(self.lut, dtype=np.int64).reshape(-1)
        if lut.shape != (256,) or lut.min() < 0 or lut.max() > 255:
            raise ValueError("a contrast lut needs 256 entries in 0..255")
        object.__setattr__(self, "lut", _frozen(lut.astype(np.uint8)))
        clahe_method = self.settings.method == "clahe"
        if clahe_method != (self.tile_luts is not None) or clahe_method != (self.shape is not None):
            raise ValueError("tile_luts and shape are given for, and only for, method 'clahe'")
        if self.tile_luts is not None and self.shape is not None:
            tiles = self.settings.tiles
            luts = np.array(self.tile_luts, dtype=np.int64)
            if luts.shape != (tiles, tiles, 256) or luts.min() < 0 or luts.max() > 255:
                raise ValueError(f"tile_luts must be ({tiles}, {tiles}, 256) values in 0..255")
            height, width = (int(s) for s in self.shape)
            for size in (height, width):  # raises if the frames are too small for the tiles
                clahe.tile_edges(size, tiles)
            object.__setattr__(self, "tile_luts", _frozen(luts.astype(np.uint8)))
            object.__setattr__(self, "shape", (height, width))
        if self.display_range is not None:
            object.__setattr__(self, "display_range", tuple(int(v) for v in self.display_range))
        if self.frame_indices is not None:
            object.__setattr__(self, "frame_indices", tuple(int(v) for v in self.frame_indices))

    @property
    def is_identity(self) -> bool:
        """True when :meth:`apply` returns the frame unchanged."""
        return self.tile_luts is None and bool(np.array_equal(self.lut, _IDENTITY))

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Map one frame; returns a new uint8 array of the same shape.

        Parameters
        ----------
        frame : numpy.ndarray
            ``(height, width)`` grey or ``(height, width, 3)`` RGB uint8 (any shape for the
            table-only methods). RGB channels all go through the same table(s), fitted on the
            luminance, as ImageJ does for RGB.
        """
        frame = np.asarray(frame)
        if frame.dtype != np.uint8:
            raise ValueError(f"contrast mappings apply to uint8 frames, got {frame.dtype}")
        if self.tile_luts is None:  # a table is pointwise: any shape will do
            return frame.copy() if self.is_identity else np.take(self.lut, frame)
        if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[-1] == 3)):
            raise ValueError(
                f"CLAHE maps (height, width) or (height, width, 3) frames, got {frame.shape}"
            )
        if frame.shape[:2] != self.shape:
            raise ValueError(
                f"this CLAHE mapping was fitted on {self.shape[0]}x{self.shape[1]} (h x w) "
                f"frames, got {frame.shape[0]}x{frame.shape[1]}"
            )
        if "grid" not in self._cache:  # built on first use: preview and export share it
            self._cache["luts"] = self.tile_luts.astype(np.float32).ravel()
            self._cache["grid"] = clahe.tile_grid(self.shape, self.settings.tiles)
        out = clahe.apply_tile_luts(frame, self._cache["luts"], self._cache["grid"])
        return out if np.array_equal(self.lut, _IDENTITY) else np.take(self.lut, out)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict, e.g. to save next to an exported clip."""
        return {
            "settings": self.settings.to_dict(),
            "lut": self.lut.tolist(),
            "tile_luts": None if self.tile_luts is None else self.tile_luts.tolist(),
            "shape": None if self.shape is None else list(self.shape),
            "display_range": None if self.display_range is None else list(self.display_range),
            "frame_indices": None if self.frame_indices is None else list(self.frame_indices),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContrastMapping:
        """Rebuild a mapping from :meth:`to_dict` output; unknown keys are refused."""
        names = [f.name for f in fields(cls) if f.init]
        _check_keys(data, names, "contrast mapping")
        missing = [name for name in ("settings", "lut") if name not in data]
        if missing:
            raise ValueError(f"contrast mapping is missing {missing}")
        kwargs = dict(data)
        kwargs["settings"] = ContrastSettings.from_dict(data["settings"])
        if kwargs.get("shape") is not None:
            kwargs["shape"] = tuple(kwargs["shape"])
        return cls(**kwargs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContrastMapping):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def fit_contrast(
    frames: np.ndarray,
    settings: ContrastSettings,
    *,
    frame_indices: Sequence[int] | None = None,
) -> ContrastMapping:
    """Fit one mapping on a sample of frames (see :func:`sample_indices`).

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, height, width)`` grey or ``(n, height, width, 3)`` RGB uint8, ``n >= 1``. The
        histogram is the sum over all ``n`` frames (RGB: of ImageJ's luminance).
    settings : ContrastSettings
        The method and its parameters.
    frame_indices : sequence of int, optional
        The frames' indices in the video, kept in the mapping for provenance.

    Returns
    -------
    ContrastMapping
        Fixed mapping; ``apply`` it to any frame of the same video and ROI.
    """
    frames = np.asarray(frames)
    grey = _grey_stack(frames)
    if grey.shape[0] == 0 or grey.shape[1] == 0 or grey.shape[2] == 0:
        raise ValueError(f"cannot fit contrast on an empty sample {grey.shape}")
    method, post = settings.method, gamma_lut(settings.gamma)
    extra: dict[str, Any] = {}
    if method == "clahe":
        hist = clahe.tile_histograms(grey, settings.tiles)
        extra["tile_luts"] = clahe.clipped_equalization_luts(hist, settings.clip_limit)
        extra["shape"] = grey.shape[1:]
        lut = post
    else:
        hist = np.zeros(256, dtype=np.int64)
        if method != "none":
            for frame in grey:  # per frame: bincount of the whole stack would copy it as intp
                hist += np.bincount(frame.ravel(), minlength=256)
        base = _IDENTITY
        if method == "equalize":
            base = equalize_lut(hist, classic=settings.classic_equalization)
        elif method == "enhance":
            hmin, hmax = stretch_range(hist, settings.saturated)
            if hmax > hmin:  # ImageJ changes nothing otherwise
                # RGB has no Normalize in ImageJ: ColorProcessor bakes its display table.
                rgb = frames.ndim == 4
                base = stretch_lut(hmin, hmax, normalize=settings.normalize and not rgb)
                extra["display_range"] = (hmin, hmax)
        lut = post[base]
    indices = None if frame_indices is None else tuple(frame_indices)
    return ContrastMapping(settings=settings, lut=lut, frame_indices=indices, **extra)


def sample_indices(n_frames: int, k: int) -> list[int]:
    """Return ``min(k, n_frames)`` distinct frame indices spread evenly over a video.

    Index ``i`` is the middle of the ``i``-th of ``k`` equal stretches of the video,
    ``(2 * i + 1) * n_frames // (2 * k)``: deterministic, sorted, distinct (the stretches are at
    least one frame long), and as even for small ``k`` as for large.
    """
    if n_frames < 1 or k < 1:
        raise ValueError(f"need n_frames >= 1 and k >= 1, got n_frames={n_frames}, k={k}")
    k = min(k, n_frames)
    return [(2 * i + 1) * n_frames // (2 * k) for i in range(k)]
