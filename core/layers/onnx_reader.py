"""What a layer's ONNX import converters see of the importer, and where they register.

The import-side twin of :mod:`core.layers.onnx_writer`. Layers sit below the importer
(:mod:`core.onnx_io.importer`), so the converters beside each layer class speak to it
through :class:`OnnxReader`, which the importer implements; nothing here imports
``onnx``.

Two kinds of registration, both refusing duplicates:

- :func:`onnx_converter` maps one ONNX op type onto layers. A layer class that sets
  ``onnx_op`` gets one for that op without registering anything
  (:func:`default_converter`); an explicit one for the same op wins over it.
- :func:`onnx_pattern` maps a small sub-graph ending at an *anchor* node onto one layer
  (Reshape → Transpose → Reshape is a ChannelShuffle). Rules are tried before the
  anchor's converter, and may look back through earlier nodes that nothing could map
  on their own: the importer defers refusing those until the end.
- :func:`onnx_channels_last_converter` maps one op applied to a *channels-last* tensor:
  after a ``Transpose(0, 2, 3, 1)`` of an N×C×H×W map, models such as ConvNeXt run
  LayerNormalization, MatMul and elementwise ops over the last axis until a
  ``Transpose(0, 3, 1, 2)`` brings the channels back. The importer keeps such a tensor as
  the C×H×W map it is a view of; these converters say which layer an op on that view
  is (a MatMul by a constant is a 1×1 Conv2D). Ops with none are imported as usual
  when the layer they give acts pointwise (``Layer.acts_pointwise``, activation functions)
  and refused otherwise.

The attribute readers below raise :class:`UnsupportedNode` with a message the importer
prefixes with the node (``Conv (conv1): its attribute 'strides' …``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from core.errors import LayerwiseError
from core.params import FloatParam, IntParam, ParamSpec
from core.shapes import Shape, format_shape
from core.window import Window, resolve_window

Attributes = dict[str, Any]
"""A node's attributes as Python values: ints, floats, strings, lists, arrays."""


class UnsupportedNode(Exception):
    """A node that cannot be mapped onto layers in this form; the message says why."""


