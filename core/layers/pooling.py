"""Pooling layers: down-sample H×W, keep the channel count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import ShapeError
from core.layers.base import Layer, SpatialGeometry, describe_window
from core.window import Window, resolve_window
from core.params import BoolParam, PaddingParam, PairParam
from core.shapes import Shape
from core.registry import register
from core.layers.onnx_writer import OnnxWriter
from core.ops.op import Op
from core.ops.sliding import AvgPool2DOp, GlobalAvgPoolOp, MaxPool2DOp



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
        return describe_window(self.params["pool_size"], self.params["stride"], self.params["padding"]) + (
            ", ceil" if self.params["ceil_mode"] else ""
        )

    def window(self, input_shape: Shape) -> Window:
        _, height, width = self.require_image(input_shape)
        window = resolve_window(
            self.type_name,
            (height, width),
            self.params["pool_size"],
            self.params["stride"],
            self.params["padding"],
            ceil_mode=self.params["ceil_mode"],
        )
        pads, kernel = window.pads, window.kernel
        if max(pads[0], pads[2]) >= kernel[0] or max(pads[1], pads[3]) >= kernel[1]:
            # A window lying wholly in the padding would pool nothing but zeros.
            raise ShapeError(
                f"{self.type_name} padding {list(pads)} must be smaller than its pool size "
                f"{kernel[0]}×{kernel[1]}"
            )
        return window

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        out_h, out_w = self.window(input_shapes[0]).output_hw
        return (input_shapes[0][0], out_h, out_w)

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        window = self.window(input_shapes[0])
        return SpatialGeometry(window.kernel, window.stride, window.pad_begin)

    def onnx_pads(self, input_shape: Shape) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
        """Explicit pads and the ceil-mode overhang at the bottom/right.

        ONNX's ceil mode keeps a last window that starts in the padding, PyTorch's (and
        ours) drops it; floor mode with the overhang as extra end padding gives our
        exact output size at every opset.
        """
        window = self.window(input_shape)
        top, left, bottom, right = window.pads
        needed = [(out - 1) * s + k for out, s, k in zip(window.output_hw, window.stride, window.kernel)]
        extra = (max(needed[0] - (input_shape[1] + top + bottom), 0), max(needed[1] - (input_shape[2] + left + right), 0))
        return window.pads, extra

    def pool_attributes(self, input_shape: Shape, pads: list[int]) -> dict[str, Any]:
        window = self.window(input_shape)
        return {"kernel_shape": list(window.kernel), "strides": list(window.stride), "pads": pads}


@register
class MaxPool2D(_Pool2D):
    """Keeps the largest value of each window: the dominant feature, some shift tolerance."""

    type_name = "MaxPool2D"
    name_stem = "maxpool"
    passes_values_through = True
    pools_by = "largest value"
    summary = "Keeps the strongest response in each window: down-samples and tolerates small shifts."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        _, height, width = input_shapes[0]
        return MaxPool2DOp(self.window(input_shapes[0]), (height, width))

    def export_onnx(self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op) -> str:
        (top, left, bottom, right), (extra_h, extra_w) = self.onnx_pads(input_shapes[0])
        pads = [top, left, bottom + extra_h, right + extra_w]
        return onnx_export.node("MaxPool", inputs, name, **self.pool_attributes(input_shapes[0], pads))


@register
class AvgPool2D(_Pool2D):
    """Averages each window; keeps the background level as well as the peaks."""

    type_name = "AvgPool2D"
    name_stem = "avgpool"
    passes_values_through = True
    pools_by = "average"
    summary = "Averages each window: down-samples smoothly, keeping background as well as peaks."
    param_specs = _Pool2D.param_specs + (
        BoolParam(
            "count_include_pad",
            False,
            "Divide by the full window size even where it overlaps the padding.",
        ),
    )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        _, height, width = input_shapes[0]
        return AvgPool2DOp(self.window(input_shapes[0]), (height, width), self.params["count_include_pad"])

    def export_onnx(self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op) -> str:
        (top, left, bottom, right), (extra_h, extra_w) = self.onnx_pads(input_shapes[0])
        source, counted = inputs[0], self.params["count_include_pad"]
        if counted and (extra_h or extra_w) and any((top, left, bottom, right)):
            # The explicit zeros count in the mean, the overhang does not: pad first, then
            # pool without counting padding.
            source = onnx_export.pad(source, [top, left, bottom, right], f"{name}_pad")
            top = left = bottom = right = 0
            counted = False
        pads = [top, left, bottom + extra_h, right + extra_w]
        attributes = self.pool_attributes(input_shapes[0], pads)
        return onnx_export.node("AveragePool", [source], name, count_include_pad=int(counted), **attributes)

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        kh, kw = self.params["pool_size"]
        channels, out_h, out_w = output_shape
        return channels * out_h * out_w * kh * kw


@register
class GlobalAvgPool2D(Layer):
    """Averages each channel over the whole map: C×H×W → C features (or C×1×1)."""

    type_name = "GlobalAvgPool2D"
    name_stem = "global_pool"
    category = "Pooling"
    summary = "Averages each channel over the whole map, turning C×H×W into C features."
    param_specs = (
        BoolParam("keepdims", False, "Output C×1×1 instead of C features."),
    )

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        channels, _, _ = self.require_image(input_shapes[0])
        return (channels, 1, 1) if self.params["keepdims"] else (channels,)

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return GlobalAvgPoolOp(self.params["keepdims"])

    def export_onnx(self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op) -> str:
        if self.params["keepdims"]:
            return onnx_export.node("GlobalAveragePool", inputs, name)
        pooled = onnx_export.node("GlobalAveragePool", inputs, f"{name}_pool")
        return onnx_export.node("Flatten", [pooled], name, axis=1)

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        channels, height, width = input_shapes[0]
        return channels * height * width

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        _, height, width = input_shapes[0]
        # One unit per channel that sees the whole map.
        return SpatialGeometry(kernel=(height, width))
