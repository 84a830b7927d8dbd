"""Pooling layers: down-sample H×W, keep the channel count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from core.errors import LayerwiseError, ShapeError
from core.layers.base import Layer, SpatialGeometry, describe_window
from core.layers.onnx_reader import (
    Attributes,
    OnnxNode,
    OnnxReader,
    UnsupportedNode,
    fit_window,
    onnx_channels_last_converter,
    onnx_converter,
    onnx_pattern,
    padding,
    padding_param,
    read_int,
    read_pair,
    reshape_target,
    squeeze_axes,
)
from core.layers.onnx_writer import OnnxExportError, OnnxWriter
from core.layers.resampling import read_pad
from core.layers.torch_writer import TorchModule, TorchWriter
from core.ops.op import Op
from core.ops.sliding import AvgPool2DOp, GlobalAvgPoolOp, GlobalMaxPoolOp, MaxPool2DOp
from core.params import BoolParam, PaddingParam, PairParam
from core.registry import register
from core.shapes import Shape, format_shape
from core.window import Window, resolve_window


def _spans(window: Window) -> tuple[int, int]:
    """Extent of a (dilated) window per axis, ``d·(k − 1) + 1``."""
    return (
        window.dilation[0] * (window.kernel[0] - 1) + 1,
        window.dilation[1] * (window.kernel[1] - 1) + 1,
    )


class _Pool2D(Layer):
    """Shared rules of max and average pooling over ``pool_size`` windows."""

    category = "Pooling"
    param_specs = (
        PairParam("pool_size", (2, 2), "Window height and width.", minimum=1, maximum=1024),
        PairParam("stride", (2, 2), "Step between neighbouring windows.", minimum=1, maximum=1024),
        PaddingParam("padding", "valid", "Padding: 'valid', 'same', p, [ph, pw] or [top, left, bottom, right]."),
        BoolParam("ceil_mode", False, "Round the output size up, keeping a last partial window (Caffe style)."),
    )

    def describe(self) -> str:
        text = describe_window(self.params["pool_size"], self.params["stride"], self.params["padding"])
        if self.dilation != (1, 1):
            text += f", dilation {self.dilation[0]}"
        return text + (", ceil" if self.params["ceil_mode"] else "")

    @property
    def dilation(self) -> tuple[int, int]:
        """Spacing between the taps of a window; 1 unless the type has a ``dilation`` parameter."""
        return (1, 1)

    def window(self, input_shape: Shape) -> Window:
        _, height, width = self.require_image(input_shape)
        window = resolve_window(
            self.type_name,
            (height, width),
            self.params["pool_size"],
            self.params["stride"],
            self.params["padding"],
            self.dilation,
            ceil_mode=self.params["ceil_mode"],
        )
        pads, kernel = window.pads, window.kernel
        if max(pads[0], pads[2]) >= kernel[0] or max(pads[1], pads[3]) >= kernel[1]:
            # A window lying wholly in the padding would pool nothing but zeros (and
            # onnxruntime refuses such pads even where dilation spreads the window wider).
            raise ShapeError(
                f"{self.type_name} padding {list(pads)} must be smaller than its pool size {kernel[0]}×{kernel[1]}"
            )
        return window

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        out_h, out_w = self.window(input_shapes[0]).output_hw
        return (input_shapes[0][0], out_h, out_w)

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        window = self.window(input_shapes[0])
        return SpatialGeometry(window.kernel, window.stride, window.pad_begin, window.dilation)

    def onnx_pads(self, input_shape: Shape) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
        """Explicit pads and the ceil-mode overhang at the bottom/right.

        ONNX's ceil mode keeps a last window that starts in the padding, PyTorch's (and
        ours) drops it; floor mode with the overhang as extra end padding gives our
        exact output size at every opset.
        """
        window = self.window(input_shape)
        top, left, bottom, right = window.pads
        needed = [(out - 1) * s + span for out, s, span in zip(window.output_hw, window.stride, _spans(window))]
        extra = (
            max(needed[0] - (input_shape[1] + top + bottom), 0),
            max(needed[1] - (input_shape[2] + left + right), 0),
        )
        return window.pads, extra

    def torch_pads(self, input_shape: Shape) -> tuple[int, int, int, int]:
        """PyTorch's order of the pads, ``(left, right, top, bottom)``, with the ceil-mode overhang at the end.

        Written in floor mode, as ONNX is (:meth:`onnx_pads`).
        """
        (top, left, bottom, right), (extra_h, extra_w) = self.onnx_pads(input_shape)
        return (left, right + extra_w, top, bottom + extra_h)

    def torch_symmetric_padding(self, input_shape: Shape) -> tuple[int, int] | None:
        """``(pad_h, pad_w)`` when ``nn.*Pool2d``'s own padding expresses :meth:`torch_pads` (alike on both sides, at most half the window)."""
        left, right, top, bottom = self.torch_pads(input_shape)
        kernel = self.params["pool_size"]
        if (left, top) == (right, bottom) and top <= kernel[0] // 2 and left <= kernel[1] // 2:
            return (top, left)
        return None

    def torch_window(self, input_shape: Shape) -> dict[str, Any]:
        """``nn.*Pool2d``'s kernel and stride."""
        window = self.window(input_shape)
        return {"kernel_size": window.kernel, "stride": window.stride}

    def pool_attributes(self, input_shape: Shape, pads: list[int]) -> dict[str, Any]:
        window = self.window(input_shape)
        return {"kernel_shape": list(window.kernel), "strides": list(window.stride), "pads": pads}

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        # ONNX holds resolved pads, and the ceil-mode overhang as extra end padding.
        (top, left, bottom, right), (extra_h, extra_w) = self.onnx_pads(input_shapes[0])
        return self.with_params(padding=padding_param([top, left, bottom + extra_h, right + extra_w]), ceil_mode=False)


