"""Convolution layers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    read_ints,
    read_pair,
    read_string,
    rearrangement,
)
from core.layers.onnx_writer import OnnxWriter
from core.layers.torch_writer import TorchModule, TorchWriter
from core.ops.basic import ChannelShuffleOp, ChannelSliceOp, ChannelSplitOp
from core.ops.op import Op
from core.ops.sliding import Conv2DOp, Conv2DTransposeOp, DepthwiseConv2DOp
from core.params import BoolParam, IntParam, PaddingParam, PairParam
from core.registry import register
from core.shapes import Shape, format_shape, is_image
from core.window import Window, resolve_transposed_window, resolve_window

MAX_GATHER_WEIGHTS = 1 << 24
"""The most weights of the 1×1 Conv2D a Gather of channels becomes (64 MiB)."""

CONV_WINDOW = (
    PairParam("kernel_size", (3, 3), "Kernel height and width.", minimum=1, maximum=1024),
    PairParam("stride", (1, 1), "Step between neighbouring windows.", minimum=1, maximum=1024),
    PaddingParam("padding", "valid", "Zero padding: 'valid', 'same', p, [ph, pw] or [top, left, bottom, right]."),
    PairParam("dilation", (1, 1), "Spacing between kernel taps (atrous convolution).", minimum=1, maximum=1024),
)
"""The window parameters every convolution shares, in the order editors show them."""


def _sliding_window(layer: Layer, height: int, width: int) -> Window:
    """The window of a convolution's ``kernel_size``, ``stride``, ``padding`` and ``dilation`` on an H×W map."""
    params = layer.params
    return resolve_window(
        layer.type_name, (height, width), params["kernel_size"], params["stride"], params["padding"], params["dilation"]
    )


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
    class_scores_param = "filters"  # a 1×1 convolution before global pooling: SqueezeNet, NiN
    computes_weighted_sums = True
    offers_bottleneck_comparison = True
    summary = (
        "Slides learned kernels over the input; each filter spans all input channels and yields one output channel."
    )
    param_specs = (
        IntParam("filters", 32, "Number of kernels, i.e. output channels.", minimum=1, maximum=65536),
        *CONV_WINDOW,
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
        return _sliding_window(self, height, width)

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
        return _export_conv(onnx_export, name, inputs[0], window, op, self.params["groups"], self.params["bias"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        window = self.window(input_shapes[0])
        channels, filters = input_shapes[0][0], self.params["filters"]
        return _torch_conv(torch_export, channels, filters, window, self.params["groups"], self.params["bias"], op)

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        # ONNX holds the resolved pads ('same' depends on the input size there).
        pads = padding_param(self.window(input_shapes[0]).pads)
        channels = input_shapes[0][0]
        if self.params["groups"] == channels > 1:  # a Conv with one group per channel reads back as depthwise
            return DepthwiseConv2D(
                kernel_size=self.params["kernel_size"],
                stride=self.params["stride"],
                padding=pads,
                dilation=self.params["dilation"],
                depth_multiplier=self.params["filters"] // channels,
                bias=self.params["bias"],
            )
        return self.with_params(padding=pads)


def _torch_window(
    window: Window, padding: tuple[int, int], groups: int, bias: bool, **extra: object
) -> dict[str, object]:
    """``nn.Conv2d``-style keyword arguments that differ from PyTorch's defaults, in its order."""
    arguments: dict[str, object] = {"kernel_size": window.kernel}
    if window.stride != (1, 1):
        arguments["stride"] = window.stride
    if any(padding):
        arguments["padding"] = padding
    arguments.update({key: value for key, value in extra.items() if value})
    if window.dilation != (1, 1):
        arguments["dilation"] = window.dilation
    if groups > 1:
        arguments["groups"] = groups
    if not bias:
        arguments["bias"] = False
    return arguments


def _torch_conv(
    torch_export: TorchWriter, channels: int, filters: int, window: Window, groups: int, bias: bool, op: Op
) -> TorchModule:
    """``nn.Conv2d``, or the helper that pads first when the padding differs between the sides."""
    top, left, bottom, right = window.pads
    if (top, left) == (bottom, right):
        arguments = _torch_window(window, (top, left), groups, bias)
        constructor = torch_export.call("nn.Conv2d", channels, filters, **arguments)
    else:
        arguments = _torch_window(window, (0, 0), groups, bias)
        constructor = torch_export.call(
            torch_export.helper("PaddedConv2d"), channels, filters, **arguments, pads=(left, right, top, bottom)
        )
    state = {"weight": op.params["weight"]}
    if bias:
        state["bias"] = op.params["bias"]
    return TorchModule(constructor, state)


def _export_conv(
    onnx_export: OnnxWriter, name: str, source: str, window: Window, op: Op, groups: int, bias: bool
) -> str:
    """An ONNX ``Conv`` with explicit pads and the weights of ``op``."""
    tensors = [source, onnx_export.constant(f"{name}.weight", op.params["weight"])]
    if bias:
        tensors.append(onnx_export.constant(f"{name}.bias", op.params["bias"]))
    return onnx_export.node(
        "Conv",
        tensors,
        name,
        kernel_shape=list(window.kernel),
        strides=list(window.stride),
        pads=list(window.pads),
        dilations=list(window.dilation),
        group=groups,
    )


@register
class DepthwiseConv2D(Layer):
    """Convolves each input channel on its own with ``depth_multiplier`` kernels.

    Output channel ``c·m + q`` (``m = depth_multiplier``) is input channel ``c`` convolved
    with kernel ``c·m + q``: a Conv2D with ``groups = C`` and ``C·m`` filters, weights
    ``(C·m, 1, kh, kw)``. Followed by a 1×1 convolution to ``F`` channels it is MobileNet's
    depthwise separable convolution: ``C·(kh·kw + F)`` multiply-adds per pixel (``m = 1``)
    instead of a full convolution's ``C·F·kh·kw``.
    """

    type_name = "DepthwiseConv2D"
    name_stem = "dwconv"
    category = "Convolution"
    computes_weighted_sums = True
    summary = "Filters each channel on its own with its own kernels: spatial filtering that mixes no channels."
    param_specs = (
        *CONV_WINDOW,
        IntParam(
            "depth_multiplier", 1, "Kernels per input channel: C·depth_multiplier outputs.", minimum=1, maximum=4096
        ),
        BoolParam("bias", True, "Add a learned offset per output channel."),
    )

    def describe(self) -> str:
        text = describe_window(self.params["kernel_size"], self.params["stride"], self.params["padding"])
        if self.params["dilation"] != (1, 1):
            text += f", dilation {self.params['dilation'][0]}"
        if self.params["depth_multiplier"] > 1:
            text += f", ×{self.params['depth_multiplier']} per channel"
        return text

    def inside_views(self) -> tuple[str, ...]:
        return ("filters",)

    def window(self, input_shape: Shape) -> Window:
        """Resolve padding and output size for ``input_shape``."""
        _, height, width = self.require_image(input_shape)
        return _sliding_window(self, height, width)

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        out_h, out_w = self.window(input_shapes[0]).output_hw
        return (input_shapes[0][0] * self.params["depth_multiplier"], out_h, out_w)

    def weight_shape(self, input_shape: Shape) -> tuple[int, int, int, int]:
        """Return the kernel tensor's shape ``(C·depth_multiplier, 1, kh, kw)``."""
        kh, kw = self.params["kernel_size"]
        return (input_shape[0] * self.params["depth_multiplier"], 1, kh, kw)

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        n, _, kh, kw = self.weight_shape(input_shapes[0])
        return ParamCount(trainable=n * kh * kw + (n if self.params["bias"] else 0))

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        kh, kw = self.params["kernel_size"]
        filters, out_h, out_w = output_shape
        return filters * out_h * out_w * kh * kw

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        window = self.window(input_shapes[0])
        return DepthwiseConv2DOp(input_shapes[0][0], self.params["depth_multiplier"], window, self.params["bias"])

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        window = self.window(input_shapes[0])
        return SpatialGeometry(window.kernel, window.stride, window.pad_begin, window.dilation)

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        window = self.window(input_shapes[0])
        return _export_conv(onnx_export, name, inputs[0], window, op, input_shapes[0][0], self.params["bias"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        # A grouped convolution with one group per input channel; the weights are already (C·m, 1, kh, kw).
        window, channels = self.window(input_shapes[0]), input_shapes[0][0]
        filters = channels * self.params["depth_multiplier"]
        return _torch_conv(torch_export, channels, filters, window, channels, self.params["bias"], op)

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        pads = padding_param(self.window(input_shapes[0]).pads)
        if input_shapes[0][0] == 1:  # one channel: a plain convolution, read back as one
            return Conv2D(
                filters=self.params["depth_multiplier"],
                kernel_size=self.params["kernel_size"],
                stride=self.params["stride"],
                padding=pads,
                dilation=self.params["dilation"],
                bias=self.params["bias"],
            )
        return self.with_params(padding=pads)


@register
class Conv2DTranspose(Layer):
    """The transpose of a convolution: each input pixel adds a kernel to the output, ``stride`` apart.

    Per axis, with span ``K = d·(k − 1) + 1``::

        H_out = (H − 1)·s − (pad_begin + pad_end) + K + output_padding

    It is the input gradient of the Conv2D with the same kernel, stride, padding and
    dilation, whose output size it turns back into its input size: a learned
    up-sampling. Weights ``(C, filters / groups, kh, kw)``, as ONNX and PyTorch keep
    them; input channel ``c`` of group ``g`` adds into output channels ``g·filters/groups …``.
    """

    type_name = "Conv2DTranspose"
    name_stem = "upconv"
    category = "Convolution"
    computes_weighted_sums = True
    summary = "A learned up-sampling: every input pixel stamps a kernel onto an output stride times larger."
    param_specs = (
        IntParam("filters", 32, "Number of kernels, i.e. output channels.", minimum=1, maximum=65536),
        PairParam("kernel_size", (2, 2), "Kernel height and width.", minimum=1, maximum=1024),
        PairParam("stride", (2, 2), "Up-sampling factor: output pixels between neighbouring inputs.", maximum=1024),
        PaddingParam(
            "padding",
            "valid",
            "Rows and columns cropped from the output: 'valid' (none), 'same' (output = input·stride), "
            "p, [ph, pw] or [top, left, bottom, right].",
        ),
        PairParam(
            "output_padding",
            (0, 0),
            "Rows and columns added at the bottom and right, below the stride or the dilation.",
            minimum=0,
            maximum=1023,
        ),
        PairParam("dilation", (1, 1), "Spacing between kernel taps.", minimum=1, maximum=1024),
        IntParam("groups", 1, "Split channels into this many independent groups.", minimum=1, maximum=65536),
        BoolParam("bias", True, "Add a learned offset per output channel."),
    )

    def describe(self) -> str:
        text = f"{self.params['filters']} × {describe_window(self.params['kernel_size'], self.params['stride'], self.params['padding'])}"
        if self.params["output_padding"] != (0, 0):
            text += f", output padding {list(self.params['output_padding'])}"
        if self.params["dilation"] != (1, 1):
            text += f", dilation {self.params['dilation'][0]}"
        if self.params["groups"] > 1:
            text += f", {self.params['groups']} groups"
        return text

    def inside_views(self) -> tuple[str, ...]:
        return ("filters",)

    def check_params(self) -> None:
        if self.params["filters"] % self.params["groups"]:
            raise ParamError(
                "groups",
                f"must divide filters ({self.params['filters']}), got {self.params['groups']}",
            )

    def window(self, input_shape: Shape) -> tuple[Window, tuple[int, int]]:
        """The convolution this one transposes (from the output back to ``input_shape``) and the output size."""
        channels, height, width = self.require_image(input_shape)
        groups = self.params["groups"]
        if channels % groups:
            raise ShapeError(f"Conv2DTranspose groups={groups} must divide the {channels} input channels")
        return resolve_transposed_window(
            self.type_name,
            (height, width),
            self.params["kernel_size"],
            self.params["stride"],
            self.params["padding"],
            self.params["dilation"],
            self.params["output_padding"],
        )

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        _, (out_h, out_w) = self.window(input_shapes[0])
        return (self.params["filters"], out_h, out_w)

    def weight_shape(self, input_shape: Shape) -> tuple[int, int, int, int]:
        """Return the kernel tensor's shape ``(C, filters / groups, kh, kw)``."""
        kh, kw = self.params["kernel_size"]
        return (input_shape[0], self.params["filters"] // self.params["groups"], kh, kw)

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        c, n, kh, kw = self.weight_shape(input_shapes[0])
        return ParamCount(trainable=c * n * kh * kw + (self.params["filters"] if self.params["bias"] else 0))

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        # Every input value meets every weight of its group once (as ptflops counts).
        c, n, kh, kw = self.weight_shape(input_shapes[0])
        _, height, width = input_shapes[0]
        return c * height * width * n * kh * kw

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        window, output_hw = self.window(input_shapes[0])
        return Conv2DTransposeOp(
            input_shapes[0][0], self.params["filters"], window, output_hw, self.params["groups"], self.params["bias"]
        )

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        # Output unit u reads input i where i·s + j·d = u + pad_begin for a tap j.
        window, _ = self.window(input_shapes[0])
        spans = [d * (k - 1) for k, d in zip(window.kernel, window.dilation)]
        return SpatialGeometry(
            kernel=window.kernel,
            pad_begin=(spans[0] - window.pads[0], spans[1] - window.pads[1]),
            dilation=window.dilation,
            upsample=window.stride,
        )

    def output_padding(self, input_shape: Shape) -> tuple[int, int]:
        """Rows and columns past the last window of :meth:`window`: ONNX's ``output_padding``."""
        window, output_hw = self.window(input_shape)
        return (
            output_hw[0]
            + window.pads[0]
            + window.pads[2]
            - (input_shape[1] - 1) * window.stride[0]
            - window.dilation[0] * (window.kernel[0] - 1)
            - 1,
            output_hw[1]
            + window.pads[1]
            + window.pads[3]
            - (input_shape[2] - 1) * window.stride[1]
            - window.dilation[1] * (window.kernel[1] - 1)
            - 1,
        )

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        window, _ = self.window(input_shapes[0])
        tensors = [inputs[0], onnx_export.constant(f"{name}.weight", op.params["weight"])]
        if self.params["bias"]:
            tensors.append(onnx_export.constant(f"{name}.bias", op.params["bias"]))
        extra = self.output_padding(input_shapes[0])
        return onnx_export.node(
            "ConvTranspose",
            tensors,
            name,
            kernel_shape=list(window.kernel),
            strides=list(window.stride),
            pads=list(window.pads),
            dilations=list(window.dilation),
            group=self.params["groups"],
            **({"output_padding": list(extra)} if any(extra) else {}),
        )

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        window, _ = self.window(input_shapes[0])
        top, left, bottom, right = window.pads
        extra_h, extra_w = self.output_padding(input_shapes[0])
        groups, bias = self.params["groups"], self.params["bias"]
        # nn.ConvTranspose2d pads both sides alike, and its output padding must stay below the stride or dilation.
        native = (top, left) == (bottom, right) and all(
            pad < max(stride, dilation)
            for pad, stride, dilation in zip((extra_h, extra_w), window.stride, window.dilation)
        )
        channels, filters = input_shapes[0][0], self.params["filters"]
        if native:
            extra = (extra_h, extra_w) if extra_h or extra_w else None
            arguments = _torch_window(window, (top, left), groups, bias, output_padding=extra)
            constructor = torch_export.call("nn.ConvTranspose2d", channels, filters, **arguments)
        else:
            arguments = _torch_window(window, (0, 0), groups, bias)
            crop = (left, right - extra_w, top, bottom - extra_h)
            constructor = torch_export.call(
                torch_export.helper("CroppedConvTranspose2d"), channels, filters, **arguments, crop=crop
            )
        state = {"weight": op.params["weight"]}
        if bias:
            state["bias"] = op.params["bias"]
        return TorchModule(constructor, state)

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        # ONNX holds the resolved pads and the output padding they leave.
        window, _ = self.window(input_shapes[0])
        return self.with_params(padding=padding_param(window.pads), output_padding=self.output_padding(input_shapes[0]))


@register
class ChannelShuffle(Layer):
    """Interleaves the channels of ``groups`` groups (ShuffleNet), so grouped convolutions mix.

    Channel ``g·(C/groups) + i`` moves to position ``i·groups + g``.
    """

    type_name = "ChannelShuffle"
    category = "Convolution"
    name_stem = "shuffle"
    torch_module = "nn.ChannelShuffle"
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

    def torch_arguments(self, input_shapes: list[Shape]) -> dict[str, Any]:
        return {"groups": self.params["groups"]}

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


@register
class ChannelSlice(Layer):
    """Keeps channels ``[start, stop)`` of a C×H×W map (or features of a vector).

    Two slices of one input split its channels, as ShuffleNetV2's units do
    (``x.chunk(2, dim=1)`` in PyTorch, two ONNX ``Slice`` nodes).
    """

    type_name = "ChannelSlice"
    category = "Convolution"
    name_stem = "slice"
    summary = "Keeps a range of channels: start (inclusive) to stop (exclusive), e.g. one half of a channel split."
    param_specs = (
        IntParam("start", 0, "First channel kept (counting from 0).", minimum=0, maximum=1 << 20),
        IntParam("stop", 1, "One past the last channel kept.", minimum=1, maximum=1 << 20),
    )

    def describe(self) -> str:
        return f"channels {self.params['start']}–{self.params['stop'] - 1}"

    def check_params(self) -> None:
        if self.params["start"] >= self.params["stop"]:
            raise ParamError("stop", f"must be greater than start ({self.params['start']}), got {self.params['stop']}")

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        shape = input_shapes[0]
        if self.params["stop"] > shape[0]:
            raise ShapeError(
                f"ChannelSlice keeps channels up to {self.params['stop']}, but its input has {shape[0]}; "
                f"set stop to at most {shape[0]}"
            )
        return (self.params["stop"] - self.params["start"], *shape[1:])

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ChannelSliceOp(input_shapes[0][0], self.params["start"], self.params["stop"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        helper = torch_export.helper("ChannelSlice")
        return TorchModule(torch_export.call(helper, start=self.params["start"], stop=self.params["stop"]))

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        start, stop = self.params["start"], self.params["stop"]
        if onnx_export.opset < 10:  # starts, ends and axes were attributes
            return onnx_export.node("Slice", inputs, name, starts=[start], ends=[stop], axes=[1])
        bounds = [
            onnx_export.constant(f"{name}.{key}", np.array([value]))
            for key, value in (("starts", start), ("ends", stop), ("axes", 1))
        ]
        return onnx_export.node("Slice", [inputs[0], *bounds], name)


def _nearest_divisors(count: int, parts: int) -> list[int]:
    """The divisors of ``count`` (at least 2) nearest below and above ``parts``."""
    divisors = [d for d in range(2, count + 1) if count % d == 0]
    below = [d for d in divisors if d < parts]
    above = [d for d in divisors if d > parts]
    return [*below[-1:], *above[:1]]


@register
class ChannelSplit(Layer):
    """Splits the channels of a C×H×W map (or the features of a vector) into ``parts`` equal runs.

    Output ``i`` (counting from 0) holds channels ``i·C/parts`` … ``(i + 1)·C/parts − 1``:
    ``x.chunk(parts, dim=1)`` in PyTorch, one ONNX ``Split`` on axis 1. ShuffleNetV2's units
    split their channels in two this way.
    """

    type_name = "ChannelSplit"
    category = "Convolution"
    name_stem = "split"
    summary = "Splits the channels into equal parts, one output per part (e.g. two halves, as in ShuffleNetV2)."
    param_specs = (IntParam("parts", 2, "Number of equal parts, one output each.", minimum=2, maximum=1024),)
    output_count_param = "parts"

    def describe(self) -> str:
        return f"{self.params['parts']} parts"

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        return self.output_shapes(input_shapes)[0]

    def output_shapes(self, input_shapes: Sequence[Shape]) -> list[Shape]:
        shape, parts = input_shapes[0], self.params["parts"]
        count, what = shape[0], "channels" if len(shape) == 3 else "features"
        if count % parts:
            choices = _nearest_divisors(count, parts)
            if not choices:
                raise ShapeError(f"ChannelSplit needs at least 2 {what} to split, but its input has {count}")
            advice = " or ".join(str(d) for d in choices)
            raise ShapeError(
                f"ChannelSplit divides {count} {what} into {parts} parts; {count} is not a multiple of {parts}: "
                f"set parts to {advice}"
            )
        return [(count // parts, *shape[1:])] * parts

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ChannelSplitOp(input_shapes[0][0], self.params["parts"])

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        return TorchModule(torch_export.call(torch_export.helper("ChannelSplit"), parts=self.params["parts"]))

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> list[str]:
        parts = self.params["parts"]
        sizes = [input_shapes[0][0] // parts] * parts
        if onnx_export.opset < 13:  # the sizes became an input in opset 13
            return onnx_export.node_with_outputs("Split", inputs, name, parts, axis=1, split=sizes)
        split = onnx_export.constant(f"{name}.split", np.array(sizes))
        return onnx_export.node_with_outputs("Split", [inputs[0], split], name, parts, axis=1)


# -- ONNX import ----------------------------------------------------------------------------


def _check_weight(weight: np.ndarray, expected: tuple[int, ...]) -> None:
    if tuple(weight.shape) != expected:
        raise UnsupportedNode(f"its weight has shape {list(weight.shape)}, where this input needs {list(expected)}")


def _read_convolution(
    reader: OnnxReader, node: OnnxNode, attrs: Attributes, what: str
) -> tuple[np.ndarray, np.ndarray | None, Shape, list[int], list[int], list[int]]:
    """What ``Conv`` and ``ConvTranspose`` share: constant 4-D weight, optional bias, input shape, window."""
    weight = reader.require_constant(node.input[1], "weight")
    if weight.ndim != 4:
        raise UnsupportedNode(f"only 2-D {what} are supported")
    bias = reader.constant(node.input[2]) if len(node.input) > 2 else None
    shape = reader.spatial_shape(node)
    kernel = read_pair(attrs, "kernel_shape", list(weight.shape[2:]))
    strides, dilations = read_pair(attrs, "strides", [1, 1]), read_pair(attrs, "dilations", [1, 1])
    return weight, bias, shape, kernel, strides, dilations


@onnx_converter("Conv", min_inputs=2)
def _import_conv(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """A 2-D ``Conv`` with constant weights (and bias) → Conv2D; one group per channel → DepthwiseConv2D."""
    weight, bias, shape, kernel, strides, dilations = _read_convolution(reader, node, attrs, "convolutions")
    groups = read_int(attrs, "group", 1)
    params = {
        "kernel_size": kernel,
        "stride": strides,
        "padding": padding(attrs, shape, kernel, strides, dilations),
        "dilation": dilations,
        "bias": bias is not None,
    }
    filters, channels = int(weight.shape[0]), shape[0]
    if groups == channels > 1 and filters % channels == 0:
        layer, params = DepthwiseConv2D, {**params, "depth_multiplier": filters // channels}
    else:
        layer, params = Conv2D, {**params, "filters": filters, "groups": groups}
    if groups >= 1 and channels % groups == 0:  # otherwise the layer says what is wrong
        _check_weight(weight, (filters, channels // groups, *kernel))
    reader.add_layer(node, layer.type_name, params, [node.input[0]], {"weight": weight, "bias": bias})


def _transposed_padding(
    attrs: Attributes, shape: Shape, kernel: list[int], strides: list[int], dilations: list[int], extra: list[int]
) -> str | list[int]:
    """The padding of a ``ConvTranspose`` from ``pads``, or from ``auto_pad`` / ``output_shape``.

    For the latter two ONNX pads ``s·(H − 1) + output_padding + K − H_out`` in all, where
    ``H_out`` is ``output_shape`` or ``H·s`` (SAME), the odd pixel at the end for
    SAME_UPPER and at the start otherwise (as onnxruntime does).
    """
    auto_pad = read_string(attrs, "auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return "valid"
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER"):
        raise UnsupportedNode(f"auto_pad {auto_pad!r} is not an ONNX padding mode")
    if auto_pad == "NOTSET" and "output_shape" not in attrs:
        pads = read_ints(attrs, "pads", [0, 0, 0, 0], minimum=0)
        if len(pads) != 4:
            raise UnsupportedNode("only 2-D spatial operations are supported")
        return padding_param(pads)
    if auto_pad == "NOTSET":
        wanted = read_ints(attrs, "output_shape", minimum=1)[-2:]
    else:
        wanted = [shape[1 + axis] * strides[axis] for axis in range(2)]
    begins, ends = [], []
    for axis in range(2):
        span = dilations[axis] * (kernel[axis] - 1) + 1
        total = strides[axis] * (shape[1 + axis] - 1) + extra[axis] + span - wanted[axis]
        if total < 0:
            raise UnsupportedNode(f"its output size {wanted[axis]} needs negative padding")
        begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        begins.append(begin)
        ends.append(total - begin)
    return padding_param([begins[0], begins[1], ends[0], ends[1]])


@onnx_converter("ConvTranspose", min_inputs=2)
def _import_conv_transpose(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """A 2-D ``ConvTranspose`` with constant weights (and bias) → Conv2DTranspose."""
    weight, bias, shape, kernel, strides, dilations = _read_convolution(reader, node, attrs, "transposed convolutions")
    extra = read_ints(attrs, "output_padding", [0, 0], minimum=0)
    if len(extra) != 2:
        raise UnsupportedNode("only 2-D spatial operations are supported")
    groups = read_int(attrs, "group", 1)
    params = {
        "filters": int(weight.shape[1]) * groups,
        "kernel_size": kernel,
        "stride": strides,
        "padding": _transposed_padding(attrs, shape, kernel, strides, dilations, extra),
        "output_padding": extra,
        "dilation": dilations,
        "groups": groups,
        "bias": bias is not None,
    }
    _check_weight(weight, (shape[0], int(weight.shape[1]), *kernel))
    reader.add_layer(node, Conv2DTranspose.type_name, params, [node.input[0]], {"weight": weight, "bias": bias})


@onnx_pattern("channel shuffle", anchor="Reshape")
def _import_channel_shuffle(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """Reshape to N×g×(C/g)×H×W → Transpose(0, 2, 1, 3, 4) → Reshape to N×C×H×W: a ChannelShuffle of g groups."""
    found = rearrangement(reader, node, attrs, (0, 2, 1, 3, 4))
    if found is None:
        return None
    channels, height, width = found.shape
    if found.split[0] != 1 or found.split[3:] != [height, width] or found.merged != [1, channels, height, width]:
        return None
    reader.add_layer(node, ChannelShuffle.type_name, {"groups": found.split[1]}, [found.source])
    return list(found.nodes)


@onnx_converter("Slice")
def _import_channel_slice(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """A ``Slice`` of the channel (or feature) axis alone, step 1 → ChannelSlice."""
    shape = reader.shape(node.input[0])
    if reader.opset < 10:
        starts, ends, axes, steps = attrs.get("starts"), attrs.get("ends"), attrs.get("axes"), None
    else:
        bound = [
            reader.constant(name) if index < len(node.input) else None for index, name in enumerate(node.input[1:5], 1)
        ]
        if bound[0] is None or bound[1] is None:
            raise UnsupportedNode("its starts and ends must be constant")
        starts, ends, axes, steps = (
            bound[0],
            bound[1],
            bound[2] if len(bound) > 2 else None,
            bound[3] if len(bound) > 3 else None,
        )
    if starts is None or ends is None:
        raise UnsupportedNode("its attributes 'starts' and 'ends' are missing")
    starts, ends = [int(v) for v in np.ravel(starts)], [int(v) for v in np.ravel(ends)]
    axes = list(range(len(starts))) if axes is None else [int(v) for v in np.ravel(axes)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in np.ravel(steps)]
    rank = len(shape) + 1
    if len(axes) != 1 or axes[0] % rank != 1 or steps != [1]:
        raise UnsupportedNode(
            f"only a slice of the channel axis with step 1 maps to a layer (axes {axes}, steps {steps})"
        )
    channels = shape[0]
    # Out-of-range bounds clamp, as in ONNX (PyTorch writes 2**63 − 1 for "to the end").
    start, stop = (min(max(v + channels if v < 0 else v, 0), channels) for v in (starts[0], ends[0]))
    if start >= stop:
        raise UnsupportedNode(f"it keeps no channel ([{starts[0]}, {ends[0]}) of {channels})")
    if (start, stop) == (0, channels):
        reader.alias(node.output[0], node.input[0])
        return
    reader.add_layer(node, ChannelSlice.type_name, {"start": start, "stop": stop}, [node.input[0]])


_AXIS_NAMES = {0: "batch", 1: "channels", 2: "height", 3: "width"}


@dataclass(frozen=True)
class _SplitPart:
    """One output of a ``Split`` node, as a node of its own (for a ChannelSlice named after it)."""

    op_type: str
    name: str
    domain: str
    input: tuple[str, ...]
    output: tuple[str, ...]


def _split_sizes(reader: OnnxReader, node: OnnxNode, attrs: Attributes, count: int) -> list[int]:
    """The size of each output of a ``Split`` of ``count`` channels, from whichever form the opset uses."""
    outputs = len(node.output)
    if reader.opset < 13:
        sizes = read_ints(attrs, "split", [], minimum=0) if "split" in attrs else None
    elif len(node.input) > 1 and node.input[1]:
        sizes = [int(v) for v in np.ravel(reader.require_constant(node.input[1], "split sizes"))]
    else:
        sizes = None
    if sizes is None:
        parts = read_int(attrs, "num_outputs", outputs) if reader.opset >= 18 else outputs
        if parts != outputs or parts < 1:
            raise UnsupportedNode(f"it names {outputs} outputs but splits into {parts} parts")
        width = -(-count // parts)  # ONNX: equal parts, the last one smaller when they do not fit
        sizes = [min(width, count - i * width) for i in range(parts)]
    if len(sizes) != outputs:
        raise UnsupportedNode(f"it gives {len(sizes)} split sizes for {outputs} outputs")
    if sum(sizes) != count or min(sizes) < 1:
        raise UnsupportedNode(f"its split sizes {sizes} do not divide the {count} channels into non-empty parts")
    return sizes


@onnx_converter("Split")
def _import_split(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """A ``Split`` of the channel (or feature) axis: equal parts → ChannelSplit, unequal → one ChannelSlice each."""
    shape = reader.shape(node.input[0])
    rank = len(shape) + 1
    axis = read_int(attrs, "axis", 0)
    if not -rank <= axis < rank:
        raise UnsupportedNode(f"its axis {axis} does not exist in a tensor of {rank} dimensions")
    axis %= rank
    if axis != 1:
        raise UnsupportedNode(
            f"splitting along axis {axis} ({_AXIS_NAMES[axis]}) has no layer; only the channel axis (1) has"
        )
    sizes = _split_sizes(reader, node, attrs, shape[0])
    if len(sizes) == 1:
        reader.alias(node.output[0], node.input[0])
    elif len(set(sizes)) == 1:
        reader.add_layer(node, ChannelSplit.type_name, {"parts": len(sizes)}, [node.input[0]])
    else:
        start = 0
        for index, (output, size) in enumerate(zip(node.output, sizes)):
            part = _SplitPart(node.op_type, f"{node.name}_{index + 1}" if node.name else "", node.domain, (), (output,))
            reader.add_layer(part, ChannelSlice.type_name, {"start": start, "stop": start + size}, [node.input[0]])
            start += size


@onnx_converter("Gather", min_inputs=2)
def _gather_channels(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """A Gather of a computed map's channels (axis 1) by constant indices: a 1×1 Conv2D without bias.

    Output channel ``k`` is input channel ``indices[k]`` times one plus the others times
    zero: that channel exactly (for finite values). A BGR ↔ RGB swap, ``[2, 1, 0]``, is one:
    the first node of an export with a BGR preprocessing baked in. A Gather of constants
    is folded before converters are asked.
    """
    indices = reader.require_constant(node.input[1], "indices")
    shape = reader.shape(node.input[0])
    axis = attrs.get("axis", 0)
    if not is_image(shape) or axis not in (1, -3):
        raise UnsupportedNode(
            f"a Gather on axis {axis} of an N×{format_shape(shape)} tensor has no layer; only a Gather of a "
            "C×H×W map's channels (axis 1) maps to one"
        )
    channels = shape[0]
    if indices.ndim != 1 or indices.size == 0 or indices.dtype.kind not in "iu":
        raise UnsupportedNode(f"its indices must be a non-empty list of channels, got shape {list(indices.shape)}")
    order = indices.astype(np.int64)
    if np.any(order < -channels) or np.any(order >= channels):
        raise UnsupportedNode(f"its indices {order.tolist()[:8]} name channels beyond the {channels} there are")
    order = order % channels
    if np.array_equal(order, np.arange(channels)):
        reader.alias(node.output[0], node.input[0])
        return
    if order.size * channels > MAX_GATHER_WEIGHTS:
        raise UnsupportedNode(
            f"it gathers {order.size:,} of {channels:,} channels; a layer of {order.size * channels:,} weights is "
            f"more than the {MAX_GATHER_WEIGHTS:,} Layerwise makes for it"
        )
    weight = np.zeros((order.size, channels, 1, 1), np.float32)
    weight[np.arange(order.size), order, 0, 0] = 1.0
    params = {"filters": int(order.size), "kernel_size": 1, "padding": "valid", "bias": False}
    reader.add_layer(node, Conv2D.type_name, params, [node.input[0]], {"weight": weight})
