"""A deterministic, synthetic DSLR recording of Cladonema jellyfish in a well plate.

Everything here is pure numpy and free of I/O. A :class:`SampleSpec` fixes the whole
recording; :func:`render_frame` draws any single frame from the spec alone, so lazy
readers and benchmarks can jump to any frame, and :func:`ground_truth` gives the exact
keypoints the renderer drew. Coordinates are float pixels, x right, y down, with pixel
centres at integer coordinates.
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np

from ._draw import (
    BELL_R,
    MOUTH_R,
    Track,
    bell_radius,
    draw_body,
    draw_tentacles,
    prey_radius,
    unit,
)

BODYPARTS: tuple[str, ...] = ("manubrium_base", "mouth", "prey", "tentacle_base")

# Independent random streams, so that e.g. changing the layout never changes the animals.
_LAYOUT, _ANIMALS, _FRAME = 1, 2, 3
_MAX_TENTACLES = 16
# Dish radius and animal drift radius as fractions of well_size and of the dish radius.
_DISH_R, _DRIFT_R = 0.46, 0.3


@dataclass(frozen=True)
class SampleSpec:
    """Everything that determines a synthetic recording; the defaults are the full size.

    Parameters
    ----------
    width, height : int
        Frame size in pixels.
    n_frames : int
        Number of frames.
    fps : float
        Frame rate; 29.97 is written to video as exactly 30000/1001.
    n_wells : int
        Number of wells, one jellyfish each, laid out like a well plate.
    well_size : int
        Side of the square region of interest around each well, in pixels.
    seed : int
        Seed of every random choice; the same spec always renders the same pixels.
    noise_sigma : float
        Standard deviation of the per-frame Gaussian sensor noise, in grey levels.
    background : float
        Mean grey level of the (vignetted) background.
    contrast : float
        Multiplies every animal amplitude; 0 renders empty wells with identical noise.
    vignetting : float
        Fractional darkening in the frame corners.
    min_story_s : float
        Short clips are sped up to tell at least this many seconds of behaviour, so that
        even a 40-frame test clip shows drift, waving and a prey capture.
    """

    width: int = 1500
    height: int = 1080
    n_frames: int = 3597
    fps: float = 29.97
    n_wells: int = 5
    well_size: int = 400
    seed: int = 0
    noise_sigma: float = 5.0
    background: float = 110.0
    contrast: float = 1.0
    vignetting: float = 0.14
    min_story_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("width", "height", "n_frames", "n_wells", "well_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"SampleSpec.{name} must be a positive integer")
        if self.well_size < 16:
            raise ValueError("SampleSpec.well_size must be at least 16 px")
        if self.seed < 0 or not self.fps > 0 or self.noise_sigma < 0:
            raise ValueError("SampleSpec needs seed >= 0, fps > 0 and noise_sigma >= 0")
        _grid(self.width, self.height, self.n_wells, self.well_size)  # raises if no fit

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.n_frames / self.fps

    @classmethod
    def tiny(cls, **overrides: Any) -> SampleSpec:
        """Unit-test size: 240x176 px, 40 frames, 5 wells of 64 px."""
        return replace(cls(240, 176, 40, well_size=64), **overrides)

    @classmethod
    def small(cls, **overrides: Any) -> SampleSpec:
        """CPU demo size: 600x432 px, 300 frames, 5 wells of 160 px."""
        return replace(cls(600, 432, 300, well_size=160), **overrides)

    @classmethod
    def full(cls, **overrides: Any) -> SampleSpec:
        """Return the users' size: 1500x1080 px, 3597 frames at 29.97 fps, 5 wells of 400 px."""
        return replace(cls(), **overrides)

    @classmethod
    def from_name(cls, name: str, **overrides: Any) -> SampleSpec:
        """Return the preset called ``"tiny"``, ``"small"`` or ``"full"``."""
        presets = {"tiny": cls.tiny, "small": cls.small, "full": cls.full}
        if name not in presets:
            raise ValueError(f"unknown sample preset {name!r}; choose one of {sorted(presets)}")
        return presets[name](**overrides)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-friendly dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SampleSpec:
        """Inverse of :meth:`to_dict`; unknown keys are ignored for forward compatibility."""
        known = {f.name: f.type for f in fields(cls)}
        kwargs = {
            k: (float(v) if known[k] == "float" else int(v)) for k, v in data.items() if k in known
        }
        return cls(**kwargs)


