"""Resampling layers: change the H×W grid without learning anything (up-sampling, pixel shuffle, padding)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import ParamError, ShapeError
from core.layers.base import Layer, SpatialGeometry
from core.layers.onnx_reader import (
    Attributes,
    OnnxNode,
    OnnxReader,
    UnsupportedNode,
    onnx_converter,
    onnx_pattern,
    read_float,
    read_int,
    read_ints,
    read_string,
    rearrangement,
    shortest_float,
)
from core.layers.onnx_writer import OnnxExportError, OnnxWriter
from core.layers.torch_writer import TorchModule, TorchWriter
from core.ops.op import Op
from core.ops.resampling import PadOp, PixelShuffleOp, UpsampleOp, bilinear_taps, nearest_taps
from core.params import ChoiceParam, FloatParam, IntParam, PaddingParam, PairParam
from core.registry import register
from core.shapes import Shape
from core.window import AXES


def _axis_geometry(mode: str, size_in: int, size_out: int) -> tuple[int, int, int, int]:
    """``(kernel, stride, pad_begin, upsample)`` of one axis, in :class:`SpatialGeometry`'s terms.

    Nearest: output ``u`` reads ``⌊u·n / n_out⌋``, the one multiple of ``b`` in
    ``[u·s − (b − 1), u·s]`` with ``s / b = n / n_out`` in lowest terms. Bilinear: output
    ``u`` reads ``⌊x⌋`` and ``⌊x⌋ + 1`` for ``x = (u·2n + n − n_out) / (2·n_out)`` (before
    the clamp at the edges, which reads into the padding), the two multiples of ``b`` in a
    window of ``2b`` ending at ``u·s + c`` with ``(s, b, c) = (2n, 2·n_out, n − n_out)``
    divided by their common factor. By a whole factor ``f`` the same two rows are the
    multiples of ``f`` among ``2f`` taps at stride 1 starting ``2f − 1 − ⌈f / 2⌉`` before ``u``.
    """
    if mode == "nearest":
        common = math.gcd(size_in, size_out)
        stride, up = size_in // common, size_out // common
        return up, stride, up - 1, up
    if size_out % size_in == 0:
        factor = size_out // size_in
        return 2 * factor, 1, 2 * factor - 1 - (factor + 1) // 2, factor
    stride, up, offset = 2 * size_in, 2 * size_out, size_in - size_out
    common = math.gcd(stride, up, abs(offset))
    stride, up, offset = stride // common, up // common, offset // common
    return 2 * up, stride, up - 1 - offset, up


@register
class Upsample2D(Layer):
    """Enlarges each map by interpolation: nearest neighbour or bilinear.

    ``scale = (fh, fw)`` multiplies the height and width; a non-zero ``size`` sets them
    instead. Per axis of ``n`` input and ``n_out`` output rows:

    - nearest: output row ``u`` copies input row ``⌊u·n / n_out⌋`` (PyTorch's ``nearest``,
      ONNX Resize ``asymmetric`` with ``floor``);
    - bilinear: output row ``u`` sits at ``x = max((u + ½)·n / n_out − ½, 0)`` and mixes rows
      ``⌊x⌋`` and ``⌊x⌋ + 1`` (the last row repeats past the end) with weights
      ``1 − (x − ⌊x⌋)`` and ``x − ⌊x⌋``: pixel centres stay put, as PyTorch's
      ``interpolate(..., align_corners=False)`` and ONNX Resize ``half_pixel``.
    """

    type_name = "Upsample2D"
    name_stem = "upsample"
    category = "Resampling"
    passes_values_through = True
    summary = "Enlarges each map by a whole factor or to a given size, by nearest-neighbour or bilinear interpolation."
    param_specs = (
        ChoiceParam(
            "mode",
            "nearest",
            "'nearest' repeats each pixel; 'bilinear' blends the four nearest, pixel centres aligned.",
            choices=("nearest", "bilinear"),
        ),
        PairParam("scale", (2, 2), "Whole factors by which the height and width grow.", minimum=1, maximum=64),
        PairParam(
            "size", (0, 0), "Output height and width, at least the input's; 0 uses scale.", minimum=0, maximum=16384
        ),
    )

    def describe(self) -> str:
        if self.params["size"] != (0, 0):
            return f"{self.params['mode']} to {self.params['size'][0]}×{self.params['size'][1]}"
        height, width = self.params["scale"]
        return f"{self.params['mode']} ×{height}" + ("" if height == width else f"×{width}")

    def check_params(self) -> None:
        if 0 in self.params["size"] and self.params["size"] != (0, 0):
            raise ParamError(
                "size", f"must give both height and width, or 0 to use scale, got {list(self.params['size'])}"
            )

    def output_hw(self, input_shape: Shape) -> tuple[int, int]:
        """The output ``(H_out, W_out)``; :class:`ShapeError` when ``size`` would shrink the map."""
        _, height, width = self.require_image(input_shape)
        if self.params["size"] == (0, 0):
            return (height * self.params["scale"][0], width * self.params["scale"][1])
        for axis, (given, wanted) in enumerate(zip((height, width), self.params["size"])):
            if wanted < given:
                raise ShapeError(
                    f"Upsample2D size {wanted} along the {AXES[axis]} is smaller than its input's {given}; "
                    "it only enlarges (shrink with pooling or a strided convolution)"
                )
        return self.params["size"]

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        return (input_shapes[0][0], *self.output_hw(input_shapes[0]))

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        # Bilinear weighs four input values per output value; nearest only copies.
        channels, height, width = output_shape
        return 4 * channels * height * width if self.params["mode"] == "bilinear" else 0

    def whole_factors(self, input_shape: Shape) -> tuple[int, int] | None:
        """``(fh, fw)`` when each output size is a whole multiple of the input's, else ``None``."""
        (_, height, width), (out_h, out_w) = input_shape, self.output_hw(input_shape)
        return (out_h // height, out_w // width) if out_h % height == 0 and out_w % width == 0 else None

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        (_, height, width), (out_h, out_w) = input_shapes[0], self.output_hw(input_shapes[0])
        taps = nearest_taps if self.params["mode"] == "nearest" else bilinear_taps
        repeats = self.whole_factors(input_shapes[0]) if self.params["mode"] == "nearest" else None
        return UpsampleOp(taps(height, out_h), taps(width, out_w), repeats)

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        # PyTorch's 'nearest' copies row ⌊u·n / n_out⌋; its 'bilinear' without align_corners keeps pixel centres.
        size = self.output_hw(input_shapes[0])
        if self.params["mode"] == "nearest":
            return TorchModule(torch_export.call("nn.Upsample", size=size, mode="nearest"))
        return TorchModule(torch_export.call("nn.Upsample", size=size, mode="bilinear", align_corners=False))

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        (_, height, width), (out_h, out_w) = input_shapes[0], self.output_hw(input_shapes[0])
        rows = _axis_geometry(self.params["mode"], height, out_h)
        columns = _axis_geometry(self.params["mode"], width, out_w)
        kernel, stride, pad_begin, upsample = ((r, c) for r, c in zip(rows, columns))
        return SpatialGeometry(kernel=kernel, stride=stride, pad_begin=pad_begin, upsample=upsample)

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        bilinear = self.params["mode"] == "bilinear"
        factors = self.whole_factors(input_shapes[0])
        opset = onnx_export.opset
        if opset < 11 and (bilinear or factors is None):
            what = "bilinear up-sampling (half-pixel)" if bilinear else "up-sampling by a factor that is not whole"
            raise OnnxExportError(f"{what} needs opset 11 or later (Resize), not {opset}")
        scales = None if factors is None else np.array([1.0, 1.0, *factors], dtype=np.float32)
        if opset < 11:
            if opset >= 10:
                return onnx_export.node(
                    "Resize", [inputs[0], onnx_export.constant(f"{name}.scales", scales)], name, mode="nearest"
                )
            if opset >= 9:
                return onnx_export.node(
                    "Upsample", [inputs[0], onnx_export.constant(f"{name}.scales", scales)], name, mode="nearest"
                )
            return onnx_export.node("Upsample", inputs, name, mode="nearest", scales=[float(s) for s in scales])
        attributes = (
            {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
            if bilinear
            else {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
        )
        empty = onnx_export.constant(f"{name}.roi", np.zeros(0, dtype=np.float32))
        if self.params["size"] == (0, 0):
            return onnx_export.node(
                "Resize", [inputs[0], empty, onnx_export.constant(f"{name}.scales", scales)], name, **attributes
            )
        # As torch writes it: the batch and channels of the input, then the size.
        shape = onnx_export.node("Shape", [inputs[0]], f"{name}_shape")
        bounds = [onnx_export.constant(f"{name}.{key}", np.array([value])) for key, value in (("start", 0), ("end", 2))]
        leading = onnx_export.node("Slice", [shape, *bounds], f"{name}_leading")
        sizes = onnx_export.node(
            "Concat",
            [leading, onnx_export.constant(f"{name}.size", np.array(self.params["size"]))],
            f"{name}_sizes",
            axis=0,
        )
        no_scales = "" if opset >= 13 else onnx_export.constant(f"{name}.scales", np.zeros(0, dtype=np.float32))
        return onnx_export.node("Resize", [inputs[0], empty, no_scales, sizes], name, **attributes)

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        # Before opset 11 a size reaches ONNX as its whole scale factors.
        factors = self.whole_factors(input_shapes[0])
        if opset < 11 and self.params["size"] != (0, 0) and factors is not None:
            return self.with_params(size=(0, 0), scale=factors)
        return self


@register
class PixelShuffle(Layer):
    """Depth to space (Shi et al. 2016): ``C·r²`` maps of ``H×W`` become ``C`` maps of ``rH×rW``.

    Input channel ``c·r² + i·r + j`` fills the pixels ``(h·r + i, w·r + j)`` of output channel
    ``c``, as PyTorch's ``nn.PixelShuffle`` orders them (ONNX ``DepthToSpace`` in ``CRD``
    mode). Output pixel ``(y, x)`` reads input pixel ``(⌊y/r⌋, ⌊x/r⌋)`` (of some channel), so
    for receptive fields it is an up-sampling by ``r``. ONNX: ``DepthToSpace`` (CRD) from
    opset 11; before, ``Reshape`` → ``Transpose`` → ``Reshape``, as ``torch.onnx.export`` writes it.
    """

    type_name = "PixelShuffle"
    torch_module = "nn.PixelShuffle"
    name_stem = "pixel_shuffle"
    category = "Resampling"
    passes_values_through = True
    summary = "Rearranges C·r² channels into C channels r times taller and wider (sub-pixel up-sampling)."
    param_specs = (
        IntParam(
            "upscale_factor",
            2,
            "r: the height and width grow r-fold; the channels shrink r²-fold.",
            minimum=1,
            maximum=32,
        ),
    )

    def describe(self) -> str:
        return f"×{self.params['upscale_factor']}"

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        channels, height, width = self.require_image(input_shapes[0])
        factor = self.params["upscale_factor"]
        block = factor * factor
        if channels % block:
            nearest = -(-channels // block) * block
            raise ShapeError(
                f"PixelShuffle with factor {factor} needs channels divisible by {block}; the input has {channels}: "
                f"give it a multiple of {block} (such as {nearest}), or change the factor"
            )
        return (channels // block, height * factor, width * factor)

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        # Output row u reads input row ⌊u/r⌋: the one multiple of r in [u − (r − 1), u], as nearest ×r.
        factor = self.params["upscale_factor"]
        return SpatialGeometry(kernel=(factor, factor), pad_begin=(factor - 1, factor - 1), upsample=(factor, factor))

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return PixelShuffleOp(self.params["upscale_factor"])

    def torch_arguments(self, input_shapes: list[Shape]) -> dict[str, Any]:
        return {"upscale_factor": self.params["upscale_factor"]}

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        factor = self.params["upscale_factor"]
        if onnx_export.opset >= 11:  # the CRD mode came with opset 11
            return onnx_export.node("DepthToSpace", inputs, name, blocksize=factor, mode="CRD")
        channels, height, width = input_shapes[0]
        kept = channels // (factor * factor)
        split = onnx_export.constant(f"{name}.split_shape", np.array([0, kept, factor, factor, height, width]))
        merged = onnx_export.constant(f"{name}.merged_shape", np.array([0, kept, height * factor, width * factor]))
        blocks = onnx_export.node("Reshape", [inputs[0], split], f"{name}_split")
        moved = onnx_export.node("Transpose", [blocks], f"{name}_move", perm=list(_SHUFFLE_PERM))
        return onnx_export.node("Reshape", [moved, merged], name)


_SHUFFLE_PERM = (0, 1, 4, 2, 5, 3)
"""N×C×r×r×H×W → N×C×H×r×W×r: the Transpose of a pixel shuffle written out (and of DepthToSpace CRD)."""


@register
class Pad2D(Layer):
    """Adds rows and columns around each map: a constant, the mirror image of the border, or the edge.

    ``pads = (top, left, bottom, right)``. ``reflect`` mirrors about the edge pixel without
    repeating it (``c b | a b c``), ``replicate`` repeats the edge pixel (``a a | a b c``):
    PyTorch's ``F.pad`` modes, ONNX Pad's ``reflect`` and ``edge``.
    """

    type_name = "Pad2D"
    name_stem = "pad"
    category = "Resampling"
    passes_values_through = True
    summary = "Adds rows and columns around each map: a constant, a mirror image of the border, or copies of the edge."
    param_specs = (
        PaddingParam(
            "pads", (1, 1, 1, 1), "Rows and columns added: p, [ph, pw] or [top, left, bottom, right].", modes=()
        ),
        ChoiceParam(
            "mode",
            "constant",
            "What the new pixels hold: 'constant' (value), 'reflect' (the mirror image, edge not repeated) "
            "or 'replicate' (copies of the edge).",
            choices=("constant", "reflect", "replicate"),
        ),
        FloatParam("value", 0.0, "The value of 'constant' padding."),
    )

    def describe(self) -> str:
        top, left, bottom, right = self.params["pads"]
        amount = str(top) if top == left == bottom == right else f"{[top, left, bottom, right]}"
        mode = self.params["mode"]
        return f"{amount}, {mode}" + (
            f" {self.params['value']:g}" if mode == "constant" and self.params["value"] else ""
        )

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        channels, height, width = self.require_image(input_shapes[0])
        top, left, bottom, right = self.params["pads"]
        if self.params["mode"] == "reflect":
            for axis, size in enumerate((height, width)):
                widest = max(self.params["pads"][axis], self.params["pads"][axis + 2])
                if widest >= size:
                    raise ShapeError(
                        f"Pad2D reflect padding {widest} along the {AXES[axis]} needs more than {widest} input "
                        f"{'rows' if axis == 0 else 'columns'} (has {size}); pad less or use 'replicate'"
                    )
        return (channels, height + top + bottom, width + left + right)

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> SpatialGeometry:
        top, left, _, _ = self.params["pads"]
        return SpatialGeometry(pad_begin=(top, left))

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        _, height, width = input_shapes[0]
        return PadOp(self.params["pads"], self.params["mode"], self.params["value"], (height, width))

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        top, left, bottom, right = self.params["pads"]
        pads = (left, right, top, bottom)  # PyTorch's order
        if self.params["mode"] == "constant":
            return TorchModule(torch_export.call("nn.ConstantPad2d", pads, self.params["value"]))
        module = "nn.ReflectionPad2d" if self.params["mode"] == "reflect" else "nn.ReplicationPad2d"
        return TorchModule(torch_export.call(module, pads))

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        top, left, bottom, right = self.params["pads"]
        full = [0, 0, top, left, 0, 0, bottom, right]
        mode = _ONNX_MODES[self.params["mode"]]
        constant = mode == "constant" and self.params["value"] != 0
        if onnx_export.opset < 11:  # pads and value were attributes
            value = {"value": self.params["value"]} if constant else {}
            return onnx_export.node("Pad", inputs, name, pads=full, mode=mode, **value)
        tensors = [inputs[0], onnx_export.constant(f"{name}.pads", np.array(full))]
        if constant:
            tensors.append(onnx_export.constant(f"{name}.value", np.array(self.params["value"])))
        return onnx_export.node("Pad", tensors, name, mode=mode)


_ONNX_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}
"""ONNX Pad's name of each Pad2D mode."""


# -- ONNX import ----------------------------------------------------------------------------


def read_pad(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> tuple[list[int], str, float]:
    """``[top, left, bottom, right]``, the Pad2D mode and the constant of a ``Pad`` of H and W.

    Pads, value and (from opset 18) axes are attributes before opset 11 and inputs from it.

    Raises
    ------
    UnsupportedNode
        For another mode, negative pads (cropping), pads of the batch or channel axes, or
        pads and values that are not constant.
    """
    modes = {onnx: ours for ours, onnx in _ONNX_MODES.items()}
    mode = read_string(attrs, "mode", "constant")
    if mode not in modes:
        raise UnsupportedNode(f"its mode {mode!r} is not one of {', '.join(modes)}")
    axes: list[int] = [0, 1, 2, 3]
    if reader.opset < 11:
        pads = read_ints(attrs, "pads")
        value = read_float(attrs, "value", 0.0)
    else:
        if len(node.input) < 2 or not node.input[1]:
            raise UnsupportedNode("its pads are missing")
        given_pads = reader.require_constant(node.input[1], "pads")
        if given_pads.dtype.kind not in "iu":
            raise UnsupportedNode(f"its pads must be integers, got {given_pads.dtype}")
        pads = [int(p) for p in given_pads.reshape(-1)]
        value = 0.0
        if len(node.input) > 2 and node.input[2]:
            given = reader.require_constant(node.input[2], "constant value").reshape(-1)
            if given.size != 1 or not np.isfinite(given[0]):
                raise UnsupportedNode("its constant value must be one finite number")
            value = shortest_float(float(given[0]))
        if len(node.input) > 3 and node.input[3]:
            axes = [int(a) % 4 for a in reader.require_constant(node.input[3], "axes").reshape(-1)]
    if len(pads) != 2 * len(axes):
        raise UnsupportedNode(f"its {len(pads)} pads do not fit a 4-D tensor's axes {axes}")
    begin = dict(zip(axes, pads[: len(axes)]))
    end = dict(zip(axes, pads[len(axes) :]))
    if any(begin.get(axis, 0) or end.get(axis, 0) for axis in (0, 1)):
        raise UnsupportedNode("it pads the batch or channel axis; only height and width can be padded")
    sides = [begin.get(2, 0), begin.get(3, 0), end.get(2, 0), end.get(3, 0)]
    if any(side < 0 for side in sides):
        raise UnsupportedNode(f"its pads {sides} crop (negative pads are not supported)")
    return sides, modes[mode], value


@onnx_converter("Pad")
def _import_pad(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Pad of H and W → Pad2D."""
    sides, mode, value = read_pad(reader, node, attrs)
    params = {"pads": sides, "mode": mode, "value": value if mode == "constant" else 0.0}
    reader.add_layer(node, Pad2D.type_name, params, [node.input[0]])


def _factors(values: np.ndarray, what: str) -> list[int]:
    """Whole up-sampling factors ``[fh, fw]`` from Resize/Upsample scales ``[1, 1, fh, fw]``."""
    scales = np.asarray(values, dtype=np.float64).reshape(-1)
    if scales.size != 4 or scales[0] != 1 or scales[1] != 1:
        raise UnsupportedNode(f"its {what} {scales.tolist()} must be [1, 1, fh, fw]: only H and W can be resized")
    if any(s < 1 or s != round(s) for s in scales[2:]):
        raise UnsupportedNode(f"its {what} {scales.tolist()} must be whole factors ≥ 1 (give sizes instead)")
    return [int(s) for s in scales[2:]]


def _resize_mode(attrs: Attributes, asymmetric: bool, whole: bool) -> str:
    """The Upsample2D mode a Resize or Upsample node computes; :class:`UnsupportedNode` for others.

    ``asymmetric``: an Upsample, or a Resize before opset 11, whose coordinates are
    asymmetric and whose nearest mode rounds down.
    """
    mode = read_string(attrs, "mode", "nearest")
    if asymmetric:
        if mode != "nearest":
            raise UnsupportedNode(f"mode {mode!r} before opset 11 uses asymmetric coordinates, not half-pixel ones")
        return "nearest"
    transform = read_string(attrs, "coordinate_transformation_mode", "half_pixel")
    centred = transform in ("half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn")
    if mode == "linear" and centred and transform != "tf_half_pixel_for_nn":
        return "bilinear"
    if mode == "nearest":
        rounding = read_string(attrs, "nearest_mode", "round_prefer_floor")
        # By whole factors, rounding a centred coordinate gives the same row as flooring an asymmetric one.
        if (transform, rounding) == ("asymmetric", "floor") or (
            whole and centred and rounding in ("round_prefer_floor", "round_prefer_ceil")
        ):
            return "nearest"
        raise UnsupportedNode(
            f"nearest with {transform!r} coordinates and {rounding!r} rounding is not supported "
            "(asymmetric with floor, as PyTorch writes it)"
        )
    raise UnsupportedNode(f"mode {mode!r} with {transform!r} coordinates is not supported")


@onnx_converter("Resize")
@onnx_converter("Upsample")
def _import_resize(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Resize (scales or sizes) or Upsample of H and W → Upsample2D.

    Reads what torch.onnx.export writes: an empty roi, scales as a constant, or sizes
    (folded from the input's shape). Only enlarging, nearest or half-pixel bilinear.
    """
    channels, height, width = reader.spatial_shape(node)
    asymmetric = node.op_type == "Upsample" or reader.opset < 11
    if node.op_type == "Upsample" and reader.opset < 9:  # scales were an attribute
        given = attrs.get("scales")
        if not isinstance(given, list) or not all(isinstance(s, (int, float)) for s in given):
            raise UnsupportedNode(f"its attribute 'scales' must be a list of numbers, got {given!r}"[:120])
        scales = np.array(given, dtype=np.float64)
    elif asymmetric:
        scales = reader.require_constant(node.input[1], "scales") if len(node.input) > 1 else np.zeros(0)
    else:
        scales = reader.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    sizes = (
        reader.constant(node.input[3]) if node.op_type == "Resize" and len(node.input) > 3 and node.input[3] else None
    )
    if read_string(attrs, "keep_aspect_ratio_policy", "stretch") != "stretch":
        raise UnsupportedNode("only keep_aspect_ratio_policy 'stretch' is supported")
    axes = [int(a) % 4 for a in read_ints(attrs, "axes", [0, 1, 2, 3])]
    if axes not in ([0, 1, 2, 3], [2, 3]):
        raise UnsupportedNode(f"its axes {axes} must be [2, 3] or all four")
    leading = [1, 1] if axes == [2, 3] else []  # batch and channels, kept
    if scales is not None and np.asarray(scales).size:
        factors = _factors(np.r_[leading, np.asarray(scales).reshape(-1)], "scales")
        params = {"scale": factors}
        whole = True
    elif sizes is not None and np.asarray(sizes).size:
        wanted = [int(s) for s in np.r_[[1, channels] if leading else [], np.asarray(sizes).reshape(-1)]]
        if len(wanted) != 4 or wanted[1] != channels or wanted[0] != 1:
            raise UnsupportedNode(f"its sizes {wanted} must keep the batch and the {channels} channels")
        params = {"size": wanted[2:]}
        whole = wanted[2] % height == 0 and wanted[3] % width == 0
    else:
        raise UnsupportedNode("it needs constant scales or sizes")
    params["mode"] = _resize_mode(attrs, asymmetric, whole)
    reader.add_layer(node, Upsample2D.type_name, params, [node.input[0]])


@onnx_converter("DepthToSpace")
def _import_depth_to_space(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """DepthToSpace in CRD mode (PyTorch's order) → PixelShuffle; DCR (the default) only where it is the same.

    DCR reads the channels as ``(i·r + j)·C + c``, TensorFlow's order; it matches CRD's
    ``c·r² + i·r + j`` when one channel comes out (or ``r`` is 1).
    """
    channels, _, _ = reader.spatial_shape(node)
    factor = read_int(attrs, "blocksize")
    if factor < 1:
        raise UnsupportedNode(f"its blocksize must be at least 1, got {factor}")
    mode = read_string(attrs, "mode", "DCR") if reader.opset >= 11 else "DCR"
    if mode not in ("CRD", "DCR"):
        raise UnsupportedNode(f"its mode {mode!r} is not CRD or DCR")
    if mode == "DCR" and channels != factor * factor and factor != 1:
        raise UnsupportedNode(
            f"mode DCR (depth, column, row: TensorFlow's channel order) with blocksize {factor} on {channels} channels "
            "has no layer; PixelShuffle orders the channels as CRD (PyTorch's)"
        )
    reader.add_layer(node, PixelShuffle.type_name, {"upscale_factor": factor}, [node.input[0]])


@onnx_pattern("pixel shuffle", anchor="Reshape")
def _import_pixel_shuffle(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """Reshape to N×C×r×r×H×W → Transpose(0, 1, 4, 2, 5, 3) → Reshape to N×C×rH×rW: a PixelShuffle by r.

    What ``torch.onnx.export`` writes for ``nn.PixelShuffle`` before opset 11, and the export.
    """
    found = rearrangement(reader, node, attrs, _SHUFFLE_PERM)
    if found is None:
        return None
    _, height, width = found.shape
    _, kept, rows, columns, *spatial = found.split
    if found.split[0] != 1 or spatial != [height, width] or found.merged != [1, kept, height * rows, width * columns]:
        return None
    if rows != columns:
        raise UnsupportedNode(
            f"a pixel shuffle by {rows} rows and {columns} columns has no layer; PixelShuffle uses one factor for both"
        )
    reader.add_layer(node, PixelShuffle.type_name, {"upscale_factor": rows}, [found.source])
    return list(found.nodes)
