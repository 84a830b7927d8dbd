"""Unpacking downloaded archives (tar, tar.gz, zip, gz) without trusting them.

Every member of a tar or zip archive is inspected before anything is written:
absolute paths, ``..``, drive letters, links, devices and FIFOs are refused, and so
are archives with too many members or that would unpack to too many bytes, or to
too many times their own size (a decompression bomb). Extraction then counts the
bytes it really writes against the same caps, so a header that lies about a size
stops it too. Members are written by this module, never by ``tarfile``'s or
``zipfile``'s own extraction, so nothing but plain files and folders is created,
with default permissions.

Everything is unpacked into a temporary folder beside the target, which is renamed
to the target only when it is complete: the target either does not exist or holds
the whole archive. Every error is an :class:`ArchiveError` (a
:class:`~core.data.dataset.DatasetError`) naming the archive, or the file that
cannot be written, and what is wrong.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import secrets
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.data.dataset import DatasetError

MAX_UNPACKED_BYTES = 2 << 30
"""An archive may unpack to at most this many bytes (2 GiB)."""
MAX_RATIO = 100
"""An archive may unpack to at most this many times its own size…"""
MIN_RATIO_BYTES = 1 << 20
"""…once it unpacks to more than this: small files of zeros compress far better than
100:1 and are harmless."""
MAX_MEMBERS = 200_000
"""An archive may hold at most this many members (files and folders)."""
CHUNK_BYTES = 1 << 20

_DRIVE = re.compile(r"[A-Za-z]:")
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    tarfile.TarError,
    zipfile.BadZipFile,
    NotImplementedError,
)
"""What reading a damaged archive raises: gzip's BadGzipFile is an OSError, a stream cut
short an EOFError, an unsupported zip compression a NotImplementedError."""
try:
    import lzma

    _READ_ERRORS += (lzma.LZMAError,)
except ImportError:  # Python built without lzma: zipfile then cannot read such members either
    pass


class ArchiveError(DatasetError):
    """An archive is damaged, unsafe or too large, or cannot be unpacked where asked."""


def archive_kind(path: Path) -> str:
    """What the file at ``path`` is, judged by its first bytes whatever its name.

    Returns
    -------
    str
        ``"tar.gz"`` (a gzip-compressed tar, ``.tgz`` included), ``"tar"``, ``"zip"``,
        ``"gz"`` (a gzip file that is not a tar), or ``""`` for anything else.

    Raises
    ------
    ArchiveError
        When the file cannot be read.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(tarfile.BLOCKSIZE)
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as handle:
                block = handle.read(tarfile.BLOCKSIZE)
        except _READ_ERRORS:
            return "gz"  # damaged: unpacking it says how
        return "tar.gz" if _is_tar_header(block) else "gz"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    return "tar" if _is_tar_header(head) else ""


