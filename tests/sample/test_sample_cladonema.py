"""The synthetic Cladonema recording: determinism, geometry and what is really drawn."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from napari_dlc_workbench.sample import (
    BODYPARTS,
    SampleSpec,
    ground_truth,
    render_frame,
    render_frames,
    well_rois,
)

TINY = SampleSpec.tiny()
PRESETS = [SampleSpec.tiny(), SampleSpec.small(), SampleSpec.full()]


def test_presets_have_the_documented_sizes() -> None:
    full = SampleSpec.full()
    assert (full.width, full.height, full.n_frames, full.fps) == (1500, 1080, 3597, 29.97)
    assert (full.n_wells, full.well_size) == (5, 400)
    assert full == SampleSpec() == SampleSpec.from_name("full")
    small = SampleSpec.from_name("small")
    assert (small.n_wells, small.well_size) == (5, 160) and small.n_frames == 300
    assert TINY.well_size == 64 and TINY.n_frames <= 60
    assert SampleSpec.from_name("tiny", seed=7) == replace(TINY, seed=7)
    for spec in PRESETS:
        assert spec.width % 2 == 0 and spec.height % 2 == 0
    with pytest.raises(ValueError, match="unknown sample preset"):
        SampleSpec.from_name("huge")


def test_spec_round_trips_through_a_dict_and_rejects_impossible_layouts() -> None:
    spec = SampleSpec.small(seed=3, noise_sigma=2.5)
    assert SampleSpec.from_dict({**spec.to_dict(), "future_field": 1}) == spec
    with pytest.raises(ValueError, match="do not fit"):
        SampleSpec(width=500, height=300, n_wells=5, well_size=400)
    with pytest.raises(ValueError):
        SampleSpec.tiny(n_frames=0)


@pytest.mark.parametrize("spec", PRESETS, ids=["tiny", "small", "full"])
def test_wells_are_named_inside_the_frame_and_apart(spec: SampleSpec) -> None:
    rois = well_rois(spec)
    assert [r[0] for r in rois] == [f"#{k}" for k in range(1, spec.n_wells + 1)]
    for _, x, y, w, h in rois:
        assert (w, h) == (spec.well_size, spec.well_size)
        assert x >= 0 and x + w <= spec.width and y >= 0 and y + h <= spec.height
    for a in range(len(rois)):
        for b in range(a + 1, len(rois)):
            _, xa, ya, wa, ha = rois[a]
            _, xb, yb, wb, hb = rois[b]
            assert xa + wa <= xb or xb + wb <= xa or ya + ha <= yb or yb + hb <= ya


def test_five_wells_sit_three_over_two_and_three_in_a_row() -> None:
    full = SampleSpec.full()
    centres_y = [y + h / 2 for _, _, y, _, h in well_rois(full)]
    assert [c < full.height / 2 for c in centres_y] == [True] * 3 + [False] * 2
    row_spec = SampleSpec(width=1500, height=600, n_wells=3, n_frames=2)
    ys = [y for _, _, y, _, _ in well_rois(row_spec)]
    assert max(ys) - min(ys) < 100


@pytest.mark.parametrize("spec", PRESETS, ids=["tiny", "small", "full"])
def test_keypoints_stay_inside_their_well(spec: SampleSpec) -> None:
    gt = ground_truth(spec)
    assert gt.shape == (spec.n_frames, spec.n_wells, len(BODYPARTS), 2)
    assert gt.dtype == np.float64 and np.isfinite(gt).all()
    for k, (_, x, y, w, h) in enumerate(well_rois(spec)):
        pts = gt[:, k].reshape(-1, 2)
        assert (pts[:, 0] >= x).all() and (pts[:, 0] <= x + w - 1).all()
        assert (pts[:, 1] >= y).all() and (pts[:, 1] <= y + h - 1).all()


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    again = SampleSpec.tiny()  # an equal spec, not the same object
    assert np.array_equal(render_frame(TINY, 5), render_frame(again, 5))
    assert np.array_equal(ground_truth(TINY), ground_truth(again))
    other = replace(TINY, seed=TINY.seed + 1)
    assert not np.array_equal(render_frame(TINY, 5), render_frame(other, 5))
    assert not np.allclose(ground_truth(TINY), ground_truth(other))


def test_any_frame_renders_alone_and_matches_the_stack() -> None:
    stack = render_frames(TINY, 0, TINY.n_frames)
    assert stack.shape == (TINY.n_frames, TINY.height, TINY.width) and stack.dtype == np.uint8
    for i in (TINY.n_frames - 1, 0, 17, np.int64(3)):
        assert np.array_equal(render_frame(TINY, i), stack[int(i)])
    assert np.array_equal(render_frames(TINY, 10, 13), stack[10:13])
    assert not np.array_equal(stack[0], stack[1])  # fresh noise every frame
    with pytest.raises(IndexError):
        render_frame(TINY, TINY.n_frames)
    with pytest.raises(IndexError):
        render_frames(TINY, 5, TINY.n_frames + 1)


def test_the_figure_is_drawn_at_each_keypoint() -> None:
    # contrast=0 keeps background and noise identical, so the difference is the animal alone.
    drawn = render_frames(TINY).astype(float)
    empty = render_frames(replace(TINY, contrast=0.0)).astype(float)
    animal = drawn - empty
    gt = np.rint(ground_truth(TINY)).astype(int)
    frames = np.arange(TINY.n_frames)[:, None]
    mean = {
        part: animal[frames, gt[:, :, j, 1], gt[:, :, j, 0]].mean()
        for j, part in enumerate(BODYPARTS)
    }
    noise_of_mean = TINY.noise_sigma / np.sqrt(gt.shape[0] * gt.shape[1])
    assert mean["manubrium_base"] > 8 > 10 * noise_of_mean
    assert mean["mouth"] > 10
    assert mean["prey"] < -8  # a dark Artemia-like blob
    assert mean["tentacle_base"] < -4  # the marked tentacle's dark ocellus
    # Away from the animals nothing at all is drawn.
    assert (animal[:, :4, :4] == 0).all()


def test_prey_drifts_in_and_ends_at_the_mouth() -> None:
    for spec in (TINY, SampleSpec.small()):
        gt = ground_truth(spec)
        dist = np.linalg.norm(gt[:, :, BODYPARTS.index("prey")] - gt[:, :, 1], axis=-1)
        assert (dist[-1] < 0.3 * dist[0]).all()
        assert (dist[-1] < 0.1 * spec.well_size).all()
        half = spec.n_frames // 2
        assert (dist[half:].mean(0) < dist[:half].mean(0)).all()


def test_animals_drift_and_turn() -> None:
    gt = ground_truth(TINY)
    centre_path = np.ptp(gt[:, :, 0], axis=0).max(axis=-1)
    assert (centre_path > 1.0).all()
    base_to_tentacle = gt[:, :, 3] - gt[:, :, 0]
    angle = np.unwrap(np.arctan2(base_to_tentacle[..., 1], base_to_tentacle[..., 0]), axis=0)
    assert (np.ptp(angle, axis=0) > 0.1).all()


def test_contrast_is_low_like_the_real_dslr_videos() -> None:
    frame = render_frame(SampleSpec.small(), 100).astype(float)
    lo, hi = np.percentile(frame, [0.5, 99.5])
    assert 90 < frame.mean() < 125
    assert hi - lo < 70  # far from the 0..255 an "enhance contrast" step would stretch to
    animal = frame - render_frame(SampleSpec.small(contrast=0.0), 100)
    assert 10 < np.abs(animal).max() < 40