class OnnxNode(Protocol):
    """An ONNX node as converters read it (``onnx.NodeProto`` is one)."""

    op_type: str
    name: str
    domain: str

    @property
    def input(self) -> Sequence[str]: ...

    @property
    def output(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class ImportedLayer:
    """A layer the import has added: its (unique) name, type, parameters when asked, input tensors."""

    name: str
    type_name: str
    params: Mapping[str, Any]
    inputs: tuple[str, ...]


class OnnxReader(Protocol):
    """The import in progress, as converters and pattern rules use it.

    Tensors are named as in the ONNX graph. A tensor is *computed* when a layer added so
    far produces it; constants are folded arrays; anything else (a tensor of a node not
    mapped yet, an unused output) is neither.

    Attributes
    ----------
    opset
        The model's opset of the default domain; attribute defaults depend on it.
    """

    opset: int

    def attributes(self, node: OnnxNode) -> Attributes:
        """``node``'s attributes; empty when they cannot be read (such a node matches no pattern)."""
        ...

    def constant(self, tensor: str) -> np.ndarray | None:
        """The value of a constant tensor, ``None`` for any other (or the empty name)."""
        ...

    def require_constant(self, tensor: str, what: str) -> np.ndarray:
        """The value of ``tensor``; :class:`UnsupportedNode` ("its ``what`` must be constant") otherwise."""
        ...

    def is_computed(self, tensor: str) -> bool:
        """Whether a layer added so far produces ``tensor``."""
        ...

    def shape(self, tensor: str) -> Shape:
        """The shape (no batch axis) of a computed tensor; :class:`UnsupportedNode` for any other."""
        ...

    def spatial_shape(self, node: OnnxNode) -> tuple[int, int, int]:
        """The C×H×W shape of ``node``'s data input, which 2-D windows need; :class:`UnsupportedNode` otherwise."""
        ...

    def uses(self, tensor: str) -> int:
        """How many node inputs and graph outputs read ``tensor``."""
        ...

    def is_channels_last(self, tensor: str) -> bool:
        """Whether ``tensor`` is a channels-last (N×H×W×C) view of a computed map; its :meth:`shape` is C×H×W."""
        ...

    def producer_node(self, tensor: str) -> OnnxNode | None:
        """The node whose output ``tensor`` is; ``None`` for graph inputs and initialisers."""
        ...

    def producer_layer(self, tensor: str) -> ImportedLayer | None:
        """The layer that computes ``tensor``; ``None`` when it is not computed."""
        ...

    def add_layer(
        self,
        node: OnnxNode,
        type_name: str,
        params: Mapping[str, Any],
        inputs: Sequence[str],
        weights: Mapping[str, np.ndarray | None] | None = None,
        *,
        reads_views: bool = False,
    ) -> ImportedLayer:
        """Add a layer named after ``node``, fed by the computed ``inputs``, producing ``node.output[0]``.

        A layer with several outputs (``Layer.output_count``) produces ``node.output[i]`` from
        its output ``i``, each a computed tensor that later layers read from that output.

        An input that is a channels-last view (:meth:`is_channels_last`) feeds the map it
        shows; the output is a view too when ``node`` reads one. Only pointwise layers
        compute the op on such inputs unchanged; any other layer is refused there unless
        ``reads_views`` says the caller has read the op's axes as the view's.

        Raises
        ------
        UnsupportedNode
            When an input is not computed, or no layer takes these parameters, inputs or
            (non-finite) weights. ``None`` weights are left out.
        """
        ...

    def alias(self, output: str, source: str) -> None:
        """Make ``output`` the same computed tensor as ``source`` (an op that changes nothing)."""
        ...

    def set_layer_param(self, layer: str, param: str, value: Any) -> None:
        """Change a parameter of the layer named ``layer`` (e.g. switch its bias on)."""
        ...

    def weight(self, layer: str, key: str) -> np.ndarray | None:
        """The imported tensor ``key`` of the layer named ``layer``, if it has one."""
        ...

    def set_weight(self, layer: str, key: str, value: np.ndarray) -> None:
        """Set tensor ``key`` of the layer named ``layer``; :class:`UnsupportedNode` when not finite."""
        ...


class OnnxLayerClass(Protocol):
    """What :func:`default_converter` reads of a layer class."""

    type_name: str
    onnx_op: str
    min_inputs: int
    max_inputs: int | None

    def params_from_onnx(self, attrs: Attributes) -> dict[str, Any]: ...


# -- the registries ------------------------------------------------------------------------

Converter = Callable[[OnnxReader, OnnxNode, Attributes], None]
"""Maps one node onto layers (through the reader) or raises :class:`UnsupportedNode`."""
Rule = Callable[[OnnxReader, OnnxNode, Attributes], Sequence[OnnxNode] | None]
"""Called at an anchor node: ``None`` when the sub-graph is not this pattern; otherwise the
rule has added the anchor's layer and returns the earlier nodes it took in (their refusals
are dropped). :class:`UnsupportedNode` means: this pattern, in a form that cannot be mapped."""


@dataclass(frozen=True)
class ImportConverter:
    """The converter of one ONNX op type, with what the importer checks before calling it.

    Attributes
    ----------
    min_inputs
        Leading inputs the node must name; the importer refuses a node with fewer.
    origin
        Who registered it (``module.function`` or ``module.Class``), for messages.
    """

    op_type: str
    convert: Converter
    min_inputs: int
    origin: str


@dataclass(frozen=True)
class PatternRule:
    """A pattern rule: ``match`` is tried at every node of op type ``anchor``."""

    name: str
    anchor: str
    match: Rule
    origin: str


_CONVERTERS: dict[str, ImportConverter] = {}
_CHANNELS_LAST_CONVERTERS: dict[str, ImportConverter] = {}
_PATTERNS: dict[str, PatternRule] = {}


def _origin(item: Any) -> str:
    return f"{item.__module__}.{item.__qualname__}"


def onnx_converter(op_type: str, *, min_inputs: int = 1) -> Callable[[Converter], Converter]:
    """Decorator registering the import converter of ONNX op ``op_type``.

    Raises
    ------
    ValueError
        When ``op_type`` has an explicit converter already, naming both.
    """

    def register(convert: Converter) -> Converter:
        taken = _CONVERTERS.get(op_type)
        if taken is not None:
            raise ValueError(f"ONNX op {op_type!r} has two import converters: {taken.origin} and {_origin(convert)}")
        _CONVERTERS[op_type] = ImportConverter(op_type, convert, min_inputs, _origin(convert))
        return convert

    return register


def onnx_channels_last_converter(op_type: str, *, min_inputs: int = 1) -> Callable[[Converter], Converter]:
    """Decorator registering the converter of ONNX op ``op_type`` applied to a channels-last tensor.

    The converter reads the data input as the C×H×W map it is a view of (its
    :meth:`OnnxReader.shape`), interprets the op's last axis as the channels, and adds
    the layer computing the op on that map; the importer marks its output channels-last.

    Raises
    ------
    ValueError
        When ``op_type`` has one already, naming both.
    """

    def register(convert: Converter) -> Converter:
        taken = _CHANNELS_LAST_CONVERTERS.get(op_type)
        if taken is not None:
            raise ValueError(
                f"ONNX op {op_type!r} has two channels-last converters: {taken.origin} and {_origin(convert)}"
            )
        _CHANNELS_LAST_CONVERTERS[op_type] = ImportConverter(op_type, convert, min_inputs, _origin(convert))
        return convert

    return register


def channels_last_converters() -> dict[str, ImportConverter]:
    """The converter of each ONNX op type applied to a channels-last tensor."""
    return dict(_CHANNELS_LAST_CONVERTERS)


def onnx_pattern(name: str, *, anchor: str) -> Callable[[Rule], Rule]:
    """Decorator registering a pattern rule named ``name``, tried at nodes of op type ``anchor``.

    Raises
    ------
    ValueError
        When a rule of that name exists already, naming both.
    """

    def register(match: Rule) -> Rule:
        taken = _PATTERNS.get(name)
        if taken is not None:
            raise ValueError(f"ONNX pattern {name!r} is registered twice: by {taken.origin} and {_origin(match)}")
        _PATTERNS[name] = PatternRule(name, anchor, match, _origin(match))
        return match

    return register


def remove_onnx_converter(op_type: str) -> None:
    """Forget the explicit converter of ``op_type`` (:class:`KeyError` when there is none)."""
    del _CONVERTERS[op_type]


def remove_onnx_pattern(name: str) -> None:
    """Forget the pattern rule ``name`` (:class:`KeyError` when there is none)."""
    del _PATTERNS[name]


def import_converters(layer_classes: Iterable[OnnxLayerClass] = ()) -> dict[str, ImportConverter]:
    """The converter of each ONNX op type: the registered ones, and defaults from ``layer_classes``.

    A class that sets ``onnx_op`` contributes :func:`default_converter` for it, unless a
    converter is registered for that op explicitly.

    Raises
    ------
    ValueError
        When two classes set the same ``onnx_op`` and no explicit converter decides.
    """
    defaults: dict[str, ImportConverter] = {}
    for cls in layer_classes:
        op_type = cls.onnx_op
        if not op_type or op_type in _CONVERTERS:
            continue
        if op_type in defaults:
            raise ValueError(
                f"ONNX op {op_type!r} is written by {defaults[op_type].origin} and {_origin(cls)}; "
                "register an import converter that chooses between them"
            )
        defaults[op_type] = ImportConverter(op_type, default_converter(cls), max(cls.min_inputs, 1), _origin(cls))
    return {**defaults, **_CONVERTERS}


def pattern_rules() -> list[PatternRule]:
    """Every pattern rule, in registration order."""
    return list(_PATTERNS.values())


def default_converter(cls: OnnxLayerClass) -> Converter:
    """The converter of a layer that is one ``cls.onnx_op`` node: parameters from ``cls.params_from_onnx``."""

    def convert(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
        inputs = [name for name in node.input if name][: cls.max_inputs]
        reader.add_layer(node, cls.type_name, cls.params_from_onnx(attrs), inputs)

    convert.__qualname__ = f"default_converter({cls.type_name})"
    return convert


# -- attribute readers -----------------------------------------------------------------------


def shown(value: Any) -> str:
    """``value`` for a message: short literals as written, anything else by its type."""
    return repr(value)[:60] if isinstance(value, (int, float, str, list, tuple)) else type(value).__name__


def read_int(attrs: Attributes, name: str, default: int | None = None) -> int:
    """Attribute ``name`` as an integer (``default`` when absent; required when ``None``)."""
    value = attrs.get(name, default)
    if value is None:
        raise UnsupportedNode(f"its attribute {name!r} is missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnsupportedNode(f"its attribute {name!r} must be an integer, got {shown(value)}")
    return value


def read_float(attrs: Attributes, name: str, default: float) -> float:
    """Attribute ``name`` as a finite number (scales, rates, epsilons: NaN or infinity mean nothing).

    Given as written (see :func:`shortest_float`), not as the single-precision number stored.
    """
    value = attrs.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UnsupportedNode(f"its attribute {name!r} must be a finite number, got {shown(value)}")
    return shortest_float(float(value))


def shortest_float(value: float) -> float:
    """The shortest decimal that is the same single-precision number as ``value``, if it is one.

    ONNX keeps float attributes and most tensors in single precision: ``0.2`` reads back
    as ``0.20000000298…``, and this gives ``0.2`` again.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        single = np.float32(value)
    return float(np.format_float_positional(single, unique=True)) if float(single) == value else value


def read_string(attrs: Attributes, name: str, default: str) -> str:
    """Attribute ``name`` as a string."""
    value = attrs.get(name, default)
    if not isinstance(value, str):
        raise UnsupportedNode(f"its attribute {name!r} must be a string, got {shown(value)}")
    return value


def read_ints(attrs: Attributes, name: str, default: Any = None, *, minimum: int | None = None) -> list[int]:
    """Attribute ``name`` as a list of integers, each at least ``minimum``."""
    value = attrs.get(name, default)
    if value is None:
        raise UnsupportedNode(f"its attribute {name!r} is missing")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise UnsupportedNode(f"its attribute {name!r} must be a list of integers, got {shown(value)}")
    if minimum is not None and any(v < minimum for v in value):
        raise UnsupportedNode(f"its attribute {name!r} must hold integers ≥ {minimum}, got {list(value)}")
    return [int(v) for v in value]


def read_pair(attrs: Attributes, name: str, default: Any = None) -> list[int]:
    """A 2-D window attribute (kernel_shape, strides, dilations): two integers ≥ 1."""
    value = read_ints(attrs, name, default, minimum=1)
    if len(value) != 2:
        raise UnsupportedNode(f"only 2-D spatial operations are supported ({name} has {len(value)} values)")
    return value


def read_param(attrs: Attributes, spec: ParamSpec) -> Any:
    """Attribute ``spec.name`` as a value for ``spec`` (the layer checks its range)."""
    if isinstance(spec, FloatParam):
        return read_float(attrs, spec.name, spec.default)
    if isinstance(spec, IntParam):
        return read_int(attrs, spec.name, spec.default)
    return attrs.get(spec.name, spec.default)


# -- windows, channels and shapes --------------------------------------------------------------


def fit_window(
    shape: Shape,
    kernel: Sequence[int],
    strides: Sequence[int],
    padding: Any,
    dilations: Sequence[int],
    layer: str = "pool",
) -> Window:
    """The window of a 2-D operation on a C×H×W input; :class:`UnsupportedNode` when it does not fit."""
    try:
        return resolve_window(layer, (shape[1], shape[2]), tuple(kernel), tuple(strides), padding, tuple(dilations))
    except LayerwiseError as exc:
        raise UnsupportedNode(str(exc)) from None


def padding_param(pads: Sequence[int]) -> str | list[int]:
    """Explicit ``[top, left, bottom, right]`` pads as a padding parameter: ``'valid'`` when all are zero."""
    return list(pads) if any(pads) else "valid"


def padding(
    attrs: Attributes, shape: Shape, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> str | list[int]:
    """The padding parameter of a 2-D window from ``auto_pad`` or ``pads``."""
    auto_pad = read_string(attrs, "auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return "valid"
    if auto_pad == "SAME_UPPER":
        return "same"
    if auto_pad == "SAME_LOWER":  # the odd pixel goes first
        top, left, bottom, right = fit_window(shape, kernel, strides, "same", dilations).pads
        return [bottom, right, top, left]
    if auto_pad != "NOTSET":
        raise UnsupportedNode(f"auto_pad {auto_pad!r} is not an ONNX padding mode")
    pads = read_ints(attrs, "pads", [0, 0, 0, 0], minimum=0)
    if len(pads) != 4:
        raise UnsupportedNode("only 2-D spatial operations are supported")
    return padding_param(pads)


def per_channel(value: np.ndarray, shape: Shape) -> np.ndarray | None:
    """``value`` as one number per channel (or feature) of ``shape``, if it broadcasts that way."""
    channels = shape[0]
    if value.size == 1:
        return np.full(channels, float(value.reshape(-1)[0]), np.float32)
    squeezed = value
    while squeezed.ndim > 1 and squeezed.shape[0] == 1:  # leading broadcast axes: (1, C, 1, 1) → (C, 1, 1)
        squeezed = squeezed[0]
    if len(shape) == 3 and squeezed.shape == (channels, 1, 1):
        return squeezed.reshape(channels)
    if len(shape) == 1 and squeezed.shape == (channels,):
        return squeezed
    return None


def resolve_reshape(target: np.ndarray, shape: Sequence[int], allowzero: bool) -> list[int]:
    """The shape a Reshape to ``target`` gives a tensor of ``shape`` (batch included): 0 and -1 resolved."""
    if target.ndim != 1 or target.dtype.kind not in "iu" or target.size > 8:
        raise UnsupportedNode(
            f"its target shape must be a short vector of integers, got {target.dtype} {list(target.shape)}"
        )
    wanted = [int(d) for d in target]
    shown_shape = format_shape(tuple(shape[1:]))
    if any(i >= len(shape) for i, d in enumerate(wanted) if d == 0 and not allowzero):
        raise UnsupportedNode(f"target {wanted} copies a dimension a {shown_shape} tensor lacks")
    resolved = [shape[i] if d == 0 and not allowzero else d for i, d in enumerate(wanted)]
    if -1 in resolved:
        # math.prod on Python ints: np.prod would wrap around on huge targets.
        known = math.prod(d for d in resolved if d != -1)
        resolved[resolved.index(-1)] = math.prod(shape) // max(known, 1)
    if any(d < 0 for d in resolved) or math.prod(resolved) != math.prod(shape):
        raise UnsupportedNode(f"target {wanted} does not fit a {shown_shape} tensor")
    return resolved


def reshape_target(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[int]:
    """The shape, batch of 1 included, that Reshape ``node`` gives its computed data input."""
    target = reader.require_constant(node.input[1], "target shape")
    source = (1, *reader.shape(node.input[0]))
    return resolve_reshape(target, source, bool(read_int(attrs, "allowzero", 0)))


@dataclass(frozen=True)
class Rearrangement:
    """Reshape → Transpose → Reshape of a computed C×H×W map: what moves channels about (shuffles).

    Attributes
    ----------
    source
        The map's tensor, and ``shape`` its C×H×W shape.
    split
        The shape the first Reshape gives it, batch 1 included; ``merged`` the last one's.
    nodes
        The Transpose and the first Reshape, which a pattern ending at the last takes in.
    """

    source: str
    shape: Shape
    split: list[int]
    merged: list[int]
    nodes: tuple[OnnxNode, OnnxNode]


def rearrangement(reader: OnnxReader, node: OnnxNode, attrs: Attributes, perm: Sequence[int]) -> Rearrangement | None:
    """The Reshape → Transpose(``perm``) → Reshape ``node`` of a computed map, its tensors read once; else ``None``."""
    moved = reader.producer_node(node.input[0])
    if moved is None or moved.op_type != "Transpose" or reader.uses(node.input[0]) != 1:
        return None
    split = reader.producer_node(moved.input[0])
    if split is None or split.op_type != "Reshape" or reader.uses(moved.input[0]) != 1 or len(split.input) < 2:
        return None
    source = split.input[0]
    if reader.attributes(moved).get("perm") != list(perm) or not reader.is_computed(source):
        return None
    shape = reader.shape(source)
    split_target, merged_target = reader.constant(split.input[1]), reader.constant(node.input[1])
    if len(shape) != 3 or split_target is None or merged_target is None:
        return None
    try:
        split_shape = resolve_reshape(
            split_target, (1, *shape), bool(read_int(reader.attributes(split), "allowzero", 0))
        )
        if len(split_shape) != len(perm):
            return None
        moved_shape = [split_shape[axis] for axis in perm]
        merged = resolve_reshape(merged_target, moved_shape, bool(read_int(attrs, "allowzero", 0)))
    except UnsupportedNode:  # targets that fit no tensor here: another sub-graph
        return None
    return Rearrangement(source, shape, split_shape, merged, (moved, split))


def squeeze_axes(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[int] | None:
    """The axes Squeeze ``node`` removes from its computed input, sorted and ≥ 0; ``None`` for every 1."""
    if reader.opset >= 13:  # the axes became an input
        given = len(node.input) > 1 and node.input[1]
        axes = [int(a) for a in reader.require_constant(node.input[1], "axes").reshape(-1)] if given else None
    else:
        axes = read_ints(attrs, "axes") if "axes" in attrs else None
    if axes is None:
        return None
    rank = len(reader.shape(node.input[0])) + 1
    if any(not -rank <= a < rank for a in axes):
        raise UnsupportedNode(f"its axes {axes} do not fit a tensor of {rank} dimensions")
    return sorted(a % rank for a in axes)
