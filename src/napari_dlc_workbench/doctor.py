"""Environment check behind ``dlc-workbench doctor``.

One line each for Python, OS, napari/Qt, torch/CUDA/cuDNN, DeepLabCut, PyAV/FFmpeg and free
disk, each OK/WARN/FAIL with a one-line fix. Everything heavy (torch, deeplabcut, napari, Qt,
av) is probed in a child interpreter: importing torch inside a process that already holds a
napari GL context can segfault, and a broken package must not take the caller down with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from napari_dlc_workbench._doctor_child import run_probe

Status = Literal["OK", "WARN", "FAIL"]

SECTIONS = ("python", "os", "napari", "qt", "torch", "cuda", "cudnn", "deeplabcut", "pyav",
            "ffmpeg")  # fmt: skip
_MODULES = {"napari": "napari", "qt": "qtpy", "torch": "torch", "cuda": "torch", "cudnn": "torch",
            "deeplabcut": "deeplabcut", "pyav": "av", "ffmpeg": "imageio_ffmpeg"}  # fmt: skip
_INSTALL = {
    "napari": 'pip install "napari[pyside6]"',
    "qt": 'pip install qtpy "PySide6<6.10"',
    "torch": "pip install torch (NVIDIA GPU: add --index-url https://download.pytorch.org/whl/cu126)",
    "deeplabcut": 'pip install "deeplabcut==3.0.*"',
    "pyav": "pip install av",
}
# Module names whose pip distribution is spelled differently, for "No module named X" fixes.
_PIP_NAMES = {"cv2": "opencv-python-headless", "yaml": "pyyaml", "ruamel": "ruamel.yaml",
              "skimage": "scikit-image", "sklearn": "scikit-learn", "PIL": "pillow"}  # fmt: skip
_CU126 = "pip install torch --index-url https://download.pytorch.org/whl/cu126"
WARN_BYTES = 10 * 10**9
FAIL_BYTES = 1 * 10**9


@dataclass(frozen=True)
class Check:
    """One line of the doctor report.

    Parameters
    ----------
    name : str
        Short name of what was checked, e.g. ``"torch"``.
    status : {"OK", "WARN", "FAIL"}
        ``FAIL`` makes :func:`exit_code` return 1.
    detail : str
        What was found (versions, GPU names, free space, or the error).
    fix : str
        One-line remedy; empty when the status is ``OK``.
    """

    name: str
    status: Status
    detail: str
    fix: str = ""


def _vtuple(version: str | None) -> tuple[int, ...]:
    parts = []
    for piece in (version or "").split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _import_failure(name: str, data: dict) -> Check:
    module, install = _MODULES[name], _INSTALL[name]
    missing = data.get("missing")
    if missing and missing.split(".")[0] == module:
        return Check(name, "FAIL", "not installed", install)
    if missing:
        top = missing.split(".")[0]
        fix = f"pip install {_PIP_NAMES.get(top, top)} (needed by {module})"
        return Check(name, "FAIL", f"import failed: {data['error']}", fix)
    fix = f"{module} is installed but broken; read the error, or reinstall: {install}"
    return Check(name, "FAIL", f"import failed: {data['error']}", fix)


def _cudnn_version(raw: int) -> str:
    # cuDNN 9 encodes major*10000 + minor*100 + patch; cuDNN <= 8 used major*1000.
    major, rest = (raw // 10000, raw % 10000) if raw >= 90000 else (raw // 1000, raw % 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def _judge(name: str, data: dict, probe: dict) -> Check:
    if "crashed" in data:
        return Check(name, "FAIL", data["crashed"], data.get("fix", ""))
    if "error" in data and name in _INSTALL:
        return _import_failure(name, data)
    if "error" in data and name in ("python", "os", "ffmpeg"):
        return Check(name, "FAIL", f"probe failed: {data['error']}", "report this as a bug")
    if name == "python":
        version, where = data["version"], data.get("executable") or ""
        detail = f"{version} ({where})" if where else version
        if not (3, 10) <= tuple(data["version_info"][:2]) < (3, 13):
            fix = "DeepLabCut 3.0 supports Python 3.10-3.12: conda create -n dlc python=3.11"
            return Check(name, "FAIL", detail, fix)
        return Check(name, "OK", detail)
    if name == "os":
        return Check(name, "OK", f"{data['platform']} ({data['machine']})")
    if name == "napari":
        if _vtuple(data["version"]) < (0, 5, 5):
            return Check(name, "WARN", f"{data['version']} is older than 0.5.5", _INSTALL[name])
        return Check(name, "OK", data["version"])
    if name == "qt":
        api, binding = data["api"], data.get("binding_version") or "?"
        detail = f"{api} {binding} (Qt {data['qt_version']})"
        if api == "PySide6" and _vtuple(binding) >= (6, 10):
            fix = 'DeepLabCut pins PySide6<6.10 on Linux: pip install "PySide6<6.10"'
            return Check(name, "WARN", detail, fix)
        return Check(name, "OK", detail)
    if name == "torch":
        if data.get("cuda"):
            build = f"CUDA {data['cuda']} build"
        elif data.get("hip"):
            build = f"ROCm {data['hip']} build"
        else:
            build = "CPU-only build"
        return Check(name, "OK", f"{data['version'].split('+')[0]} ({build})")
    if name == "deeplabcut":
        version = data.get("version")
        if not version or not version.startswith("3."):
            fix = f"this plugin needs DeepLabCut 3.x (PyTorch engine): {_INSTALL[name]}"
            return Check(name, "WARN", f"version {version or 'unknown'}", fix)
        return Check(name, "OK", version)
    if name == "pyav":
        libs = data.get("libraries") or {}
        shown = ", ".join(
            f"{lib} {libs[lib]}" for lib in ("libavcodec", "libavformat") if lib in libs
        )
        ffmpeg = f"FFmpeg {data['ffmpeg']}" if data.get("ffmpeg") else ""
        extra = "; ".join(part for part in (ffmpeg, shown) if part)
        return Check(name, "OK", f"{data['version']} ({extra})" if extra else data["version"])
    if name == "ffmpeg":
        if not data.get("path") or not data.get("version"):
            detail = data.get("problem") or "no ffmpeg binary (no imageio-ffmpeg, none on PATH)"
            fix = "pip install imageio-ffmpeg (DeepLabCut's video crop/downsample tools need it)"
            return Check(name, "WARN", detail, fix)
        return Check(name, "OK", f"{data['version']} ({data['source']}: {data['path']})")
    return _judge_gpu(name, data, probe)


def _judge_gpu(name: str, data: dict, probe: dict) -> Check:
    torch = probe.get("torch") or {}
    if data.get("skipped") or "error" in torch or not torch:
        return Check(name, "WARN", "not checked: torch did not import", "fix the torch line first")
    if "error" in data:
        return Check(name, "FAIL", data["error"], f"reinstall torch: {_INSTALL['torch']}")
    cuda = torch.get("cuda")
    index = "--index-url https://download.pytorch.org/whl/cu" + (cuda or "").replace(".", "")
    gpu_ok = bool((probe.get("cuda") or {}).get("available"))
    if name == "cudnn":
        if not gpu_ok:
            why = "no CUDA GPU" if cuda else "CPU-only torch build"
            raw = data.get("version")
            shipped = f"; torch ships cuDNN {_cudnn_version(raw)}" if raw else ""
            return Check(name, "OK", f"not used ({why}){shipped}")
        if data.get("available") and data.get("version"):
            return Check(name, "OK", _cudnn_version(data["version"]))
        fix = (
            f"reinstall torch (its wheel ships cuDNN): pip install --force-reinstall torch {index}"
        )
        return Check(name, "WARN", "CUDA works but cuDNN is not available", fix)
    devices = data.get("devices") or []
    if data.get("available"):
        names = ", ".join(
            f"{d['name']} (compute {'.'.join(str(x) for x in d['capability'])})" for d in devices
        )
        return Check(name, "OK", f"{len(devices)} GPU{'s' if len(devices) != 1 else ''}: {names}")
    if data.get("mps"):
        return Check(name, "OK", "no CUDA; Apple GPU (MPS) available")
    reason = f" ({data['reason']})" if data.get("reason") else ""
    smi = data.get("nvidia_smi")
    if not cuda and not torch.get("hip"):
        detail = "not available: torch is a CPU-only build"
        macos = str((probe.get("os") or {}).get("platform", "")).startswith(("macOS", "Darwin"))
        fix = "CPU only: training will be slow" + (
            "" if macos else f"; for an NVIDIA GPU install a CUDA build: {_CU126}"
        )
        return Check(name, "WARN", detail, fix)
    build = f"CUDA {cuda}" if cuda else f"ROCm {torch.get('hip')}"
    if smi and not smi.startswith("error"):
        detail = f"not available, although nvidia-smi sees: {'; '.join(smi.splitlines())}{reason}"
        fix = (
            f"the driver is probably too old for torch's {build} build: update the NVIDIA "
            f"driver, or install a build for an older CUDA: {_CU126}"
        )
        return Check(name, "WARN", detail, fix)
    seen = f"nvidia-smi fails ({smi[len('error: ') :]})" if smi else "no GPU/driver visible"
    detail = f"not available: torch is a {build} build but {seen}{reason}"
    fix = "CPU only: training will be slow; on an NVIDIA machine install the driver (nvidia-smi)"
    return Check(name, "WARN", detail, fix)


def checks_from_probe(probe: dict) -> list[Check]:
    """Turn the probe's results into one :class:`Check` per probed section.

    Parameters
    ----------
    probe : dict
        Maps a section name (see ``SECTIONS``) to the dict the child reported for it; a section
        whose import raised holds ``{"error": "Type: message", "missing": module_or_None}``,
        one that killed or stalled the child holds ``{"crashed": detail, "fix": fix}``.

    Returns
    -------
    list of Check
        In ``SECTIONS`` order; a missing or unreadable section becomes a ``FAIL``.
    """
    checks = []
    for name in SECTIONS:
        data = probe.get(name)
        if not isinstance(data, dict):
            checks.append(Check(name, "FAIL", "not reported by the probe", "report this as a bug"))
            continue
        try:
            checks.append(_judge(name, data, probe))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            checks.append(Check(name, "FAIL", f"unreadable probe result: {exc!r}", "report a bug"))
    return checks


def disk_check_from_free(
    free_bytes: int, *, total_bytes: int | None = None, path: str = ""
) -> Check:
    """Judge free disk space: ``WARN`` below 10 GB, ``FAIL`` below 1 GB.

    Parameters
    ----------
    free_bytes : int
        Bytes free for the current user.
    total_bytes : int, optional
        Size of the file system, only shown in the detail.
    path : str
        Where the space was measured, only shown in the detail.

    Returns
    -------
    Check
        Named ``"disk"``.
    """
    detail = f"{free_bytes / 1e9:.1f} GB free"
    if total_bytes:
        detail += f" of {total_bytes / 1e9:.0f} GB"
    if path:
        detail += f" at {path}"
    fix = "free some space or use another drive (--disk-path); videos and snapshots need GBs"
    if free_bytes < FAIL_BYTES:
        return Check("disk", "FAIL", detail, fix)
    if free_bytes < WARN_BYTES:
        return Check("disk", "WARN", detail, fix)
    return Check("disk", "OK", detail)


def disk_check(path: str | os.PathLike | None = None) -> Check:
    """Measure free space where the project lives (default: the working directory).

    Parameters
    ----------
    path : str or os.PathLike, optional
        A path that need not exist yet; its nearest existing parent is measured.

    Returns
    -------
    Check
        See :func:`disk_check_from_free`; ``WARN`` if the space cannot be read.
    """
    where = Path(path if path is not None else os.getcwd()).expanduser().absolute()
    probe_at = where
    while not probe_at.exists() and probe_at != probe_at.parent:
        probe_at = probe_at.parent
    try:
        usage = shutil.disk_usage(probe_at)
    except OSError as exc:
        return Check("disk", "WARN", f"cannot read free space at {where}: {exc}", "check the path")
    return disk_check_from_free(usage.free, total_bytes=usage.total, path=str(where))


def run_checks(
    *,
    python_executable: str | None = None,
    disk_path: str | os.PathLike | None = None,
    timeout: float = 120.0,
) -> list[Check]:
    """Probe the environment and return one :class:`Check` per line of the report.

    Blocks for several seconds (importing deeplabcut alone takes ~8 s), so call it off the
    GUI thread. Never imports torch, deeplabcut, napari or Qt into this process.

    Parameters
    ----------
    python_executable : str, optional
        Interpreter whose environment is checked; defaults to ``sys.executable``.
    disk_path : str or os.PathLike, optional
        Where free space is measured; defaults to the working directory.
    timeout : float
        Seconds the child interpreter may take before it is killed.

    Returns
    -------
    list of Check
        Sections in ``SECTIONS`` order, then ``"disk"``. Never raises for a broken or crashing
        environment: those become ``FAIL`` lines.
    """
    exe = python_executable or sys.executable
    checks = checks_from_probe(run_probe(exe, timeout, SECTIONS, _MODULES))
    return [*checks, disk_check(disk_path)]


def format_checks(checks: Sequence[Check]) -> str:
    """Render checks as aligned ``STATUS  name  detail — fix: ...`` lines plus a summary.

    Parameters
    ----------
    checks : sequence of Check
        As returned by :func:`run_checks`.

    Returns
    -------
    str
        One line per check and a final ``All checks passed`` or ``N warnings, M failures``.
    """
    width = max([10, *(len(c.name) for c in checks)]) + 2
    lines = []
    for check in checks:
        text = f"{check.status:<6}{check.name:<{width}}{check.detail}"
        if check.fix and check.status != "OK":
            text += f" — fix: {check.fix}"
        lines.append(text)
    warns = sum(c.status == "WARN" for c in checks)
    fails = sum(c.status == "FAIL" for c in checks)
    if warns or fails:
        summary = f"{warns} warning{'s' * (warns != 1)}, {fails} failure{'s' * (fails != 1)}"
    else:
        summary = "All checks passed"
    return "\n".join([*lines, summary])


def exit_code(checks: Sequence[Check]) -> int:
    """Return 1 if any check failed, else 0 (warnings do not fail).

    Parameters
    ----------
    checks : sequence of Check
        As returned by :func:`run_checks`.

    Returns
    -------
    int
        The process exit code for ``dlc-workbench doctor``.
    """
    return int(any(c.status == "FAIL" for c in checks))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dlc-workbench doctor``: print the report and return the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after ``doctor``; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        1 if any check failed, else 0.
    """
    parser = argparse.ArgumentParser(
        prog="dlc-workbench doctor", description="Check this environment for DeepLabCut."
    )
    parser.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    parser.add_argument("--disk-path", metavar="PATH", help="where to measure free disk space")
    parser.add_argument("--python", metavar="EXE", help="check another interpreter's environment")
    parser.add_argument("--timeout", type=float, default=120.0, help="probe timeout in seconds")
    args = parser.parse_args(argv)
    checks = run_checks(
        python_executable=args.python, disk_path=args.disk_path, timeout=args.timeout
    )
    text = json.dumps([asdict(c) for c in checks], indent=2) if args.json else format_checks(checks)
    try:
        print(text)
    except UnicodeEncodeError:
        # Legacy Windows consoles cannot encode the em dash or a GPU name's symbols.
        encoding = sys.stdout.encoding or "ascii"
        print(text.encode(encoding, "replace").decode(encoding))
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
