"""Child-process probe behind ``dlc-workbench doctor`` (run by path, never imported).

Runs in the child. Kept to syntax old interpreters can parse, so a Python 3.8 (or 2.7)
environment still reports its version instead of a SyntaxError. Protocol lines go to a
private copy of fd 1 while fd 1 itself is pointed at stderr, so library chatter (DLC's
banner, C-level prints) can never corrupt them; a "begin" line before each section tells
the parent which import was running if the child dies.
"""

import json
import os
import platform
import sys
import warnings

MARK = "@@dlcwb-probe@@ "
_out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
T = {}


def emit(obj):
    _out.write(MARK + json.dumps(obj) + "\n")
    _out.flush()


def run(cmd):
    import subprocess

    try:
        out = subprocess.check_output(cmd, stderr=subprocess.STDOUT, timeout=20)
    except subprocess.CalledProcessError as e:
        lines = e.output.decode("utf-8", "replace").strip().splitlines() or [str(e)]
        raise RuntimeError(lines[-1][:200])
    return out.decode("utf-8", "replace").strip()


def p_python():
    return {
        "version": platform.python_version(),
        "version_info": list(sys.version_info[:3]),
        "executable": sys.executable,
    }


def p_os():
    return {"platform": platform.platform(), "machine": platform.machine()}


def p_napari():
    import napari

    return {"version": napari.__version__}


def p_qt():
    import qtpy
    from qtpy import QtCore  # noqa: F401 - the import itself is the check

    binding = getattr(qtpy, "PYSIDE_VERSION", None) or getattr(qtpy, "PYQT_VERSION", None)
    return {"api": qtpy.API_NAME, "binding_version": binding, "qt_version": qtpy.QT_VERSION}


def p_torch():
    import torch

    T["torch"] = torch
    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
    }


def p_cuda():
    if "torch" not in T:
        return {"skipped": True}
    torch = T["torch"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = bool(torch.cuda.is_available())
    devices = []
    for i in range(torch.cuda.device_count() if available else 0):
        devices.append(
            {
                "name": torch.cuda.get_device_name(i),
                "capability": list(torch.cuda.get_device_capability(i)),
            }
        )
    mps = getattr(torch.backends, "mps", None)
    smi = None
    import shutil

    exe = shutil.which("nvidia-smi")
    if exe:
        try:
            smi = run([exe, "--query-gpu=name,driver_version", "--format=csv,noheader"])
        except Exception as e:
            smi = "error: %s" % e
    return {
        "available": available,
        "devices": devices,
        "nvidia_smi": smi,
        "reason": str(caught[0].message)[:300] if caught else None,
        "mps": bool(mps is not None and mps.is_available()),
    }


def p_cudnn():
    if "torch" not in T:
        return {"skipped": True}
    cudnn = T["torch"].backends.cudnn
    return {"available": bool(cudnn.is_available()), "version": cudnn.version()}


def p_deeplabcut():
    import deeplabcut

    return {"version": getattr(deeplabcut, "__version__", None)}


def p_pyav():
    import av

    libs = getattr(av, "library_versions", {}) or {}
    return {
        "version": av.__version__,
        "ffmpeg": getattr(av, "ffmpeg_version_info", None),
        "libraries": dict((k, ".".join(str(x) for x in v)) for k, v in libs.items()),
    }


def p_ffmpeg():
    path, source, problem = None, None, None
    try:
        import imageio_ffmpeg

        path, source = imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg"
    except Exception as e:
        problem = "imageio-ffmpeg: %s: %s" % (type(e).__name__, e)
    if not path:
        import shutil

        path, source = shutil.which("ffmpeg"), "PATH"
    version = None
    if path:
        try:
            line = run([path, "-version"]).splitlines()[0]
            version = line.split(" Copyright")[0].replace("ffmpeg version ", "")
        except Exception as e:
            problem = "%s does not run: %s" % (path, e)
    return {"path": path, "source": source, "version": version, "problem": problem}


for name in sys.argv[1].split(","):
    emit({"begin": name})
    try:
        data = globals()["p_" + name]()
    except (Exception, SystemExit) as e:
        missing = getattr(e, "name", None) if isinstance(e, ImportError) else None
        data = {"error": "%s: %s" % (type(e).__name__, e), "missing": missing}
    emit({"section": name, "data": data})
