"""Outlier signals, ranking, the queue sidecar and the injected-error evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_dlc_workbench.io.atomic import list_backups
from napari_dlc_workbench.model.keypoints import KeypointTable
from napari_dlc_workbench.model.outliers import OutlierQueue, QueueRow
from napari_dlc_workbench.process.outlier_scores import (
    OutlierSettings,
    score_table,
    shape_reference,
    smooth,
)
from napari_dlc_workbench.process.outliers import (
    OutlierQueueError,
    diverse_rows,
    find_outliers,
    load_queue,
    rank_frames,
    save_queue,
    sidecar_path,
)
from napari_dlc_workbench.sample import BODYPARTS, SampleSpec, ground_truth, write_sample
from napari_dlc_workbench.sample.errors import ERROR_KINDS, evaluate_flags, inject_errors

KEYPOINTS = [("", bp) for bp in BODYPARTS]
SCORER = "DLC_Resnet50_Cladonema_starvedJun13shuffle1_snapshot_110"


def _table(data: np.ndarray, scorer: str = SCORER) -> KeypointTable:
    return KeypointTable(scorer, list(range(len(data))), KEYPOINTS, data, True)


def _labels(truth: np.ndarray, frames: np.ndarray) -> KeypointTable:
    data = np.concatenate([truth[frames], np.full((len(frames), truth.shape[1], 1), np.nan)], 2)
    index = [("labeled-data", "v", f"img{f:03d}.png") for f in frames]
    return KeypointTable("me", index, KEYPOINTS, data)


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """One well of the users' 400 px crops, 800 frames: (frames, 4 keypoints, xy)."""
    return ground_truth(SampleSpec.full())[:800, 0]


