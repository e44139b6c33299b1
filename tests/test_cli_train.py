"""``dlc-workbench train`` and ``learning-curve``: progress display, exit codes, real runs.

The real runs start the console script as a user would; DLC runs in its child.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from napari_dlc_workbench._cli_dlc import ProgressLine
from napari_dlc_workbench.cli import main
from napari_dlc_workbench.model.jobs import JobEvent

EXE = Path(sys.executable).with_name("dlc-workbench")
TRAIN = ["--epochs", "1", "--batch-size", "4", "--device", "cpu", "--weights", "random"]


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_batch_line_eta_on_a_terminal() -> None:
    # The ETA is the Training dock's (process.training_session.TrainingProgress).
    out = Terminal()
    show = ProgressLine(out)
    t = 1000.0
    show(JobEvent("progress", stage="pose", epoch=0, epochs=3, timestamp=t))
    show(JobEvent("progress", stage="pose", epoch=1, epochs=3, step=1, total=4, timestamp=t + 2))
    assert out.getvalue().endswith("epoch 1/3 batch 1/4  ETA —")  # no epoch timed yet
    show(JobEvent("epoch", stage="pose", epoch=1, epochs=3, loss=0.5, timestamp=t + 10))
    show(JobEvent("progress", stage="pose", epoch=2, epochs=3, step=2, total=4, timestamp=t + 15))
    assert out.getvalue().endswith("epoch 2/3 batch 2/4  loss 0.50000  ETA 15 s")
    # A top-down model's detector epochs are timed apart from the pose model's.
    show(JobEvent("progress", stage="detector", epoch=0, epochs=2, timestamp=t + 20))
    show(JobEvent("epoch", stage="detector", epoch=1, epochs=2, loss=1.0, timestamp=t + 120))
    assert out.getvalue().splitlines()[-1].endswith("(100.0 s/epoch, ETA 1 min 40 s)")


def test_progress_lines() -> None:
    out = io.StringIO()
    show = ProgressLine(out)
    t = 1000.0
    events = [
        JobEvent("progress", job_name="learning_curve", stage="subset", step=1, total=2,
                 message="subset 1/2: 8 training frames (50 % of 16), shuffle 2", timestamp=t),
        JobEvent("log", message="warning: starting from random weights", timestamp=t),
        JobEvent("progress", stage="pose", epoch=1, epochs=3,
                 message="training the pose model: epochs 1-3", timestamp=t),
        JobEvent("progress", stage="pose", epoch=1, epochs=3, step=2, total=4, timestamp=t + 5),
        JobEvent("epoch", job_name="train", stage="pose", epoch=1, epochs=3, loss=0.1,
                 metrics={"metrics/test.rmse": 4.2}, timestamp=t + 10),
        JobEvent("snapshot", snapshot="/p/snapshot-001.pt", timestamp=t + 10),
        JobEvent("epoch", job_name="train", stage="pose", epoch=2, epochs=3, loss=0.05,
                 timestamp=t + 22),
        JobEvent("progress", step=1, total=1, epoch=2, message="evaluating snapshot-002.pt",
                 timestamp=t + 23),
    ]  # fmt: skip
    for event in events:
        show(event)
    assert out.getvalue().splitlines() == [
        "== subset 1/2: 8 training frames (50 % of 16), shuffle 2",
        "warning: starting from random weights",
        "training the pose model: epochs 1-3",
        # Not a terminal: no batch line; each epoch gets a line with its ETA.
        "[train] epoch 1/3: loss 0.10000, test rmse 4.20  (10.0 s/epoch, ETA 20 s)",
        "[train] epoch 2/3: loss 0.05000  (12.0 s/epoch, ETA 11 s)",
        "evaluating snapshot-002.pt",
    ]
    assert show.last_snapshot == "/p/snapshot-001.pt"


def test_commands_are_listed_and_import_no_dlc() -> None:
    probe = (
        "import json, sys; from napari_dlc_workbench.cli import build_parser; "
        "import napari_dlc_workbench.dlc.learning_curve; build_parser(); "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('deeplabcut', 'torch', 'matplotlib', 'pandas'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    help_text = cli("--help").stdout
    assert "train" in help_text and "learning-curve" in help_text


def test_learning_curve_refuses_bad_fractions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("Task: x\n")
    before = tree(tmp_path)
    assert main(["learning-curve", str(config), "--fractions", "0.5", "1.5"]) == 1
    assert "error: fractions must lie in (0, 1], got [1.5]" in capsys.readouterr().err
    assert main(["learning-curve", str(config), "--test-fraction", "1"]) == 1
    assert "--test-fraction must lie in (0, 1)" in capsys.readouterr().err
    assert tree(tmp_path) == before


def test_learning_curve_summary_and_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import napari_dlc_workbench._cli_dlc as cli_dlc

    config = tmp_path / "config.yaml"
    config.write_text("Task: x\n")
    monkeypatch.setattr(cli_dlc, "_check_config", lambda path: None)
    point = {"fraction": 0.5, "n_train": 8, "n_test": 4, "shuffle": 2}
    result = {
        "points": [
            {**point, "test_rmse": 29.96, "train_rmse": None},
            {**point, "fraction": 1.0, "n_train": 16, "shuffle": 3, "test_rmse": 17.9,
             "train_rmse": 19.25},
        ],
        "note": "still improving: ...",
        "files": {"plot": "/p/learning-curve.png", "json": "/p/learning-curve.json"},
    }  # fmt: skip
    finals = {
        0: JobEvent("finished", result=result),
        1: JobEvent("error", message="ValueError: too few", traceback="line 1\nline 2\n"),
        130: JobEvent("cancelled", message="stopped by signal SIGTERM", snapshot="/s-001.pt"),
    }
    sent = []
    for status, final in finals.items():

        def fake_run(name: str, kwargs: dict, verbose: bool, final: JobEvent = final) -> tuple:
            sent.append((name, kwargs))
            return final, ProgressLine(io.StringIO())

        monkeypatch.setattr(cli_dlc, "_run", fake_run)
        args = ["learning-curve", str(config), "--fractions", "1", "0.5", "--epochs", "3"]
        assert main(args) == status
        out, err = capsys.readouterr()
        if status == 0:
            assert out.splitlines() == [
                "fraction  frames  test RMSE  train RMSE  shuffle",
                "    50 %       8      29.96           -  2",
                "   100 %      16      17.90       19.25  3",
                "test set: 4 frames, the same for every row",
                "still improving: ...",
                "plot: /p/learning-curve.png",
                "data: /p/learning-curve.json",
            ]
        elif status == 1:
            assert (
                err
                == "error: ValueError: too few\n--- traceback (last lines) ---\nline 1\nline 2\n"
            )
        else:
            assert err == "cancelled (stopped by signal SIGTERM); last snapshot kept: /s-001.pt\n"
    name, kwargs = sent[0]
    assert name == "learning_curve"
    assert (kwargs["fractions"], kwargs["epochs"], kwargs["weights"]) == ([0.5, 1.0], 3, "random")


@pytest.mark.dlc
def test_train_one_epoch(tiny_project: Path) -> None:
    done = cli("train", str(tiny_project), *TRAIN, "--save-every", "1")
    assert done.returncode == 0, done.stderr
    train = next(tiny_project.parent.glob("dlc-models-pytorch/iteration-0/*shuffle1/train"))
    assert f"snapshot folder: {train}" in done.stdout
    assert f"last snapshot:   {train / 'snapshot-001.pt'}" in done.stdout
    assert (train / "snapshot-001.pt").is_file()
    assert "started from:    random" in done.stdout and "warning:" in done.stdout
    assert "[train] epoch 1/1: loss " in done.stderr and "ETA 0 s)" in done.stderr


@pytest.mark.dlc
def test_errors_exit_1_and_change_nothing(tiny_project: Path) -> None:
    before = tree(tiny_project.parent)
    # A shuffle without a training dataset: DLC's child fails, the traceback tail is shown.
    done = cli("train", str(tiny_project), "--shuffle", "9", *TRAIN)
    assert done.returncode == 1
    assert "error: FileNotFoundError: " in done.stderr and "shuffle 9 has no PyTorch" in done.stderr
    assert "--- traceback (last lines) ---" in done.stderr
    assert tree(tiny_project.parent) == before
    # A config.yaml that is not YAML: refused before any child starts.
    tiny_project.write_text(tiny_project.read_text() + "\nbodyparts: [unclosed\n")
    before = tree(tiny_project.parent)
    done = cli("train", str(tiny_project), *TRAIN)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {tiny_project}")
    assert tree(tiny_project.parent) == before


@pytest.mark.dlc
def test_ctrl_c_cancels_and_keeps_the_snapshot(tiny_project: Path) -> None:
    args = [str(EXE), "train", str(tiny_project), "--epochs", "50", "--save-every", "1"]
    args += ["--batch-size", "4", "--device", "cpu", "--weights", "random"]
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("[train] epoch "):
            process.send_signal(signal.SIGINT)
            break
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 130, "".join(seen) + rest
    train = next(tiny_project.parent.glob("dlc-models-pytorch/iteration-0/*shuffle1/train"))
    snapshots = sorted(train.glob("snapshot-0*.pt"))
    assert snapshots and snapshots[0].name == "snapshot-001.pt"
    assert "cancelled (stopped by signal SIGTERM); last snapshot kept: " in rest
    assert str(snapshots[-1]) in rest
