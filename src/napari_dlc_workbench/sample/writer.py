"""Write a synthetic recording to disk as the users would hand it over.

One call writes ``<name>.mp4`` (H.264, yuv420p, exact NTSC frame rate), the keypoints as
``<name>_ground_truth.csv`` and the well crops as ``<name>_wells.json``. Paths go through
pathlib only, so names with ``#``, ``&``, spaces or Japanese characters are safe.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .cladonema import BODYPARTS, SampleSpec, ground_truth, render_frame, well_rois

_CSV_HEADER = ("frame", "well", "bodypart", "x", "y")


@dataclass(frozen=True)
class SampleFiles:
    """The files written by :func:`write_sample`.

    Attributes
    ----------
    video : pathlib.Path
        The H.264 ``.mp4`` recording.
    ground_truth : pathlib.Path
        Long-format keypoint table ``frame,well,bodypart,x,y``.
    wells : pathlib.Path
        JSON with the well crops and the spec.
    spec : SampleSpec
        The spec the files were rendered from.
    """

    video: Path
    ground_truth: Path
    wells: Path
    spec: SampleSpec


def frame_rate(fps: float) -> Fraction:
    """Return ``fps`` as the exact rational a container stores (29.97 -> 30000/1001).

    Parameters
    ----------
    fps : float
        Frames per second.

    Returns
    -------
    fractions.Fraction
        ``n * 1000/1001`` for the NTSC rates (23.976, 29.97, 59.94, ...), which cameras
        really record, otherwise the nearest fraction with a denominator of at most 1001.
    """
    ntsc = round(fps * 1.001)
    if fps != round(fps) and abs(fps * 1.001 - ntsc) < 5e-4 * ntsc:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def write_sample(
    folder: str | Path,
    spec: SampleSpec,
    *,
    name: str = "DSC_3189",
    codec: str = "libx264",
    gop: int | None = None,
    crf: int = 18,
    preset: str = "veryfast",
) -> SampleFiles:
    """Render ``spec`` and write the video, its ground truth and its well crops.

    Parameters
    ----------
    folder : str or pathlib.Path
        Output folder; created if missing.
    spec : SampleSpec
        The recording to render.
    name : str
        Stem of the three files, e.g. ``"DSC_3231_roi_#5"``.
    codec : str
        PyAV/FFmpeg encoder name; ``"libx264"`` writes H.264.
    gop : int, optional
        Keyframe interval in frames; the encoder's default when omitted. A short GOP makes
        random access cheaper for readers that seek.
    crf : int
        Constant rate factor for x264 (lower is closer to lossless); 18 keeps the decoded
        frames within about 3 grey levels of the rendered ones despite the sensor noise.
    preset : str
        x264 speed preset; ``"ultrafast"`` encodes ~5x faster but the noisy frames then
        take ~1.6x the disk space.

    Returns
    -------
    SampleFiles
        Paths of the written files and the spec.

    Raises
    ------
    ValueError
        If the frame width or height is odd, which yuv420p cannot store.
    """
    import av  # deferred: PyAV loads FFmpeg, which plain imports of the package should not

    if spec.width % 2 or spec.height % 2:
        raise ValueError(
            f"H.264 in yuv420p needs an even frame size, got {spec.width}x{spec.height}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = SampleFiles(
        video=folder / f"{name}.mp4",
        ground_truth=folder / f"{name}_ground_truth.csv",
        wells=folder / f"{name}_wells.json",
        spec=spec,
    )
    rate = frame_rate(spec.fps)
    with av.open(str(files.video), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        # pts counts frames, so a reader can map a timestamp back to its index exactly.
        stream.codec_context.time_base = 1 / rate
        options = {"crf": str(crf), "preset": preset} if codec == "libx264" else {}
        if gop is not None:
            stream.codec_context.gop_size = gop
            if codec == "libx264":
                options.update({"keyint": str(gop), "min-keyint": str(gop)})
        stream.options = options
        for index in range(spec.n_frames):
            # Gray input lets swscale map full-range grey to limited-range luma; decoding
            # to "gray" maps it back, which keeps the round trip within rounding.
            frame = av.VideoFrame.from_ndarray(render_frame(spec, index), format="gray")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    _write_ground_truth(files.ground_truth, spec)
    payload = {
        "wells": [
            {"name": name, "x": x, "y": y, "w": w, "h": h} for name, x, y, w, h in well_rois(spec)
        ],
        "spec": spec.to_dict(),
    }
    files.wells.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    return files


def _write_ground_truth(path: Path, spec: SampleSpec) -> None:
    gt = ground_truth(spec)
    names = [roi[0] for roi in well_rois(spec)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_CSV_HEADER)
        for frame, wells in enumerate(gt):
            for well, points in zip(names, wells, strict=True):
                for part, (x, y) in zip(BODYPARTS, points, strict=True):
                    # 12 significant digits keep a 1500 px coordinate exact to ~1e-9 px.
                    writer.writerow((frame, well, part, f"{x:.12g}", f"{y:.12g}"))


def load_ground_truth(path: str | Path) -> np.ndarray:
    """Read a ground-truth csv written by :func:`write_sample`.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``*_ground_truth.csv`` file.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_frames, n_wells, 4, 2)`` float64, wells in order of first appearance and
        body parts in the order of :data:`BODYPARTS`; missing entries are NaN.

    Raises
    ------
    ValueError
        If the header or a body part name is not the expected one.
    """
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != _CSV_HEADER:
            raise ValueError(f"{path}: expected header {','.join(_CSV_HEADER)}, got {header}")
        rows = [row for row in reader if row]
    wells: dict[str, int] = {}
    for row in rows:
        wells.setdefault(row[1], len(wells))
    part_index = {part: j for j, part in enumerate(BODYPARTS)}
    n_frames = 1 + max((int(row[0]) for row in rows), default=-1)
    out = np.full((n_frames, len(wells), len(BODYPARTS), 2), np.nan)
    for frame, well, part, x, y in rows:
        if part not in part_index:
            raise ValueError(f"{path}: unknown body part {part!r}")
        out[int(frame), wells[well], part_index[part]] = float(x), float(y)
    return out


def load_wells(path: str | Path) -> list[tuple[str, int, int, int, int]]:
    """Read the well crops of a ``*_wells.json`` file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file written by :func:`write_sample`.

    Returns
    -------
    list of tuple
        ``(name, x, y, w, h)`` per well, as :func:`well_rois` returns them.
    """
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return [(w["name"], int(w["x"]), int(w["y"]), int(w["w"]), int(w["h"])) for w in data["wells"]]


def load_spec(path: str | Path) -> SampleSpec:
    """Read the spec stored in a ``*_wells.json`` file, to re-render the same recording.

    Parameters
    ----------
    path : str or pathlib.Path
        The file written by :func:`write_sample`.

    Returns
    -------
    SampleSpec
        The spec the sample was written from.
    """
    return SampleSpec.from_dict(json.loads(Path(path).read_text(encoding="utf-8"))["spec"])