def _grid(width: int, height: int, n_wells: int, well_size: int) -> list[int]:
    """Wells per row, using the fewest rows that fit (e.g. 5 wells -> 3 on top, 2 below)."""
    for rows in range(1, n_wells + 1):
        per_row = math.ceil(n_wells / rows)
        if per_row * well_size <= width and rows * well_size <= height:
            return [min(per_row, n_wells - r * per_row) for r in range(rows)]
    raise ValueError(f"{n_wells} wells of {well_size} px do not fit in a {width}x{height} frame")


@lru_cache(maxsize=8)
def _layout(spec: SampleSpec) -> tuple[tuple[int, int], ...]:
    counts = _grid(spec.width, spec.height, spec.n_wells, spec.well_size)
    ws, rng = spec.well_size, np.random.default_rng([spec.seed, _LAYOUT])
    gap_y = (spec.height - len(counts) * ws) / (len(counts) + 1)
    origins = []
    for row, count in enumerate(counts):
        gap_x = (spec.width - count * ws) / (count + 1)
        for col in range(count):
            # A hand-placed plate is never perfectly aligned; a third of a gap keeps the
            # wells apart and inside the frame.
            jx, jy = rng.uniform(-1, 1, 2) * np.array([gap_x, gap_y]) / 3
            x = int(round(gap_x + col * (ws + gap_x) + jx))
            y = int(round(gap_y + row * (ws + gap_y) + jy))
            origins.append((min(max(x, 0), spec.width - ws), min(max(y, 0), spec.height - ws)))
    return tuple(origins)


def well_rois(spec: SampleSpec) -> list[tuple[str, int, int, int, int]]:
    """Return the square crop around each well.

    Parameters
    ----------
    spec : SampleSpec
        The recording.

    Returns
    -------
    list of tuple
        ``(name, x, y, w, h)`` per well, named ``"#1"`` ... ``"#K"`` row by row; the crops
        lie fully inside the frame and do not overlap.
    """
    ws = spec.well_size
    return [(f"#{k + 1}", x, y, ws, ws) for k, (x, y) in enumerate(_layout(spec))]


def _sines(
    rng: np.random.Generator, s: np.ndarray, k: int, f_lo: float, f_hi: float, n: int = 3
) -> np.ndarray:
    """(T, k) smooth random signal in [-1, 1]: a few sinusoids with random periods."""
    f = rng.uniform(f_lo, f_hi, (k, n))
    phase = rng.uniform(0, 2 * np.pi, (k, n))
    weight = rng.dirichlet(np.ones(n), k)
    return (weight * np.sin(2 * np.pi * f * s[:, None, None] + phase)).sum(-1)


