"""Normalization layers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import ShapeError
from core.layers.base import Layer, ParamCount
from core.layers.onnx_reader import (
    Attributes,
    OnnxNode,
    OnnxReader,
    UnsupportedNode,
    onnx_channels_last_converter,
    onnx_converter,
    onnx_pattern,
    per_channel,
    read_float,
    read_int,
    reshape_target,
    resolve_reshape,
    shortest_float,
)
from core.layers.onnx_writer import OnnxExportError, OnnxWriter
from core.layers.torch_writer import TorchModule, TorchWriter
from core.ops.basic import BatchNormOp, LRNOp, ScaleOp
from core.ops.normalization import GroupNormOp, LayerNormOp
from core.ops.op import Op
from core.params import ChoiceParam, FloatParam, IntParam
from core.registry import register
from core.shapes import Shape, describe_shape, format_shape, is_image, num_elements


@register
class BatchNorm(Layer):
    """Normalises each channel (or feature) to zero mean and unit variance, then scales and shifts.

    Training uses the batch's statistics and updates running ones as
    ``running = momentum · running + (1 − momentum) · batch`` (the ONNX and Keras
    convention); inference uses the running statistics.
    """

    type_name = "BatchNorm"
    name_stem = "bn"
    category = "Normalization"
    passes_values_through = True
    normalises_batches = True
    summary = "Normalises each channel over the batch to zero mean and unit variance, then learns a scale and shift."
    param_specs = (
        FloatParam(
            "epsilon",
            1e-5,
            "Added to the variance to avoid dividing by zero.",
            minimum=0.0,
            maximum=1.0,
            min_inclusive=False,
        ),
        FloatParam(
            "momentum",
            0.9,
            "Weight of the old running statistics in each update.",
            minimum=0.0,
            maximum=1.0,
            max_inclusive=False,
        ),
    )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return BatchNormOp(input_shapes[0][0], self.params["epsilon"], self.params["momentum"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        # PyTorch's momentum is the weight of the new batch statistics: 1 − ours. Both normalise
        # with the biased variance and keep the unbiased one in the running variance.
        channels = input_shapes[0][0]
        module = "nn.BatchNorm2d" if is_image(input_shapes[0]) else "nn.BatchNorm1d"
        momentum = round(1.0 - self.params["momentum"], 12)
        constructor = torch_export.call(module, channels, eps=self.params["epsilon"], momentum=momentum)
        state = {
            "weight": op.params["gamma"],
            "bias": op.params["beta"],
            "running_mean": op.buffers["running_mean"],
            "running_var": op.buffers["running_var"],
            "num_batches_tracked": np.array(0, dtype=np.int64),
        }
        return TorchModule(constructor, state)

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        tensors = [
            onnx_export.constant(f"{name}.{key}", value)
            for key, value in (
                ("weight", op.params["gamma"]),
                ("bias", op.params["beta"]),
                ("running_mean", op.buffers["running_mean"]),
                ("running_var", op.buffers["running_var"]),
            )
        ]
        return onnx_export.node(
            "BatchNormalization",
            [inputs[0], *tensors],
            name,
            epsilon=self.params["epsilon"],
            momentum=self.params["momentum"],
        )

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        channels = input_shapes[0][0]
        # gamma and beta are learned; running mean and variance are not.
        return ParamCount(trainable=2 * channels, non_trainable=2 * channels)

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        return num_elements(output_shape)


@register
class LRN(Layer):
    """Local response normalisation across ``size`` neighbouring channels (AlexNet).

    ``y_c = x_c / (bias + alpha / size · Σ_{c'} x_{c'}²) ** beta`` over the ``size``
    channels centred on ``c``, as in ONNX and PyTorch.
    """

    type_name = "LRN"
    onnx_op = "LRN"
    category = "Normalization"
    summary = "Divides each value by the energy of neighbouring channels at the same pixel (AlexNet)."
    param_specs = (
        IntParam("size", 5, "Number of neighbouring channels summed over.", minimum=1, maximum=1024),
        FloatParam("alpha", 1e-4, "Scale of the sum of squares.", minimum=0.0),
        FloatParam("beta", 0.75, "Exponent of the denominator.", minimum=0.0),
        FloatParam("bias", 1.0, "Constant added inside the denominator (k).", minimum=0.0, min_inclusive=False),
    )

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        return self.require_image(input_shapes[0])

    def describe(self) -> str:
        return f"size {self.params['size']}"

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return LRNOp(self.params["size"], self.params["alpha"], self.params["beta"], self.params["bias"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        size, alpha, beta, bias = (self.params[key] for key in ("size", "alpha", "beta", "bias"))
        if size % 2:
            return TorchModule(torch_export.call("nn.LocalResponseNorm", size, alpha=alpha, beta=beta, k=bias))
        helper = torch_export.helper("LocalResponseNormEven")
        return TorchModule(torch_export.call(helper, size, alpha=alpha, beta=beta, k=bias, before=(size - 1) // 2))

    def onnx_attributes(self) -> dict[str, Any]:
        if self.params["size"] % 2 == 0:
            raise OnnxExportError(
                f"onnxruntime runs LRN with an odd size only; this one has size {self.params['size']}"
            )
        return {key: self.params[key] for key in ("size", "alpha", "beta", "bias")}

    @classmethod
    def params_from_onnx(cls, attrs: Attributes) -> dict[str, Any]:
        # ONNX has no default size; its other defaults are the parameters'.
        return {**super().params_from_onnx(attrs), "size": read_int(attrs, "size")}

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        return num_elements(output_shape) * self.params["size"]


@register
class Scale(Layer):
    """A learned per-channel affine map ``y = γ_c · x + β_c`` (no normalisation).

    What remains of BatchNorm once its statistics are folded away; imported models
    use it for the per-channel Mul/Add that follows their normalisation.
    """

    type_name = "Scale"
    category = "Normalization"
    acts_pointwise = True
    summary = "Multiplies each channel by a learned factor and adds a learned offset."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ScaleOp(input_shapes[0][0])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        constructor = torch_export.call(torch_export.helper("Scale"), input_shapes[0][0])
        return TorchModule(constructor, {"weight": op.params["gamma"], "bias": op.params["beta"]})

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        # Per-channel constants broadcast over H and W as C×1×1.
        shape = (-1, 1, 1) if len(input_shapes[0]) == 3 else (-1,)
        gamma = onnx_export.constant(f"{name}.weight", op.params["gamma"].reshape(shape))
        beta = onnx_export.constant(f"{name}.bias", op.params["beta"].reshape(shape))
        scaled = onnx_export.node("Mul", [inputs[0], gamma], f"{name}_mul")
        return onnx_export.node("Add", [scaled, beta], name)

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        return ParamCount(trainable=2 * input_shapes[0][0])

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        return num_elements(output_shape)


_AFFINE_NAMES = (("weight", "gamma"), ("bias", "beta"))
"""ONNX names of a normalisation's learned scale and shift, and the op's."""


def _epsilon() -> FloatParam:
    return FloatParam(
        "epsilon",
        1e-5,
        "Added to the variance to avoid dividing by zero.",
        minimum=0.0,
        maximum=1.0,
        min_inclusive=False,
    )


def _decomposed_normalisation(onnx_export: OnnxWriter, source: str, axes: list[int], epsilon: float, name: str) -> str:
    """Write ``(x − mean(x)) / √(mean((x − mean(x))²) + ε)`` over ``axes``; return its output.

    The form torch writes for LayerNorm before ``LayerNormalization`` (opset 17), which the
    import reads back (:func:`_decomposed`). ``ReduceMean`` takes its axes as an attribute
    up to opset 17, which is all this is written for.
    """
    mean = onnx_export.node("ReduceMean", [source], f"{name}_mean", axes=axes)
    centred = onnx_export.node("Sub", [source, mean], f"{name}_centred")
    squared = onnx_export.node("Pow", [centred, onnx_export.constant(f"{name}.two", np.array(2.0))], f"{name}_squared")
    variance = onnx_export.node("ReduceMean", [squared], f"{name}_variance", axes=axes)
    shifted = onnx_export.node(
        "Add", [variance, onnx_export.constant(f"{name}.epsilon", np.array(epsilon))], f"{name}_eps"
    )
    deviation = onnx_export.node("Sqrt", [shifted], f"{name}_std")
    return onnx_export.node("Div", [centred, deviation], f"{name}_normalised")


@register
class LayerNorm(Layer):
    """Normalises each sample on its own to zero mean and unit variance, then scales and shifts.

    ``over="channels"`` normalises the C values at each pixel, as ConvNeXt's channels-last
    LayerNorm does, with γ and β of shape ``(C,)``; ``over="all"`` normalises each sample's
    C×H×W values together, with γ and β of shape ``(C, H, W)`` (PyTorch's
    ``LayerNorm([C, H, W])``: the learned scale has the normalised shape, as in ONNX). On
    a feature vector both normalise over the F features, γ and β ``(F,)``::

        y = γ · (x − μ) / √(σ² + ε) + β

    with ``μ`` and ``σ²`` the mean and biased variance over the normalised values. The
    statistics come from the sample alone, so training and inference compute the same and
    nothing is kept between batches.
    """

    type_name = "LayerNorm"
    name_stem = "ln"
    category = "Normalization"
    passes_values_through = True
    summary = "Normalises each sample on its own, over the channels at each pixel or over its whole map, then learns a scale and shift."
    param_specs = (
        ChoiceParam(
            "over",
            "channels",
            "What shares one mean and variance: the C values at each pixel ('channels', as in ConvNeXt) "
            "or each sample's whole C×H×W map ('all'); the same for feature vectors.",
            choices=("channels", "all"),
        ),
        _epsilon(),
    )

    def describe(self) -> str:
        return "over channels" if self.params["over"] == "channels" else "over C×H×W"

    def param_shape(self, input_shape: Shape) -> Shape:
        """Shape of γ and β: the normalised shape, ``(C,)``, ``(C, H, W)`` or ``(F,)``."""
        return input_shape[:1] if self.params["over"] == "channels" else input_shape

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        over_channels = self.params["over"] == "channels"
        return LayerNormOp(tuple(input_shapes[0]), over_channels, self.params["epsilon"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        shape, epsilon = input_shapes[0], self.params["epsilon"]
        state = {"weight": op.params["gamma"], "bias": op.params["beta"]}
        if is_image(shape) and self.params["over"] == "channels":
            return TorchModule(torch_export.call(torch_export.helper("LayerNorm2d"), shape[0], eps=epsilon), state)
        normalised = shape[0] if len(shape) == 1 else tuple(shape)
        return TorchModule(torch_export.call("nn.LayerNorm", normalised, eps=epsilon), state)

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        return ParamCount(trainable=2 * num_elements(self.param_shape(input_shapes[0])))

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        # Per value: one for the sum of squares of the variance, one for the scale and shift.
        return 2 * num_elements(output_shape)

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        shape = input_shapes[0]
        # Over the channels of a map: over the last axis of N×H×W×C, as torch writes ConvNeXt's.
        channels_last = is_image(shape) and self.params["over"] == "channels"
        source = (
            onnx_export.node("Transpose", inputs, f"{name}_nhwc", perm=[0, 2, 3, 1]) if channels_last else inputs[0]
        )
        last = f"{name}_norm" if channels_last else name
        gamma = onnx_export.constant(f"{name}.weight", op.params["gamma"])
        beta = onnx_export.constant(f"{name}.bias", op.params["beta"])
        epsilon = self.params["epsilon"]
        # LayerNormalization normalises every axis from `axis` on.
        axis = 1 if is_image(shape) and not channels_last else -1
        if onnx_export.opset >= 17:
            out = onnx_export.node("LayerNormalization", [source, gamma, beta], last, axis=axis, epsilon=epsilon)
        else:
            axes = [1, 2, 3] if axis == 1 else [-1]
            normalised = _decomposed_normalisation(onnx_export, source, axes, epsilon, name)
            out = onnx_export.node("Add", [onnx_export.node("Mul", [normalised, gamma], f"{name}_scale"), beta], last)
        if channels_last:
            onnx_export.name_after_layer(out)  # the import names the layer after it
            out = onnx_export.node("Transpose", [out], f"{name}_nchw", perm=[0, 3, 1, 2])
        return out

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        # On features both choices are one normalisation; it reads back as the default.
        return self if is_image(input_shapes[0]) else self.with_params(over="channels")


@register
class GroupNorm(Layer):
    """Normalises each sample over groups of channels, then scales and shifts each channel (Wu & He, 2018).

    The C channels (or F features) split into ``groups`` runs of C / groups consecutive
    ones; each sample's group is normalised to zero mean and unit variance over its
    channels and positions, and channel ``c`` becomes ``γ_c · x̂ + β_c``. ``groups = C`` is
    instance normalisation, ``groups = 1`` normalises each sample as a whole. Like
    LayerNorm it needs no batch statistics: training and inference compute the same.
    """

    type_name = "GroupNorm"
    name_stem = "gn"
    category = "Normalization"
    passes_values_through = True
    summary = "Normalises each sample over groups of channels (one channel per group: InstanceNorm), then learns a scale and shift."
    param_specs = (
        IntParam(
            "groups",
            4,
            "Channel groups that share one mean and variance; must divide the channels (one per channel: InstanceNorm).",
            minimum=1,
            maximum=65536,
        ),
        _epsilon(),
    )

    def describe(self) -> str:
        return f"{self.params['groups']} groups"

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        shape = input_shapes[0]
        channels, groups = shape[0], self.params["groups"]
        if channels % groups:
            divisors = [d for d in range(1, channels + 1) if channels % d == 0]
            near = [max(d for d in divisors if d < groups), min((d for d in divisors if d > groups), default=None)]
            what = f"{channels} channels of {describe_shape(shape)}" if is_image(shape) else f"{channels} features"
            raise ShapeError(
                f"GroupNorm's {groups} groups do not divide the {what}; "
                f"use {' or '.join(str(d) for d in near if d is not None)} groups "
                f"(a divisor of {channels}; {channels} groups is InstanceNorm)"
            )
        return shape

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return GroupNormOp(tuple(input_shapes[0]), self.params["groups"], self.params["epsilon"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        channels = input_shapes[0][0]
        constructor = torch_export.call("nn.GroupNorm", self.params["groups"], channels, eps=self.params["epsilon"])
        return TorchModule(constructor, {"weight": op.params["gamma"], "bias": op.params["beta"]})

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        return ParamCount(trainable=2 * input_shapes[0][0])

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        # Per value: one for the sum of squares of the variance, one for the scale and shift.
        return 2 * num_elements(output_shape)

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        shape, groups, epsilon = input_shapes[0], self.params["groups"], self.params["epsilon"]
        if onnx_export.opset >= 21:  # GroupNormalization-18 scaled per group, and is deprecated
            tensors = [onnx_export.constant(f"{name}.{key}", op.params[param]) for key, param in _AFFINE_NAMES]
            return onnx_export.node(
                "GroupNormalization", [inputs[0], *tensors], name, num_groups=groups, epsilon=epsilon
            )
        # torch's form: instance normalisation of N × groups × (the rest), then the per-channel affine.
        split = onnx_export.constant(f"{name}.grouped_shape", np.array([0, groups, -1]))
        grouped = onnx_export.node("Reshape", [inputs[0], split], f"{name}_grouped")
        unit = [
            onnx_export.constant(f"{name}.group_{key}", fill(groups))
            for key, fill in (("scale", np.ones), ("bias", np.zeros))
        ]
        normalised = onnx_export.node("InstanceNormalization", [grouped, *unit], f"{name}_normalised", epsilon=epsilon)
        restored = onnx_export.node(
            "Reshape", [normalised, onnx_export.constant(f"{name}.shape", np.array([0, *shape]))], f"{name}_restored"
        )
        per_channel_shape = (-1, 1, 1) if is_image(shape) else (-1,)  # broadcast over H and W
        gamma, beta = (
            onnx_export.constant(f"{name}.{key}", op.params[param].reshape(per_channel_shape))
            for key, param in _AFFINE_NAMES
        )
        return onnx_export.node("Add", [onnx_export.node("Mul", [restored, gamma], f"{name}_scale"), beta], name)


# -- ONNX import ----------------------------------------------------------------------------


@onnx_converter("BatchNormalization", min_inputs=5)
def _import_batch_norm(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """BatchNormalization in inference form, with constant statistics → BatchNorm."""
    if read_int(attrs, "training_mode", 0):
        raise UnsupportedNode("training_mode=1 is not an inference graph")
    scale, bias, mean, var = (reader.require_constant(name, "statistics and parameters") for name in node.input[1:5])
    params = {"epsilon": read_float(attrs, "epsilon", 1e-5), "momentum": read_float(attrs, "momentum", 0.9)}
    weights = {"gamma": scale, "beta": bias, "running_mean": mean, "running_var": var}
    reader.add_layer(node, BatchNorm.type_name, params, [node.input[0]], weights)


def _constant_operand(reader: OnnxReader, node: OnnxNode) -> tuple[str, np.ndarray] | None:
    """The computed operand and the constant one of a binary op, if it has one of each."""
    left, right = node.input[0], node.input[1]
    value = reader.constant(right)
    if value is not None and reader.is_computed(left):
        return left, value
    value = reader.constant(left)
    if value is not None and reader.is_computed(right) and node.op_type in ("Add", "Mul"):  # they commute
        return right, value
    return None


def _broadcast_onto(value: np.ndarray, shape: Shape) -> np.ndarray | None:
    """``value`` broadcast onto ``shape`` (leading axes of 1, like a batch axis, dropped); ``None`` when it does not."""
    array = np.asarray(value, np.float32)
    while array.ndim > len(shape) and array.shape[0] == 1:
        array = array[0]
    try:
        return np.broadcast_to(array, shape).copy()
    except ValueError:
        return None


_ENDS_IN_AFFINE = (Scale.type_name, LayerNorm.type_name, GroupNorm.type_name)
"""Layers ending in a learned ``γ · x + β``, into which a constant Mul, Add, Sub or Div after them folds."""


@onnx_converter("Add", min_inputs=2)
@onnx_converter("Sub", min_inputs=2)
@onnx_converter("Mul", min_inputs=2)
@onnx_converter("Div", min_inputs=2)
def _import_affine(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Arithmetic with a per-channel constant: the bias of the layer before, part of its affine map, or a Scale.

    An added constant becomes the bias of a layer before whose ``bias`` parameter is off
    (a Conv2D, or the Dense of MatMul + Add); a constant after a layer ending in ``γ · x + β``
    (Scale, LayerNorm, GroupNorm) that nothing else reads joins its γ and β; any other is a
    new Scale. Products of two computed tensors are Multiply layers (a pattern in merge.py).
    """
    operands = _constant_operand(reader, node)
    if operands is None:
        raise UnsupportedNode("only a per-channel constant operand is supported")
    source, value = operands
    _import_constant_arithmetic(reader, node, node.op_type, source, value)


