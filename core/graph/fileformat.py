"""The network file: versioned JSON, read strictly, written atomically.

The format is documented in ``docs/network-file.md``. Reading never evaluates
anything from the file; every error names the file, the layer (by name and index)
and the field, and nothing is half-loaded: a document is returned only when the
whole file is valid.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text
from core.errors import LayerwiseError, NetworkFileError, ParamError
from core.graph.document import LayerTraining, NetworkDocument

FORMAT_ID = "layerwise.network"
FORMAT_VERSION = 3
"""Version 2 added a layer's ``trainable`` and ``lr_multiplier``, version 3 an Input's preprocessing. A file is
written with the oldest version that holds what it uses (version 1 without either), which older Layerwise
versions read."""
TRAINING_VERSION = 2
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Larger files are refused before parsing; real networks are a few hundred KB."""
MAX_LAYERS = 4_000
"""More layers are refused: the deepest real networks have about a thousand, and building a
document costs time growing with the square of its size (each new name is checked against
every other): 4,000 layers take about half a second, 20,000 would take a minute."""

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_TOP_LEVEL_KEYS = {"format", "version", "name", "description", "layers"}
_LAYER_KEYS = {"name", "type", "params", "inputs", "position", "trainable", "lr_multiplier"}


class _Reject(Exception):
    """Internal: a problem found while reading, before the file name is attached."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def _plain_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 3)


def input_entry(source_name: str, source_port: int) -> str | dict[str, Any]:
    """One item of a layer's ``"inputs"``: the source's name, or ``{"from", "from_port"}`` for a later output."""
    return source_name if source_port == 0 else {"from": source_name, "from_port": source_port}


def input_reference(item: Any) -> tuple[str, int]:
    """``(layer name, output port)`` named by one item of a layer's ``"inputs"``.

    Raises
    ------
    ValueError
        When ``item`` is neither a name nor ``{"from": name, "from_port": whole number ≥ 0}``.
    """
    if isinstance(item, str):
        return item, 0
    if not isinstance(item, dict) or set(item) != {"from", "from_port"} or not isinstance(item["from"], str):
        raise ValueError(
            'each input must be a layer name or {"from": layer name, "from_port": output number}, '
            f"got {json.dumps(item, ensure_ascii=False)[:80]}"
        )
    port = item["from_port"]
    if isinstance(port, bool) or not isinstance(port, int) or port < 0:
        raise ValueError(f'"from_port" must be a whole number ≥ 0 (outputs count from 0), got {port!r}')
    return item["from"], port


def network_to_dict(document: NetworkDocument) -> dict[str, Any]:
    """Return the JSON data of ``document`` (layers in document order)."""
    layers = []
    for node in document.nodes:
        edges = document.input_edges(node.id)
        entry = {
            "name": node.name,
            "type": node.type_name,
            "params": node.layer.get_config(),
            "inputs": [input_entry(document.node(e.source).name, e.source_port) for e in edges],
            "position": [_plain_number(node.position[0]), _plain_number(node.position[1])],
        }
        # Written only where they differ from the defaults: files without them stay version 1.
        if not node.training.trainable:
            entry["trainable"] = False
        if node.training.lr_multiplier != 1.0:
            entry["lr_multiplier"] = _plain_number(node.training.lr_multiplier)
        layers.append(entry)
    uses_training = any(not node.training.is_default for node in document.nodes)
    version = max(
        [TRAINING_VERSION if uses_training else 1, *(n.layer.required_format_version() for n in document.nodes)]
    )
    return {
        "format": FORMAT_ID,
        "version": version,
        "name": document.name,
        "description": document.description,
        "layers": layers,
    }


def _flat(value: dict[str, Any]) -> bool:
    """A mapping of plain values (an input ``{"from": …, "from_port": …}``): written on one line in a list."""
    return not any(isinstance(v, (dict, list)) for v in value.values())


def _format_json(value: Any, depth: int = 0) -> str:
    """Indented JSON in which lists of plain values stay on one line, as people write them."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict) and value:
        items = (f"{inner}{json.dumps(k, ensure_ascii=False)}: {_format_json(v, depth + 1)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, list) or (isinstance(v, dict) and not _flat(v)) for v in value):
        return "[\n" + ",\n".join(f"{inner}{_format_json(v, depth + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


def dumps_network(document: NetworkDocument) -> str:
    """Return ``document`` as the text of a network file."""
    return _format_json(network_to_dict(document)) + "\n"


def _unknown_keys(found: Mapping[str, Any], known: set[str]) -> str | None:
    extra = sorted(set(found) - known)
    return ", ".join(repr(k) for k in extra) if extra else None


def _check_header(data: Any) -> None:
    if not isinstance(data, dict):
        raise _Reject(f"must contain a JSON object, found {type(data).__name__}")
    if data.get("format") != FORMAT_ID:
        raise _Reject(f'is not a Layerwise network file ("format" must be "{FORMAT_ID}")')
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _Reject(f'field "version" must be a whole number ≥ 1, got {version!r}')
    if version > FORMAT_VERSION:
        raise _Reject(
            f"was written by a newer Layerwise (file format version {version}; this version "
            f"reads up to {FORMAT_VERSION}); update Layerwise to open it"
        )
    extra = _unknown_keys(data, _TOP_LEVEL_KEYS)
    if extra:
        raise _Reject(f"has unknown field(s) {extra}")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise _Reject(f'field "{key}" must be a string, got {type(data[key]).__name__}')
        surrogate = _LONE_SURROGATE.search(data.get(key, ""))
        if surrogate is not None:  # JSON can escape one ("\ud800"); no file could hold it again
            raise _Reject(
                f'field "{key}" holds U+{ord(surrogate.group()):04X}, a lone surrogate: not a character, '
                "and not writable as UTF-8"
            )
    if not isinstance(data.get("layers"), list):
        raise _Reject('field "layers" must be a list of layer objects')
    if len(data["layers"]) > MAX_LAYERS:
        raise _Reject(f"has {len(data['layers']):,} layers; Layerwise opens networks of at most {MAX_LAYERS:,}")


def _layer_where(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"layer {name!r} (layers[{index}])" if isinstance(name, str) else f"layers[{index}]"


def _read_position(value: Any, where: str) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):
        raise _Reject('field "position" must be [x, y] with two finite numbers', where)
    return (float(value[0]), float(value[1]))


def layer_training(entry: Mapping[str, Any]) -> LayerTraining:
    """A layer entry's ``trainable`` and ``lr_multiplier`` (their defaults when absent).

    Raises
    ------
    ParamError
        Naming the field, when a value is not a boolean or a number in range.
    """
    return LayerTraining(entry.get("trainable", True), entry.get("lr_multiplier", 1.0))


def _add_layers(document: NetworkDocument, layers: list[Any]) -> None:
    for index, entry in enumerate(layers):
        where = _layer_where(index, entry)
        if not isinstance(entry, dict):
            raise _Reject(f"must be an object, got {type(entry).__name__}", where)
        extra = _unknown_keys(entry, _LAYER_KEYS)
        if extra:
            raise _Reject(f"has unknown field(s) {extra}; layer fields are {sorted(_LAYER_KEYS)}", where)
        for key in ("name", "type"):
            if not isinstance(entry.get(key), str):
                raise _Reject(f'field "{key}" must be a string', where)
        params = entry.get("params", {})
        if not isinstance(params, dict):
            raise _Reject(f'field "params" must be an object, got {type(params).__name__}', where)
        position = _read_position(entry["position"], where) if "position" in entry else (0.0, 0.0)
        try:
            training = layer_training(entry)
        except ParamError as exc:
            raise _Reject(f'field "{exc.field}" {exc.reason}', where) from None
        try:
            document.add_node(entry["type"], params, name=entry["name"], position=position, training=training)
        except ParamError as exc:
            raise _Reject(f'field "params.{exc.field}": {exc.reason}', where) from None
        except LayerwiseError as exc:
            raise _Reject(str(exc), where) from None


def _add_edges(document: NetworkDocument, layers: list[dict[str, Any]]) -> None:
    # One index for the whole file: document.node_by_name scans every node, per call.
    by_name = {node.name: node for node in document.nodes}
    for index, entry in enumerate(layers):
        where = _layer_where(index, entry)
        inputs = entry.get("inputs", [])
        if not isinstance(inputs, list):
            raise _Reject('field "inputs" must be a list of layer names', where)
        target = by_name[entry["name"]]  # added by _add_layers
        for port, item in enumerate(inputs):
            try:
                source_name, source_port = input_reference(item)
            except ValueError as exc:
                raise _Reject(f'field "inputs[{port}]": {exc}', where) from None
            source = by_name.get(source_name)
            if source is None:
                raise _Reject(f'field "inputs" names {source_name!r}, but no layer has that name', where)
            try:
                # An output beyond the source's count opens, as a problem to repair (a file may hold one).
                document.connect(source.id, target.id, port, source_port=source_port, missing_output_ok=True)
            except LayerwiseError as exc:
                raise _Reject(f'field "inputs": {exc}', where) from None


def network_from_dict(data: Any) -> NetworkDocument:
    """Build a document from parsed JSON data.

    Raises
    ------
    NetworkFileError
        Without a file name; :func:`load_network` adds it.
    """
    try:
        _check_header(data)
        document = NetworkDocument(data.get("name", "Untitled network"), data.get("description", ""))
        _add_layers(document, data["layers"])
        _add_edges(document, data["layers"])
    except _Reject as exc:
        raise NetworkFileError(f"{exc.where}: {exc}" if exc.where else str(exc)) from None
    return document


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def loads_network(text: str) -> NetworkDocument:
    """Parse the text of a network file (see :func:`load_network`)."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise NetworkFileError(f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        reason = "is nested too deeply" if isinstance(exc, RecursionError) else f"is not valid JSON: {exc}"
        raise NetworkFileError(reason) from None
    return network_from_dict(data)


def load_network(path: str | os.PathLike[str]) -> NetworkDocument:
    """Read a network file.

    Raises
    ------
    NetworkFileError
        ``"<path>: layer 'conv1' (layers[1]): field "params.kernel_size": must be ≥ 1, got 0"``.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise NetworkFileError(
                f"{path}: is {size / 2**20:.0f} MB; network files are at most {MAX_FILE_BYTES // 2**20} MB"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise NetworkFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NetworkFileError(f"{path}: is not UTF-8 text (byte {exc.start})") from None
    try:
        return loads_network(text)
    except NetworkFileError as exc:
        raise NetworkFileError(f"{path}: {exc}") from None


def save_network(document: NetworkDocument, path: str | os.PathLike[str]) -> None:
    """Write ``document`` to ``path`` atomically.

    Raises
    ------
    NetworkFileError
        With the path and the system's reason; the previous file is left intact.
    """
    try:
        atomic_write_text(path, dumps_network(document))
    except OSError as exc:
        raise NetworkFileError(f"{path}: cannot be written: {exc.strerror or exc}") from None