@lru_cache(maxsize=4)
def _track(spec: SampleSpec) -> Track:
    """Return every frame's pose; smooth sums of sines make any frame computable alone."""
    K, ws = spec.n_wells, spec.well_size
    rng = np.random.default_rng([spec.seed, _ANIMALS])
    speed = max(1.0, spec.min_story_s / spec.duration_s)
    s = np.arange(spec.n_frames) / spec.fps * speed
    dish_c = np.array([(x + (ws - 1) / 2, y + (ws - 1) / 2) for x, y in _layout(spec)])
    r_dish, r_bell = _DISH_R * ws, BELL_R * ws

    offset = np.stack([_sines(rng, s, K, 0.005, 0.03), _sines(rng, s, K, 0.005, 0.03)], -1)
    offset *= _DRIFT_R * r_dish
    norm = np.linalg.norm(offset, axis=-1, keepdims=True)
    centre = dish_c + offset * (_DRIFT_R * r_dish / np.maximum(norm, _DRIFT_R * r_dish))
    spin = rng.uniform(0.03, 0.12, K) * rng.choice([-1.0, 1.0], K)
    heading = rng.uniform(0, 2 * np.pi, K) + spin * s[:, None] + 0.4 * _sines(rng, s, K, 0.02, 0.08)
    scale = 1 + 0.03 * _sines(rng, s, K, 0.3, 0.6, n=1)
    man_angle = heading + rng.uniform(0, 2 * np.pi, K) + 0.5 * _sines(rng, s, K, 0.03, 0.1)
    # Foreshortening of a swinging manubrium seen from above changes its apparent length.
    man_len = r_bell * (0.7 + 0.15 * _sines(rng, s, K, 0.05, 0.15))
    man_dir = unit(man_angle)  # unit vector base -> mouth
    mouth = centre + man_len[..., None] * man_dir

    shape = np.column_stack([rng.uniform(0, 0.05, (K, 2)), rng.uniform(0, 2 * np.pi, (K, 2))])
    m, slot = (K, _MAX_TENTACLES), np.arange(_MAX_TENTACLES)
    n_tent = rng.integers(8, _MAX_TENTACLES + 1, (K, 1))
    # Columns: angle, length, drawn?, bend frequency and phase, wave frequency and phase, and
    # one side branch each, as Cladonema's tentacles branch: fork position, side, length.
    ranges = [(0.02, 0.08), (0, 2 * np.pi), (0.15, 0.45), (0, 2 * np.pi), (0.35, 0.7)]
    columns = [2 * np.pi * (slot + rng.uniform(-0.25, 0.25, m)) / n_tent]
    columns += [r_bell * rng.uniform(1.2, 2.2, m), (slot < n_tent).astype(float)]
    columns += [rng.uniform(lo, hi, m) for lo, hi in ranges]
    columns += [rng.choice([-0.8, 0.8], m), rng.uniform(0.25, 0.45, m)]
    tentacles = np.stack(columns, axis=-1)
    marked = tentacles[:, 0, 0] + heading  # tentacle 0 is the one the annotators mark
    margin = bell_radius(shape, tentacles[:, 0, 0], r_bell, scale)
    tentacle_base = centre + margin[..., None] * unit(marked)

    # The prey drifts in from the dish wall and is held just outside the mouth once caught.
    hold = mouth + (MOUTH_R * r_bell + 0.8 * prey_radius(r_bell)) * man_dir
    start = dish_c + 0.85 * r_dish * unit(rng.uniform(0, 2 * np.pi, K))
    catch = rng.uniform(0.45, 0.7, K) * s[-1] if spec.n_frames > 1 else np.ones(K)
    u = np.clip(s[:, None] / catch, 0, 1)
    ease = u * u * (3 - 2 * u)
    to_hold = hold - start
    side = np.stack([-to_hold[..., 1], to_hold[..., 0]], -1)
    side /= np.maximum(np.linalg.norm(side, axis=-1, keepdims=True), 1e-9)
    sway = 0.06 * r_dish * np.sin(np.pi * u) * np.sin(6 * np.pi * u + rng.uniform(0, 6.3, K))
    prey = start + ease[..., None] * to_hold + sway[..., None] * side
    rel = prey - dish_c
    reach = 0.9 * r_dish / np.maximum(np.linalg.norm(rel, axis=-1, keepdims=True), 0.9 * r_dish)
    prey = dish_c + rel * reach
    prey_angle = rng.uniform(0, 2 * np.pi, K) + 0.6 * _sines(rng, s, K, 0.1, 0.3)
    prey_angle = np.where(u < 1, prey_angle, man_angle)
    track = Track(
        s, centre, heading, scale, mouth, prey, prey_angle, tentacle_base, shape, tentacles
    )
    for arr in track:
        arr.flags.writeable = False
    return track


