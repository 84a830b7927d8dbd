"""The weights file: an ``.npz`` archive whose member names never carry layer names.

Layer names are data, not paths: ``/conv1/Conv``, ``../../etc/passwd`` or ``批次 1`` are all
fine names, but as zip member names they are mangled, dropped or unsafe to extract. So the
arrays are stored under neutral names (``w0``, ``w1`` …) and a member ``index`` holds, as
UTF-8 JSON in a ``uint8`` array, which ``[layer, parameter]`` each one is. Files of the first
format, one member per ``"layer/param"`` key, are still read. The format is documented in
``docs/weights-file.md``.

In memory, a state dict is keyed ``"layer/param"`` (:func:`weight_key`): parameter names never
hold a ``/``, so the last one separates them whatever the layer name holds.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from core.atomic import atomic_write_bytes
from core.errors import LayerwiseError
from core.safe_npz import read_npz

FORMAT_ID = "layerwise.weights"
FORMAT_VERSION = 1
INDEX = "index"
"""The member holding the index; the arrays are ``w0``, ``w1`` … in its order."""
MAX_INDEX_BYTES = 64 * 2**20
"""Largest index read: 4,000 layers of 255-character names take about 5 MB."""

Wanted = Callable[[str, tuple[int, ...], np.dtype], bool]


def weight_key(layer: str, param: str) -> str:
    """The state-dict key of parameter ``param`` of layer ``layer``: ``"layer/param"``."""
    return f"{layer}/{param}"


def split_weight_key(key: str) -> tuple[str, str]:
    """``(layer, param)`` of a :func:`weight_key`; the layer is empty when ``key`` has no ``/``."""
    layer, _, param = key.rpartition("/")
    return layer, param


def _member(position: int) -> str:
    return f"w{position}"


def pack_weights(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The members of a weights archive for ``state``: the index first, then ``w0``, ``w1`` …."""
    index = {"format": FORMAT_ID, "version": FORMAT_VERSION, "tensors": [list(split_weight_key(k)) for k in state]}
    text = json.dumps(index, ensure_ascii=False).encode("utf-8")
    arrays = {INDEX: np.frombuffer(text, dtype=np.uint8)}
    arrays.update((_member(position), np.asarray(value)) for position, value in enumerate(state.values()))
    return arrays


def weights_bytes(state: Mapping[str, np.ndarray]) -> bytes:
    """``state`` as the bytes of a weights file."""
    buffer = io.BytesIO()
    np.savez(buffer, **pack_weights(state))
    return buffer.getvalue()


def write_weights(path: str | os.PathLike[str], state: Mapping[str, np.ndarray], error: type[LayerwiseError]) -> None:
    """Write ``state`` to ``path`` atomically; raise ``error`` naming the file when it cannot be written."""
    try:
        atomic_write_bytes(path, weights_bytes(state))
    except OSError as exc:
        raise error(f"{path}: cannot be written: {exc.strerror or exc}") from None


def index_keys(raw: Any, members: Collection[str]) -> dict[str, str]:
    """Member name → state-dict key, from the ``index`` array of an archive holding ``members``.

    Raises
    ------
    ValueError
        Saying what is wrong with the index (not text, not JSON, not the expected structure,
        a tensor listed twice, members it does not account for).
    """
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError("its index is not text (a 1-D uint8 array of UTF-8 JSON)")
    try:
        index = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ValueError(f"its index is not UTF-8 JSON: {exc}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT_ID:
        raise ValueError(f'its index is not a Layerwise weights index ("format" must be "{FORMAT_ID}")')
    if index.get("version") != FORMAT_VERSION:
        raise ValueError(f"its index has version {index.get('version')!r}; this Layerwise reads {FORMAT_VERSION}")
    tensors = index.get("tensors")
    if not isinstance(tensors, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair) for pair in tensors
    ):
        raise ValueError('its index field "tensors" must be a list of [layer, parameter] string pairs')
    keys: dict[str, str] = {}
    seen: set[str] = set()
    for position, (layer, param) in enumerate(tensors):
        if not param or "/" in param:
            raise ValueError(f"its index lists parameter {param!r} of layer {layer!r}; parameter names hold no '/'")
        key = weight_key(layer, param)
        if key in seen:
            raise ValueError(f"its index lists parameter {param!r} of layer {layer!r} twice")
        seen.add(key)
        keys[_member(position)] = key
    missing = [member for member in keys if member not in members]
    extra = sorted(set(members) - set(keys) - {INDEX})
    if missing or extra:
        problem = f"no array {missing[0]} for {keys[missing[0]]}" if missing else f"array {extra[0]} is not in it"
        raise ValueError(f"its index does not match its arrays ({problem})")
    return keys


def read_weights(
    path: str | os.PathLike[str], wanted: Wanted, error: Callable[[str], LayerwiseError], limit: int
) -> dict[str, np.ndarray | None]:
    """Every tensor of the weights file at ``path``, by state-dict key, with those ``wanted`` selects.

    Reads both formats with the strict reader of :mod:`core.safe_npz`: ``wanted(key, shape,
    dtype)`` sees each tensor's header before its data is read; ``None`` stands in for the
    tensors it declines.

    Raises
    ------
    LayerwiseError
        ``error(reason)`` when the file is unreadable or its index is damaged.
    """
    # A first pass reads only the index (if any), so that the second can name every tensor.
    first = read_npz(path, lambda name, shape, dtype: name == INDEX, error, MAX_INDEX_BYTES)
    if INDEX not in first:  # the first format: member names are the keys
        return read_npz(path, wanted, error, limit)
    try:
        keys = index_keys(first[INDEX], first.keys())
    except ValueError as exc:
        raise error(str(exc)) from None
    arrays = read_npz(path, lambda name, shape, dtype: name in keys and wanted(keys[name], shape, dtype), error, limit)
    return {keys[name]: value for name, value in arrays.items() if name in keys}
