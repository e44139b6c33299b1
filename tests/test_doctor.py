"""Tests for the environment doctor: real child interpreters, fabricated probe dicts."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from napari_dlc_workbench import doctor
from napari_dlc_workbench.doctor import (
    Check,
    checks_from_probe,
    disk_check,
    disk_check_from_free,
    exit_code,
    format_checks,
    run_checks,
)


def _system_python() -> str | None:
    """A Python 3.10-3.12 outside the venv, i.e. without torch/napari/deeplabcut."""
    candidates = ["/root/.pyenv/versions/3.11.7/bin/python3", shutil.which("python3")]
    venv = Path(sys.prefix).resolve()
    for exe in candidates:
        if exe and Path(exe).exists() and venv not in Path(exe).resolve().parents:
            return exe
    return None


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


# A probe as this venv reports it, to vary one section at a time.
GOOD = {
    "python": {"version": "3.11.7", "version_info": [3, 11, 7], "executable": "/env/bin/python"},
    "os": {"platform": "Linux-6.8-x86_64", "machine": "x86_64"},
    "napari": {"version": "0.9.2"},
    "qt": {"api": "PySide6", "binding_version": "6.9.3", "qt_version": "6.9.3"},
    "torch": {"version": "2.14.1+cu130", "cuda": "13.0", "hip": None},
    "cuda": {
        "available": True,
        "devices": [{"name": "NVIDIA H200", "capability": [9, 0]}],
        "nvidia_smi": "NVIDIA H200, 580.65",
        "reason": None,
        "mps": False,
    },
    "cudnn": {"available": True, "version": 92400},
    "deeplabcut": {"version": "3.0.2"},
    "pyav": {"version": "18.1.0", "ffmpeg": "8.1.2", "libraries": {"libavcodec": "62.28.102"}},
    "ffmpeg": {"path": "/usr/bin/ffmpeg", "source": "PATH", "version": "7.1", "problem": None},
}


def _probe(**sections: dict) -> dict:
    return {**GOOD, **sections}


# --- real child interpreters ----------------------------------------------------------------


@pytest.mark.dlc
def test_real_run_in_this_venv(capsys, tmp_path):
    checks = run_checks(disk_path=tmp_path)
    by = _by_name(checks)
    assert [c.name for c in checks] == [*doctor.SECTIONS, "disk"]
    for name in ("python", "os", "napari", "qt", "torch", "deeplabcut", "pyav", "ffmpeg"):
        assert by[name].status == "OK", by[name]
    assert by["python"].detail.startswith(".".join(map(str, sys.version_info[:3])))
    assert "PySide6" in by["qt"].detail and "(Qt " in by["qt"].detail
    assert "build" in by["torch"].detail
    assert "FFmpeg" in by["pyav"].detail
    if by["cuda"].status == "OK":  # a GPU machine
        assert "GPU" in by["cuda"].detail and by["cudnn"].status == "OK"
    else:
        assert by["cuda"].status == "WARN" and by["cuda"].fix
    assert exit_code(checks) == 0

    assert doctor.main(["--json", "--disk-path", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["name"] for row in rows} == {*doctor.SECTIONS, "disk"}
    assert set(rows[0]) == {"name", "status", "detail", "fix"}


def test_system_python_without_packages_fails_with_fixes(tmp_path):
    exe = _system_python()
    if exe is None:
        pytest.skip("no Python outside the venv")
    checks = run_checks(python_executable=exe, disk_path=tmp_path)
    by = _by_name(checks)
    for name in ("torch", "deeplabcut", "napari"):
        assert by[name].status == "FAIL" and by[name].detail == "not installed"
        assert by[name].fix.startswith("pip install")
    assert by["cuda"].status == "WARN" and "torch did not import" in by["cuda"].detail
    assert exit_code(checks) == 1
    assert doctor.main(["--python", exe, "--disk-path", str(tmp_path)]) == 1


def _fake_packages(tmp_path: Path, monkeypatch, **modules: str) -> None:
    """Put importable stand-ins on the child's path; each body runs on import."""
    for name, body in modules.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(body)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))


def test_broken_packages_in_child(tmp_path, monkeypatch):
    """A package whose import raises fails its own line; one that segfaults fails only its own."""
    exe = _system_python()
    if exe is None:
        pytest.skip("no Python outside the venv")
    _fake_packages(
        tmp_path,
        monkeypatch,
        deeplabcut="raise RuntimeError('bad config')\n",
        napari="import skimage\n",
        torch="import ctypes\nctypes.string_at(0)\n",
    )
    checks = run_checks(python_executable=exe, disk_path=tmp_path)
    by = _by_name(checks)
    assert by["python"].status == "OK"
    assert by["napari"].status == "FAIL" and "No module named 'skimage'" in by["napari"].detail
    assert by["napari"].fix == "pip install scikit-image (needed by napari)"
    assert by["torch"].status == "FAIL"
    assert by["torch"].detail == "probe was killed by SIGSEGV while checking torch"
    assert by["torch"].fix.endswith('-c "import torch"')
    assert by["cuda"].status == "WARN" and "torch did not import" in by["cuda"].detail
    # The probe restarts past the crash, so later lines are still real results.
    assert by["deeplabcut"].status == "FAIL"
    assert "RuntimeError: bad config" in by["deeplabcut"].detail
    assert by["pyav"] == Check("pyav", "FAIL", "not installed", "pip install av")
    assert exit_code(checks) == 1


