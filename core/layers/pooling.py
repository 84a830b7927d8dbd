"""Pooling layers: down-sample H×W, keep the channel count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.errors import ShapeError
from core.layers.base import Layer, SpatialGeometry
from core.layers.spatial import Window, resolve_window
from core.params import BoolParam, PaddingParam, PairParam
from core.shapes import Shape
from core.registry import register

if TYPE_CHECKING:
    from core.engine.op import Op


class _Pool2D(Layer):
    """Shared rules of max and average pooling over ``pool_size`` windows."""

    category = "Pooling"
    param_specs = (
        PairParam("pool_size", (2, 2), "Window height and width.", minimum=1, maximum=1024),
        PairParam("stride", (2, 2), "Step between neighbouring windows.", minimum=1, maximum=1024),
        PaddingParam("padding", "valid", "Padding: 'valid', 'same', p, [ph, pw] or [top, left, bottom, right]."),
        BoolParam("ceil_mode", False, "Round the output size up, keeping a last partial window (Caffe style)."),
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


@register
class MaxPool2D(_Pool2D):
    """Keeps the largest value of each window: the dominant feature, some shift tolerance."""

    type_name = "MaxPool2D"
    name_stem = "maxpool"
    summary = "Keeps the strongest response in each window: down-samples and tolerates small shifts."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        from core.engine.conv_ops import MaxPool2DOp

        _, height, width = input_shapes[0]
        return MaxPool2DOp(self.window(input_shapes[0]), (height, width))


@register
class AvgPool2D(_Pool2D):
    """Averages each window; keeps the background level as well as the peaks."""

    type_name = "AvgPool2D"
    name_stem = "avgpool"
    summary = "Averages each window: down-samples smoothly, keeping background as well as peaks."
    param_specs = _Pool2D.param_specs + (
        BoolParam(
            "count_include_pad",
            False,
            "Divide by the full window size even where it overlaps the padding.",
        ),
    )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        from core.engine.conv_ops import AvgPool2DOp

        _, height, width = input_shapes[0]
        return AvgPool2DOp(self.window(input_shapes[0]), (height, width), self.params["count_include_pad"])

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
        from core.engine.conv_ops import GlobalAvgPoolOp

        return GlobalAvgPoolOp(self.params["keepdims"])

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        channels, height, width = input_shapes[0]
        return channels * height * width

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        _, height, width = input_shapes[0]
        # One unit per channel that sees the whole map.
        return SpatialGeometry(kernel=(height, width))
