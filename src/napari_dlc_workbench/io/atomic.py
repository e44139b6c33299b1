"""Atomic file writes that keep the previous version as a backup.

Labels are the users' most precious data, so no write may ever leave a
half-written file behind: the new content goes to a temporary file in the same
folder (same filesystem, so the final rename is atomic), is flushed and fsynced,
and only then replaces the target with :func:`os.replace`. The version that was
there before is first copied to ``.backups/<name>.<timestamp><suffix>`` beside
it, and only the newest ``keep`` backups of each file are kept.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

__all__ = [
    "BACKUP_DIRNAME",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "backup",
    "list_backups",
]

BACKUP_DIRNAME = ".backups"
DEFAULT_KEEP = 10


def _fsync_dir(folder: Path) -> None:
    # The rename itself lives in the directory entry: without this, a power cut
    # right after os.replace can still show the old file on some filesystems.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_backups(path: str | os.PathLike[str]) -> list[Path]:
    """Return the backups of ``path``, oldest first.

    Parameters
    ----------
    path : str or PathLike
        The file whose backups are wanted.

    Returns
    -------
    list of Path
        Backup files in ``<folder>/.backups/``, sorted by their timestamp.
    """
    path = Path(path)
    folder = path.parent / BACKUP_DIRNAME
    if not folder.is_dir():
        return []
    prefix = path.stem + "."
    found = [
        p
        for p in folder.iterdir()
        if p.name.startswith(prefix) and p.suffix == path.suffix and p.is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def backup(path: str | os.PathLike[str], *, keep: int = DEFAULT_KEEP) -> Path | None:
    """Copy ``path`` to a timestamped backup and prune old backups.

    Parameters
    ----------
    path : str or PathLike
        File to back up. Nothing happens if it does not exist.
    keep : int
        How many backups of this file to keep (the oldest are deleted).

    Returns
    -------
    Path or None
        The backup written, or None when ``path`` did not exist.
    """
    path = Path(path)
    if not path.is_file():
        return None
    folder = path.parent / BACKUP_DIRNAME
    folder.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{path.stem}.{stamp}{path.suffix}"
    # copy2 keeps the mtime, so a backup tells when the data was last saved.
    shutil.copy2(path, target)
    backups = list_backups(path)
    for old in backups[: max(0, len(backups) - keep)]:
        with contextlib.suppress(OSError):
            old.unlink()
    return target


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str], *, keep_backups: int = DEFAULT_KEEP
) -> Iterator[Path]:
    """Give a temporary path to write to; move it onto ``path`` on success.

    Use this for writers that insist on opening the file themselves (pandas'
    ``to_hdf``, PyAV, tifffile). If the block raises, the temporary file is
    removed and ``path`` is untouched.

    Parameters
    ----------
    path : str or PathLike
        Final destination.
    keep_backups : int
        Number of timestamped backups of the previous version to keep; 0 keeps
        none.

    Yields
    ------
    Path
        A not-yet-existing path in the same folder as ``path``, with the same
        suffix (some writers pick the format from it).

    Examples
    --------
    >>> with atomic_path(folder / "CollectedData_me.h5") as tmp:  # doctest: +SKIP
    ...     df.to_hdf(tmp, key="df_with_missing", mode="w")
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"Cannot write {path}: folder {folder} does not exist")
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=folder
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # Some writers (HDF5) refuse to open an existing empty file in write mode.
    tmp.unlink()
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"Writer produced no file for {path}")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if keep_backups > 0:
            backup(path, keep=keep_backups)
        os.replace(tmp, path)
        _fsync_dir(folder)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _write_with(
    path: str | os.PathLike[str], write: Callable[[Path], None], keep_backups: int
) -> Path:
    with atomic_path(path, keep_backups=keep_backups) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, keep_backups: int = DEFAULT_KEEP
) -> Path:
    """Write ``data`` to ``path`` atomically, keeping a backup of the old file.

    Parameters
    ----------
    path : str or PathLike
        Destination file.
    data : bytes
        The complete new content.
    keep_backups : int
        Number of backups of the previous version to keep.

    Returns
    -------
    Path
        ``path``.
    """
    return _write_with(path, lambda tmp: tmp.write_bytes(data), keep_backups)


def atomic_write_text(
    path: str | os.PathLike[str],
    text: str,
    *,
    encoding: str = "utf-8",
    keep_backups: int = DEFAULT_KEEP,
) -> Path:
    """Write ``text`` to ``path`` atomically, keeping a backup of the old file.

    Parameters
    ----------
    path : str or PathLike
        Destination file.
    text : str
        The complete new content. Newlines are written as given (no
        translation), so a file keeps its line endings.
    encoding : str
        Text encoding.
    keep_backups : int
        Number of backups of the previous version to keep.

    Returns
    -------
    Path
        ``path``.
    """
    return atomic_write_bytes(path, text.encode(encoding), keep_backups=keep_backups)
