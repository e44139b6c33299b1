"""A napari progress bar that background jobs can advance from their own thread.

napari's :class:`~napari.utils.progress` bars are shown by Qt widgets. Creating
or updating one inside a ``thread_worker`` touches those widgets from the
worker thread ("QObject::setParent: Cannot set parent, new parent is in a
different thread"). :class:`GuiProgress` creates its bar in the GUI thread and
hands the worker a thread-safe :meth:`~GuiProgress.update` callable; the
updates travel through a queued Qt signal, so the bar is only ever touched in
the GUI thread.

Typical use, in the GUI thread::

    bar = GuiProgress(total=n, desc="Copying")
    worker = work(progress=bar.update)  # the backend calls update(done, total)
    bar.close_when_finished(worker)
    worker.start()
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QObject, Signal

__all__ = ["GuiProgress"]


class GuiProgress(QObject):
    """Own a napari progress bar made in the GUI thread; advance it from any thread.

    Parameters
    ----------
    total : int
        Number of steps of the bar.
    desc : str
        Description shown next to the bar.
    parent : QObject, optional
        Qt parent of the relay object.

    Notes
    -----
    Construct (and :meth:`close`) it in the GUI thread; :meth:`update` may be
    called from any thread.
    """

    # done, total (None: unchanged), description ("" : unchanged)
    _advanced = Signal(object, object, str)

    def __init__(self, total: int, desc: str, parent: QObject | None = None) -> None:
        from napari.utils import progress

        super().__init__(parent)
        self.bar: Any = progress(total=total, desc=desc)
        self._desc = desc
        # The object lives in the GUI thread: emitted from a worker, the signal is queued.
        self._advanced.connect(self._advance)

    @property
    def closed(self) -> bool:
        """True once the bar has been closed."""
        return self.bar is None

    def update(self, done: int, total: int | None = None, desc: str = "") -> None:
        """Set the bar to ``done`` steps (thread-safe; it is redrawn in the GUI thread).

        Parameters
        ----------
        done : int
            Steps done so far (absolute, not an increment).
        total : int, optional
            New number of steps, when the job knows it better than the caller did.
        desc : str, optional
            New description; empty keeps the current one.
        """
        self._advanced.emit(done, total, desc)

    def close(self, *_: Any) -> None:
        """Close the bar (GUI thread); later updates are ignored. Safe to call twice."""
        bar, self.bar = self.bar, None
        if bar is not None:
            bar.close()

    def close_when_finished(self, worker: Any) -> Any:
        """Close the bar when ``worker`` finishes, whether it returned or raised.

        Connect this before the worker's other ``finished`` handlers, so that a
        handler which starts the next job sees this bar already closed.

        Returns
        -------
        worker
            The same worker, for chaining.
        """
        worker.finished.connect(self.close)
        return worker

    def _advance(self, done: int, total: int | None, desc: str) -> None:
        bar = self.bar
        if bar is None:  # an update queued before the job ended, delivered after
            return
        if total is not None and total != bar.total:
            bar.total = total
        if desc and desc != self._desc:
            self._desc = desc
            bar.set_description(desc)
        bar.update(done - bar.n)