def _clean(truth: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = np.empty((*truth.shape[:2], 3))
    data[..., :2] = truth + rng.normal(0, 1.0, truth.shape)
    data[..., 2] = rng.uniform(0.9, 1.0, truth.shape[:2])
    return data


def test_each_signal_flags_its_own_error_and_names_the_bodypart(truth: np.ndarray) -> None:
    data = _clean(truth)
    data[100, 1, :2] += [40.0, 0.0]  # a glitch of the mouth
    data[200, 3, 2] = 0.05  # tentacle base unsure
    data[300:310, 0, :2] += [0, 15.0]  # manubrium slides off for ten frames
    reference = shape_reference([_labels(truth, np.arange(0, 800, 40))])
    other = _clean(truth, seed=1)
    other[400, 2, :2] += [25.0, 0.0]  # the second model puts the prey elsewhere
    scores = score_table(_table(data), reference=reference, others=[_table(other)])
    rows = {row.frame: row for row in rank_frames(scores)}

    assert {"jump", "residual"} <= set(rows[100].flagged_by)
    assert rows[100].bodyparts[0] == "mouth" and rows[100].worst["residual"] == "mouth"
    assert rows[200].flagged_by == ["likelihood"] and rows[200].bodyparts == ["tentacle_base"]
    assert any(f in rows and "shape" in rows[f].flagged_by for f in range(300, 310))
    shape_row = next(rows[f] for f in range(300, 310) if f in rows)
    assert shape_row.worst["shape"] == "manubrium_base"
    assert rows[400].flagged_by == ["disagreement"] and rows[400].bodyparts == ["prey"]
    # Raw values stay in natural units next to the normalised ones.
    assert scores.raw["jump"][100, 1] == pytest.approx(40.0, abs=5)
    assert scores.raw["likelihood"][200, 3] == 0.05
    clean = np.ones(800, bool)
    clean[[99, 100, 101, 102, 200, 400]] = False
    clean[295:315] = False
    assert scores.strongest[clean].max() < 1.0  # nothing else is flagged


def test_runs_collapse_to_their_worst_frame_and_the_quota_keeps_the_best() -> None:
    frames = np.arange(100)
    data = np.zeros((100, 4, 3))
    data[..., 0] = frames[:, None] * 0.1
    data[..., 2] = 0.99
    data[[10, 11, 12], 0, 2] = [0.3, 0.0, 0.2]  # one run of unsure frames, worst at 11
    data[50, 2, 2] = 0.1
    data[80, 1, 2] = 0.4
    scores = score_table(_table(data), OutlierSettings(kinds=("likelihood",)))
    rows = rank_frames(scores)
    assert [r.frame for r in rows] == [11, 50, 80]
    assert rows[0].run == (10, 12) and rows[1].run == (50, 50)
    assert rows[0].reasons["likelihood"] == pytest.approx(1 / 0.4)
    assert [r.frame for r in rank_frames(scores, quota=2)] == [11, 50]
    wide = OutlierSettings(kinds=("likelihood",), merge_gap=40, max_run=100)
    assert [r.run for r in rank_frames(score_table(_table(data), wide))] == [(10, 80)]


def test_a_long_run_is_cut_into_pieces_each_with_its_worst_frame() -> None:
    data = np.zeros((100, 4, 3))
    data[..., 0] = np.arange(100)[:, None] * 0.1
    data[..., 2] = 0.99
    data[30:55, 2, 2] = 0.5  # the prey unsure for 25 frames
    data[[33, 47, 52], 2, 2] = 0.1  # and worst once in each piece of 10
    scores = score_table(_table(data), OutlierSettings(kinds=("likelihood",), max_run=10))
    rows = rank_frames(scores)
    assert sorted((r.frame, r.run) for r in rows) == [
        (33, (30, 39)),
        (47, (40, 49)),
        (52, (50, 54)),
    ]
    one = score_table(_table(data), OutlierSettings(kinds=("likelihood",), max_run=25))
    assert [(r.frame, r.run) for r in rank_frames(one)] == [(33, (30, 54))]
    with pytest.raises(ValueError, match="max_run"):
        OutlierSettings(max_run=0)


def test_smoothers_follow_genuine_motion_and_reject_a_glitch() -> None:
    t = np.arange(60, dtype=float)
    track = np.column_stack([0.5 * t, 0.02 * t**2])
    glitched = track.copy()
    glitched[30] += 50
    for method in ("median", "savgol"):
        fitted = smooth(glitched, 7, method)
        assert np.abs(fitted[:27] - track[:27]).max() < 0.2
        assert np.linalg.norm(glitched[30] - fitted[30]) > 35
    with_gap = track.copy()
    with_gap[10] = np.nan
    assert np.isfinite(smooth(with_gap, 5)).all()


def test_disagreement_takes_the_median_over_other_models(truth: np.ndarray) -> None:
    base = _clean(truth[:100])
    broken = base.copy()
    broken[:, :, :2] += 30  # one model off everywhere must not flag every frame
    agree = base.copy()
    agree[40, 0, :2] += [0, 12.0]
    scores = score_table(
        _table(base),
        OutlierSettings(kinds=("disagreement",)),
        others=[_table(broken), _table(base), _table(base)],
    )
    assert [r.frame for r in rank_frames(scores)] == []
    scores = score_table(
        _table(base), OutlierSettings(kinds=("disagreement",)), others=[_table(agree)]
    )
    assert [r.frame for r in rank_frames(scores)] == [40]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown outlier signal"):
        OutlierSettings(kinds=("jump", "wobble"))
    with pytest.raises(ValueError, match="odd"):
        OutlierSettings(window=6)
    settings = OutlierSettings(p_bound=0.3, smoother="savgol")
    assert OutlierSettings.from_dict(settings.to_dict()) == settings


def test_injected_errors_are_at_the_top_of_the_queue(truth: np.ndarray) -> None:
    # 20 errors of each of four kinds (80); the queue is judged on its first 60 rows
    # and on as many rows as errors.
    data, errors = inject_errors(truth, 20, seed=0)
    reference = shape_reference([_labels(truth, np.linspace(0, 799, 20).astype(int))])
    rows = rank_frames(score_table(_table(data), reference=reference))
    top60 = evaluate_flags([r.frame for r in rows[:60]], errors)
    top80 = evaluate_flags([r.frame for r in rows[:80]], errors)
    print(json.dumps({"top60": top60, "top80": top80}))
    assert top60["n_flagged"] == 60
    assert top60["precision"] >= 0.9  # the first 60 rows are real errors
    assert top80["recall"] >= 0.85
    for kind in ("jump", "swap", "low_likelihood"):
        assert top80["per_kind"][kind]["recall"] >= 0.9, kind
    assert set(top80["per_kind"]) == set(ERROR_KINDS)


def test_evaluation_counts_hits_misses_and_false_flags() -> None:
    truth = np.zeros((400, 4, 2)) + np.arange(4)[None, :, None] * 30
    _, errors = inject_errors(truth, 2, seed=3)
    hits = [e.first for e in errors[:4]] + [errors[4].last + 1]  # the slack of one frame
    result = evaluate_flags([*hits, 399 if errors[-1].last < 390 else 0], errors)
    assert result["recall"] == pytest.approx(5 / 8, abs=1e-3)
    assert result["precision"] == pytest.approx(5 / 6, abs=1e-3)
    assert sum(v["found"] for v in result["per_kind"].values()) == 5


def test_queue_sidecar_round_trip_keeps_corrections(tmp_path: Path, truth: np.ndarray) -> None:
    data = _clean(truth[:200])
    data[50, 2, :2] += 45
    h5 = tmp_path / f"DSC_3189_#1{SCORER}.h5"
    _table(data).to_dataframe().to_hdf(h5, key="df_with_missing", mode="w")
    queue = find_outliers(h5, quota=5)
    assert queue.frames[0] == 50 and queue.n_frames == 200 and queue.video is None
    assert queue.keypoints == list(BODYPARTS) and queue.scorer == SCORER
    queue.rows[0].accept({"manubrium_base": (1.5, 2.25), "mouth": None, "prey": [3, 4]})
    path = save_queue(queue)
    assert path == sidecar_path(h5) == tmp_path / f"DSC_3189_#1{SCORER}.outliers.json"
    loaded = load_queue(path)
    assert loaded.to_dict() == queue.to_dict()
    assert loaded.accepted()[0].points == {
        "manubrium_base": [1.5, 2.25],
        "mouth": None,
        "prey": [3.0, 4.0],
    }
    save_queue(loaded)
    assert len(list_backups(path)) == 1  # the previous version is kept
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(OutlierQueueError, match=r"outliers\.json: not a readable"):
        load_queue(path)
    with pytest.raises(ValueError, match="newer"):
        OutlierQueue.from_dict({"version": 99, "predictions": "x", "rows": []})
    with pytest.raises(ValueError, match="status"):
        QueueRow(frame=1, score=1.0, status="done")


def test_diverse_pick_takes_frames_that_look_different(tmp_path: Path) -> None:
    files = write_sample(tmp_path, SampleSpec.tiny(n_frames=40), name="clip")
    rows = [QueueRow(frame=f, score=100.0 - f, run=(f, f)) for f in range(0, 40, 2)]
    picked = diverse_rows(rows, files.video, 4, pool=20)
    assert len(picked) == 4
    assert [r.frame for r in picked] == sorted(r.frame for r in picked)  # rank order kept
    assert {r.frame for r in picked} <= {r.frame for r in rows}
    assert picked == diverse_rows(rows, files.video, 4, pool=20)  # seeded
    assert diverse_rows(rows[:3], files.video, 4) == rows[:3]
