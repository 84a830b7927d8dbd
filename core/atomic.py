"""Atomic file writes: a crash leaves either the old file or the new one, never a mix."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file.

    Writes a temporary file beside the target, flushes it to disk, then renames it
    over the target (atomic on POSIX and Windows) and syncs the directory.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    atomic_write_files(directory, {path.name: data})


def atomic_write_files(directory: str | os.PathLike[str], files: Mapping[str, bytes]) -> None:
    """Write each ``name: data`` of ``files`` into ``directory``, all or none.

    Every file is written to a temporary file beside its target and flushed to disk
    first; only then is each renamed over its target, and the directory synced. A
    failure while writing leaves no temporary file and no target changed.

    Raises
    ------
    OSError
        As the system reports it (a full disk, a folder that cannot be written).
    """
    directory = Path(directory)
    temporary: dict[str, str] = {}
    try:
        for name, data in files.items():
            fd, temporary[name] = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for name, temp_name in temporary.items():
            os.replace(temp_name, directory / name)
    except BaseException:
        _remove(temporary.values())
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _remove(paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
