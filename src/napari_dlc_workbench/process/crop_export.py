"""Cut several ROIs out of a video in one decoding pass, with a fixed contrast mapping.

Each source frame is decoded once; its luma and chroma planes are cropped for
every ROI, the ROI's contrast lookup table is applied to the luma, and each
crop goes to its own encoder. Working on the decoded YUV planes (no RGB round
trip) keeps the colours exactly as they were and costs what ffmpeg's own
``crop`` filter costs. Clips are written under a temporary name and renamed
when complete, so a crash, an error or a cancel never leaves a partial clip
under the final name, and a batch that is run again skips finished clips.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from napari_dlc_workbench.io.atomic import atomic_write_text
from napari_dlc_workbench.io.config import add_video_set, load_config, save_config
from napari_dlc_workbench.io.video import VideoError, VideoReader, load_index, probe_video
from napari_dlc_workbench.model.roi import ROI, ROIError, ROISet
from napari_dlc_workbench.process.contrast import (
    ContrastMapping,
    ContrastSettings,
    fit_contrast,
    sample_indices,
)

__all__ = [
    "CODECS",
    "ClipResult",
    "ExportCancelled",
    "ExportOptions",
    "clip_path",
    "export_clips",
    "fit_roi_mappings",
    "load_recipe",
    "luma_mapper",
    "register_clips",
]

# codec: (encoder, container suffix, extra encoder options)
CODECS: dict[str, tuple[str, str, dict[str, str]]] = {
    # Short GOP, no B-frames: exact and fast seeking in every reader, OpenCV included.
    "h264": ("libx264", ".mp4", {"bf": "0", "preset": "veryfast"}),
    # Lossless: the clip holds exactly the mapped pixels (bigger files).
    "ffv1": ("ffv1", ".mkv", {"level": "3", "slices": "4"}),
}


# Video luma is "TV range" (black 16, white 235); readers such as PyAV, OpenCV and DLC
# show it stretched to 0..255. Mappings are fitted on those displayed values (as ImageJ
# saw them), so they are applied there and the result is put back into TV range.
_TV_TO_FULL = np.clip(np.rint((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)
_FULL_TO_TV = np.rint(16 + np.arange(256) * 219 / 255).astype(np.uint8)


def luma_mapper(mapping: ContrastMapping) -> Callable[[np.ndarray], np.ndarray]:
    """Apply a mapping fitted on displayed grey values to a video's TV-range luma plane.

    Parameters
    ----------
    mapping : ContrastMapping
        Fitted on frames as readers show them (0..255).

    Returns
    -------
    callable
        Maps a uint8 luma crop (16..235) to the luma that decodes to the mapped
        grey values; table-only mappings become a single lookup table.
    """
    if mapping.tile_luts is None:
        lut = _FULL_TO_TV[mapping.lut[_TV_TO_FULL]]
        return lambda luma: np.take(lut, luma)
    return lambda luma: _FULL_TO_TV[mapping.apply(_TV_TO_FULL[luma])]


class ExportCancelled(RuntimeError):
    """The export was cancelled; no clip was left under its final name."""


@dataclass(frozen=True)
class ExportOptions:
    """How clips are encoded and named.

    Attributes
    ----------
    codec : {"h264", "ffv1"}
        ``h264`` (``.mp4``, lossy at ``crf``) or ``ffv1`` (``.mkv``, lossless).
    crf : int
        H.264 quality (lower is better; 17 is visually lossless).
    gop : int
        Frames between keyframes (1 = every frame a keyframe).
    name_template : str
        Clip name without suffix; ``{stem}`` is the video's name and ``{roi}``
        the ROI's, so ``DSC_3189`` and ``#1`` give ``DSC_3189_#1``.
    """

    codec: str = "h264"
    crf: int = 17
    gop: int = 10
    name_template: str = "{stem}_{roi}"

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {sorted(CODECS)}, not {self.codec!r}")
        if self.gop < 1 or not 0 <= self.crf <= 51:
            raise ValueError("gop must be >= 1 and crf within 0..51")
        if "{roi}" not in self.name_template:
            raise ValueError("name_template must contain {roi}, or all clips get one name")


@dataclass
class ClipResult:
    """One exported clip.

    Attributes
    ----------
    roi : ROI
        The region it shows.
    path : Path
        The clip.
    n_frames, width, height : int
        Its size.
    skipped : bool
        True when a complete clip from an earlier run was kept.
    mapping : dict
        The contrast mapping applied (``ContrastMapping.to_dict()``), or empty.
    """

    roi: ROI
    path: Path
    n_frames: int
    width: int
    height: int
    skipped: bool = False
    mapping: dict[str, Any] = field(default_factory=dict)


def clip_path(
    video: str | os.PathLike[str], roi: ROI, out_dir: Path, options: ExportOptions
) -> Path:
    """Return the final path of the clip of ``roi`` cut from ``video``."""
    name = options.name_template.format(stem=Path(video).stem, roi=roi.name)
    return Path(out_dir) / f"{name}{CODECS[options.codec][1]}"


def _is_complete(path: Path, roi: ROI, n_frames: int) -> bool:
    # Only whole clips get their final name, but a file of that name may come from
    # elsewhere: check its size and count its frames (Matroska headers carry no count).
    if not path.is_file():
        return False
    try:
        info = probe_video(path)
        return (info.width, info.height, len(load_index(path))) == (roi.w, roi.h, n_frames)
    except VideoError:
        return False


def fit_roi_mappings(
    reader: VideoReader, rois: ROISet, settings: ContrastSettings
) -> dict[str, ContrastMapping]:
    """Fit one contrast mapping per ROI from frames spread over the whole video.

    The sample is taken at keyframes (the nearest to evenly spaced positions):
    they decode without their GOP, so sampling a long H.264 file stays cheap.

    Parameters
    ----------
    reader : VideoReader
        A gray (luma) reader of the video.
    rois : ROISet
        The regions.
    settings : ContrastSettings
        Method and parameters.

    Returns
    -------
    dict
        ROI name to its mapping.
    """
    n = len(reader)
    wanted = np.asarray(sample_indices(n, settings.sample_frames))
    keys = reader.index.keyframes
    nearest = sorted(set(keys[np.abs(keys[None, :] - wanted[:, None]).argmin(axis=1)].tolist()))
    # Keyframes decode on their own, which keeps sampling a long-GOP file cheap; a short
    # clip with too few of them is sampled at the evenly spaced frames instead.
    picks = nearest if len(nearest) >= len(wanted) // 2 else sorted(set(wanted.tolist()))
    frames = np.stack([reader[i] for i in picks])
    return {
        roi.name: fit_contrast(frames[(slice(None), *roi.slices)], settings, frame_indices=picks)
        for roi in rois
    }


class _ClipWriter:
    """One encoder writing one ROI's clip under a temporary name."""

    def __init__(self, final: Path, roi: ROI, rate: Fraction, options: ExportOptions) -> None:
        import av

        encoder, suffix, extra = CODECS[options.codec]
        self.final = final
        self.roi = roi
        self.tmp = final.with_name(f".{final.stem}.partial{suffix}")
        self.container = av.open(str(self.tmp), "w")
        opts = {"g": str(options.gop), **extra}
        if options.codec == "h264":
            opts["crf"] = str(options.crf)
        self.stream = self.container.add_stream(encoder, rate=rate, options=opts)
        self.stream.width, self.stream.height, self.stream.pix_fmt = roi.w, roi.h, "yuv420p"
        self.count = 0

    def write(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        import av

        packed = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(-1, self.roi.w)
        frame = av.VideoFrame.from_ndarray(packed, format="yuv420p")
        frame.pts = self.count
        self.container.mux(self.stream.encode(frame))
        self.count += 1

    def finish(self) -> None:
        self.container.mux(self.stream.encode())
        self.container.close()
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _planes(frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Full-range sources (MJPEG's yuvj420p, or a yuv420p flagged JPEG range) are brought
    # to TV range, which is what the clips are written and read as.
    full_range = frame.format.name.startswith("yuvj") or getattr(frame, "color_range", 0) == 2
    if frame.format.name != "yuv420p" or full_range:
        frame = frame.reformat(
            format="yuv420p", src_color_range=2 if full_range else 1, dst_color_range=1
        )
    out = []
    for plane in frame.planes:
        data = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        out.append(data[:, : plane.width])
    return out[0], out[1], out[2]


def export_clips(
    video: str | os.PathLike[str],
    rois: ROISet,
    out_dir: str | os.PathLike[str],
    *,
    contrast: ContrastSettings | None = None,
    options: ExportOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    overwrite: bool = False,
) -> list[ClipResult]:
    """Export one clip per ROI from ``video`` in a single decoding pass.

    Parameters
    ----------
    video : str or PathLike
        The raw recording.
    rois : ROISet
        Regions to cut; all must lie inside the frame, with even position and
        size (4:2:0 video halves the colour resolution).
    out_dir : str or PathLike
        Folder for the clips (created if missing).
    contrast : ContrastSettings, optional
        Contrast method; one mapping per ROI is fitted from a sample of frames.
    options : ExportOptions, optional
        Codec, quality, GOP and naming.
    progress : callable, optional
        ``progress(frames_done, n_frames)``.
    cancel : callable, optional
        Polled every frame; True stops and removes the partial clips.
    overwrite : bool
        Replace files that have a clip's name but are not that clip.

    Returns
    -------
    list of ClipResult
        In ROI order; clips complete from an earlier run are kept and marked
        ``skipped``.

    Raises
    ------
    ROIError
        For an ROI outside the frame or with odd position/size.
    VideoError
        If the video cannot be decoded.
    ExportCancelled
        If ``cancel`` returned True.
    FileExistsError
        If another file has a clip's name and ``overwrite`` is False.
    OSError
        If ``out_dir`` cannot be written.
    """
    import av

    video, out_dir = Path(video), Path(out_dir)
    options = options or ExportOptions()
    reader = VideoReader(video, gray=True)
    n_frames = len(reader)
    width, height = reader.frame_shape[1], reader.frame_shape[0]
    rois.check_inside(width, height, str(video))
    for roi in rois:
        if (roi.x | roi.y | roi.w | roi.h) % 2:
            raise ROIError(
                f"ROI {roi.name!r} ({roi.crop_string}) needs even position and size for 4:2:0 video"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(out_dir, os.W_OK):
        raise PermissionError(f"{out_dir}: output folder is not writable")
    paths = {roi.name: clip_path(video, roi, out_dir, options) for roi in rois}
    todo = [roi for roi in rois if not _is_complete(paths[roi.name], roi, n_frames)]
    clash = [paths[roi.name] for roi in todo if paths[roi.name].exists()]
    if clash and not overwrite:
        raise FileExistsError(
            f"{clash[0]}: a different file already has this clip's name (pass overwrite=True)"
        )
    mappings = fit_roi_mappings(reader, ROISet(tuple(todo)), contrast) if contrast and todo else {}
    results = {
        roi.name: ClipResult(roi, paths[roi.name], n_frames, roi.w, roi.h, skipped=True)
        for roi in rois
        if roi not in todo
    }
    if todo:
        rate = reader.fps or Fraction(30)
        reader.close()
        writers: list[_ClipWriter] = []
        try:
            writers = [_ClipWriter(paths[roi.name], roi, rate, options) for roi in todo]
            mappers = [
                luma_mapper(mappings[roi.name]) if roi.name in mappings else None for roi in todo
            ]
            with av.open(str(reader.source)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for done, frame in enumerate(container.decode(stream), start=1):
                    if cancel is not None and cancel():
                        raise ExportCancelled(f"export of {video} cancelled")
                    y, u, v = _planes(frame)
                    for writer, mapper in zip(writers, mappers, strict=True):
                        rows, cols = writer.roi.slices
                        crop_y = y[rows, cols]
                        if mapper is not None:
                            crop_y = mapper(crop_y)
                        half = (
                            slice(rows.start // 2, rows.stop // 2),
                            slice(cols.start // 2, cols.stop // 2),
                        )
                        writer.write(crop_y, u[half], v[half])
                    if progress is not None:
                        progress(done, n_frames)
            for writer in writers:
                if writer.count != n_frames:
                    raise VideoError(video, f"decoded {writer.count} frames, expected {n_frames}")
                writer.finish()
        except BaseException:
            for writer in writers:
                writer.abort()
            raise
        for roi in todo:
            mapping = mappings.get(roi.name)
            results[roi.name] = ClipResult(
                roi,
                paths[roi.name],
                n_frames,
                roi.w,
                roi.h,
                mapping=mapping.to_dict() if mapping else {},
            )
    ordered = [results[roi.name] for roi in rois]
    _write_sidecar(video, out_dir, ordered, contrast, options)
    return ordered


def _write_sidecar(
    video: Path,
    out_dir: Path,
    clips: Sequence[ClipResult],
    contrast: ContrastSettings | None,
    options: ExportOptions,
) -> Path:
    # Provenance: which ROIs, settings and mapping made each clip, so the same
    # settings can be applied to new videos and a result can be traced back.
    record = {
        "source": str(video),
        "options": asdict(options),
        "contrast": contrast.to_dict() if contrast else None,
        "clips": [
            {
                "roi": c.roi.to_dict(),
                "path": c.path.name,
                "n_frames": c.n_frames,
                "mapping": c.mapping or None,
            }
            for c in clips
            if not c.skipped
        ],
    }
    path = out_dir / f"{video.stem}.crops.json"
    return atomic_write_text(
        path, json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n"
    )


def load_recipe(
    path: str | os.PathLike[str],
) -> tuple[ROISet, ContrastSettings | None, ExportOptions]:
    """Read the ROIs and settings of an earlier export from its ``.crops.json``.

    New recordings from the same rig get the same wells and the same contrast
    method (each video's own mapping is fitted again from its own frames).

    Parameters
    ----------
    path : str or PathLike
        ``<stem>.crops.json`` written by :func:`export_clips`.

    Returns
    -------
    tuple
        ``(rois, contrast, options)``.

    Raises
    ------
    ROIError
        Naming the file if it is not an export record.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        rois = ROISet(tuple(ROI(**clip["roi"]) for clip in record["clips"]))
        contrast = ContrastSettings.from_dict(record["contrast"]) if record["contrast"] else None
        options = ExportOptions(**record["options"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ROIError(f"{path}: not an export record of the workbench ({exc})") from exc
    return rois, contrast, options


def register_clips(config: str | os.PathLike[str], clips: Sequence[ClipResult]) -> list[Path]:
    """Add exported clips to the DLC project's ``video_sets`` (crop ``0, w, 0, h``).

    Only ``video_sets`` changes; comments and everything else in
    ``config.yaml`` stay as they were.

    Parameters
    ----------
    config : str or PathLike
        The project's ``config.yaml``.
    clips : sequence of ClipResult
        From :func:`export_clips`.

    Returns
    -------
    list of Path
        The clips that were not registered before.
    """
    cfg = load_config(config)
    added = [c.path for c in clips if add_video_set(cfg, c.path.resolve(), c.width, c.height)]
    if added:
        save_config(cfg, config)
    return added
