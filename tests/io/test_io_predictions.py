from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_dlc_workbench.io.labels import LabelsError
from napari_dlc_workbench.io.predictions import (
    parse_scorer,
    read_predictions,
    split_prediction_name,
)

from dlc_files import BODYPARTS, SCORER, write_dlc_predictions


def test_single_animal_predictions_with_users_names(tmp_path: Path) -> None:
    h5, values = write_dlc_predictions(tmp_path, "DSC_3231_roi_#5")
    preds = read_predictions(h5)
    assert preds.video_stem == "DSC_3231_roi_#5"
    assert preds.table.index == list(range(30))
    assert preds.table.bodyparts == tuple(BODYPARTS)
    np.testing.assert_array_equal(preds.table.data, values[:, 0])
    assert preds.scorer.net == "Resnet50"
    assert preds.scorer.project == "Cladonema_starvedJun13"
    assert preds.scorer.shuffle == 1
    assert preds.scorer.snapshot_epoch == 110
    assert preds.fps == pytest.approx(29.97)
    assert preds.crop_offset == (0.0, 0.0)


@pytest.mark.parametrize("key", ["df_with_missing", "tracks", "df", "anything"])
def test_multianimal_predictions_any_single_key(tmp_path: Path, key: str) -> None:
    h5, values = write_dlc_predictions(tmp_path, "v", individuals=["well1", "well2"], key=key)
    preds = read_predictions(h5)
    assert preds.table.multianimal
    assert preds.table.individuals == ("well1", "well2")
    dense = preds.table.dense()
    np.testing.assert_array_equal(dense, values)


def test_crop_offset_from_meta(tmp_path: Path) -> None:
    h5, _ = write_dlc_predictions(tmp_path, "raw", crop=(400, 800, 100, 500))
    assert read_predictions(h5).crop_offset == (400.0, 100.0)


def test_meta_pickle_that_runs_code_is_ignored(tmp_path: Path) -> None:
    h5, _ = write_dlc_predictions(tmp_path, "v")
    meta = tmp_path / f"v{SCORER}_meta.pickle"
    meta.write_bytes(b"cos\nsystem\n(S'touch pwned'\ntR.")
    with pytest.warns(UserWarning, match="refusing to load os.system"):
        preds = read_predictions(h5)
    assert preds.meta == {}
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("scorer", "expected"),
    [
        (SCORER, ("Resnet50", "Cladonema_starvedJun13", 1, "110", None)),
        (
            "DLC_CspnextS_demoNov29shuffle2_snapshot_best-50",
            ("CspnextS", "demoNov29", 2, "best-50", None),
        ),
        (
            "DLC_HrnetW32_miceJan1shuffle1_detector_best-90_snapshot_080",
            ("HrnetW32", "miceJan1", 1, "080", "best-90"),
        ),
        (
            "DLC_resnet50_openfieldOct30shuffle1_1030000",
            ("resnet50", "openfieldOct30", 1, "1030000", None),
        ),
        (
            "DLC_Resnet50_my_task_with_shuffle_wordsJun1shuffle3_snapshot_010",
            ("Resnet50", "my_task_with_shuffle_wordsJun1", 3, "010", None),
        ),
    ],
)
def test_parse_scorer(scorer: str, expected: tuple) -> None:
    parsed = parse_scorer(scorer)
    assert (
        parsed.net,
        parsed.project,
        parsed.shuffle,
        parsed.snapshot,
        parsed.detector,
    ) == expected


def test_parse_scorer_is_lenient() -> None:
    parsed = parse_scorer("some_custom_name")
    assert parsed.raw == "some_custom_name" and parsed.net is None and parsed.snapshot_epoch is None
    assert parse_scorer("DLC_CspnextS_xJun1shuffle1_snapshot_best-50").is_best


def test_split_prediction_name() -> None:
    assert split_prediction_name(f"/x/DSC_3231_roi_#5{SCORER}.h5") == ("DSC_3231_roi_#5", SCORER)
    assert split_prediction_name(f"vidDLC_{SCORER}_filtered.h5") == ("vidDLC_", SCORER)
    assert split_prediction_name("CollectedData_me.h5") is None


def test_labels_file_is_not_predictions(tmp_path: Path) -> None:
    cols = pd.MultiIndex.from_product(
        [["me"], ["a"], ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    pd.DataFrame([[1.0, 2.0]], columns=cols).to_hdf(tmp_path / "x.h5", key="df_with_missing")
    with pytest.raises(LabelsError, match="x.h5: has no likelihood column"):
        read_predictions(tmp_path / "x.h5")


def _write_with_deeplabcut(folder: Path, predictions: list[dict], model_cfg: dict) -> None:
    from deeplabcut.pose_estimation_pytorch.apis.videos import create_df_from_prediction

    create_df_from_prediction(
        predictions, SCORER, True, model_cfg, folder, f"DSC_3189_#1{SCORER}", save_as_csv=True
    )


@pytest.mark.dlc
def test_file_written_by_deeplabcut_itself(tmp_path: Path, in_child) -> None:
    rng = np.random.default_rng(0)
    predictions = [
        {
            "bodyparts": rng.uniform(0, 100, (2, len(BODYPARTS), 3)),
            "unique_bodyparts": rng.uniform(0, 100, (1, 1, 3)),
        }
        for _ in range(12)
    ]
    model_cfg = {
        "metadata": {
            "bodyparts": BODYPARTS,
            "unique_bodyparts": ["light"],
            "individuals": ["a", "b"],
        }
    }
    in_child(_write_with_deeplabcut, tmp_path, predictions, model_cfg)
    preds = read_predictions(tmp_path / f"DSC_3189_#1{SCORER}.h5")
    assert preds.video_stem == "DSC_3189_#1"
    assert preds.table.keypoints[-1] == ("single", "light")
    expected = np.stack([p["bodyparts"] for p in predictions])
    np.testing.assert_array_equal(preds.table.dense()[:, :2, :4], expected)
    unique = np.stack([p["unique_bodyparts"][0, 0] for p in predictions])
    np.testing.assert_array_equal(preds.table.data[:, -1], unique)


def test_meta_pickle_with_builtin_call_is_refused(tmp_path: Path) -> None:
    import pickle

    h5, _ = write_dlc_predictions(tmp_path, "v")

    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (eval, ("__import__('pathlib').Path('pwned').touch()",))

    (tmp_path / f"v{SCORER}_meta.pickle").write_bytes(pickle.dumps({"data": Evil()}))
    with pytest.warns(UserWarning, match="refusing to load builtins.eval"):
        assert read_predictions(h5).meta == {}
    assert not Path("pwned").exists()
