"""Normalization layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.layers.base import Layer, ParamCount
from core.params import FloatParam, IntParam
from core.registry import register
from core.shapes import Shape, num_elements
from core.layers.onnx_writer import OnnxExportError, OnnxWriter
from core.ops.basic import BatchNormOp, LRNOp, ScaleOp
from core.ops.op import Op



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
        FloatParam("epsilon", 1e-5, "Added to the variance to avoid dividing by zero.", minimum=0.0, maximum=1.0, min_inclusive=False),
        FloatParam("momentum", 0.9, "Weight of the old running statistics in each update.", minimum=0.0, maximum=1.0, max_inclusive=False),
    )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return BatchNormOp(input_shapes[0][0], self.params["epsilon"], self.params["momentum"])

    def export_onnx(self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op) -> str:
        tensors = [
            onnx_export.constant(f"{name}.{key}", value)
            for key, value in (
                ("weight", op.params["gamma"]), ("bias", op.params["beta"]),
                ("running_mean", op.buffers["running_mean"]), ("running_var", op.buffers["running_var"]),
            )
        ]
        return onnx_export.node(
            "BatchNormalization", [inputs[0], *tensors], name, epsilon=self.params["epsilon"], momentum=self.params["momentum"]
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
            raise OnnxExportError(f"onnxruntime runs LRN with an odd size only; this one has size {self.params['size']}")
        return {key: self.params[key] for key in ("size", "alpha", "beta", "bias")}

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

    def export_onnx(self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op) -> str:
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
