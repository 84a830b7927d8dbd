"""Recovery snapshots: the open network, its weights and its training runs in one file.

A snapshot is a single ``.npz`` archive written atomically (temporary file, fsync,
rename), so a kill at any moment leaves either the previous snapshot or the new one,
never a mixture. It holds no pickles: the network, its metadata and the runs are
UTF-8 JSON stored as byte arrays, the weights are plain float arrays, and it is read
back with ``allow_pickle=False``.

The weights are stored as in a weights file (:mod:`core.engine.weights_file`), their
members prefixed ``weights/``: neutral names and an index, since layer names are no
member names. Version 1 named each member ``weights/layer/param``; it is still read.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_write_bytes
from core.engine.weights_file import INDEX, index_keys, pack_weights
from core.errors import LayerwiseError
from core.graph.fileformat import network_from_dict
from core.training.history import RunHistory, run_from_json, run_to_json

RECOVERY_SUFFIX = ".lwrecovery"
_META, _NETWORK, _RUNS = "__meta__", "__network__", "__runs__"
_WEIGHT_PREFIX = "weights/"
FORMAT = "layerwise.recovery"
VERSION = 2
_READ_VERSIONS = (1, 2)


class RecoveryError(LayerwiseError):
    """A recovery file cannot be read (the message names the file and the problem)."""


@dataclass
class RecoverySnapshot:
    """What was open in a window at one moment.

    Attributes
    ----------
    network
        The network in the file format's dictionary (``network_to_dict``).
    weights
        Trained tensors, ``"layer/param"`` → array (may be empty).
    runs
        The training runs shown on the plots.
    source_path
        The file the network was opened from or last saved to, if any.
    saved_at
        When the snapshot was taken (seconds since the epoch).
    """

    network: dict[str, Any]
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    runs: list[RunHistory] = field(default_factory=list)
    source_path: str | None = None
    saved_at: float = field(default_factory=time.time)


def _text_array(data: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(data, allow_nan=False).encode("utf-8"), dtype=np.uint8)


def write_snapshot(path: str | os.PathLike[str], snapshot: RecoverySnapshot) -> None:
    """Write ``snapshot`` to ``path`` atomically.

    Raises
    ------
    RecoveryError
        When the file cannot be written.
    """
    meta = {"format": FORMAT, "version": VERSION, "source_path": snapshot.source_path, "saved_at": snapshot.saved_at}
    arrays = {
        _META: _text_array(meta),
        _NETWORK: _text_array(snapshot.network),
        _RUNS: _text_array([run_to_json(run) for run in snapshot.runs]),
        **{_WEIGHT_PREFIX + name: value for name, value in pack_weights(snapshot.weights).items()},
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise RecoveryError(f"{path}: the recovery file cannot be written: {exc.strerror or exc}") from None


def _json_entry(archive: Any, key: str, path: Path) -> Any:
    if key not in archive.files:
        raise RecoveryError(f"{path}: not a recovery file (no {key.strip('_')} entry)")
    raw = archive[key]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise RecoveryError(f"{path}: the {key.strip('_')} entry is not text")
    try:
        return json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecoveryError(f"{path}: the {key.strip('_')} entry is not valid JSON: {exc}") from None


def _weights(archive: Any, version: int, path: Path) -> dict[str, np.ndarray]:
    """The weights of a snapshot, ``"layer/param"`` → array."""
    members = {key[len(_WEIGHT_PREFIX) :]: key for key in archive.files if key.startswith(_WEIGHT_PREFIX)}
    if version == 1:  # member names were the keys
        return {name: archive[key] for name, key in members.items()}
    if INDEX not in members:
        raise RecoveryError(f"{path}: not a recovery file (no {_WEIGHT_PREFIX}{INDEX} entry)")
    try:
        keys = index_keys(archive[members[INDEX]], members)
    except ValueError as exc:
        raise RecoveryError(f"{path}: the weights in it cannot be read: {exc}") from None
    return {keys[name]: archive[members[name]] for name in keys}


def read_snapshot(path: str | os.PathLike[str]) -> RecoverySnapshot:
    """Read a snapshot written by :func:`write_snapshot`.

    Raises
    ------
    RecoveryError
        When the file is missing, truncated, of another format, or its network does
        not load (the message names the file and the problem).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = _json_entry(archive, _META, path)
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise RecoveryError(f"{path}: not a Layerwise recovery file")
            if meta.get("version") not in _READ_VERSIONS:
                raise RecoveryError(f"{path}: recovery format version {meta.get('version')!r} is not supported")
            network = _json_entry(archive, _NETWORK, path)
            runs_data = _json_entry(archive, _RUNS, path)
            weights = _weights(archive, meta["version"], path)
    except RecoveryError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RecoveryError(f"{path}: cannot be read as a recovery file: {exc}") from None
    try:
        network_from_dict(network)
    except LayerwiseError as exc:
        raise RecoveryError(f"{path}: the network in it does not load: {exc}") from None
    try:
        runs = [run_from_json(run) for run in runs_data]
    except (ValueError, TypeError) as exc:
        raise RecoveryError(f"{path}: the training runs cannot be read: {exc}") from None
    source = meta.get("source_path")
    saved_at = meta.get("saved_at")
    return RecoverySnapshot(
        network,
        weights,
        runs,
        source if isinstance(source, str) else None,
        float(saved_at) if isinstance(saved_at, (int, float)) else 0.0,
    )