def _is_tar_header(block: bytes) -> bool:
    if len(block) < tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def unpack(archive: Path, into: Path) -> Path:
    """Unpack ``archive`` into the new folder ``into``, all or nothing.

    Parameters
    ----------
    archive
        A tar, tar.gz (tgz), zip or gz file, told apart by :func:`archive_kind`. A
        ``.gz`` that is not a tar becomes one file in ``into``, named as the archive
        without ``.gz``.
    into
        The folder to create; it must not exist yet. Its parent is created if needed.

    Returns
    -------
    Path
        ``into``, holding the archive's files and folders.

    Raises
    ------
    ArchiveError
        When ``into`` exists, the file is no archive, is damaged, holds an unsafe
        member (absolute path, ``..``, drive letter, link, device, FIFO) or more than
        :data:`MAX_MEMBERS`, or would unpack to more than :data:`MAX_UNPACKED_BYTES` or
        more than :data:`MAX_RATIO` times its size; or when ``into`` cannot be written.
        Nothing is left behind.
    """
    archive, into = Path(archive), Path(into)
    if into.exists() or into.is_symlink():
        raise ArchiveError(f"{into}: already exists; {archive.name} is unpacked only into a new folder")
    kind = archive_kind(archive)
    if not kind:
        raise ArchiveError(f"{archive}: is not a tar, tar.gz, zip or gz archive")
    compressed = archive.stat().st_size
    work = _work_folder(into)
    try:
        if kind == "zip":
            _unpack_zip(archive, work, compressed)
        elif kind == "gz":
            _unpack_gz(archive, work, compressed)
        else:
            _unpack_tar(archive, work, compressed, "r:gz" if kind == "tar.gz" else "r:")
        try:
            os.replace(work, into)
        except OSError as exc:
            raise ArchiveError(f"{into}: cannot be written: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return into


def _work_folder(into: Path) -> Path:
    try:
        into.parent.mkdir(parents=True, exist_ok=True)
        while True:
            # A fresh name each time; mkdir (not mkdtemp) gives the folder the usual permissions.
            work = into.parent / f".{into.name}.{secrets.token_hex(4)}.unpacking"
            with contextlib.suppress(FileExistsError):
                work.mkdir()
                return work
    except OSError as exc:
        raise ArchiveError(f"{into.parent}: cannot be written: {exc.strerror or exc}") from None


class _Budget:
    """Counts unpacked bytes against :data:`MAX_UNPACKED_BYTES` and :data:`MAX_RATIO`."""

    def __init__(self, archive: Path, compressed: int) -> None:
        self.archive = archive
        self.compressed = max(compressed, 1)
        self.total = 0

    def add(self, member: str, count: int) -> None:
        self.total += count
        if self.total > MAX_UNPACKED_BYTES:
            raise ArchiveError(
                f"{self.archive}: unpacks to more than {MAX_UNPACKED_BYTES:,} bytes (at member {member!r}); refused"
            )
        if self.total > MIN_RATIO_BYTES and self.total > MAX_RATIO * self.compressed:
            raise ArchiveError(
                f"{self.archive}: unpacks to more than {MAX_RATIO} times its {self.compressed:,} bytes "
                f"(at member {member!r}), as a decompression bomb does; refused"
            )


def _refuse(archive: Path, name: str, reason: str) -> ArchiveError:
    return ArchiveError(f"{archive}: member {name!r} {reason}; nothing was unpacked")


def _member_parts(archive: Path, name: str) -> tuple[str, ...]:
    """The path components of member ``name``, refusing any that would land outside the folder."""
    if "\x00" in name:
        raise _refuse(archive, name, "has a NUL character in its name")
    # A backslash separates folders on Windows, so it counts as one everywhere.
    text = name.replace("\\", "/")
    if text.startswith("/"):
        raise _refuse(archive, name, "has an absolute path")
    if _DRIVE.match(text):
        raise _refuse(archive, name, "starts with a drive letter")
    parts = tuple(part for part in text.split("/") if part not in ("", "."))
    if ".." in parts:
        raise _refuse(archive, name, "climbs out of its folder with '..'")
    if os.name == "nt" and any(":" in part for part in parts):
        raise _refuse(archive, name, "has ':' in its name")
    return parts


@dataclass(frozen=True)
class _Entry:
    """A member as inspected: where it goes (empty: the archive's own root), and its size (``None``: a folder)."""

    name: str
    parts: tuple[str, ...]
    size: int | None


class _Layout:
    """The files and folders seen so far, to refuse members that would collide.

    Names are compared case-folded, so an archive unpacks the same on systems whose
    file names ignore case.
    """

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.files: set[tuple[str, ...]] = set()
        self.folders: set[tuple[str, ...]] = set()
        self.count = 0

    def add(self, name: str, parts: tuple[str, ...], is_folder: bool) -> None:
        self.count += 1
        if self.count > MAX_MEMBERS:
            raise ArchiveError(f"{self.archive}: holds more than {MAX_MEMBERS:,} members; refused")
        key = tuple(part.casefold() for part in parts)
        for depth in range(1, len(key)):
            if key[:depth] in self.files:
                raise _refuse(self.archive, name, "lies inside a member that is a file")
            self.folders.add(key[:depth])
        if is_folder:
            if key in self.files:
                raise _refuse(self.archive, name, "is a folder and also a file")
            self.folders.add(key)
        elif key in self.files or key in self.folders:
            raise _refuse(self.archive, name, "appears twice")
        else:
            self.files.add(key)


def _tar_problem(member: tarfile.TarInfo) -> str | None:
    if member.issym():
        return "is a symbolic link"
    if member.islnk():
        return "is a hard link"
    if member.ischr() or member.isblk():
        return "is a device"
    if member.isfifo():
        return "is a FIFO"
    if member.issparse():
        return "is a sparse file"
    if not (member.isreg() or member.isdir()):
        return "is neither a plain file nor a folder"
    return None


def _inspect_tar(archive: Path, tar: tarfile.TarFile, compressed: int) -> list[_Entry]:
    budget = _Budget(archive, compressed)
    layout = _Layout(archive)
    entries = []
    for member in tar:
        problem = _tar_problem(member)
        if problem is not None:
            raise _refuse(archive, member.name, problem)
        parts = _member_parts(archive, member.name)
        if not parts and not member.isdir():
            raise _refuse(archive, member.name, "has no file name")
        if parts:
            layout.add(member.name, parts, member.isdir())
        if member.isreg():
            budget.add(member.name, member.size)
        entries.append(_Entry(member.name, parts, None if member.isdir() else member.size))
    _check_tar_end(archive, tar, budget)
    return entries


def _check_tar_end(archive: Path, tar: tarfile.TarFile, budget: _Budget) -> None:
    # tarfile ends the listing quietly at a header it cannot read, which is where
    # a member whose header understates its size leaves the reader: whatever
    # follows the last member must be the zero padding of a tar's end.
    fileobj = tar.fileobj
    assert fileobj is not None
    fileobj.seek(tar.offset)
    while chunk := fileobj.read(CHUNK_BYTES):
        if chunk.strip(b"\x00"):
            raise ArchiveError(
                f"{archive}: holds data after its last readable member (at byte {tar.offset:,}): "
                "a header lies about its member's size, or the archive is damaged; nothing was unpacked"
            )
        budget.add("(padding at the end)", len(chunk))


def _unpack_tar(archive: Path, work: Path, compressed: int, mode: str) -> None:
    try:
        with tarfile.open(archive, mode) as tar:
            entries = _inspect_tar(archive, tar, compressed)
        with tarfile.open(archive, mode) as tar:
            _extract_tar(archive, tar, entries, work, compressed)
    except _READ_ERRORS as exc:
        raise ArchiveError(f"{archive}: is damaged: {_reason(exc)}") from None


def _extract_tar(archive: Path, tar: tarfile.TarFile, entries: list[_Entry], work: Path, compressed: int) -> None:
    changed = ArchiveError(f"{archive}: changed while it was unpacked; nothing was unpacked")
    budget = _Budget(archive, compressed)
    members = iter(tar)
    for entry in entries:
        member = next(members, None)
        # Everything is checked again: the file read now need not be the one inspected.
        if member is None or member.name != entry.name or _tar_problem(member) is not None:
            raise changed
        if _member_parts(archive, member.name) != entry.parts:
            raise changed
        if entry.size is None:
            if not member.isdir():
                raise changed
            _make_folder(work, entry.parts)
            continue
        if not member.isreg() or member.size != entry.size:
            raise changed
        source = tar.extractfile(member)
        if source is None:
            raise changed
        with source:
            _write_member(archive, entry, source, work, budget)
    if next(members, None) is not None:
        raise changed


def _unpack_zip(archive: Path, work: Path, compressed: int) -> None:
    try:
        with zipfile.ZipFile(archive) as package:
            entries = _inspect_zip(archive, package.infolist(), compressed)
            budget = _Budget(archive, compressed)
            for info, entry in zip(package.infolist(), entries):
                if entry.size is None:
                    _make_folder(work, entry.parts)
                    continue
                with package.open(info) as source:
                    _write_member(archive, entry, source, work, budget)
    except _READ_ERRORS as exc:
        raise ArchiveError(f"{archive}: is damaged: {_reason(exc)}") from None


def _inspect_zip(archive: Path, infos: list[zipfile.ZipInfo], compressed: int) -> list[_Entry]:
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(f"{archive}: holds more than {MAX_MEMBERS:,} members; refused")
    budget = _Budget(archive, compressed)
    layout = _Layout(archive)
    entries = []
    for info in infos:
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            raise _refuse(archive, info.filename, "is a symbolic link")
        if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise _refuse(archive, info.filename, "is a device, FIFO or socket")
        if info.flag_bits & 0x1:
            raise _refuse(archive, info.filename, "is encrypted")
        is_folder = info.is_dir() or stat.S_ISDIR(mode)
        parts = _member_parts(archive, info.filename)
        if not parts and not is_folder:
            raise _refuse(archive, info.filename, "has no file name")
        if parts:
            layout.add(info.filename, parts, is_folder)
        if not is_folder:
            budget.add(info.filename, info.file_size)
        entries.append(_Entry(info.filename, parts, None if is_folder else info.file_size))
    return entries


def _unpack_gz(archive: Path, work: Path, compressed: int) -> None:
    name = archive.name[:-3] if archive.name.lower().endswith(".gz") else archive.name
    entry = _Entry(name, (name if name not in ("", ".", "..") else "unpacked",), None)
    try:
        with gzip.open(archive, "rb") as source:
            _write_member(archive, entry, source, work, _Budget(archive, compressed))
    except _READ_ERRORS as exc:
        raise ArchiveError(f"{archive}: is a damaged gzip file: {_reason(exc)}") from None


def _make_folder(work: Path, parts: Iterable[str]) -> None:
    folder = work.joinpath(*parts)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(f"{folder}: cannot be created: {exc.strerror or exc}") from None


def _write_member(archive: Path, entry: _Entry, source: BinaryIO, work: Path, budget: _Budget) -> None:
    """Copy ``source`` to its place in ``work``, stopping as soon as it exceeds its declared size or the caps."""
    _make_folder(work, entry.parts[:-1])
    target = work.joinpath(*entry.parts)
    try:
        out = open(target, "xb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise ArchiveError(f"{target}: cannot be written: {exc.strerror or exc}") from None
    written = 0
    try:
        while chunk := source.read(CHUNK_BYTES):
            written += len(chunk)
            if entry.size is not None and written > entry.size:
                raise ArchiveError(
                    f"{archive}: member {entry.name!r} holds more than the {entry.size:,} bytes it declares; "
                    "nothing was unpacked"
                )
            budget.add(entry.name, len(chunk))
            try:
                out.write(chunk)
            except OSError as exc:
                raise ArchiveError(f"{target}: cannot be written: {exc.strerror or exc}") from None
    finally:
        out.close()
    if entry.size is not None and written != entry.size:
        raise ArchiveError(
            f"{archive}: member {entry.name!r} holds {written:,} bytes but declares {entry.size:,}; "
            "the archive is damaged, nothing was unpacked"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
