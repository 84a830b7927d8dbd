"""Activation functions: elementwise non-linearities (and Softmax, LogSoftmax)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import ParamError
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
    shortest_float,
)
from core.layers.onnx_writer import OnnxExportError, OnnxWriter
from core.layers.torch_writer import TorchModule, TorchWriter
from core.ops.activations import (
    GELU_CUBIC,
    SQRT_2_OVER_PI,
    GELUOp,
    HardSigmoidOp,
    HardSwishOp,
    HardTanhOp,
    LogSoftmaxOp,
    PReLUOp,
    ReLU6Op,
    SELUOp,
    SiLUOp,
    SoftplusOp,
)
from core.ops.basic import ELUOp, LeakyReLUOp, ReLUOp, SigmoidOp, SoftmaxOp, TanhOp
from core.ops.op import Op
from core.params import ChoiceParam, FloatParam
from core.registry import register
from core.shapes import Shape, format_shape

# `he_init_before` marks the ReLU-like functions: those keeping about half the second moment of
# a unit normal input, as ReLU does. E[f(z)²] for z ~ N(0, 1) is 0.5 for ReLU and ReLU6, 0.53 for
# PReLU (slope 0.25), 0.43 for GELU, 0.36 for SiLU and 0.33 for HardSwish; He's N(0, 2 / fan_in)
# makes up for that half in a stack of weighted layers and such functions (He et al. derived it
# for PReLU). Softplus (0.92, from its offset log 2) and the squashing functions get Glorot, as
# does SELU, which keeps E[f(z)²] = 1 (its fixed point; the SELU paper pairs it with LeCun's
# N(0, 1 / fan_in), which Glorot's uniform, with variance 2 / (fan_in + fan_out), is closest to).


@register
class ReLU(Layer):
    """``max(0, x)``."""

    type_name = "ReLU"
    onnx_op = "Relu"
    torch_module = "nn.ReLU"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "max(0, x): passes positive values, zeroes negative ones."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ReLUOp()


class _AlphaActivation(Layer):
    """An activation with one ``alpha`` parameter, written to ONNX as the attribute of that name."""

    def describe(self) -> str:
        return f"α {self.params['alpha']:g}"

    def onnx_attributes(self) -> dict[str, Any]:
        return {"alpha": self.params["alpha"]}


@register
class LeakyReLU(_AlphaActivation):
    """``x`` for ``x > 0``, ``alpha · x`` otherwise."""

    type_name = "LeakyReLU"
    name_stem = "leaky_relu"
    onnx_op = "LeakyRelu"
    torch_module = "nn.LeakyReLU"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "Like ReLU, but lets a small slope alpha·x through for negative x."
    param_specs = (FloatParam("alpha", 0.01, "Slope for negative inputs.", minimum=0.0, maximum=1.0),)

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return LeakyReLUOp(self.params["alpha"])

    def torch_arguments(self, input_shapes: list[Shape]) -> dict[str, Any]:
        return {"negative_slope": self.params["alpha"]}


@register
class ReLU6(Layer):
    """``min(max(0, x), 6)``: ONNX ``Clip`` to [0, 6], bounds as attributes before opset 11, as inputs from it."""

    type_name = "ReLU6"
    onnx_op = "Clip"
    torch_module = "nn.ReLU6"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "min(max(0, x), 6): a ReLU capped at 6, which keeps activations small (MobileNet)."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ReLU6Op()

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        return _export_clip(onnx_export, name, inputs[0], 0.0, 6.0)


def _export_clip(onnx_export: OnnxWriter, name: str, source: str, low: float, high: float) -> str:
    """``Clip`` of ``source`` to ``[low, high]``: bounds as attributes before opset 11, as inputs from it."""
    if onnx_export.opset < 11:
        return onnx_export.node("Clip", [source], name, min=low, max=high)
    low_bound = onnx_export.constant(f"{name}.min", np.array(low))
    high_bound = onnx_export.constant(f"{name}.max", np.array(high))
    return onnx_export.node("Clip", [source, low_bound, high_bound], name)


@register
class HardTanh(Layer):
    """``min(max(x, min_val), max_val)``: PyTorch's ``nn.Hardtanh``, a piecewise-linear tanh on [−1, 1] by default.

    Both bounds are finite numbers, ``min_val < max_val``; a clip open on one side has no
    HardTanh (ReLU is the clip to [0, ∞)). ONNX: ``Clip``, as ReLU6 (which is HardTanh
    on [0, 6] and is what such a ``Clip`` imports as).
    """

    type_name = "HardTanh"
    name_stem = "hard_tanh"
    onnx_op = "Clip"
    torch_module = "nn.Hardtanh"
    category = "Activation"
    is_activation_function = True
    summary = "Clips x to [min_val, max_val] (default [−1, 1]): a cheap piecewise-linear tanh."
    param_specs = (
        FloatParam("min_val", -1.0, "Lower bound: smaller inputs become it."),
        FloatParam("max_val", 1.0, "Upper bound, above min_val: larger inputs become it."),
    )

    def describe(self) -> str:
        return f"[{self.params['min_val']:g}, {self.params['max_val']:g}]"

    def check_params(self) -> None:
        if self.params["min_val"] >= self.params["max_val"]:
            raise ParamError(
                "max_val", f"must be greater than min_val ({self.params['min_val']:g}), got {self.params['max_val']:g}"
            )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return HardTanhOp(self.params["min_val"], self.params["max_val"])

    def torch_arguments(self, input_shapes: list[Shape]) -> dict[str, Any]:
        return {"min_val": self.params["min_val"], "max_val": self.params["max_val"]}

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        return _export_clip(onnx_export, name, inputs[0], self.params["min_val"], self.params["max_val"])

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        # A Clip to [0, 6] reads back as ReLU6, which computes the same.
        return ReLU6() if (self.params["min_val"], self.params["max_val"]) == (0, 6) else self


@register
class PReLU(Layer):
    """``x`` for ``x > 0``, ``a_c · x`` otherwise, with a learned slope ``a_c`` per channel (He et al. 2015).

    The slopes are the layer's weight, shape ``(C,)``, starting at 0.25 as in PyTorch and
    not regularised. ONNX: ``PRelu`` with the slopes as ``C×1×1`` for maps, ``(C,)`` for
    features. Its curve is drawn with the initial slope.
    """

    type_name = "PReLU"
    onnx_op = "PRelu"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "Like LeakyReLU, but learns the slope for negative x, one per channel (starting at 0.25)."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return PReLUOp(input_shapes[0][0])

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        return ParamCount(trainable=input_shapes[0][0])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        # nn.PReLU's slopes act on dim 1: the channels of a map, the features of a vector.
        constructor = torch_export.call("nn.PReLU", num_parameters=input_shapes[0][0])
        return TorchModule(constructor, {"weight": op.params["weight"]})

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        # Unidirectional broadcasting aligns trailing axes: per channel of N×C×H×W is C×1×1.
        shape = (-1, 1, 1) if len(input_shapes[0]) == 3 else (-1,)
        slope = onnx_export.constant(f"{name}.weight", op.params["weight"].reshape(shape))
        return onnx_export.node("PRelu", [inputs[0], slope], name)


@register
class ELU(_AlphaActivation):
    """``x`` for ``x > 0``, ``alpha · (e^x − 1)`` otherwise."""

    type_name = "ELU"
    onnx_op = "Elu"
    torch_module = "nn.ELU"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "x for x > 0, alpha·(e^x − 1) below: smooth, with negative outputs near −alpha."
    param_specs = (FloatParam("alpha", 1.0, "Value approached for very negative inputs (as −alpha).", minimum=0.0),)

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ELUOp(self.params["alpha"])

    def torch_arguments(self, input_shapes: list[Shape]) -> dict[str, Any]:
        return {"alpha": self.params["alpha"]}


SELU_ALPHA = 1.6732632423543772
"""SELU's α (Klambauer et al. 2017, as PyTorch has it); ONNX's default is its single-precision value."""
SELU_GAMMA = 1.0507009873554805
"""SELU's scale γ (PyTorch's ``scale``); ONNX's default is its single-precision value."""


