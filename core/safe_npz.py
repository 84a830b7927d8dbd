"""Reading ``.npz`` archives from untrusted files: weights and datasets alike.

``numpy.load`` trusts the file: it evaluates each ``.npy`` header with ``ast.literal_eval``
and allocates whatever size the header announces before reading any data. Here each
header is parsed by a small grammar, must describe an array of plain numbers, is shown to
the caller before anything is read, and the data must be exactly as long as announced;
memory follows what the file really holds. Nothing is unpickled.

Numbers read from such files are checked before they become float32 too
(:func:`float_range_problem`): a cast turns values beyond its range into infinities, silently.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO

import numpy as np

from core.errors import LayerwiseError
from core.shapes import format_shape

READ_CHUNK = 1 << 20
"""Bytes read at a time from a file whose announced size is not trusted."""
NPZ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError)
"""What reading a damaged archive raises: zipfile's errors, corrupt or truncated deflate
streams, undecodable headers (``UnicodeDecodeError`` is a ``ValueError``), and
``NotImplementedError`` for zip features zipfile lacks (newer versions, other compression
methods). Callers turn these into their own error naming the file."""
NPY_MAX_HEADER = 10_000
"""Longest ``.npy`` header read (NumPy's own limit); real ones are 118 bytes."""
_NPY_MAGIC = b"\x93NUMPY"
_NPY_ENTRY = re.compile(
    r"""\s*(?P<quote>['"])(?P<key>descr|fortran_order|shape)(?P=quote)\s*:\s*"""
    r"""(?:(?P<q>['"])(?P<descr>[^'"]{0,40})(?P=q)|(?P<flag>True|False)|\((?P<shape>[0-9,\s]{0,400})\))\s*,?"""
)
"""One ``'key': value`` entry of a ``.npy`` header, for the three keys and value forms of plain arrays."""
_NPY_SIMPLE_DESCR = re.compile(r"[<>|=]?[A-Za-z]\d{0,4}")
_NPY_MAX_DIMS = 32


def read_at_most(handle: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``handle``, read in chunks.

    ``handle.read(limit)`` would allocate ``limit`` bytes before reading anything, so a
    header announcing gigabytes in a file of a few bytes would cost gigabytes; this
    allocates only what the file really holds.
    """
    chunks, total = [], 0
    while total < limit:
        chunk = handle.read(min(READ_CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_npz(
    path: str | os.PathLike[str],
    wanted: Callable[[str, tuple[int, ...], np.dtype], bool],
    error: Callable[[str], LayerwiseError],
    limit: int,
) -> dict[str, np.ndarray | None]:
    """Every array name in the ``.npz`` archive at ``path``, with the arrays ``wanted`` selects.

    Nothing is unpickled or evaluated: each member's ``.npy`` header is parsed by a
    strict grammar and must describe an array of numbers (bool, int, uint, float) of
    at most ``limit`` bytes; ``wanted(name, shape, dtype)`` sees it before any data is
    read (and may raise to refuse the file); the data must then be exactly as long as
    the header announces. Memory follows the data the file really holds.

    Parameters
    ----------
    path
        The archive.
    wanted
        Whether to read an array; ``None`` stands in for the arrays it declines.
    error
        Makes the error to raise from a reason (``"array x holds object values; …"``); it
        should name ``path``.
    limit
        Largest array, in bytes.

    Returns
    -------
    dict
        Array name (member name without ``.npy``, as ``numpy.load`` names them) → array or ``None``.
    """
    fail = error
    try:
        with zipfile.ZipFile(path) as archive:
            # ZipInfo.is_dir() fails on an empty name; folders end in "/".
            members = {i.filename.removesuffix(".npy"): i for i in archive.infolist() if not i.filename.endswith("/")}
            return {key: _npz_member(archive, key, info, wanted, fail, limit) for key, info in members.items()}
    except NPZ_ERRORS as exc:
        raise fail(f"is not a readable .npz file: {exc}") from None


def _npz_member(
    archive: zipfile.ZipFile,
    key: str,
    info: zipfile.ZipInfo,
    wanted: Callable[[str, tuple[int, ...], np.dtype], bool],
    fail: Callable[[str], LayerwiseError],
    limit: int,
) -> np.ndarray | None:
    if info.flag_bits & 0x1:
        raise fail(f"array {key} is encrypted; .npz archives are not")
    with archive.open(info) as stream:
        shape, fortran_order, dtype = _npy_header(stream, key, fail)
        if not wanted(key, shape, dtype):
            return None
        size = math.prod(shape) * dtype.itemsize
        if size > limit:
            raise fail(f"array {key} is {format_shape(shape)} = {size:,} bytes; the limit is {limit:,}")
        data = read_at_most(stream, size + 1)
    if len(data) != size:
        raise fail(
            f"array {key} is {format_shape(shape) or 'a scalar'} {dtype} = {size:,} bytes, "
            f"but the archive holds {'more' if len(data) > size else f'{len(data):,}'}"
        )
    flat = np.frombuffer(data, dtype=dtype)
    return flat.reshape(shape[::-1]).transpose() if fortran_order else flat.reshape(shape)


def _npy_header(
    stream: BinaryIO, key: str, fail: Callable[[str], LayerwiseError]
) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the header of a ``.npy`` member, leaving ``stream`` at its data."""
    unreadable = f"is not a readable .npz file: array {key}"
    prefix = stream.read(len(_NPY_MAGIC) + 2)
    if len(prefix) < len(_NPY_MAGIC) + 2 or not prefix.startswith(_NPY_MAGIC):
        raise fail(f"{unreadable} is not in .npy format")
    version = (prefix[-2], prefix[-1])
    if version not in ((1, 0), (2, 0)):
        raise fail(f"array {key} uses .npy format version {version}, which Layerwise does not read")
    width = 2 if version == (1, 0) else 4
    length = int.from_bytes(stream.read(width), "little")
    if length > NPY_MAX_HEADER:
        raise fail(f"{unreadable} has a header of {length:,} bytes; .npy headers are at most {NPY_MAX_HEADER:,}")
    text = stream.read(length).decode("latin1")
    fields = _npy_fields(text)
    if fields is None:
        raise fail(f"{unreadable} has a header that is not a plain array's: {text.strip()[:120]!r}")
    descr, fortran_order, shape = fields
    try:
        dtype = np.dtype(descr) if _NPY_SIMPLE_DESCR.fullmatch(descr) else None
    except TypeError:  # a type code NumPy does not know, e.g. "f3"
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        shown = dtype if dtype is not None else repr(descr)
        raise fail(f"array {key} holds {shown} values; only numbers are accepted (object arrays never)")
    return shape, fortran_order, dtype


def _npy_fields(text: str) -> tuple[str, bool, tuple[int, ...]] | None:
    """``(descr, fortran_order, shape)`` of a header ``{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }``.

    A small grammar instead of ``ast.literal_eval``: nothing from the file is evaluated,
    and hostile headers (ten thousand nested brackets or minus signs) cannot exhaust
    the parser. ``None`` when the header is anything else.
    """
    body = text.strip()
    if len(body) < 2 or body[0] != "{" or body[-1] != "}":
        return None
    entries: dict[str, re.Match[str]] = {}
    position, end = 1, len(body) - 1
    while body[position:end].strip():
        match = _NPY_ENTRY.match(body, position, end)
        if match is None or match["key"] in entries:
            return None
        entries[match["key"]] = match
        position = match.end()
    if set(entries) != {"descr", "fortran_order", "shape"}:
        return None
    descr, flag, shape = entries["descr"]["descr"], entries["fortran_order"]["flag"], entries["shape"]["shape"]
    if descr is None or flag is None or shape is None:
        return None
    items = [item.strip() for item in shape.split(",")]
    if items and not items[-1]:
        items.pop()  # the trailing comma of (3,) and of ()
    if len(items) > _NPY_MAX_DIMS or not all(item.isdigit() and len(item) <= 19 for item in items):
        return None
    return descr, flag == "True", tuple(int(item) for item in items)


def float_range_problem(values: np.ndarray, dtype: type | np.dtype = np.float32) -> str | None:
    """Why ``values`` cannot become ``dtype`` floats honestly, or ``None`` when they can.

    NaN, infinities and magnitudes beyond ``dtype``'s range (which a cast would turn into
    infinities) are problems; whole numbers never are (the widest, 2**64, fits float32). The
    reason follows its subject and says where: ``"holds values beyond the range of float32
    (±3.40282e+38), the largest in magnitude 1e+223 at [0, 3]"``. Costs two passes over
    ``values`` and no copy unless it refuses.
    """
    if values.dtype.kind != "f" or values.size == 0:
        return None
    low, high = values.min(), values.max()  # NaN propagates through both
    if np.isnan(low) or np.isnan(high):
        return f"holds NaN at {_position(np.isnan(values))}"
    if np.isinf(low) or np.isinf(high):
        return f"holds an infinite value at {_position(np.isinf(values))}"
    limit = np.finfo(dtype).max
    if high <= limit and -low <= limit:
        return None
    largest = high if high >= -low else low
    shown = np.format_float_scientific(largest, precision=5, trim="-")
    return (
        f"holds values beyond the range of {np.dtype(dtype).name} (±{limit:.6g}), the largest in magnitude "
        f"{shown} at {_position(values == largest)}"
    )


def _position(mask: np.ndarray) -> str:
    """``[i, j, …]``: where the first true value of ``mask`` is (``[]`` for a scalar)."""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(int(np.argmax(mask)), mask.shape)) + "]"