@register
class MaxPool2D(_Pool2D):
    """Keeps the largest value of each window: the dominant feature, some shift tolerance."""

    type_name = "MaxPool2D"
    name_stem = "maxpool"
    passes_values_through = True
    pools_by = "largest value"
    summary = "Keeps the strongest response in each window: down-samples and tolerates small shifts."
    param_specs = (
        *_Pool2D.param_specs[:3],
        PairParam("dilation", (1, 1), "Spacing between the values a window compares.", minimum=1, maximum=1024),
        *_Pool2D.param_specs[3:],
    )

    @property
    def dilation(self) -> tuple[int, int]:
        return self.params["dilation"]

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        _, height, width = input_shapes[0]
        return MaxPool2DOp(self.window(input_shapes[0]), (height, width))

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        (top, left, bottom, right), (extra_h, extra_w) = self.onnx_pads(input_shapes[0])
        pads = [top, left, bottom + extra_h, right + extra_w]
        attributes = self.pool_attributes(input_shapes[0], pads)
        if self.dilation != (1, 1):
            if onnx_export.opset < 10:
                raise OnnxExportError(
                    f"dilated max pooling needs opset 10 or later (MaxPool's dilations), not {onnx_export.opset}"
                )
            attributes["dilations"] = list(self.dilation)
        return onnx_export.node("MaxPool", inputs, name, **attributes)

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        arguments = self.torch_window(input_shapes[0])
        if self.dilation != (1, 1):
            arguments["dilation"] = self.dilation
        padding = self.torch_symmetric_padding(input_shapes[0])
        if padding is None:
            helper = torch_export.helper("PaddedMaxPool2d")
            return TorchModule(torch_export.call(helper, **arguments, pads=self.torch_pads(input_shapes[0])))
        if any(padding):
            arguments["padding"] = padding
        return TorchModule(torch_export.call("nn.MaxPool2d", **arguments))