@register
class SELU(Layer):
    """``γ·x`` for ``x > 0``, ``γ·α·(e^x − 1)`` otherwise: the scaled ELU of self-normalising networks.

    With α ≈ 1.6733 and γ ≈ 1.0507 (the defaults, PyTorch's), activations of mean 0 and
    variance 1 keep them through weighted layers initialised N(0, 1 / fan_in). ONNX
    ``Selu`` with both attributes; an attribute holding the single-precision value of a
    default reads back as that default.
    """

    type_name = "SELU"
    onnx_op = "Selu"
    category = "Activation"
    is_activation_function = True
    summary = "Scaled ELU, γ·x above zero and γ·α·(e^x − 1) below: keeps activations near mean 0, variance 1."
    param_specs = (
        FloatParam("alpha", SELU_ALPHA, "α: the output approached for very negative inputs is −γ·α.", minimum=0.0),
        FloatParam("gamma", SELU_GAMMA, "γ: the scale of the whole function.", minimum=0.0, min_inclusive=False),
    )

    def describe(self) -> str:
        alpha, gamma = self.params["alpha"], self.params["gamma"]
        return "" if (alpha, gamma) == (SELU_ALPHA, SELU_GAMMA) else f"α {alpha:.5g}, γ {gamma:.5g}"

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return SELUOp(self.params["alpha"], self.params["gamma"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        alpha, gamma = self.params["alpha"], self.params["gamma"]
        if (alpha, gamma) == (SELU_ALPHA, SELU_GAMMA):
            return TorchModule(torch_export.call("nn.SELU"))
        return TorchModule(torch_export.call(torch_export.helper("ScaledELU"), alpha=alpha, gamma=gamma))

    def onnx_attributes(self) -> dict[str, Any]:
        return {"alpha": self.params["alpha"], "gamma": self.params["gamma"]}

    @classmethod
    def params_from_onnx(cls, attrs: Attributes) -> dict[str, Any]:
        params = {}
        for key, default in (("alpha", SELU_ALPHA), ("gamma", SELU_GAMMA)):
            value = read_float(attrs, key, default)
            params[key] = default if _single_precision_equal(value, default) else value
        return params


@register
class Sigmoid(Layer):
    """``1 / (1 + e^−x)``."""

    type_name = "Sigmoid"
    onnx_op = "Sigmoid"
    torch_module = "nn.Sigmoid"
    category = "Activation"
    is_activation_function = True
    summary = "1 / (1 + e^−x): squashes any value into (0, 1); saturates for large |x|."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return SigmoidOp()


HARD_SIGMOID_ALPHA = 1 / 6
"""PyTorch's slope of the hard sigmoid (and the one inside HardSwish); ONNX's default is 0.2."""


@register
class HardSigmoid(Layer):
    """``max(0, min(1, alpha · x + beta))``: a piecewise-linear sigmoid.

    ``alpha`` defaults to PyTorch's 1/6 (reaching 0 and 1 at ±3); ONNX's ``HardSigmoid``
    defaults to 0.2 (Keras's), so the export always writes both attributes and the
    import reads an absent ``alpha`` as 0.2.
    """

    type_name = "HardSigmoid"
    name_stem = "hard_sigmoid"
    onnx_op = "HardSigmoid"
    category = "Activation"
    is_activation_function = True
    summary = "max(0, min(1, alpha·x + beta)): a cheap piecewise-linear sigmoid."
    param_specs = (
        FloatParam(
            "alpha",
            HARD_SIGMOID_ALPHA,
            "Slope of the linear part (PyTorch 1/6, Keras and ONNX 0.2).",
            minimum=0.0,
            maximum=10.0,
            min_inclusive=False,
        ),
        FloatParam("beta", 0.5, "Output at x = 0.", minimum=0.0, maximum=1.0),
    )

    def describe(self) -> str:
        return f"α {self.params['alpha']:.3g}, β {self.params['beta']:g}"

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return HardSigmoidOp(self.params["alpha"], self.params["beta"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        alpha, beta = self.params["alpha"], self.params["beta"]
        if (alpha, beta) == (HARD_SIGMOID_ALPHA, 0.5):
            return TorchModule(torch_export.call("nn.Hardsigmoid"))
        return TorchModule(torch_export.call(torch_export.helper("HardSigmoid"), alpha=alpha, beta=beta))

    def onnx_attributes(self) -> dict[str, Any]:
        return {"alpha": self.params["alpha"], "beta": self.params["beta"]}

    @classmethod
    def params_from_onnx(cls, attrs: Attributes) -> dict[str, Any]:
        # ONNX's float attributes hold 1/6 as 0.16666667: that is PyTorch's 1/6.
        alpha = read_float(attrs, "alpha", 0.2)
        if _single_precision_equal(alpha, HARD_SIGMOID_ALPHA):
            alpha = HARD_SIGMOID_ALPHA
        return {"alpha": alpha, "beta": read_float(attrs, "beta", 0.5)}


@register
class HardSwish(Layer):
    """``x · max(0, min(1, x/6 + 1/2))`` (MobileNetV3): ``x`` times the hard sigmoid of PyTorch.

    ONNX ``HardSwish`` from opset 14; before, ``x · HardSigmoid(x, alpha=1/6, beta=0.5)``.
    """

    type_name = "HardSwish"
    name_stem = "hard_swish"
    onnx_op = "HardSwish"
    torch_module = "nn.Hardswish"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "x · hard sigmoid(x): a cheap piecewise SiLU, 0 below −3 and x above 3 (MobileNetV3)."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return HardSwishOp()

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        if onnx_export.opset >= 14:
            return onnx_export.node("HardSwish", inputs, name)
        gate = onnx_export.node("HardSigmoid", inputs, f"{name}_gate", alpha=HARD_SIGMOID_ALPHA, beta=0.5)
        return onnx_export.node("Mul", [inputs[0], gate], name)


@register
class Tanh(Layer):
    """``tanh(x)``."""

    type_name = "Tanh"
    onnx_op = "Tanh"
    torch_module = "nn.Tanh"
    category = "Activation"
    is_activation_function = True
    summary = "tanh(x): squashes any value into (−1, 1), centred on zero."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return TanhOp()


@register
class SiLU(Layer):
    """``x · σ(x)`` (SiLU, Swish): ONNX ``Swish`` from opset 24; before, ``Sigmoid`` → ``Mul``."""

    type_name = "SiLU"
    onnx_op = "Swish"
    torch_module = "nn.SiLU"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "x · sigmoid(x) (Swish): a smooth ReLU that dips slightly below zero (EfficientNet)."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return SiLUOp()

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        if onnx_export.opset >= 24:
            return onnx_export.node("Swish", inputs, name)
        gate = onnx_export.node("Sigmoid", inputs, f"{name}_sigmoid")
        return onnx_export.node("Mul", [inputs[0], gate], name)

    @classmethod
    def params_from_onnx(cls, attrs: Attributes) -> dict[str, Any]:
        alpha = read_float(attrs, "alpha", 1.0)
        if alpha != 1.0:
            raise UnsupportedNode(f"Swish with alpha {alpha:g}, x·σ(alpha·x), has no layer (SiLU is alpha 1)")
        return {}


@register
class GELU(Layer):
    """``x · Φ(x)``, Φ the standard normal CDF, exact (erf) or in its tanh approximation.

    ONNX ``Gelu`` from opset 20. Before, the decompositions ``torch.onnx.export`` writes:
    ``x · (1 + Erf(x / √2)) · 0.5`` (``Erf`` exists from opset 9) and
    ``x · (1 + Tanh(√(2/π) · (x + 0.044715 · x³))) · 0.5``.
    """

    type_name = "GELU"
    onnx_op = "Gelu"
    torch_module = "nn.GELU"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "x · Φ(x), Φ the normal CDF: a smooth ReLU weighting x by how likely it is positive (Transformers)."
    param_specs = (
        ChoiceParam(
            "approximate",
            "none",
            "'none': exact, with the error function; 'tanh': the tanh approximation.",
            choices=("none", "tanh"),
        ),
    )

    def describe(self) -> str:
        return "tanh" if self.params["approximate"] == "tanh" else ""

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return GELUOp(self.params["approximate"])

    def torch_arguments(self, input_shapes: list[Shape]) -> dict[str, Any]:
        return {"approximate": self.params["approximate"]} if self.params["approximate"] != "none" else {}

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        approximate = self.params["approximate"]
        if onnx_export.opset >= 20:
            return onnx_export.node("Gelu", inputs, name, approximate=approximate)
        x = inputs[0]

        def scalar(label: str, value: float) -> str:
            return onnx_export.constant(f"{name}.{label}", np.array(value))

        if approximate == "tanh":
            square = onnx_export.node("Mul", [x, x], f"{name}_square")
            cube = onnx_export.node("Mul", [x, square], f"{name}_cube")
            cubic = onnx_export.node("Mul", [cube, scalar("cubic", GELU_CUBIC)], f"{name}_cubic")
            inner = onnx_export.node("Add", [x, cubic], f"{name}_inner")
            scaled = onnx_export.node("Mul", [inner, scalar("scale", SQRT_2_OVER_PI)], f"{name}_scaled")
            squashed = onnx_export.node("Tanh", [scaled], f"{name}_tanh")
        elif onnx_export.opset >= 9:
            scaled = onnx_export.node("Div", [x, scalar("sqrt2", math.sqrt(2))], f"{name}_scaled")
            squashed = onnx_export.node("Erf", [scaled], f"{name}_erf")
        else:
            raise OnnxExportError(
                f"the exact GELU needs ONNX's Erf, which opset {onnx_export.opset} lacks (from opset 9); "
                "export at opset 9 or later, or use approximate='tanh'"
            )
        plus_one = onnx_export.node("Add", [squashed, scalar("one", 1.0)], f"{name}_plus_one")
        product = onnx_export.node("Mul", [x, plus_one], f"{name}_product")
        return onnx_export.node("Mul", [product, scalar("half", 0.5)], name)


@register
class Softplus(Layer):
    """``log(1 + e^x)``: a smooth ReLU."""

    type_name = "Softplus"
    onnx_op = "Softplus"
    torch_module = "nn.Softplus"
    category = "Activation"
    is_activation_function = True
    summary = "log(1 + e^x): a smooth ReLU that never quite reaches zero."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return SoftplusOp()


class _OverChannels(Layer):
    """Normalises over the features, or over the channels of each pixel (Softmax, LogSoftmax).

    Written as ``onnx_op`` with ``axis=1``; before opset 13 that op flattens every axis
    after ``axis``, so a per-pixel one goes through channels-last instead.
    """

    category = "Activation"
    keeps_class_scores = True

    def torch_arguments(self, input_shapes: list[Shape]) -> dict[str, Any]:
        return {"dim": 1}  # the features of N×F, the channels of N×C×H×W

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        if onnx_export.opset >= 13 or len(input_shapes[0]) == 1:
            return onnx_export.node(self.onnx_op, inputs, name, axis=1)
        last = onnx_export.node("Transpose", inputs, f"{name}_nhwc", perm=[0, 2, 3, 1])
        normalised = onnx_export.node(self.onnx_op, [last], f"{name}_{self.onnx_op.lower()}", axis=3)
        onnx_export.name_after_layer(normalised)  # the import names the layer after it
        return onnx_export.node("Transpose", [normalised], f"{name}_nchw", perm=[0, 3, 1, 2])


@register
class Softmax(_OverChannels):
    """Exponentiates and normalises over the features (or channels, per pixel) to sum to one."""

    type_name = "Softmax"
    onnx_op = "Softmax"
    torch_module = "nn.Softmax"
    summary = "Turns scores into probabilities that sum to one (over features, or channels per pixel)."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return SoftmaxOp()


@register
class LogSoftmax(_OverChannels):
    """``x − log Σ e^x`` over the features (or channels, per pixel): the log of Softmax, computed stably.

    A final LogSoftmax over features is fused with the cross-entropy loss in training,
    as a final Softmax is (the loss reads the scores before it).
    """

    type_name = "LogSoftmax"
    name_stem = "log_softmax"
    onnx_op = "LogSoftmax"
    torch_module = "nn.LogSoftmax"
    summary = (
        "The logarithm of Softmax's probabilities, computed without overflow (over features, or channels per pixel)."
    )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return LogSoftmaxOp()


# -- ONNX import ----------------------------------------------------------------------------
# Relu, LeakyRelu, Sigmoid, Tanh, Elu, Selu, HardSigmoid, HardSwish, Swish, Gelu and Softplus
# are read by the default converters of their layers' `onnx_op`.

_OVER_CHANNELS = {cls.onnx_op: cls for cls in (Softmax, LogSoftmax)}


@onnx_converter("Softmax")
@onnx_converter("LogSoftmax")
def _import_softmax(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """(Log)Softmax over the features, or over the channels of each pixel → Softmax, LogSoftmax."""
    shape = reader.shape(node.input[0])
    rank = len(shape) + 1
    axis = read_int(attrs, "axis", 1 if reader.opset < 13 else -1) % rank
    # Before opset 13, (Log)Softmax normalises over every axis from `axis` on.
    covers_all = reader.opset < 13 and axis == 1
    per_feature = rank == 2 and axis == 1
    per_pixel = rank == 4 and axis == 1 and (reader.opset >= 13 or shape[1:] == (1, 1))
    if not (per_feature or per_pixel or (covers_all and rank == 2)):
        what = "softmax" if node.op_type == Softmax.onnx_op else "log-softmax"
        raise UnsupportedNode(
            f"{what} over axis {axis} of a {format_shape(shape)} tensor (opset {reader.opset}) has no layer"
        )
    reader.add_layer(node, _OVER_CHANNELS[node.op_type].type_name, {}, [node.input[0]])


@onnx_channels_last_converter("Softmax")
@onnx_channels_last_converter("LogSoftmax")
def _import_channels_last_softmax(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """(Log)Softmax over the last axis of a channels-last map → one over the channels of each pixel.

    What the export writes before opset 13, whose (Log)Softmax cannot pick the channel axis alone.
    """
    axis = read_int(attrs, "axis", 1 if reader.opset < 13 else -1)
    if axis not in (-1, 3):
        what = "softmax" if node.op_type == Softmax.onnx_op else "log-softmax"
        raise UnsupportedNode(
            f"{what} from axis {axis} of a channels-last (N×H×W×C) map has no layer; over the last axis "
            "(the channels) it is one per pixel"
        )
    reader.add_layer(node, _OVER_CHANNELS[node.op_type].type_name, {}, [node.input[0]], reads_views=True)


@onnx_converter("Clip")
def _import_clip(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Clip to [0, 6] → ReLU6; to [0, ∞) → ReLU; to any other finite [low, high], low < high → HardTanh.

    ReLU6 and HardTanh both write ``Clip``; this converter decides between them.
    """
    bounds = _clip_bounds(reader, node)
    if bounds is None:
        raise UnsupportedNode("its bounds must be constant numbers")
    low, high = bounds
    shown = f"[{'−∞' if low is None else f'{low:g}'}, {'∞' if high is None else f'{high:g}'}]"
    if low == 0 and high == 6:
        reader.add_layer(node, ReLU6.type_name, {}, [node.input[0]])
    elif low == 0 and high is None:
        reader.add_layer(node, ReLU.type_name, {}, [node.input[0]])
    elif low is None or high is None:
        raise UnsupportedNode(
            f"clipping to {shown} has no layer: HardTanh needs two finite bounds (ReLU clips to [0, ∞))"
        )
    elif low >= high:
        raise UnsupportedNode(f"clipping to {shown} has no layer: HardTanh needs its lower bound below the upper")
    else:
        params = {"min_val": shortest_float(low), "max_val": shortest_float(high)}
        reader.add_layer(node, HardTanh.type_name, params, [node.input[0]])


@onnx_converter("PRelu", min_inputs=2)
def _import_prelu(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """PRelu with a constant slope per channel (or one for all) → PReLU.

    From opset 7 the slope broadcasts as NumPy does (trailing axes first), so per channel
    of N×C×H×W is C×1×1. Before, a slope of C values was matched to the channel axis
    (axis 1) whatever the input's rank.
    """
    slope = reader.require_constant(node.input[1], "slope")
    shape = reader.shape(node.input[0])
    legacy = reader.opset < 7 and slope.ndim == 1 and slope.size == shape[0]
    weight = np.asarray(slope, np.float32) if legacy else per_channel(np.asarray(slope, np.float32), shape)
    if weight is None:
        raise UnsupportedNode(
            f"a slope of shape {list(slope.shape)} is not per channel of a {format_shape(shape)} tensor"
        )
    reader.add_layer(node, PReLU.type_name, {}, [node.input[0]], {"weight": weight})


# -- patterns: activations written as several nodes ---------------------------------------------
# Each is anchored at the last Mul (or Div); patterns are tried before the converters of
# arithmetic with per-channel constants (normalization.py), so they claim only graphs that
# match exactly. Inner nodes must be read by the pattern alone; `x` may be read anywhere.

_MAX_PRODUCT_NODES = 5
"""Mul/Div nodes a product is followed through: enough for every pattern here, and it keeps
a long chain of Muls from being walked again at each of them."""


@dataclass
class _Product:
    """A tensor read as ``coefficient · Π factors``, through the Mul, Div-by-constant and cube nodes computing it."""

    coefficient: float = 1.0
    factors: list[str] = field(default_factory=list)
    nodes: list[OnnxNode] = field(default_factory=list)

    def pairs(self) -> Iterator[tuple[str, str]]:
        """``(x, other)`` both ways round, when the product has exactly two factors."""
        if len(self.factors) == 2:
            first, second = self.factors
            yield first, second
            yield second, first


def _number(value: Any) -> float | None:
    """A finite real number, or an array holding exactly one; ``None`` for anything else."""
    if isinstance(value, (bool, str)) or value is None:
        return None
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "fiu":
        return None
    number = float(array.reshape(-1)[0])
    return number if math.isfinite(number) else None


def _scalar(reader: OnnxReader, tensor: str) -> float | None:
    """The value of a constant tensor holding one number; ``None`` for any other tensor."""
    return _number(reader.constant(tensor))


def _is(value: float | None, expected: float) -> bool:
    """Whether ``value`` is the constant ``expected``, as far as single precision or 7 written digits tell."""
    return value is not None and math.isclose(value, expected, rel_tol=1e-6)


def _single_precision_equal(value: float, expected: float) -> bool:
    return bool(np.float32(value) == np.float32(expected))


def _only_reader(reader: OnnxReader, tensor: str, op_type: str) -> OnnxNode | None:
    """The ``op_type`` node computing ``tensor``, if the pattern is all that reads ``tensor``."""
    node = reader.producer_node(tensor)
    if node is None or node.op_type != op_type or reader.uses(tensor) != 1:
        return None
    return node


def _step(reader: OnnxReader, node: OnnxNode) -> tuple[float, list[str], list[str]] | None:
    """How ``node`` multiplies: ``(scale, operands to follow, factors as they are)``; ``None`` for no product.

    ``Mul(a, b)`` follows both; ``Div(a, c)`` by a constant scales ``a`` by ``1/c``; ``Pow(a, 3)`` is ``a·a·a``.
    """
    if len(node.input) != 2:
        return None
    left, right = node.input
    value = _scalar(reader, right)
    if node.op_type == "Mul":
        return 1.0, [left, right], []
    if node.op_type == "Div" and value:
        return 1 / value, [left], []
    if node.op_type == "Pow" and value == 3:
        return 1.0, [], [left] * 3
    return None


def _product(reader: OnnxReader, tensor: str, anchor: OnnxNode | None = None) -> _Product:
    """``tensor`` (the output of ``anchor``, when given) as a product of scalar constants and other tensors."""
    product = _Product()
    pending = [(tensor, anchor)]
    while pending:
        current, node = pending.pop()
        value = _scalar(reader, current)
        if value is not None:
            product.coefficient *= value
            continue
        if node is None and len(product.nodes) < _MAX_PRODUCT_NODES:
            node = next((n for op in ("Mul", "Div", "Pow") if (n := _only_reader(reader, current, op))), None)
        step = _step(reader, node) if node is not None else None
        if step is None:
            product.factors.append(current)
            continue
        if node is not anchor:
            product.nodes.append(node)
        scale, operands, factors = step
        product.coefficient *= scale
        pending.extend((operand, None) for operand in operands)
        product.factors.extend(factors)
    return product


def _plus(reader: OnnxReader, tensor: str, constant: float) -> tuple[OnnxNode, str] | None:
    """For ``tensor = t + constant`` (an Add read by the pattern alone): the Add node and ``t``."""
    add = _only_reader(reader, tensor, "Add")
    if add is None or len(add.input) != 2:
        return None
    left, right = add.input
    for term, other in ((left, right), (right, left)):
        if _is(_scalar(reader, other), constant):
            return add, term
    return None


def _gate_of(reader: OnnxReader, x: str, gate: str) -> tuple[str, list[OnnxNode]] | None:
    """GELU's ``gate`` in ``x · gate · 0.5``: ``("none", nodes)`` for ``1 + erf(x/√2)``, ``("tanh", nodes)`` for the tanh form."""
    plus_one = _plus(reader, gate, 1.0)
    if plus_one is None:
        return None
    add, squashed = plus_one
    erf, tanh = _only_reader(reader, squashed, "Erf"), _only_reader(reader, squashed, "Tanh")
    if erf is not None:
        argument = _product(reader, erf.input[0])
        if argument.factors == [x] and _is(argument.coefficient, 1 / math.sqrt(2)):
            return "none", [add, erf, *argument.nodes]
    if tanh is not None:
        # √(2/π) · (x + 0.044715 · x³)
        argument = _product(reader, tanh.input[0])
        if len(argument.factors) != 1 or not _is(argument.coefficient, SQRT_2_OVER_PI):
            return None
        inner = _only_reader(reader, argument.factors[0], "Add")
        if inner is None or len(inner.input) != 2:
            return None
        left, right = inner.input
        for term, cubic in ((left, right), (right, left)):
            cube = _product(reader, cubic)
            if term == x and cube.factors == [x, x, x] and _is(cube.coefficient, GELU_CUBIC):
                return "tanh", [add, tanh, *argument.nodes, inner, *cube.nodes]
    return None


@onnx_pattern("GELU", anchor="Mul")
@onnx_pattern("GELU, halved by a Div", anchor="Div")
def _import_gelu(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """``x · (1 + erf(x/√2)) · 0.5`` → GELU; ``x · (1 + tanh(√(2/π)·(x + 0.044715·x³))) · 0.5`` → GELU(tanh).

    The factors may come in any order and grouping (``(x · 0.5) · (1 + …)`` as Keras writes
    it, ``(x · (1 + …)) · 0.5`` as PyTorch does, ``x · (1 + …) / 2``); ``x/√2`` may be ``x · (1/√2)``
    and ``x³`` may be ``Pow(x, 3)``.
    """
    product = _product(reader, node.output[0], node)
    if not _is(product.coefficient, 0.5):
        return None
    for x, gate in product.pairs():
        found = _gate_of(reader, x, gate) if reader.is_computed(x) else None
        if found is not None:
            approximate, nodes = found
            reader.add_layer(node, GELU.type_name, {"approximate": approximate}, [x])
            return [*product.nodes, *nodes]
    return None


@onnx_pattern("x·sigmoid(x)", anchor="Mul")
def _import_silu(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """``x · Sigmoid(x)``, either way round → SiLU."""
    product = _product(reader, node.output[0], node)
    for x, gate in product.pairs():
        sigmoid = _only_reader(reader, gate, "Sigmoid")
        if sigmoid is not None and sigmoid.input[0] == x and _is(product.coefficient, 1.0) and reader.is_computed(x):
            reader.add_layer(node, SiLU.type_name, {}, [x])
            return [*product.nodes, sigmoid]
    return None


@onnx_pattern("x·hard sigmoid(x)", anchor="Mul")
@onnx_pattern("x·hard sigmoid(x), divided", anchor="Div")
def _import_hard_swish(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """``x · HardSigmoid(x, 1/6, 1/2)`` (PyTorch before opset 14) or ``x · Clip(x + 3, 0, 6) / 6`` → HardSwish."""
    product = _product(reader, node.output[0], node)
    for x, gate in product.pairs():
        if not reader.is_computed(x):
            continue
        hard_sigmoid = _only_reader(reader, gate, "HardSigmoid")
        if hard_sigmoid is not None and hard_sigmoid.input[0] == x and _is(product.coefficient, 1.0):
            gate_attrs = reader.attributes(hard_sigmoid)
            alpha, beta = _number(gate_attrs.get("alpha", 0.2)), _number(gate_attrs.get("beta", 0.5))
            if _is(alpha, HARD_SIGMOID_ALPHA) and _is(beta, 0.5):
                reader.add_layer(node, HardSwish.type_name, {}, [x])
                return [*product.nodes, hard_sigmoid]
        clip = _only_reader(reader, gate, "Clip")
        shifted = _plus(reader, clip.input[0], 3.0) if clip is not None else None
        if (
            shifted is not None
            and shifted[1] == x
            and _clip_bounds(reader, clip) == (0, 6)
            and _is(product.coefficient, 1 / 6)
        ):
            reader.add_layer(node, HardSwish.type_name, {}, [x])
            return [*product.nodes, clip, shifted[0]]
    return None


def _clip_bounds(reader: OnnxReader, node: OnnxNode) -> tuple[float | None, float | None] | None:
    """``(min, max)`` of a Clip node, ``None`` for an open side; ``None`` when a bound is not a constant number.

    Bounds are attributes before opset 11 and optional inputs from it on; ±FLT_MAX, which
    exporters write for "no bound", is no bound.
    """
    bounds: list[float | None] = []
    for index, key in ((1, "min"), (2, "max")):
        if reader.opset < 11:
            value = reader.attributes(node).get(key)
        else:
            name = node.input[index] if len(node.input) > index else ""
            value = reader.constant(name) if name else None
            if name and value is None:
                return None
        if value is None:
            bounds.append(None)
            continue
        number = _number(value)
        if number is None:
            return None
        bounds.append(None if abs(number) >= np.finfo(np.float32).max else number)
    return bounds[0], bounds[1]
