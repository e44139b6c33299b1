"""Follow DLC 3's PyTorch training loop from inside the child process.

DLC 3.0 has no callback API; its ``TrainingRunner.fit`` calls, once per epoch
and in this order: ``self.step`` per batch, ``self.csv_logger.log`` (the row of
``learning_stats.csv``: train losses, then eval losses and test metrics when the
epoch is an evaluation epoch) and ``self.snapshot_manager.update`` (which may
write ``snapshot-NNN.pt`` / ``snapshot-best-NNN.pt``). :func:`training_progress`
wraps ``fit`` for the duration of one call to ``train_network`` and, on each
runner, wraps those three collaborators of that one instance: DLC's own code runs
unchanged, the epoch event carries exactly the values DLC wrote to the CSV, and
snapshot writes are protected from cancellation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from napari_dlc_workbench.dlc.reporting import Reporter

__all__ = ["training_progress"]


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class _RunWatcher:
    """Reports one ``fit`` call of one runner (pose model or detector)."""

    def __init__(
        self,
        runner: Any,
        report: Reporter,
        n_batches: int,
        epochs: int,
        interval: float,
        done: dict[str, list[int]],
    ) -> None:
        from deeplabcut.pose_estimation_pytorch.runners.train import DetectorTrainingRunner

        self.runner = runner
        self.report = report
        self.interval = interval
        self.stage = "detector" if isinstance(runner, DetectorTrainingRunner) else "pose"
        # Same arithmetic as TrainingRunner.fit: a resumed run trains `epochs` more.
        self.first = runner.starting_epoch + 1
        self.last = runner.starting_epoch + epochs if runner.starting_epoch > 0 else epochs
        self.n_batches = n_batches
        self.done = done.setdefault(self.stage, [])
        self.rows: dict[int, dict[str, float]] = {}
        self._batch = 0
        self._batch_epoch = -1
        self._last_progress = 0.0

    def attach(self) -> None:
        runner = self.runner
        step, log, update = runner.step, runner.csv_logger.log, runner.snapshot_manager.update

        def watched_step(batch: Any, mode: str = "train") -> Any:
            out = step(batch, mode)
            if mode == "train":
                self._on_batch()
            return out

        def watched_log(metrics: dict[str, Any], step: int | None = None) -> None:
            log(metrics, step=step)
            if step is not None:
                self.rows.setdefault(int(step), {}).update(
                    {str(k): _number(v) for k, v in metrics.items()}
                )

        def watched_update(epoch: int, state_dict: dict, last: bool = False) -> None:
            manager = runner.snapshot_manager
            before = self._files(manager)
            # Reported inside the protected block too, so a cancelled run still
            # names the snapshot it has just written.
            with self.report.protect():
                update(epoch, state_dict, last=last)
                self._on_epoch(int(epoch))
                after = self._files(manager)
                for path in sorted(p for p, stamp in after.items() if before.get(p) != stamp):
                    self.report.emit(
                        "snapshot",
                        stage=self.stage,
                        epoch=int(epoch),
                        epochs=self.last,
                        snapshot=path,
                    )

        # Instance attributes shadow the class methods for this runner only.
        runner.step = watched_step
        runner.csv_logger.log = watched_log
        runner.snapshot_manager.update = watched_update
        self.report.emit(
            "progress",
            stage=self.stage,
            epoch=runner.starting_epoch,
            epochs=self.last,
            message=f"training the {self.stage} model: epochs {self.first}-{self.last}",
        )

    @staticmethod
    def _files(manager: Any) -> dict[str, int]:
        found = {}
        for snapshot in manager.snapshots():
            path = Path(snapshot.path)
            try:
                found[str(path)] = path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
        return found

    def _on_batch(self) -> None:
        epoch = int(self.runner.current_epoch)
        if epoch != self._batch_epoch:
            self._batch_epoch, self._batch = epoch, 0
        self._batch += 1
        now = time.monotonic()
        if now - self._last_progress >= self.interval or self._batch == self.n_batches:
            self._last_progress = now
            self.report.emit(
                "progress",
                stage=self.stage,
                epoch=epoch,
                epochs=self.last,
                step=self._batch,
                total=self.n_batches,
            )

    def _on_epoch(self, epoch: int) -> None:
        self.done.append(epoch)
        row = self.rows.get(epoch, {})
        loss = row.get("losses/train.total_loss")
        self.report.emit(
            "epoch",
            stage=self.stage,
            epoch=epoch,
            epochs=self.last,
            loss=loss,
            metrics=dict(row),
        )


@contextmanager
def training_progress(report: Reporter, *, interval: float = 1.0) -> Iterator[dict[str, list[int]]]:
    """Report DLC's training progress to ``report`` while the block runs.

    Parameters
    ----------
    report : Reporter
        Receives ``progress`` (start of a run; batches, at most every ``interval``
        seconds and at the end of each epoch), ``epoch`` and ``snapshot`` events.
    interval : float
        Least seconds between two batch ``progress`` events.

    Yields
    ------
    dict
        Filled while training: the epochs completed per stage
        (``{"pose": [1, 2, ...], "detector": [...]}``).
    """
    from deeplabcut.pose_estimation_pytorch.runners.train import TrainingRunner

    original = TrainingRunner.fit
    done: dict[str, list[int]] = {}

    def fit(self: Any, train_loader: Any, valid_loader: Any, epochs: int, display_iters: int):
        try:
            _RunWatcher(self, report, len(train_loader), int(epochs), interval, done).attach()
        except (AttributeError, TypeError) as exc:
            # Another DLC release may have moved these internals: train anyway, blind.
            report.emit("log", message=f"warning: no live progress with this DeepLabCut ({exc})")
        return original(self, train_loader, valid_loader, epochs, display_iters)

    TrainingRunner.fit = fit
    try:
        yield done
    finally:
        TrainingRunner.fit = original
