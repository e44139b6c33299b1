"""The Evaluation dock: DLC's numbers in the table, the worst images as layers, a real evaluate job."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
from napari.layers import Image, Layer, Points, Vectors

from napari_dlc_workbench._qt.evaluation_widget import EvaluationWidget
from napari_dlc_workbench.napari_io.evaluation import load_evaluation_view
from napari_dlc_workbench.napari_io.reader import read_config_layers

from support import snapshot_tree

pytestmark = [pytest.mark.napari, pytest.mark.dlc]


@pytest.fixture
def trained(tiny_trained_source: dict, copy_project, tmp_path: Path) -> Path:
    """A writable copy of the tiny project trained 2 epochs, snapshot-002 evaluated."""
    return copy_project(tiny_trained_source["config"].parent, tmp_path / "trained")


def _csv_row(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.DictReader(fh))


def _assert_table_is_dlcs(dock: EvaluationWidget, results_csv: Path) -> None:
    row = _csv_row(results_csv)
    keypoints = {}
    with results_csv.with_name(
        results_csv.name.replace("-results", "-keypoint-results")
    ).open() as fh:
        for line in csv.DictReader(fh):
            keypoints[line[""]] = line
    assert dock.table.rowCount() == 4 + len(keypoints["Test error (px)"]) - 1
    for r, metric in enumerate(dock.rows):
        for column, split in ((1, "train"), (2, "test")):
            if metric.key == "bodypart":
                text = keypoints[f"{split.capitalize()} error (px)"][metric.bodypart]
            else:
                text = row[f"{split} {metric.key}"]
            value = getattr(metric, split)
            shown = dock.table.item(r, column).text()
            if text == "":
                assert math.isnan(value) and shown == "—"
            else:
                assert value == pytest.approx(float(text), rel=1e-15, abs=0)
                assert shown.removesuffix(" px") == f"{float(text):.2f}"
        assert dock.table.item(r, 0).toolTip() == metric.explanation


def test_existing_results_are_loaded_and_frames_shown_worst_first(make_napari_viewer, trained):
    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*read_config_layers(trained)[0]))
    before = snapshot_tree(trained.parent / "evaluation-results-pytorch")
    dock = EvaluationWidget(viewer)
    viewer.window.add_dock_widget(dock)
    assert dock.config == trained  # picked up from the open config layer
    # DLC's default (snapshotindex -1, the best snapshot) was not evaluated; snapshot-002 was
    assert dock.snapshot_box.currentData() == "snapshot-best-001"
    assert "no evaluation yet" in dock.status.text() and dock.table.rowCount() == 0
    chosen = dock.snapshot_box.findData("snapshot-002")
    dock.snapshot_box.setCurrentIndex(chosen)
    dock.snapshot_box.activated.emit(chosen)
    assert "read from" in dock.status.text(), dock.status.text()
    results_csv = next(
        trained.parent.glob("evaluation-results-pytorch/*/*/*snapshot_2-results.csv")
    )
    _assert_table_is_dlcs(dock, results_csv)
    assert dock.counts == {"train": 19, "test": 1} and dock.size.scale > 0
    assert "animal size" in dock.explanation.toPlainText()
    dock.table.setCurrentCell(2, 1)
    assert dock.explanation.toPlainText().startswith("mAP (OKS)")

    dock.train_box.setChecked(True)
    layers = dock.show_frames()
    assert [type(la) for la in layers] == [Image, Vectors, Points, Points]
    image, vectors, truth, predictions = layers
    view = load_evaluation_view(trained, "snapshot-002", splits=("test", "train"))
    assert image.data.shape == (20, 160, 160, 3)
    np.testing.assert_array_equal(truth.data[:, 0], np.repeat(np.arange(20), 4))
    expected = np.array(
        [[f, *image_.truth[k, ::-1]] for f, image_ in enumerate(view.images) for k in range(4)]
    )
    np.testing.assert_array_equal(truth.data, expected)
    np.testing.assert_array_equal(vectors.data[:, 0] + vectors.data[:, 1], predictions.data)
    means = truth.features.groupby(truth.data[:, 0])["error"].mean().to_numpy()
    assert (np.diff(means) <= 1e-12).all()  # worst first
    assert dock.frames_list.count() == 20
    dock.frames_list.setCurrentRow(5)
    assert viewer.dims.current_step[0] == 5
    assert viewer.text_overlay.visible
    assert viewer.text_overlay.text.replace("\n", " ") == dock.descriptions[5].replace(
        ": ", " "
    ).replace(", worst", " worst")
    assert view.images[5].name in dock.descriptions[5]
    viewer.dims.set_current_step(0, 2)
    assert dock.frames_list.currentRow() == 2
    for layer in layers:
        layer.visible = False
    viewer.dims.set_current_step(0, 3)
    assert not viewer.text_overlay.visible  # it describes the evaluation images only
    for layer in layers:
        layer.visible = True

    assert len(dock.show_frames()) == 4
    assert len(viewer.layers) == 5  # the config layer and one set of evaluation layers
    assert snapshot_tree(trained.parent / "evaluation-results-pytorch") == before


def test_evaluate_runs_dlc_in_a_child_and_fills_the_table(make_napari_viewer, qtbot, trained):
    viewer = make_napari_viewer()
    dock = EvaluationWidget(viewer)
    dock.set_config(trained)
    assert dock.snapshot_box.currentData() == "snapshot-best-001"
    assert dock.table.rowCount() == 0 and "no evaluation yet" in dock.status.text()
    dock.device_box.setCurrentText("cpu")
    dock.evaluate_button.click()
    assert dock.busy and not dock.evaluate_button.isEnabled() and dock.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dock.busy, timeout=300_000)
    assert dock.status.text().startswith("Evaluated snapshot-best-001"), dock.status.text()
    results_csv = next(
        trained.parent.glob("evaluation-results-pytorch/*/*/*snapshot_best-1-results.csv")
    )
    assert dock.result["snapshot"] == "snapshot-best-001"
    _assert_table_is_dlcs(dock, results_csv)


def test_cancel_stops_the_job_and_writes_no_results(make_napari_viewer, qtbot, trained):
    viewer = make_napari_viewer()
    dock = EvaluationWidget(viewer)
    dock.set_config(trained)
    dock.snapshot_box.setCurrentIndex(dock.snapshot_box.findData("snapshot-best-001"))
    assert dock.evaluate()
    pid = dock.handle.pid
    dock.cancel_button.click()
    qtbot.waitUntil(lambda: not dock.busy, timeout=60_000)
    assert "cancelled" in dock.status.text(), dock.status.text()
    assert not list(trained.parent.glob("evaluation-results-pytorch/*/*/*best-1-results.csv"))
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the child and everything it started are gone


def test_bad_input_gives_a_message_no_layers_and_writes_nothing(
    make_napari_viewer, trained, tiny_project, tmp_path
):
    viewer = make_napari_viewer()
    dock = EvaluationWidget(viewer)
    # a project trained but whose chosen snapshot was never evaluated
    before = snapshot_tree(trained.parent)
    dock.set_config(trained)
    dock.snapshot_box.setCurrentIndex(dock.snapshot_box.findData("snapshot-best-001"))
    assert dock.show_frames() == []
    assert "has not been evaluated yet" in dock.status.text(), dock.status.text()
    # a project never trained: nothing to evaluate
    untrained = snapshot_tree(tiny_project.parent)
    dock.set_config(tiny_project)
    assert dock.snapshot_box.count() == 0 and dock.table.rowCount() == 0
    assert "train this shuffle first" in dock.status.text()
    assert not dock.evaluate_button.isEnabled()
    assert not dock.evaluate() and dock.show_frames() == []
    # no config at all
    dock.set_config(tmp_path / "nowhere" / "config.yaml")
    assert (
        "Cannot use this project" in dock.status.text() and "does not exist" in dock.status.text()
    )
    assert len(viewer.layers) == 0
    assert snapshot_tree(trained.parent) == before
    assert snapshot_tree(tiny_project.parent) == untrained