@onnx_converter("Neg")
def _import_negation(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """``−x`` is ``x · (−1)``: folded into the γ and β of a layer before, as a constant Mul is, or a Scale of γ = −1, β = 0."""
    _import_constant_arithmetic(reader, node, "Mul", node.input[0], np.array(-1.0, np.float32))


def _import_constant_arithmetic(
    reader: OnnxReader, node: OnnxNode, op_type: str, source: str, value: np.ndarray
) -> None:
    """``source op_type value`` (``op_type`` one of Add, Sub, Mul, Div) as :func:`_import_affine` maps it."""
    shape = reader.shape(source)
    producer = reader.producer_layer(source)
    alone = producer is not None and reader.uses(source) == 1
    folds = alone and producer.type_name in _ENDS_IN_AFFINE
    gamma = reader.weight(producer.name, "gamma") if folds else None
    beta = reader.weight(producer.name, "beta") if folds else None
    # A LayerNorm over C×H×W learns one γ per value; the others one per channel.
    per_value = gamma is not None and is_image(shape) and gamma.shape == shape
    vector = _broadcast_onto(value, shape) if per_value else per_channel(np.asarray(value, np.float32), shape)
    if vector is None:
        raise UnsupportedNode(
            f"a constant of shape {list(value.shape)} is not per channel of a {format_shape(shape)} tensor"
        )
    additive = op_type in ("Add", "Sub")
    with np.errstate(divide="ignore", over="ignore"):  # infinite weights are refused when stored
        vector = {"Add": vector, "Sub": -vector, "Mul": vector, "Div": 1 / vector}[op_type]
    if alone and additive and producer.params.get("bias") is False:
        reader.set_layer_param(producer.name, "bias", True)
        reader.set_weight(producer.name, "bias", vector)
        reader.alias(node.output[0], source)
    elif gamma is not None and beta is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            gamma, beta = (gamma, beta + vector) if additive else (gamma * vector, beta * vector)
        # One layer for both, named after the node that completes it (the export's Mul + Add).
        reader.add_layer(node, producer.type_name, producer.params, producer.inputs, {"gamma": gamma, "beta": beta})
    else:
        ones, zeros = np.ones_like(vector), np.zeros_like(vector)
        weights = {"gamma": ones, "beta": vector} if additive else {"gamma": vector, "beta": zeros}
        reader.add_layer(node, Scale.type_name, {}, [source], weights)


def _scale_and_shift(reader: OnnxReader, node: OnnxNode, shape: Shape) -> dict[str, np.ndarray]:
    """γ and β of a normalisation node (constant inputs 1 and 2; β optional), broadcast onto ``shape``."""
    given = len(node.input) > 2 and node.input[2]
    values = {
        "gamma": reader.require_constant(node.input[1], "scale"),
        "beta": reader.require_constant(node.input[2], "bias") if given else np.zeros(()),
    }
    weights = {}
    for key, value in values.items():
        fitted = _broadcast_onto(value, shape)
        if fitted is None:
            raise UnsupportedNode(f"its {key} of shape {list(value.shape)} does not fit {format_shape(shape)}")
        weights[key] = fitted
    return weights


@onnx_converter("LayerNormalization", min_inputs=2)
def _import_layer_norm(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """LayerNormalization of a map over C×H×W (``axis`` 1), or of features → LayerNorm.

    Over the last axis of a channels-last map it is LayerNorm over channels: the pattern
    :func:`_import_channels_last_layer_norm` reads that.
    """
    if any(reader.uses(extra) for extra in node.output[1:] if extra):
        raise UnsupportedNode("its Mean or InvStdDev output is used")
    shape = reader.shape(node.input[0])
    rank = len(shape) + 1
    axis = read_int(attrs, "axis", -1)
    if not -rank <= axis < rank or axis % rank != 1:
        raise UnsupportedNode(
            f"normalising an N×{format_shape(shape)} tensor from axis {axis} on has no layer: LayerNorm normalises "
            "from axis 1 on (C×H×W, or the features), or over the channels of a channels-last map"
        )
    over = "all" if is_image(shape) else "channels"
    params = {"over": over, "epsilon": read_float(attrs, "epsilon", 1e-5)}
    reader.add_layer(node, LayerNorm.type_name, params, [node.input[0]], _scale_and_shift(reader, node, shape))


@onnx_channels_last_converter("LayerNormalization", min_inputs=2)
def _import_layer_norm_of_channels_last(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """LayerNormalization over the last axis of a channels-last map → LayerNorm over channels (ConvNeXt's)."""
    if any(reader.uses(extra) for extra in node.output[1:] if extra):
        raise UnsupportedNode("its Mean or InvStdDev output is used")
    axis = read_int(attrs, "axis", -1)
    if axis not in (-1, 3):
        raise UnsupportedNode(
            f"normalising a channels-last (N×H×W×C) map from axis {axis} on has no layer; over the last axis "
            "(the channels) it is a LayerNorm over channels"
        )
    channels = reader.shape(node.input[0])[0]
    params = {"over": "channels", "epsilon": read_float(attrs, "epsilon", 1e-5)}
    weights = _scale_and_shift(reader, node, (channels,))
    reader.add_layer(node, LayerNorm.type_name, params, [node.input[0]], weights, reads_views=True)


def _with_constant(reader: OnnxReader, node: OnnxNode | None, op_type: str) -> tuple[str, np.ndarray] | None:
    """The other operand and the value of a binary ``op_type`` node with one constant operand."""
    if node is None or node.op_type != op_type:
        return None
    left, right = node.input[0], node.input[1]
    for constant, other in ((right, left), (left, right)):
        value = reader.constant(constant)
        if value is not None and reader.constant(other) is None:
            return other, value
    return None


def _mean_axes(reader: OnnxReader, node: OnnxNode | None) -> list[int] | None:
    """The axes a ReduceMean ``node`` averages over, keeping them; ``None`` for any other node."""
    if node is None or node.op_type != "ReduceMean":
        return None
    attrs = reader.attributes(node)
    if attrs.get("keepdims", 1) != 1:
        return None
    if reader.opset >= 18:  # the axes became an input
        given = reader.constant(node.input[1]) if len(node.input) > 1 else None
        axes = None if given is None else [int(a) for a in np.asarray(given).reshape(-1)]
    else:
        axes = attrs.get("axes")
    return list(axes) if axes else None


@dataclass(frozen=True)
class _Normalisation:
    """``(x − mean(x)) / √(var(x) + ε)`` written out in a graph: x, the axes, ε, and its nodes before the Div."""

    source: str
    axes: list[int]
    epsilon: float
    nodes: list[OnnxNode]


def _decomposed(reader: OnnxReader, div: OnnxNode | None) -> _Normalisation | None:
    """The normalisation ending at ``div`` as torch writes LayerNorm before opset 17, if it is one.

    ``Div(Sub(x, ReduceMean(x)), Sqrt(Add(ReduceMean(Pow(Sub, 2)), ε)))``, the square also
    as ``Mul(Sub, Sub)``; no tensor in between may be read by anything else.
    """
    if div is None or div.op_type != "Div":
        return None
    sub, sqrt = reader.producer_node(div.input[0]), reader.producer_node(div.input[1])
    if sub is None or sub.op_type != "Sub" or sqrt is None or sqrt.op_type != "Sqrt":
        return None
    add = reader.producer_node(sqrt.input[0])
    shifted = _with_constant(reader, add, "Add")
    if add is None or shifted is None or shifted[1].size != 1:
        return None
    variance, epsilon = reader.producer_node(shifted[0]), float(shifted[1].reshape(-1)[0])
    square = reader.producer_node(variance.input[0]) if variance is not None else None
    centred = div.input[0]
    if square is None or square.op_type not in ("Pow", "Mul"):
        return None
    if square.op_type == "Pow":
        exponent = reader.constant(square.input[1])
        squares = square.input[0] == centred and exponent is not None and exponent.size == 1 and exponent.item() == 2
    else:
        squares = list(square.input[:2]) == [centred, centred]
    mean = reader.producer_node(sub.input[1])
    axes = _mean_axes(reader, mean)
    if not squares or axes is None or mean.input[0] != sub.input[0] or _mean_axes(reader, variance) != axes:
        return None
    reads = {
        centred: 2 + (square.op_type == "Mul"),
        sub.input[1]: 1,
        variance.input[0]: 1,
        shifted[0]: 1,
        sqrt.input[0]: 1,
        div.input[1]: 1,
    }
    if any(reader.uses(tensor) != count for tensor, count in reads.items()):
        return None
    return _Normalisation(sub.input[0], axes, shortest_float(epsilon), [sub, mean, square, variance, add, sqrt])


@onnx_pattern("normalisation written out", anchor="Div")
def _import_decomposed_normalisation(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """``(x − mean) / √(var + ε)`` of a computed x: a LayerNorm, or a GroupNorm of a group per channel.

    Over the channels, over C×H×W or over the features it is a LayerNorm; over H and W it is
    instance normalisation. The Mul and Add of γ and β that follow fold into it
    (:func:`_import_affine`). Of a channels-last view (ConvNeXt's LayerNorm before opset
    17) the axes are the view's: its last axis is the channels.
    """
    found = _decomposed(reader, node)
    if found is None or not reader.is_computed(found.source):
        return None
    shape = reader.shape(found.source)
    rank = len(shape) + 1
    if any(not -rank <= axis < rank for axis in found.axes):
        return None
    view = reader.is_channels_last(found.source)
    axes = sorted(_CHANNELS_FIRST_AXIS[axis % rank] if view else axis % rank for axis in found.axes)
    params: dict[str, Any] = {"epsilon": found.epsilon}
    if axes == [1]:
        type_name, params["over"], affine = LayerNorm.type_name, "channels", shape[:1]
    elif axes == [1, 2, 3]:
        type_name, params["over"], affine = LayerNorm.type_name, "all", shape
    elif axes == [2, 3]:
        type_name, params["groups"], affine = GroupNorm.type_name, shape[0], shape[:1]
    else:
        shown = (
            f"a channels-last view of an N×{format_shape(shape)} map" if view else f"an N×{format_shape(shape)} tensor"
        )
        raise UnsupportedNode(f"normalising {shown} over axes {found.axes} has no layer")
    weights = {"gamma": np.ones(affine, np.float32), "beta": np.zeros(affine, np.float32)}
    reader.add_layer(node, type_name, params, [found.source], weights, reads_views=view)
    return found.nodes


_CHANNELS_FIRST_AXIS = (0, 2, 3, 1)
"""Axis ``i`` of an N×H×W×C view is axis ``_CHANNELS_FIRST_AXIS[i]`` of the N×C×H×W map."""


@onnx_converter("InstanceNormalization", min_inputs=3)
def _import_instance_norm(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """InstanceNormalization of a map → GroupNorm with one group per channel."""
    channels = reader.spatial_shape(node)[0]
    weights = _scale_and_shift(reader, node, (channels,))
    params = {"groups": channels, "epsilon": read_float(attrs, "epsilon", 1e-5)}
    reader.add_layer(node, GroupNorm.type_name, params, [node.input[0]], weights)


@onnx_converter("GroupNormalization", min_inputs=3)
def _import_group_norm(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """GroupNormalization → GroupNorm; before opset 21 its scale and bias are one per group."""
    channels = reader.shape(node.input[0])[0]
    groups = read_int(attrs, "num_groups")
    if groups < 1 or channels % groups:
        raise UnsupportedNode(f"{groups} groups do not divide its {channels} channels")
    size = groups if reader.opset < 21 else channels
    weights = {}
    for key, tensor in (("gamma", node.input[1]), ("beta", node.input[2])):
        value = reader.require_constant(tensor, "scale and bias").reshape(-1)
        if value.size != size:
            raise UnsupportedNode(f"its {key} has {value.size} values; opset {reader.opset} needs {size}")
        weights[key] = np.repeat(value, channels // size)
    params = {"groups": groups, "epsilon": read_float(attrs, "epsilon", 1e-5)}
    reader.add_layer(node, GroupNorm.type_name, params, [node.input[0]], weights)


@onnx_pattern("group normalisation as instance normalisation", anchor="Reshape")
def _import_grouped_instance_norm(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """Reshape to N × G × (the rest) → InstanceNormalization → Reshape back: GroupNorm with G groups.

    What torch writes for GroupNorm (it has no ONNX op before opset 18), and the export
    before opset 21; the Mul and Add of the per-channel γ and β that follow fold into it
    (:func:`_import_affine`).
    """
    norm = reader.producer_node(node.input[0])
    if norm is None or norm.op_type != "InstanceNormalization" or reader.uses(node.input[0]) != 1:
        return None
    split = reader.producer_node(norm.input[0])
    if split is None or split.op_type != "Reshape" or reader.uses(norm.input[0]) != 1:
        return None
    if not reader.is_computed(split.input[0]) or len(norm.input) < 3:
        return None
    shape = reader.shape(split.input[0])
    try:
        grouped = reshape_target(reader, split, reader.attributes(split))
        target = reader.require_constant(node.input[1], "target shape")
        restored = resolve_reshape(target, grouped, bool(read_int(attrs, "allowzero", 0)))
    except UnsupportedNode:  # the Reshape converters say what is wrong
        return None
    # Groups of whole channels: the channel count a multiple of the groups.
    if len(grouped) != 3 or restored != [1, *shape] or shape[0] % grouped[1]:
        return None
    groups = grouped[1]
    scale, bias = reader.constant(norm.input[1]), reader.constant(norm.input[2])
    if scale is None or bias is None or scale.size != groups or bias.size != groups:
        return None
    per_group = shape[0] // groups
    weights = {"gamma": np.repeat(scale.reshape(-1), per_group), "beta": np.repeat(bias.reshape(-1), per_group)}
    params = {"groups": groups, "epsilon": read_float(reader.attributes(norm), "epsilon", 1e-5)}
    reader.add_layer(node, GroupNorm.type_name, params, [split.input[0]], weights)
    return [norm, split]
