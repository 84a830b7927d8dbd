"""The base class every layer type derives from.

A layer class is a description: the parameters it takes, how many inputs it has,
what it does to shapes, what it costs and how it moves the receptive field. An
instance holds one validated set of parameter values and is immutable.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from core.errors import ParamError, ShapeError
from core.layers.onnx_reader import Attributes, read_param
from core.layers.onnx_writer import OnnxWriter
from core.layers.preprocessing import InputPreprocessing
from core.layers.torch_writer import TorchExportError, TorchModule, TorchWriter
from core.ops.op import Op
from core.params import ParamSpec
from core.shapes import Shape, describe_shape, is_image


@dataclass(frozen=True)
class SpatialGeometry:
    """How one output unit of a layer maps onto its input grid, per axis (H, W).

    Output unit ``u`` reads input rows ``[u·stride − pad_begin, u·stride − pad_begin
    + dilation·(kernel − 1)]``; this is all the receptive-field analysis needs.

    An up-sampling layer (``upsample`` > 1) reads input row ``i`` wherever
    ``i · upsample = u·stride − pad_begin + j·dilation`` for a tap ``0 ≤ j < kernel``:
    a transposed convolution of stride ``upsample`` (``pad_begin = d·(k − 1) − its
    padding``). So one output unit covers ``1 / upsample`` of an input unit.
    """

    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad_begin: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    upsample: tuple[int, int] = (1, 1)


IDENTITY_GEOMETRY = SpatialGeometry()
"""Geometry of a layer that maps each position to the same position (activations, BN …)."""


@dataclass(frozen=True)
class ParamCount:
    """Number of parameters of a layer, split as Keras reports them."""

    trainable: int = 0
    non_trainable: int = 0

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable


class Layer:
    """A layer type (the class) and one configuration of it (an instance).

    Subclasses set the class attributes and override the rule methods that apply
    to them; the defaults describe a parameter-free, shape-preserving, elementwise
    layer with one input.

    Attributes
    ----------
    type_name
        Registry key and file name of the type, e.g. ``"Conv2D"``.
    category
        Palette group, one of :data:`core.registry.CATEGORIES`.
    summary
        One sentence a user reads in the palette tooltip.
    param_specs
        The parameters, in the order editors show them.
    min_inputs, max_inputs
        Allowed number of inputs; ``max_inputs=None`` means any number.
    name_stem
        Start of generated node names (``conv``, ``conv_1`` …); the lower-cased type
        name when empty.
    onnx_op
        The ONNX operator a layer maps to one-to-one (with :meth:`onnx_attributes`);
        layers needing more override :meth:`export_onnx`. It also gives the layer an
        import converter for that op (parameters from :meth:`params_from_onnx`), unless
        one is registered with :func:`~core.layers.onnx_reader.onnx_converter`.
    torch_module
        The ``nn`` module a layer maps to one-to-one in PyTorch (``"nn.ReLU"``), built with
        the keyword arguments of :meth:`torch_arguments`; layers needing more (weights,
        helpers, a choice between modules) override :meth:`export_torch`.

    Facts the rest of the product reads from the class (nothing outside
    ``core/layers`` keeps lists of type names):

    is_network_input
        Where samples enter the network (the Input layer).
    is_activation_function
        An elementwise non-linearity ``f(x)``: the inspector draws its curve, and the
        BatchNorm comparison normalises the weighted layer that feeds it.
    he_init_before
        Weighted layers whose output reaches this activation are initialised He,
        N(0, 2 / fan_in), which keeps a ReLU-like function's output variance; they
        get Glorot otherwise.
    passes_values_through
        Keeps the values' sign and rough scale (BatchNorm, Dropout, pooling): the
        initialiser choice looks through it to the activation behind.
    computes_weighted_sums
        Learned weighted sums of the inputs (Conv2D, Dense): the layers the
        BatchNorm comparison puts a BatchNorm behind.
    normalises_batches
        Normalises its input over the batch; the BatchNorm comparison adds none
        behind a layer already followed by one.
    offers_bottleneck_comparison
        The inspector compares its cost with and without a 1×1 reduction before it.
    acts_pointwise
        Computes each output value from the input values at the same channel, row and
        column only (with at most one parameter per channel): Scale, Add, Multiply,
        Dropout. Such a layer computes the same whatever the order of the axes, so the
        ONNX import may apply it to a channels-last (N×H×W×C) tensor. Activation
        functions are pointwise by definition and need not set it.
    pools_by
        For pooling windows: what each window keeps, in words (``"largest value"``);
        empty elsewhere. A non-empty value offers the See-inside before/after view.
    output_count_param
        The parameter that sets how many outputs the layer has (ChannelSplit: ``"parts"``);
        empty for the layers with one output. See :attr:`output_count`.
    class_scores_param
        The parameter that sets how many scores the layer outputs when it is a network's
        classifier (Dense: ``"units"``, Conv2D: ``"filters"``); empty elsewhere. Replacing
        the classifier for another class count sets it.
    keeps_class_scores
        Passes a classifier's scores on without changing their number (Softmax, Flatten of
        C×1×1, global pooling): the classifier is looked for behind it. Pointwise layers and
        activation functions keep them too and need not set it.
    """

    type_name: ClassVar[str] = ""
    name_stem: ClassVar[str] = ""
    onnx_op: ClassVar[str] = ""
    torch_module: ClassVar[str] = ""
    category: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    param_specs: ClassVar[tuple[ParamSpec, ...]] = ()
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    is_network_input: ClassVar[bool] = False
    is_activation_function: ClassVar[bool] = False
    he_init_before: ClassVar[bool] = False
    passes_values_through: ClassVar[bool] = False
    computes_weighted_sums: ClassVar[bool] = False
    normalises_batches: ClassVar[bool] = False
    offers_bottleneck_comparison: ClassVar[bool] = False
    acts_pointwise: ClassVar[bool] = False
    pools_by: ClassVar[str] = ""
    output_count_param: ClassVar[str] = ""
    class_scores_param: ClassVar[str] = ""
    keeps_class_scores: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        specs = {spec.name: spec for spec in self.param_specs}
        for name in params:
            if name not in specs:
                close = difflib.get_close_matches(name, specs, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                valid = ", ".join(specs) or "none"
                raise ParamError(name, f"is not a parameter of {self.type_name}{hint}; its parameters: {valid}")
        values = {name: spec.coerce(params.get(name, spec.default)) for name, spec in specs.items()}
        self.params: Mapping[str, Any] = MappingProxyType(values)
        self.check_params()

    # -- configuration -------------------------------------------------------------

    @classmethod
    def default_name_stem(cls) -> str:
        return cls.name_stem or cls.type_name.lower()

    def check_params(self) -> None:
        """Check rules that tie several parameters together; raise :class:`ParamError`."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        """Build a layer from a JSON-like mapping of parameter values."""
        if not isinstance(config, Mapping):
            raise ParamError("params", f"must be an object of parameter values, got {type(config).__name__}")
        return cls(**config)

    def get_config(self) -> dict[str, Any]:
        """Return every parameter as plain JSON data; ``from_config`` inverts it."""
        return {spec.name: spec.to_json(self.params[spec.name]) for spec in self.param_specs}

    @property
    def preprocessing(self) -> InputPreprocessing | None:
        """How raw images become this layer's output, for a network input that says so (the Input); else ``None``."""
        return None

    def required_format_version(self) -> int:
        """The oldest network file version that can hold this layer's settings (1 unless a newer one added them)."""
        return 1

    def describe(self) -> str:
        """The key settings in a few words (``32 × 3×3, stride 2``); empty when there are none."""
        return ""

    def with_params(self, **changes: Any) -> Layer:
        """Return a copy of this layer with some parameters changed (validated)."""
        return type(self)(**{**self.params, **changes})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and dict(self.params) == dict(other.params)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.type_name, tuple(self.params.items())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    @property
    def output_count(self) -> int:
        """How many outputs (output ports) the layer has: 1, or the value of :attr:`output_count_param`.

        Edges leave a layer from one of its outputs (``Edge.source_port``, counting from 0);
        the engine hands a layer with several outputs a list of arrays.
        """
        return int(self.params[self.output_count_param]) if self.output_count_param else 1

    # -- rules ---------------------------------------------------------------------

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        """Return the output shape for ``input_shapes`` or raise :class:`ShapeError`.

        A layer with several outputs returns the shape of its first one here.
        """
        return input_shapes[0]

    def output_shapes(self, input_shapes: Sequence[Shape]) -> list[Shape]:
        """Return the shape of each output, in port order, or raise :class:`ShapeError`.

        One per :attr:`output_count`; ``[output_shape(input_shapes)]`` by default.
        """
        return [self.output_shape(input_shapes)]

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        """Return how many parameters the layer has for these inputs."""
        return ParamCount()

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        """Return multiply-accumulates of one inference forward pass for one sample.

        Counted: products of weights with inputs (Conv2D, Dense), the folded affine
        of BatchNorm (one per element), the accumulations of average pooling (one per
        window element) and LRN's sum of squares. Not counted: comparisons (max,
        ReLU), elementwise additions, exponentials.
        """
        return 0

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry | None:
        """Return how output positions map to input positions.

        ``None`` means the layer destroys the spatial layout (Flatten, Dense), so
        receptive fields have no meaning after it.
        """
        return IDENTITY_GEOMETRY

    def inside_views(self) -> tuple[str, ...]:
        """The See-inside views this layer offers besides its feature maps.

        ``"filters"`` (the kernels, per input channel), ``"mixing"`` (a 1×1
        convolution as a channel-mixing matrix) and ``"pooling"`` (input and output
        side by side, for layers with :attr:`pools_by`).
        """
        return ("pooling",) if self.pools_by else ()

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        """Return the runtime (forward and backward) of this layer for ``input_shapes``."""
        raise NotImplementedError(f"{self.type_name} has no runtime")

    def onnx_attributes(self) -> dict[str, Any]:
        """Attributes of :attr:`onnx_op` for the default :meth:`export_onnx`."""
        return {}

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str | list[str]:
        """Add this layer's ONNX nodes (weights from ``op``); return the name of its output tensor.

        A layer with several outputs returns their names, in port order.
        """
        if not self.onnx_op:
            raise NotImplementedError(f"{self.type_name} has no ONNX converter")
        return onnx_export.node(self.onnx_op, inputs, name, **self.onnx_attributes())

    def torch_arguments(self, input_shapes: list[Shape]) -> dict[str, Any]:
        """Keyword arguments of :attr:`torch_module` for the default :meth:`export_torch`."""
        return {}

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        """How this layer is written in PyTorch: its module's constructor and state (weights from ``op``).

        The module is called with the layer's inputs, in port order; a layer with several
        outputs returns a tuple of them, in port order.
        """
        if not self.torch_module:
            raise TorchExportError(f"{self.type_name} has no PyTorch module")
        return TorchModule(torch_export.call(self.torch_module, **self.torch_arguments(input_shapes)))

    @classmethod
    def params_from_onnx(cls, attrs: Attributes) -> dict[str, Any]:
        """Parameters from the attributes of an :attr:`onnx_op` node: the inverse of :meth:`onnx_attributes`.

        By default, each attribute named after a parameter is that parameter, and an absent
        one takes the parameter's default, which must then be ONNX's default too; other
        attributes are not read. Raise :class:`~core.layers.onnx_reader.UnsupportedNode`
        for attributes no instance of the class would write.
        """
        return {spec.name: read_param(attrs, spec) for spec in cls.param_specs if spec.name in attrs}

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer | None:
        """The layer an ONNX export at ``opset`` and an import read back (``None``: no layer at all).

        The same layer by default; a layer whose export is an equivalent but different
        form (resolved padding, an inference-only no-op) says which.
        """
        return self

    # -- helpers for subclasses ------------------------------------------------------

    def require_image(self, shape: Shape, what: str = "input") -> tuple[int, int, int]:
        """Return ``(C, H, W)`` or raise a :class:`ShapeError` that says what to add."""
        if not is_image(shape):
            raise ShapeError(f"{self.type_name} needs a C×H×W map as its {what}, but gets {describe_shape(shape)}")
        return shape  # type: ignore[return-value]


def describe_window(kernel: tuple[int, int], stride: tuple[int, int], padding: Any) -> str:
    """``3×3, stride 2, pad same`` — the parts that differ from the defaults."""
    parts = [f"{kernel[0]}×{kernel[1]}"]
    if stride != (1, 1):
        parts.append(f"stride {stride[0]}" if stride[0] == stride[1] else f"stride {stride[0]}×{stride[1]}")
    if padding == "same":
        parts.append("pad same")
    elif not isinstance(padding, str) and any(padding):
        parts.append(f"pad {padding[0]}" if len(set(padding)) == 1 else f"pad {list(padding)}")
    return ", ".join(parts)