@register
class AvgPool2D(_Pool2D):
    """Averages each window; keeps the background level as well as the peaks."""

    type_name = "AvgPool2D"
    name_stem = "avgpool"
    passes_values_through = True
    pools_by = "average"
    summary = "Averages each window: down-samples smoothly, keeping background as well as peaks."
    param_specs = (
        *_Pool2D.param_specs,
        BoolParam("count_include_pad", False, "Divide by the full window size even where it overlaps the padding."),
    )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        _, height, width = input_shapes[0]
        return AvgPool2DOp(self.window(input_shapes[0]), (height, width), self.params["count_include_pad"])

    def onnx_padding(self, input_shape: Shape) -> tuple[list[int] | None, list[int], bool]:
        """How ONNX pads this pooling: zeros padded before it (or ``None``), its pads, whether they count.

        A ceil-mode overhang never counts in the mean; explicit padding that does cannot
        share one AveragePool with it, so it becomes a Pad before the pooling.
        """
        (top, left, bottom, right), (extra_h, extra_w) = self.onnx_pads(input_shape)
        counted = self.params["count_include_pad"]
        if counted and (extra_h or extra_w):
            if any((top, left, bottom, right)):
                return [top, left, bottom, right], [0, 0, extra_h, extra_w], False
            counted = False  # nothing explicit to count, and the overhang must not be
        return None, [top, left, bottom + extra_h, right + extra_w], counted

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        zeros, pads, counted = self.onnx_padding(input_shapes[0])
        source = inputs[0] if zeros is None else onnx_export.pad(inputs[0], zeros, f"{name}_pad")
        attributes = self.pool_attributes(input_shapes[0], pads)
        return onnx_export.node("AveragePool", [source], name, count_include_pad=int(counted), **attributes)

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        arguments = self.torch_window(input_shapes[0])
        padding = self.torch_symmetric_padding(input_shapes[0])
        counted = self.params["count_include_pad"]
        if counted and any(self.onnx_pads(input_shapes[0])[1]):
            padding = None  # nn.AvgPool2d would count the overhang too
        if padding is None:
            # The ceil-mode overhang never counts in the mean; explicit padding does when count_include_pad.
            top, left, bottom, right = self.window(input_shapes[0]).pads
            helper = torch_export.helper("PaddedAvgPool2d")
            pads = self.torch_pads(input_shapes[0])
            kept = (left, right, top, bottom) if counted else (0, 0, 0, 0)
            return TorchModule(torch_export.call(helper, **arguments, pads=pads, counted=kept))
        if any(padding):
            arguments["padding"] = padding
            arguments["count_include_pad"] = counted
        return TorchModule(torch_export.call("nn.AvgPool2d", **arguments))

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        zeros, pads, counted = self.onnx_padding(input_shapes[0])
        if zeros is not None:  # Pad → AveragePool reads back as this very layer
            return self.with_params(padding=zeros)
        return self.with_params(padding=padding_param(pads), ceil_mode=False, count_include_pad=counted)

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        kh, kw = self.params["pool_size"]
        channels, out_h, out_w = output_shape
        return channels * out_h * out_w * kh * kw


class _GlobalPool2D(Layer):
    """Shared rules of pooling each channel over its whole map: C×H×W → C features (or C×1×1)."""

    category = "Pooling"
    name_stem = "global_pool"
    keeps_class_scores = True
    param_specs = (BoolParam("keepdims", False, "Output C×1×1 instead of C features."),)
    onnx_pool_op: ClassVar[str] = ""
    """The ONNX op that pools the whole map (keeping the 1×1 map)."""
    torch_keepdims_module: ClassVar[str] = ""
    """The ``nn`` module pooling to N×C×1×1, called with 1 (the output size)."""
    torch_helper: ClassVar[str] = ""
    """The helper pooling to N×C (:mod:`core.layers.torch_helpers`)."""

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        if self.params["keepdims"]:
            return TorchModule(torch_export.call(self.torch_keepdims_module, 1))
        return TorchModule(torch_export.call(torch_export.helper(self.torch_helper)))

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        channels, _, _ = self.require_image(input_shapes[0])
        return (channels, 1, 1) if self.params["keepdims"] else (channels,)

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        if self.params["keepdims"]:
            return onnx_export.node(self.onnx_pool_op, inputs, name)
        pooled = onnx_export.node(self.onnx_pool_op, inputs, f"{name}_pool")
        return onnx_export.node("Flatten", [pooled], name, axis=1)

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        _, height, width = input_shapes[0]
        # One unit per channel that sees the whole map.
        return SpatialGeometry(kernel=(height, width))


@register
class GlobalAvgPool2D(_GlobalPool2D):
    """Averages each channel over the whole map: C×H×W → C features (or C×1×1)."""

    type_name = "GlobalAvgPool2D"
    summary = "Averages each channel over the whole map, turning C×H×W into C features."
    onnx_pool_op = "GlobalAveragePool"
    torch_keepdims_module = "nn.AdaptiveAvgPool2d"
    torch_helper = "GlobalAvgPool2d"

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return GlobalAvgPoolOp(self.params["keepdims"])

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        channels, height, width = input_shapes[0]
        return channels * height * width


@register
class GlobalMaxPool2D(_GlobalPool2D):
    """Keeps the largest value of each channel over the whole map: C×H×W → C features (or C×1×1).

    Whether a feature occurs anywhere, not how much of the map shows it.
    """

    type_name = "GlobalMaxPool2D"
    name_stem = "global_max"
    summary = "Keeps each channel's strongest response anywhere in the map, turning C×H×W into C features."
    onnx_pool_op = "GlobalMaxPool"
    torch_keepdims_module = "nn.AdaptiveMaxPool2d"
    torch_helper = "GlobalMaxPool2d"

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return GlobalMaxPoolOp(self.params["keepdims"])


# -- ONNX import ----------------------------------------------------------------------------