def test_hanging_import_times_out(tmp_path, monkeypatch):
    exe = _system_python()
    if exe is None:
        pytest.skip("no Python outside the venv")
    _fake_packages(tmp_path, monkeypatch, napari="import time\ntime.sleep(60)\n")
    by = _by_name(run_checks(python_executable=exe, disk_path=tmp_path, timeout=3))
    assert by["python"].status == "OK"
    assert by["napari"].status == "FAIL"
    assert by["napari"].detail == "probe timed out after 3 s while checking napari"
    assert "raise --timeout" in by["napari"].fix
    assert by["deeplabcut"].status == "FAIL"
    assert by["deeplabcut"].detail == "not checked: probe timed out after 3 s"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("exit 139", "exited with code 139 (128+SIGSEGV: it crashed)"),
        ("echo 'this is not json'", "exited without reporting; last output: this is not json"),
        ("echo oops >&2; exit 3", "exited with code 3; last output: oops"),
        ("sleep 30", "timed out after 1 s"),
    ],
)
def test_crashing_child_gives_fail_lines(tmp_path, body, expected):
    checks = run_checks(python_executable=_script(tmp_path, body), disk_path=tmp_path, timeout=1)
    assert len(checks) == len(doctor.SECTIONS) + 1
    for check in checks[:-1]:
        assert check.status == "FAIL"
        assert expected in check.detail
        assert check.fix
    assert exit_code(checks) == 1


def test_missing_interpreter(tmp_path):
    checks = run_checks(python_executable=str(tmp_path / "nope"), disk_path=tmp_path)
    assert checks[0].status == "FAIL" and "could not start" in checks[0].detail


# --- checks_from_probe on fabricated probes --------------------------------------------------


def test_probe_all_good_with_gpu():
    by = _by_name(checks_from_probe(GOOD))
    assert all(c.status == "OK" for c in by.values()), by
    assert by["torch"].detail == "2.14.1 (CUDA 13.0 build)"
    assert by["cuda"].detail == "1 GPU: NVIDIA H200 (compute 9.0)"
    assert by["cudnn"].detail == "9.24.0"
    assert by["qt"].detail == "PySide6 6.9.3 (Qt 6.9.3)"


def test_probe_cudnn8_version():
    by = _by_name(checks_from_probe(_probe(cudnn={"available": True, "version": 8902})))
    assert by["cudnn"].detail == "8.9.2"


def test_probe_cpu_build():
    probe = _probe(
        torch={"version": "2.5.1+cpu", "cuda": None, "hip": None},
        cuda={"available": False, "devices": [], "nvidia_smi": None, "reason": None, "mps": False},
        cudnn={"available": False, "version": None},
    )
    by = _by_name(checks_from_probe(probe))
    assert by["torch"] == Check("torch", "OK", "2.5.1 (CPU-only build)")
    assert by["cuda"].status == "WARN" and "CPU-only build" in by["cuda"].detail
    assert "download.pytorch.org/whl/cu126" in by["cuda"].fix
    assert by["cudnn"].status == "OK" and "CPU-only" in by["cudnn"].detail
    assert exit_code(checks_from_probe(probe)) == 0


def test_probe_cuda_build_driver_too_old():
    cuda = {**GOOD["cuda"], "available": False, "devices": [], "reason": "driver too old"}
    by = _by_name(checks_from_probe(_probe(cuda=cuda)))
    assert by["cuda"].status == "WARN"
    assert "nvidia-smi sees: NVIDIA H200, 580.65 (driver too old)" in by["cuda"].detail
    assert "update the NVIDIA driver" in by["cuda"].fix
    assert by["cudnn"].status == "OK" and "not used" in by["cudnn"].detail


def test_probe_cuda_build_without_driver():
    cuda = {"available": False, "devices": [], "nvidia_smi": None, "reason": None, "mps": False}
    by = _by_name(checks_from_probe(_probe(cuda=cuda)))
    assert by["cuda"].status == "WARN"
    assert "CUDA 13.0 build but no GPU/driver visible" in by["cuda"].detail


