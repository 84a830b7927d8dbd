"""Convolution layers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.errors import ParamError, ShapeError
from core.layers.base import Layer, ParamCount, SpatialGeometry, describe_window
from core.layers.onnx_reader import (
    Attributes,
    OnnxNode,
    OnnxReader,
    UnsupportedNode,
    onnx_converter,
    onnx_pattern,
    padding,
    padding_param,
    read_int,
    read_pair,
    resolve_reshape,
)
from core.layers.onnx_writer import OnnxWriter
from core.ops.basic import ChannelShuffleOp
from core.ops.op import Op
from core.ops.sliding import Conv2DOp
from core.params import BoolParam, IntParam, PaddingParam, PairParam
from core.registry import register
from core.shapes import Shape
from core.window import Window, resolve_window


@register
class Conv2D(Layer):
    """2-D cross-correlation of a C×H×W map with ``filters`` kernels.

    Each kernel has shape ``(C / groups, kh, kw)`` — as deep as its input group —
    so the weight tensor is ``(filters, C / groups, kh, kw)``. A 1×1 kernel mixes
    channels at every pixel without touching the resolution.
    """

    type_name = "Conv2D"
    name_stem = "conv"
    category = "Convolution"
    computes_weighted_sums = True
    offers_bottleneck_comparison = True
    summary = (
        "Slides learned kernels over the input; each filter spans all input channels and yields one output channel."
    )
    param_specs = (
        IntParam("filters", 32, "Number of kernels, i.e. output channels.", minimum=1, maximum=65536),
        PairParam("kernel_size", (3, 3), "Kernel height and width.", minimum=1, maximum=1024),
        PairParam("stride", (1, 1), "Step between neighbouring windows.", minimum=1, maximum=1024),
        PaddingParam("padding", "valid", "Zero padding: 'valid', 'same', p, [ph, pw] or [top, left, bottom, right]."),
        PairParam("dilation", (1, 1), "Spacing between kernel taps (atrous convolution).", minimum=1, maximum=1024),
        IntParam(
            "groups", 1, "Split channels into this many independent groups (C for depthwise).", minimum=1, maximum=65536
        ),
        BoolParam("bias", True, "Add a learned offset per output channel."),
    )

    def describe(self) -> str:
        text = f"{self.params['filters']} × {describe_window(self.params['kernel_size'], self.params['stride'], self.params['padding'])}"
        if self.params["dilation"] != (1, 1):
            text += f", dilation {self.params['dilation'][0]}"
        if self.params["groups"] > 1:
            text += f", {self.params['groups']} groups"
        return text

    def inside_views(self) -> tuple[str, ...]:
        return ("mixing",) if self.params["kernel_size"] == (1, 1) else ("filters",)

    def check_params(self) -> None:
        if self.params["filters"] % self.params["groups"]:
            raise ParamError(
                "groups",
                f"must divide filters ({self.params['filters']}), got {self.params['groups']}",
            )

    def window(self, input_shape: Shape) -> Window:
        """Resolve padding and output size for ``input_shape``."""
        channels, height, width = self.require_image(input_shape)
        groups = self.params["groups"]
        if channels % groups:
            raise ShapeError(f"Conv2D groups={groups} must divide the {channels} input channels")
        return resolve_window(
            "Conv2D",
            (height, width),
            self.params["kernel_size"],
            self.params["stride"],
            self.params["padding"],
            self.params["dilation"],
        )

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        out_h, out_w = self.window(input_shapes[0]).output_hw
        return (self.params["filters"], out_h, out_w)

    def weight_shape(self, input_shape: Shape) -> tuple[int, int, int, int]:
        """Return the kernel tensor's shape ``(filters, C / groups, kh, kw)``."""
        kh, kw = self.params["kernel_size"]
        return (self.params["filters"], input_shape[0] // self.params["groups"], kh, kw)

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        n, c, kh, kw = self.weight_shape(input_shapes[0])
        return ParamCount(trainable=n * c * kh * kw + (n if self.params["bias"] else 0))

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        _, c, kh, kw = self.weight_shape(input_shapes[0])
        filters, out_h, out_w = output_shape
        return filters * out_h * out_w * c * kh * kw

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return Conv2DOp(
            input_shapes[0][0],
            self.params["filters"],
            self.window(input_shapes[0]),
            self.params["groups"],
            self.params["bias"],
        )

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        window = self.window(input_shapes[0])
        return SpatialGeometry(window.kernel, window.stride, window.pad_begin, window.dilation)

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        window = self.window(input_shapes[0])
        tensors = [inputs[0], onnx_export.constant(f"{name}.weight", op.params["weight"])]
        if self.params["bias"]:
            tensors.append(onnx_export.constant(f"{name}.bias", op.params["bias"]))
        return onnx_export.node(
            "Conv",
            tensors,
            name,
            kernel_shape=list(window.kernel),
            strides=list(window.stride),
            pads=list(window.pads),
            dilations=list(window.dilation),
            group=self.params["groups"],
        )

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        # ONNX holds the resolved pads ('same' depends on the input size there).
        return self.with_params(padding=padding_param(self.window(input_shapes[0]).pads))


@register
class ChannelShuffle(Layer):
    """Interleaves the channels of ``groups`` groups (ShuffleNet), so grouped convolutions mix.

    Channel ``g·(C/groups) + i`` moves to position ``i·groups + g``.
    """

    type_name = "ChannelShuffle"
    category = "Convolution"
    name_stem = "shuffle"
    summary = "Interleaves channels across groups so the next grouped convolution sees every group."
    param_specs = (IntParam("groups", 2, "Number of channel groups to interleave.", minimum=1, maximum=65536),)

    def describe(self) -> str:
        return f"{self.params['groups']} groups"

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        channels, _, _ = self.require_image(input_shapes[0])
        if channels % self.params["groups"]:
            raise ShapeError(f"ChannelShuffle groups={self.params['groups']} must divide the {channels} input channels")
        return input_shapes[0]

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ChannelShuffleOp(input_shapes[0][0], self.params["groups"])

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        # The ShuffleNet idiom: split channels into (groups, C/groups), swap, merge back.
        channels, height, width = input_shapes[0]
        groups = self.params["groups"]
        split = onnx_export.constant(f"{name}.split_shape", np.array([0, groups, channels // groups, height, width]))
        merged = onnx_export.constant(f"{name}.merged_shape", np.array([0, channels, height, width]))
        grouped = onnx_export.node("Reshape", [inputs[0], split], f"{name}_split")
        swapped = onnx_export.node("Transpose", [grouped], f"{name}_swap", perm=[0, 2, 1, 3, 4])
        return onnx_export.node("Reshape", [swapped, merged], name)


# -- ONNX import ----------------------------------------------------------------------------


@onnx_converter("Conv", min_inputs=2)
def _import_conv(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """A 2-D ``Conv`` with constant weights (and bias) → Conv2D."""
    weight = reader.require_constant(node.input[1], "weight")
    if weight.ndim != 4:
        raise UnsupportedNode("only 2-D convolutions are supported")
    bias = reader.constant(node.input[2]) if len(node.input) > 2 else None
    kernel = read_pair(attrs, "kernel_shape", list(weight.shape[2:]))
    strides, dilations = read_pair(attrs, "strides", [1, 1]), read_pair(attrs, "dilations", [1, 1])
    params = {
        "filters": int(weight.shape[0]),
        "kernel_size": kernel,
        "stride": strides,
        "padding": padding(attrs, reader.spatial_shape(node), kernel, strides, dilations),
        "dilation": dilations,
        "groups": read_int(attrs, "group", 1),
        "bias": bias is not None,
    }
    reader.add_layer(node, Conv2D.type_name, params, [node.input[0]], {"weight": weight, "bias": bias})


@onnx_pattern("channel shuffle", anchor="Reshape")
def _import_channel_shuffle(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """Reshape to N×g×(C/g)×H×W → Transpose(0, 2, 1, 3, 4) → Reshape to N×C×H×W: a ChannelShuffle of g groups."""
    swap = reader.producer_node(node.input[0])
    if swap is None or swap.op_type != "Transpose" or reader.uses(node.input[0]) != 1:
        return None
    split = reader.producer_node(swap.input[0])
    if split is None or split.op_type != "Reshape" or reader.uses(swap.input[0]) != 1 or len(split.input) < 2:
        return None
    source = split.input[0]
    if reader.attributes(swap).get("perm") != [0, 2, 1, 3, 4] or not reader.is_computed(source):
        return None
    shape = reader.shape(source)
    split_target, merged_target = reader.constant(split.input[1]), reader.constant(node.input[1])
    if len(shape) != 3 or split_target is None or merged_target is None:
        return None
    channels, height, width = shape
    try:
        grouped = resolve_reshape(split_target, (1, *shape), bool(read_int(reader.attributes(split), "allowzero", 0)))
        if len(grouped) != 5 or grouped[0] != 1 or grouped[3:] != [height, width]:
            return None
        swapped = (1, grouped[2], grouped[1], height, width)
        merged = resolve_reshape(merged_target, swapped, bool(read_int(attrs, "allowzero", 0)))
    except UnsupportedNode:  # targets that fit no tensor here: another sub-graph
        return None
    if merged != [1, channels, height, width]:
        return None
    reader.add_layer(node, ChannelShuffle.type_name, {"groups": grouped[1]}, [source])
    return [swap, split]