def _pool_params(attrs: Attributes, shape: Shape, layer: str, dilated: bool = False) -> dict[str, Any]:
    """``pool_size``, ``stride``, ``padding`` (and ``dilation`` if ``dilated``) of a MaxPool or AveragePool."""
    dilations = read_pair(attrs, "dilations", [1, 1])
    if not dilated and dilations != [1, 1]:
        raise UnsupportedNode(f"{layer} has no dilation (dilations {dilations})")
    kernel = read_pair(attrs, "kernel_shape")
    strides = read_pair(attrs, "strides", [1, 1])
    given = padding(attrs, shape, kernel, strides, dilations)
    window = fit_window(shape, kernel, strides, given if isinstance(given, str) else tuple(given), dilations, layer)
    pads = list(window.pads)
    if read_int(attrs, "ceil_mode", 0):
        # ONNX keeps a last window that starts in the padding; express its output size
        # as floor mode with extra padding at the end.
        for axis, (size, span) in enumerate(zip((shape[1], shape[2]), _spans(window))):
            begin, end = pads[axis], pads[axis + 2]
            out = -(-(size + begin + end - span) // strides[axis]) + 1
            pads[axis + 2] += max((out - 1) * strides[axis] + span - (size + begin + end), 0)
    params: dict[str, Any] = {"pool_size": kernel, "stride": strides, "padding": padding_param(pads)}
    if dilated:
        params["dilation"] = dilations
    return params


@onnx_converter("MaxPool")
def _import_max_pool(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """MaxPool → MaxPool2D (its Indices output unused)."""
    if len(node.output) > 1 and node.output[1] and reader.uses(node.output[1]):
        raise UnsupportedNode("its Indices output is used")
    params = _pool_params(attrs, reader.spatial_shape(node), MaxPool2D.type_name, dilated=True)
    reader.add_layer(node, MaxPool2D.type_name, params, [node.input[0]])


@onnx_converter("AveragePool")
def _import_average_pool(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """AveragePool → AvgPool2D."""
    params = _pool_params(attrs, reader.spatial_shape(node), AvgPool2D.type_name)
    params["count_include_pad"] = bool(read_int(attrs, "count_include_pad", 0))
    reader.add_layer(node, AvgPool2D.type_name, params, [node.input[0]])


_GLOBAL_POOLS: dict[str, type[_GlobalPool2D]] = {cls.onnx_pool_op: cls for cls in (GlobalAvgPool2D, GlobalMaxPool2D)}
"""The global pooling layer of each ONNX op that pools a whole map."""


@onnx_converter("GlobalAveragePool")
@onnx_converter("GlobalMaxPool")
def _import_global_pool(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """GlobalAveragePool → GlobalAvgPool2D, GlobalMaxPool → GlobalMaxPool2D, keeping the 1×1 map."""
    reader.add_layer(node, _GLOBAL_POOLS[node.op_type].type_name, {"keepdims": True}, [node.input[0]])


@onnx_pattern("global pooling + Flatten", anchor="Flatten")
@onnx_pattern("global pooling + Reshape", anchor="Reshape")
@onnx_pattern("global pooling + Squeeze", anchor="Squeeze")
def _import_pooled_features(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """GlobalAveragePool or GlobalMaxPool, then its C×1×1 map made C features: global pooling without keepdims."""
    pool = reader.producer_node(node.input[0])
    if pool is None or pool.op_type not in _GLOBAL_POOLS or reader.uses(node.input[0]) != 1:
        return None
    if not reader.is_computed(node.input[0]):  # the pooling itself was refused
        return None
    channels = reader.shape(node.input[0])[0]
    try:
        if node.op_type == "Flatten":
            flattens = read_int(attrs, "axis", 1) == 1
        elif node.op_type == "Reshape":
            flattens = reshape_target(reader, node, attrs) == [1, channels]
        else:
            flattens = squeeze_axes(reader, node, attrs) in (None, [2, 3])
    except UnsupportedNode:  # the converter of the anchor says what is wrong with it
        return None
    if not flattens:
        return None
    reader.add_layer(node, _GLOBAL_POOLS[pool.op_type].type_name, {"keepdims": False}, [pool.input[0]])
    return [pool]


_REDUCED_POOLS: dict[str, type[_GlobalPool2D]] = {"ReduceMean": GlobalAvgPool2D, "ReduceMax": GlobalMaxPool2D}
"""The global pooling a reduction over H and W computes."""


def _reduced_axes(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[int] | None:
    """The axes (0 to 3) a ReduceMean / ReduceMax of a map reduces, sorted; ``None`` when not known.

    An attribute before opset 18, an input from it.
    """
    if reader.opset >= 18:
        given = reader.constant(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        axes = None if given is None else [int(a) for a in np.asarray(given).reshape(-1)]
    else:
        axes = attrs.get("axes")
    if not isinstance(axes, list) or not all(isinstance(a, int) and -4 <= a < 4 for a in axes):
        return None
    return sorted(a % 4 for a in axes)


def _add_global_pool(reader: OnnxReader, node: OnnxNode, attrs: Attributes, *, reads_views: bool = False) -> None:
    keepdims = attrs.get("keepdims", 1)
    if keepdims not in (0, 1):
        raise UnsupportedNode(f"its attribute 'keepdims' must be 0 or 1, got {keepdims!r}")
    params = {"keepdims": bool(keepdims)}
    reader.add_layer(node, _REDUCED_POOLS[node.op_type].type_name, params, [node.input[0]], reads_views=reads_views)


@onnx_pattern("global average pooling as ReduceMean", anchor="ReduceMean")
@onnx_pattern("global max pooling as ReduceMax", anchor="ReduceMax")
def _import_reduction(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """``ReduceMean`` / ``ReduceMax`` of a C×H×W map over axes 2 and 3 → GlobalAvgPool2D / GlobalMaxPool2D.

    ``keepdims`` (default 1) keeps the C×1×1 map. Any other reduction is not this pattern.
    """
    if not reader.is_computed(node.input[0]) or len(reader.shape(node.input[0])) != 3:
        return None
    if _reduced_axes(reader, node, attrs) != [2, 3] or attrs.get("keepdims", 1) not in (0, 1):
        return None
    _add_global_pool(reader, node, attrs)
    return []


@onnx_converter("ReduceMean")
@onnx_converter("ReduceMax")
def _refuse_reduction(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Any reduction the pattern above does not take: refused, saying what would be a layer."""
    shape = reader.shape(node.input[0])
    axes = _reduced_axes(reader, node, attrs)
    what = "averaging" if node.op_type == "ReduceMean" else "taking the maximum"
    over = f"over axes {axes}" if axes is not None else "over axes that are not constant"
    pool = _REDUCED_POOLS[node.op_type].type_name
    raise UnsupportedNode(
        f"{what} {over} of an N×{format_shape(shape)} tensor has no layer; over H and W (axes 2 and 3) of a "
        f"map it is a {pool}"
    )


@onnx_channels_last_converter("ReduceMean")
@onnx_channels_last_converter("ReduceMax")
def _import_reduction_of_view(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """``ReduceMean`` / ``ReduceMax`` of a channels-last view over its axes 1 and 2 (H, W) → global pooling."""
    axes = _reduced_axes(reader, node, attrs)
    if axes != [1, 2]:
        what = "averaging" if node.op_type == "ReduceMean" else "taking the maximum"
        raise UnsupportedNode(
            f"{what} over axes {axes} of a channels-last (N×H×W×C) view has no layer; over its axes 1 and 2 "
            f"(H and W) it is a {_REDUCED_POOLS[node.op_type].type_name}"
        )
    _add_global_pool(reader, node, attrs, reads_views=True)


def _zero_padding(reader: OnnxReader, pad: OnnxNode) -> list[int] | None:
    """``[top, left, bottom, right]`` of a Pad that adds zeros around H and W only; ``None`` for any other."""
    try:
        sides, mode, value = read_pad(reader, pad, reader.attributes(pad))
    except UnsupportedNode:
        return None
    return sides if mode == "constant" and value == 0 else None


@onnx_pattern("zero padding + AveragePool", anchor="AveragePool")
def _import_padded_average_pool(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """Pad with zeros, then AveragePool: an AvgPool2D whose padding counts in the mean.

    Either the pooling has no padding of its own, or it is what the export writes for
    counted padding in ceil mode: only the overhang, not counted.
    """
    pad = reader.producer_node(node.input[0])
    if pad is None or pad.op_type != "Pad" or reader.uses(node.input[0]) != 1 or not reader.is_computed(pad.input[0]):
        return None
    zeros, shape = _zero_padding(reader, pad), reader.shape(pad.input[0])
    if zeros is None or len(shape) != 3:
        return None
    top, left, bottom, right = zeros
    padded = (shape[0], shape[1] + top + bottom, shape[2] + left + right)
    params = _pool_params(attrs, padded, AvgPool2D.type_name)
    overhang = params["padding"]
    params.update(padding=padding_param(zeros), count_include_pad=True)
    if overhang != "valid":
        params["ceil_mode"] = True
        try:
            written = AvgPool2D(**params).onnx_padding(shape)
        except LayerwiseError:  # not a pooling Layerwise has
            return None
        if read_int(attrs, "count_include_pad", 0) or written != (zeros, overhang, False):
            return None
    reader.add_layer(node, AvgPool2D.type_name, params, [pad.input[0]])
    return [pad]