def test_probe_gpu_without_cudnn():
    by = _by_name(checks_from_probe(_probe(cudnn={"available": False, "version": None})))
    assert by["cudnn"].status == "WARN"
    assert "--index-url https://download.pytorch.org/whl/cu130" in by["cudnn"].fix


def test_probe_missing_and_broken_deeplabcut():
    missing = {
        "error": "ModuleNotFoundError: No module named 'deeplabcut'",
        "missing": "deeplabcut",
    }
    check = _by_name(checks_from_probe(_probe(deeplabcut=missing)))["deeplabcut"]
    assert check == Check("deeplabcut", "FAIL", "not installed", 'pip install "deeplabcut==3.0.*"')
    dep = {"error": "ModuleNotFoundError: No module named 'cv2'", "missing": "cv2"}
    check = _by_name(checks_from_probe(_probe(deeplabcut=dep)))["deeplabcut"]
    assert (
        check.status == "FAIL"
        and check.fix == "pip install opencv-python-headless (needed by deeplabcut)"
    )
    old = _by_name(checks_from_probe(_probe(deeplabcut={"version": "2.3.9"})))["deeplabcut"]
    assert old.status == "WARN" and "3.x" in old.fix


def test_probe_pyside_610_warns():
    qt = {"api": "PySide6", "binding_version": "6.10.0", "qt_version": "6.10.0"}
    check = _by_name(checks_from_probe(_probe(qt=qt)))["qt"]
    assert check.status == "WARN" and "PySide6<6.10" in check.fix
    pyqt = {"api": "PyQt5", "binding_version": "5.15.10", "qt_version": "5.15.2"}
    assert _by_name(checks_from_probe(_probe(qt=pyqt)))["qt"].status == "OK"


@pytest.mark.parametrize(
    ("version_info", "status"),
    [([3, 9, 18], "FAIL"), ([3, 10, 0], "OK"), ([3, 12, 1], "OK"), ([3, 13, 0], "FAIL")],
)
def test_probe_python_range(version_info, status):
    python = {"version": ".".join(map(str, version_info)), "version_info": version_info}
    check = _by_name(checks_from_probe(_probe(python=python)))["python"]
    assert check.status == status
    assert bool(check.fix) == (status == "FAIL")


def test_probe_missing_crashed_and_garbage_sections():
    probe = {k: v for k, v in GOOD.items() if k != "pyav"}
    probe["napari"] = {"unexpected": 1}
    probe["deeplabcut"] = {"crashed": "probe was killed by SIGSEGV", "fix": "see why"}
    by = _by_name(checks_from_probe(probe))
    assert by["pyav"].status == "FAIL" and by["pyav"].detail == "not reported by the probe"
    assert by["napari"].status == "FAIL" and "unreadable" in by["napari"].detail
    assert by["deeplabcut"] == Check("deeplabcut", "FAIL", "probe was killed by SIGSEGV", "see why")


# --- disk, formatting, exit code -------------------------------------------------------------


@pytest.mark.parametrize(
    ("free", "status"),
    [(0, "FAIL"), (999_999_999, "FAIL"), (10**9, "WARN"), (9_999_999_999, "WARN"), (10**10, "OK")],
)
def test_disk_thresholds(free, status):
    check = disk_check_from_free(free, total_bytes=500 * 10**9, path="/data")
    assert check.status == status
    assert f"{free / 1e9:.1f} GB free of 500 GB at /data" == check.detail
    assert bool(check.fix) == (status != "OK")


def test_disk_check_on_a_path_that_does_not_exist_yet(tmp_path):
    check = disk_check(tmp_path / "new-project" / "videos")
    assert check.name == "disk" and "GB free" in check.detail
    assert str(tmp_path / "new-project" / "videos") in check.detail
    assert disk_check().detail.endswith(os.getcwd())


def test_format_checks_aligns_and_summarises():
    checks = [
        Check("torch", "OK", "2.14.1 (CUDA 12.8 build)"),
        Check("cuda", "WARN", "not available", "install a CUDA build"),
        Check("deeplabcut", "FAIL", "not installed", "pip install deeplabcut"),
    ]
    assert format_checks(checks).splitlines() == [
        "OK    torch       2.14.1 (CUDA 12.8 build)",
        "WARN  cuda        not available — fix: install a CUDA build",
        "FAIL  deeplabcut  not installed — fix: pip install deeplabcut",
        "1 warning, 1 failure",
    ]
    assert format_checks(checks[:1]).splitlines()[-1] == "All checks passed"
    assert exit_code(checks) == 1 and exit_code(checks[:2]) == 0


def test_module_imports_nothing_heavy():
    code = (
        "import sys, napari_dlc_workbench.doctor; "
        "heavy = {'torch', 'deeplabcut', 'napari', 'qtpy', 'PySide6', 'av'} & set(sys.modules); "
        "sys.exit(sorted(heavy) or 0)"
    )
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
