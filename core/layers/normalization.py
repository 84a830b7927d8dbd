"""Normalization layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.layers.base import Layer, ParamCount
from core.layers.onnx_reader import (
    Attributes,
    OnnxNode,
    OnnxReader,
    UnsupportedNode,
    onnx_converter,
    per_channel,
    read_float,
    read_int,
)
from core.layers.onnx_writer import OnnxExportError, OnnxWriter
from core.ops.basic import BatchNormOp, LRNOp, ScaleOp
from core.ops.op import Op
from core.params import FloatParam, IntParam
from core.registry import register
from core.shapes import Shape, format_shape, num_elements


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
    summary = "Multiplies each channel by a learned factor and adds a learned offset."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ScaleOp(input_shapes[0][0])

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


@onnx_converter("Add", min_inputs=2)
@onnx_converter("Sub", min_inputs=2)
@onnx_converter("Mul", min_inputs=2)
@onnx_converter("Div", min_inputs=2)
def _import_affine(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Arithmetic with a per-channel constant: the bias of the layer before, a Scale, or part of one.

    An added constant becomes the bias of a layer before whose ``bias`` parameter is off
    (a Conv2D, or the Dense of MatMul + Add); a constant after a Scale that nothing else
    reads joins it; any other is a new Scale.
    """
    operands = _constant_operand(reader, node)
    if operands is None:
        raise UnsupportedNode("only a per-channel constant operand is supported")
    source, value = operands
    shape = reader.shape(source)
    vector = per_channel(np.asarray(value, np.float32), shape)
    if vector is None:
        raise UnsupportedNode(
            f"a constant of shape {list(value.shape)} is not per channel of a {format_shape(shape)} tensor"
        )
    additive = node.op_type in ("Add", "Sub")
    with np.errstate(divide="ignore", over="ignore"):  # infinite weights are refused when stored
        vector = {"Add": vector, "Sub": -vector, "Mul": vector, "Div": 1 / vector}[node.op_type]
    producer = reader.producer_layer(source)
    alone = producer is not None and reader.uses(source) == 1
    if alone and additive and producer.params.get("bias") is False:
        reader.set_layer_param(producer.name, "bias", True)
        reader.set_weight(producer.name, "bias", vector)
        reader.alias(node.output[0], source)
    elif alone and producer.type_name == Scale.type_name:
        # One Scale for both, named after the node that completes it (the export's Mul + Add).
        gamma, beta = reader.weight(producer.name, "gamma"), reader.weight(producer.name, "beta")
        with np.errstate(over="ignore", invalid="ignore"):
            gamma, beta = (gamma, beta + vector) if additive else (gamma * vector, beta * vector)
        reader.add_layer(node, Scale.type_name, {}, producer.inputs, {"gamma": gamma, "beta": beta})
    else:
        ones, zeros = np.ones_like(vector), np.zeros_like(vector)
        weights = {"gamma": ones, "beta": vector} if additive else {"gamma": vector, "beta": zeros}
        reader.add_layer(node, Scale.type_name, {}, [source], weights)
