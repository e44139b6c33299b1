"""Evaluation layers: worst images first, labels and predictions exactly as in DLC's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from imageio.v3 import imread, imwrite

from napari_dlc_workbench.io.labels import read_labels
from napari_dlc_workbench.napari_io import evaluation as ev

from support import snapshot_tree


@pytest.fixture(scope="module")
def view(tiny_trained_source: dict) -> ev.EvaluationView:
    return ev.load_evaluation_view(
        tiny_trained_source["config"], "snapshot-002", splits=("test", "train")
    )


@pytest.fixture(scope="module")
def layers(view: ev.EvaluationView) -> dict:
    return {
        kwargs["metadata"]["workbench"]["layer"]: (data, kwargs, kind)
        for data, kwargs, kind in ev.evaluation_layers(view)
    }


def _labels(project: Path) -> dict[tuple, np.ndarray]:
    out = {}
    for h5 in project.glob("labeled-data/*/CollectedData_*.h5"):
        df = read_labels(h5)
        out.update({tuple(k): df.loc[k].to_numpy(float).reshape(-1, 2) for k in df.index})
    return out


def test_frames_are_sorted_by_decreasing_error_and_hold_every_split_image(
    view, tiny_trained_source
):
    means = [image.mean_error for image in view.images]
    assert means == sorted(means, reverse=True)
    assert len(view.images) == 20 and {i.split for i in view.images} == {"train", "test"}
    # the images' errors are DLC's: their mean over each split is DLC's "RMSE" (2 decimals)
    overall = tiny_trained_source["evaluation"]["results"][0]["overall"]
    for split in ("train", "test"):
        errors = np.concatenate([i.error for i in view.images if i.split == split])
        assert round(float(np.nanmean(errors)), 2) == overall[f"{split} rmse"]


def test_points_equal_collecteddata_and_dlcs_h5(view, layers):
    project = view.project.folder
    labels = _labels(project)
    raw = pd.read_hdf(view.evaluation.predictions)
    truth_data, truth_kwargs, _ = layers["ground truth"]
    pred_data, pred_kwargs, _ = layers["predictions"]
    truth_feats, pred_feats = truth_kwargs["features"], pred_kwargs["features"]
    bodyparts = list(view.images[0].bodyparts)
    for frame in (0, 7, len(view.images) - 1):  # sampled frames, worst first
        key = view.images[frame].key
        assert truth_feats["image"][truth_data[:, 0] == frame].unique() == ["/".join(key[1:])]
        on = truth_data[:, 0] == frame
        got = {
            bp: xy for bp, xy in zip(truth_feats["label"][on], truth_data[on, :0:-1], strict=True)
        }
        for k, bodypart in enumerate(bodyparts):
            np.testing.assert_array_equal(got[bodypart], labels[key][k])
        on = pred_data[:, 0] == frame
        row = raw.loc[key]
        for bodypart, (y, x), likelihood in zip(
            pred_feats["label"][on], pred_data[on, 1:], pred_feats["likelihood"][on], strict=True
        ):
            column = raw.columns.get_level_values("bodyparts") == bodypart
            expected = row[column].to_numpy(float)  # x, y, likelihood
            assert (x, y, likelihood) == tuple(expected)


def test_vectors_go_from_label_to_prediction(view, layers):
    vectors, vector_kwargs, kind = layers["errors"]
    assert kind == "vectors" and vector_kwargs["length"] == 1.0
    truth_data, pred_data = layers["ground truth"][0], layers["predictions"][0]
    assert len(vectors) == len(truth_data) == len(pred_data) == 4 * len(view.images)
    np.testing.assert_array_equal(vectors[:, 0], truth_data)
    np.testing.assert_array_equal(vectors[:, 0] + vectors[:, 1], pred_data)
    lengths = np.hypot(vectors[:, 1, 1], vectors[:, 1, 2])
    np.testing.assert_allclose(lengths, vector_kwargs["features"]["error"], rtol=1e-12)
    assert (vectors[:, 1, 0] == 0).all()


def test_markers_stay_smaller_than_the_animal(view, layers):
    assert view.animal.scale == pytest.approx(16.48, abs=0.5)  # the tiny clips' jellyfish
    expected = min(view.project.dotsize, view.animal.scale / 4)
    for name in ("ground truth", "predictions"):
        assert layers[name][1]["size"] == pytest.approx(expected)


def test_predictions_below_pcutoff_are_hollow(layers):
    _, kwargs, _ = layers["predictions"]
    likelihood = kwargs["features"]["likelihood"].to_numpy()
    alpha = kwargs["face_color"][:, 3]
    np.testing.assert_array_equal(alpha == 0, likelihood < 0.6)
    np.testing.assert_array_equal(kwargs["border_color"][:, 3], 1.0)
    assert kwargs["metadata"]["workbench"]["pcutoff"] == [0.6] * 4


def test_image_stack_follows_the_error_order(view, layers):
    stack, kwargs, kind = layers["images"]
    assert kind == "image" and kwargs["rgb"]
    for frame in (0, len(view.images) - 1):
        png = view.project.folder.joinpath(*view.images[frame].key)
        np.testing.assert_array_equal(np.asarray(stack[frame]), imread(png)[..., :3])


def test_descriptions_name_the_image_and_its_worst_bodypart(view):
    lines = ev.frame_descriptions(view)
    first = view.images[0]
    name, error = first.worst
    assert lines[0].startswith(
        f"#1/20 {first.split} {first.name}: mean error {first.mean_error:.1f} px"
    )
    assert f"worst {name} {error:.1f} px" in lines[0]


def test_images_of_different_sizes_are_padded_at_right_and_bottom(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)
    grey = rng.integers(0, 255, (40, 20), dtype=np.uint8)
    imwrite(tmp_path / "big.png", big)
    imwrite(tmp_path / "grey.png", grey)
    stack, rgb = ev.image_stack([tmp_path / "big.png", tmp_path / "grey.png"])
    assert rgb and stack.shape == (2, 40, 50, 3) and stack.chunksize[0] == 1
    frames = np.asarray(stack)
    np.testing.assert_array_equal(frames[0, :30, :50], big)
    assert not frames[0, 30:].any()
    np.testing.assert_array_equal(frames[1, :40, :20], np.repeat(grey[..., None], 3, axis=2))
    assert not frames[1, :, 20:].any()


def test_a_snapshot_without_results_is_refused_and_nothing_is_written(tiny_trained_source):
    config = tiny_trained_source["config"]
    before = snapshot_tree(config.parent / "evaluation-results-pytorch")
    with pytest.raises(
        FileNotFoundError, match="snapshot-best-001 of shuffle 1 has not been evaluated"
    ):
        ev.load_evaluation_view(config, "snapshot-best-001")
    with pytest.raises(FileNotFoundError, match="no snapshot-042.pt"):
        ev.load_evaluation_view(config, "snapshot-042.pt")
    assert snapshot_tree(config.parent / "evaluation-results-pytorch") == before


def test_results_and_context_are_read_from_disk(tiny_trained_source):
    from napari_dlc_workbench.dlc.evaluation import read_evaluation_results
    from napari_dlc_workbench.io.evaluation_files import shuffle_files

    files = shuffle_files(tiny_trained_source["config"], 1)
    (expected,) = tiny_trained_source["evaluation"]["results"]
    result = ev.read_results(files, "snapshot-002.pt")
    assert result["scorer"] == expected["scorer"] and result["epochs"] == 2
    assert result["results_csv"] == expected["results_csv"]
    on_disk = read_evaluation_results(expected["results_csv"], expected["keypoint_csv"])
    assert result["bodyparts"] == on_disk["bodyparts"]
    assert result["overall"].keys() == on_disk["overall"].keys()
    assert ev.read_results(files, "snapshot-best-001") is None
    assert ev.read_results(files, "snapshot-099") is None
    size, counts = ev.table_context(files)
    assert counts == {"train": 19, "test": 1} and 5 < size.scale < 160 and size.n_poses == 20