def ground_truth(spec: SampleSpec) -> np.ndarray:
    """Return the exact keypoints drawn by :func:`render_frame`.

    Parameters
    ----------
    spec : SampleSpec
        The recording.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_frames, n_wells, 4, 2)``, float64 ``(x, y)`` in full-frame pixels, in
        the order of :data:`BODYPARTS`; every point lies inside its well's crop.
    """
    t = _track(spec)
    return np.stack([t.centre, t.mouth, t.prey, t.tentacle_base], axis=2)


@lru_cache(maxsize=4)
def _background(spec: SampleSpec) -> np.ndarray:
    """Return static illumination: vignetting, a lopsided lamp and the dishes' walls."""
    h, w = spec.height, spec.width
    y, x = np.ogrid[:h, :w]
    xn, yn = (x - (w - 1) / 2) / (w / 2), (y - (h - 1) / 2) / (h / 2)
    light = 1 - spec.vignetting * (xn**2 + yn**2) / 2 + 0.03 * xn - 0.02 * yn
    bg = (spec.background * light).astype(np.float32)
    ws = spec.well_size
    r_dish, wall = _DISH_R * ws, max(1.0, 0.015 * ws)
    yy, xx = np.mgrid[:ws, :ws] - (ws - 1) / 2
    r = np.hypot(xx, yy)
    dish = 3.0 / (1 + np.exp((r - r_dish) / wall)) - 12.0 * np.exp(-(((r - r_dish) / wall) ** 2))
    dish += 4.0 * np.exp(-(((r - r_dish - 2.5 * wall) / wall) ** 2))
    for x0, y0 in _layout(spec):
        bg[y0 : y0 + ws, x0 : x0 + ws] += dish.astype(np.float32)
    bg.flags.writeable = False
    return bg


def render_frame(spec: SampleSpec, index: int) -> np.ndarray:
    """Render one frame, a pure function of ``spec`` and ``index``.

    Parameters
    ----------
    spec : SampleSpec
        The recording.
    index : int
        Frame index, ``0 <= index < spec.n_frames``.

    Returns
    -------
    numpy.ndarray
        ``(height, width)`` uint8 grey frame.
    """
    i = operator.index(index)
    if not 0 <= i < spec.n_frames:
        raise IndexError(f"frame {index} is outside 0..{spec.n_frames - 1}")
    track, ws = _track(spec), spec.well_size
    rng = np.random.default_rng([spec.seed, _FRAME, i])
    frame = rng.standard_normal((spec.height, spec.width), dtype=np.float32)
    frame *= np.float32(spec.noise_sigma)
    # A DSLR's auto exposure flickers by a fraction of a grey level between frames.
    frame += _background(spec) + np.float32(rng.normal(0, 0.6))
    origins = np.array(_layout(spec), dtype=float)
    patches = draw_tentacles(track, i, origins, ws, spec.contrast)
    for k, (x0, y0) in enumerate(_layout(spec)):
        draw_body(patches[k], track, i, k, origins[k], spec.contrast)
        frame[y0 : y0 + ws, x0 : x0 + ws] += patches[k]
    np.clip(frame, 0, 255, out=frame)
    frame += np.float32(0.5)  # round half up when truncating below
    return frame.astype(np.uint8)


def render_frames(spec: SampleSpec, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Render frames ``start`` to ``stop`` (exclusive), as a ``(n, height, width)`` uint8 stack.

    Parameters
    ----------
    spec : SampleSpec
        The recording.
    start, stop : int
        Half-open frame range; ``stop=None`` means the end of the recording.

    Returns
    -------
    numpy.ndarray
        Frames identical to calling :func:`render_frame` on each index.
    """
    stop = spec.n_frames if stop is None else stop
    if not 0 <= start <= stop <= spec.n_frames:
        raise IndexError(f"frame range {start}:{stop} is outside 0:{spec.n_frames}")
    out = np.empty((stop - start, spec.height, spec.width), dtype=np.uint8)
    for j, i in enumerate(range(start, stop)):
        out[j] = render_frame(spec, i)
    return out
