"""The devices torch can use here, as doctor's probe names them: asked once per session.

The probe imports torch in a child interpreter (seconds), so it runs in a napari
thread worker; the Training and Inference docks share its answer, and docks
opened while it runs wait for the same probe.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

from qtpy import QtWidgets as qw

from napari_dlc_workbench._qt._inference_jobs import Failure, guarded, start_worker
from napari_dlc_workbench.process.training_session import device_choices

__all__ = ["probe_devices", "probe_devices_once", "set_choices", "show_probe"]

Choices = list[tuple[str, str]]

_PROBED: list[tuple[Choices, str]] = []
"""``[(choices, text)]`` once the probe answered (tests fill it to skip the probe)."""
_WAITING: list[Callable[[Any], None]] = []
"""The slots waiting for the probe running now."""


def probe_devices(timeout: float = 120.0) -> tuple[Choices, str]:
    """Ask doctor's probe (a child interpreter) which devices torch can use.

    Blocks for seconds (it imports torch in the child): call it off the GUI thread.

    Returns
    -------
    tuple
        ``(label, device)`` choices and doctor's one-line verdict on torch and CUDA.
    """
    from napari_dlc_workbench._doctor_child import run_probe
    from napari_dlc_workbench.doctor import checks_from_probe

    probe = run_probe(
        sys.executable, timeout, ("torch", "cuda"), {"torch": "torch", "cuda": "torch"}
    )
    checks = {check.name: check for check in checks_from_probe(probe)}
    text = "; ".join(
        f"{name}: {checks[name].detail}" + (f" ({checks[name].fix})" if checks[name].fix else "")
        for name in ("torch", "cuda")
    )
    return device_choices(probe.get("cuda")), text


def probe_devices_once(slot: Callable[[Any], None]) -> None:
    """Call ``slot`` with doctor's device choices, probed once per session in the background.

    ``slot`` gets ``(choices, text)`` as :func:`probe_devices` returns it, or the
    :class:`~._inference_jobs.Failure` that stopped the probe (the next dock
    opened then probes again).
    """
    if _PROBED:  # torch's devices do not come and go during a session
        slot(_PROBED[0])
        return
    _WAITING.append(slot)
    if len(_WAITING) == 1:  # one probe at a time, however many docks open meanwhile
        start_worker(guarded, probe_devices, returned=_answer)


def _answer(result: Any) -> None:
    if not isinstance(result, Failure):
        _PROBED[:] = [result]
    slots = list(_WAITING)
    _WAITING.clear()
    for slot in slots:
        # A dock may have been closed during the probe (seconds: it imports torch).
        with contextlib.suppress(RuntimeError):
            slot(result)


def set_choices(box: qw.QComboBox, choices: Choices) -> None:
    """Offer ``(label, device)`` choices in ``box``, keeping its current device if offered."""
    current = box.currentData()
    box.clear()
    for label, value in choices:
        box.addItem(label, value)
    box.setCurrentIndex(max(box.findData(current), 0))


def show_probe(box: qw.QComboBox, label: qw.QLabel, result: Any) -> str:
    """Show what :func:`probe_devices_once` passed: the choices in ``box``, the verdict in ``label``.

    Returns
    -------
    str
        Doctor's verdict, or why the probe failed.
    """
    if isinstance(result, Failure):
        label.setText(f"doctor could not probe torch: {result}")
        return str(result)
    choices, text = result
    set_choices(box, choices)
    label.setText(f"doctor: {text}")
    return str(text)
