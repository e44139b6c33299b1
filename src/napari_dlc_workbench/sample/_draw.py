"""Drawing primitives of the synthetic Cladonema recording (private to ``sample``).

Every primitive adds a soft-edged grey-level delta into a per-well patch, touching only a
small box around the shape, so a frame costs little more than its noise.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

# Bell radius as a fraction of well_size; the other body sizes are fractions of it.
BELL_R, MOUTH_R = 0.085, 0.25
# Grey-level amplitudes before SampleSpec.contrast: faint on purpose, like the real videos.
_A_BELL, _A_RIM, _A_MANUBRIUM, _A_MOUTH = 8.0, 4.0, 6.0, 7.0
_A_TENTACLE, _A_BULB, _A_OCELLUS, _A_PREY = 9.0, 5.0, -22.0, -18.0


class Track(NamedTuple):
    """Every time-dependent quantity, for all frames (T) and wells (K)."""

    s: np.ndarray  # (T,) story time in seconds
    centre: np.ndarray  # (T, K, 2) manubrium base = bell centre
    heading: np.ndarray  # (T, K)
    scale: np.ndarray  # (T, K) bell pulsation
    mouth: np.ndarray  # (T, K, 2)
    prey: np.ndarray  # (T, K, 2)
    prey_angle: np.ndarray  # (T, K)
    tentacle_base: np.ndarray  # (T, K, 2)
    shape: np.ndarray  # (K, 4) bell wobble e2, e3, psi2, psi3
    tentacles: np.ndarray  # (K, 16, 10) per-tentacle parameters, see cladonema._track


def bell_radius(
    shape: np.ndarray, rel_angle: np.ndarray, r_bell: float, scale: np.ndarray
) -> np.ndarray:
    """Return the bell margin radius at ``rel_angle`` from the heading; shape rows are wells."""
    e2, e3, psi2, psi3 = np.moveaxis(shape, -1, 0)
    wobble = 1 + e2 * np.cos(2 * (rel_angle - psi2)) + e3 * np.cos(3 * (rel_angle - psi3))
    return r_bell * scale * wobble


def unit(angle: np.ndarray) -> np.ndarray:
    """Return unit vectors (..., 2) pointing at ``angle`` (radians, y down)."""
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def prey_radius(r_bell: float) -> float:
    """Return the prey's mean radius, never under 1.5 px so that it stays visible."""
    return max(1.5, 0.22 * r_bell)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _box(centre: np.ndarray, half: float, ws: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (column vector ys, row vector xs) of a clipped square around centre."""
    lo = np.maximum(np.floor(centre - half), 0).astype(int)
    hi = np.minimum(np.ceil(centre + half) + 1, ws).astype(int)
    return np.arange(lo[1], hi[1])[:, None], np.arange(lo[0], hi[0])[None, :]


def draw_tentacles(
    track: Track, i: int, origins: np.ndarray, ws: int, contrast: float
) -> np.ndarray:
    """Return (K, ws, ws) patches of tentacles, bulbs and the marked ocellus of frame i.

    Drawing a curve as Gaussians spaced under one sigma apart along its arc length gives a
    smooth ridge with no seams, and one bincount draws every tentacle of every well at once.
    """
    K, r_bell, c = len(origins), BELL_R * ws, contrast
    ang, length, on, f_bend, p_bend, f_wave, p_wave, b_at, b_side, b_len = np.moveaxis(
        track.tentacles, -1, 0
    )
    s, centre = track.s[i], track.centre[i] - origins
    root_ang = ang + track.heading[i][:, None]
    margin = bell_radius(track.shape[:, None], ang, r_bell, track.scale[i][:, None])
    root = centre[:, None] + 0.92 * margin[..., None] * unit(root_ang)
    sigma0 = max(0.6, 0.04 * r_bell)
    n_s = max(6, math.ceil(2.2 * r_bell / (0.9 * sigma0)))
    wave = 2 * np.pi * f_wave * s - p_wave
    bend = 0.35 * np.sin(2 * np.pi * f_bend * s + p_bend)

    def strand(start: np.ndarray, angle: np.ndarray, size: np.ndarray, u: np.ndarray) -> tuple:
        # u is the position along the parent tentacle, bent by a travelling wave.
        n = u.shape[-1]
        beta = angle[..., None] + u * (
            bend[..., None] + 0.35 * np.sin(2 * np.pi * u - wave[..., None])
        )
        step = (size / n)[..., None, None] * unit(beta)
        pts = start[:, :, None] + np.cumsum(step, axis=2) - 0.5 * step
        sigma = sigma0 * (1 - 0.3 * u)
        amp = (_A_TENTACLE * c * on * size / n)[..., None] * (1 - 0.5 * u)
        return pts, sigma, amp / (np.sqrt(2 * np.pi) * sigma), beta

    pts, sigma, amp, beta = strand(
        root, root_ang, length, (np.arange(n_s) + 0.5) / n_s + 0 * ang[..., None]
    )
    j = np.minimum((b_at * n_s).astype(int), n_s - 1)[..., None]
    fork = np.take_along_axis(pts, j[..., None], axis=2)[:, :, 0]
    b_ang = np.take_along_axis(beta, j, axis=2)[..., 0] + b_side - bend * b_at
    b_u = b_at[..., None] + b_len[..., None] * (np.arange(max(3, n_s // 3)) + 0.5) / max(
        3, n_s // 3
    )
    b_pts, b_sigma, b_amp, _ = strand(fork, b_ang, b_len * length, b_u)
    pts = np.concatenate([pts, b_pts], axis=2)
    sigma = np.concatenate([sigma, b_sigma], axis=2)
    amp = np.concatenate([amp, b_amp], axis=2)
    # Bulbs sit on the margin at every tentacle root; tentacle 0 carries a dark ocellus
    # exactly at the tentacle_base keypoint so that the marked tentacle can be learnt.
    bulb_sigma = max(0.7, 0.09 * r_bell)
    bulb_amp = _A_BULB * c * on
    bulb_amp[:, 0] = _A_OCELLUS * c
    bulb_pts = root.copy()
    bulb_pts[:, 0] = track.tentacle_base[i] - origins
    out = _splat(pts.reshape(K, -1, 2), sigma.reshape(K, -1), amp.reshape(K, -1), ws, sigma0)
    out += _splat(bulb_pts, np.full(bulb_amp.shape, bulb_sigma), bulb_amp, ws, bulb_sigma)
    return out


def _splat(
    pts: np.ndarray, sigma: np.ndarray, amp: np.ndarray, ws: int, sigma_max: float
) -> np.ndarray:
    """Sum Gaussians of peak amp at pts (K, N, 2) into (K, ws, ws) patches."""
    K = pts.shape[0]
    off = np.arange(-math.ceil(2.5 * sigma_max), math.ceil(2.5 * sigma_max) + 1)
    base = np.rint(pts).astype(np.int64)
    px = base[..., 0, None, None] + off[None, :]
    py = base[..., 1, None, None] + off[:, None]
    d2 = (px - pts[..., 0, None, None]) ** 2 + (py - pts[..., 1, None, None]) ** 2
    weight = amp[..., None, None] * np.exp(-d2 / (2 * sigma[..., None, None] ** 2))
    weight *= (px >= 0) & (px < ws) & (py >= 0) & (py < ws)
    rows = np.arange(K)[:, None, None, None] * ws + np.clip(py, 0, ws - 1)
    flat = rows * ws + np.clip(px, 0, ws - 1)
    out = np.bincount(flat.ravel(), weight.ravel(), minlength=K * ws * ws)
    return out.reshape(K, ws, ws)


def draw_body(
    patch: np.ndarray, track: Track, i: int, k: int, origin: np.ndarray, contrast: float
) -> None:
    """Add bell, manubrium, mouth and prey of well k into its patch, each in a small box."""
    ws, c = patch.shape[0], contrast
    r_bell = BELL_R * ws
    edge = max(0.5, 0.05 * r_bell)
    centre, mouth, prey = (p[i, k] - origin for p in (track.centre, track.mouth, track.prey))
    scale, heading = track.scale[i, k], track.heading[i, k]

    ys, xs = _box(centre, 1.25 * r_bell * scale + 3 * edge, ws)
    dx, dy = xs - centre[0], ys - centre[1]
    r = np.hypot(dx, dy)
    rim = bell_radius(track.shape[k], np.arctan2(dy, dx) - heading, r_bell, scale)
    bell = _A_BELL * _sigmoid((rim - r) / edge) + _A_RIM * np.exp(-(((r - 0.9 * rim) / edge) ** 2))
    patch[ys, xs] += c * bell

    half_w, r_mouth = 0.17 * r_bell, MOUTH_R * r_bell
    lo, hi = np.minimum(centre, mouth), np.maximum(centre, mouth)
    ys, xs = _box((lo + hi) / 2, float((hi - lo).max()) / 2 + r_mouth + 3 * edge, ws)
    axis = mouth - centre
    t = np.clip(((xs - centre[0]) * axis[0] + (ys - centre[1]) * axis[1]) / (axis @ axis), 0, 1)
    d_tube = np.hypot(xs - centre[0] - t * axis[0], ys - centre[1] - t * axis[1])
    d_mouth = np.hypot(xs - mouth[0], ys - mouth[1])
    patch[ys, xs] += c * (
        _A_MANUBRIUM * _sigmoid((half_w - d_tube) / edge)
        + _A_MOUTH * _sigmoid((r_mouth - d_mouth) / edge)
    )

    r_prey = prey_radius(r_bell)
    ys, xs = _box(prey, 1.3 * r_prey + 3 * edge, ws)
    cos_a, sin_a = math.cos(track.prey_angle[i, k]), math.sin(track.prey_angle[i, k])
    along = (xs - prey[0]) * cos_a + (ys - prey[1]) * sin_a
    across = -(xs - prey[0]) * sin_a + (ys - prey[1]) * cos_a
    d = np.hypot(along / 1.3, across / 0.8)
    patch[ys, xs] += c * _A_PREY * _sigmoid((r_prey - d) / edge)
