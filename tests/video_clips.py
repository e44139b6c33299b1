"""Test clips with the frame number burned in, in the codecs users' files come in."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

BITS = 12
BLOCK = 8

# name: (container suffix, codec, pixel format, encoder options)
CLIPS: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "h264_bframes_gop250": (
        ".mp4",
        "libx264",
        "yuv420p",
        {"g": "250", "bf": "3", "crf": "20", "sc_threshold": "0"},
    ),
    "h264_gop10": (".mp4", "libx264", "yuv420p", {"g": "10", "bf": "0", "crf": "20"}),
    "mjpeg_avi": (".avi", "mjpeg", "yuvj420p", {"q:v": "3"}),
    "mpeg4_avi": (".avi", "mpeg4", "yuv420p", {"g": "24", "bf": "2", "q:v": "4"}),
}


def burned_frame(number: int, width: int = 160, height: int = 96) -> np.ndarray:
    """An RGB frame whose top row of blocks spells ``number`` in binary, plus texture."""
    # A fixed texture that drifts: consecutive frames are alike, so encoders really
    # predict from previous frames (random frames would all become keyframes).
    texture = np.random.default_rng(0).integers(60, 200, (height, width * 2, 3), dtype=np.uint8)
    frame = texture[:, number % width : number % width + width].copy()
    frame[: BLOCK * 2] = 128
    for bit in range(BITS):
        value = 255 if (number >> bit) & 1 else 0
        frame[: BLOCK * 2, bit * BLOCK : (bit + 1) * BLOCK] = value
    return frame


def read_number(frame: np.ndarray) -> int:
    """Read the burned-in frame number back (robust to lossy compression)."""
    gray = frame if frame.ndim == 2 else frame.mean(axis=2)
    number = 0
    for bit in range(BITS):
        cell = gray[2 : BLOCK * 2 - 2, bit * BLOCK + 2 : (bit + 1) * BLOCK - 2]
        if cell.mean() > 128:
            number |= 1 << bit
    return number


def write_clip(folder: Path, name: str, n_frames: int = 300) -> Path:
    """Encode ``n_frames`` burned frames with the settings of ``CLIPS[name]``."""
    import av

    suffix, codec, pix_fmt, options = CLIPS[name]
    path = folder / f"{name}{suffix}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(30000, 1001), options=options)
        stream.width, stream.height, stream.pix_fmt = 160, 96, pix_fmt
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(burned_frame(i), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def sequential_decode(path: Path, keep: set[int] | None = None) -> list[np.ndarray | None]:
    """Every frame of ``path`` in order, by plain forward decoding (the reference).

    With ``keep``, only those frames are converted (the others are None): a long
    video's reference then costs a decode, not gigabytes of RGB.
    """
    import av

    with av.open(str(path)) as container:
        return [
            f.to_ndarray(format="rgb24") if keep is None or i in keep else None
            for i, f in enumerate(container.decode(video=0))
        ]
