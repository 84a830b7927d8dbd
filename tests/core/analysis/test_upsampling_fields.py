"""Receptive fields through up-sampling (Conv2DTranspose, Upsample2D, PixelShuffle), padding and depthwise layers.

Every unit's field is checked against brute force: its taps followed back layer by layer,
from each layer's own definition (not its :class:`SpatialGeometry`), padding positions
included, as the theoretical field counts them. And what the computation really reads,
the input pixels with a non-zero gradient, lies inside the clipped rectangle.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from core.analysis.introspection import unit_input_gradients
from core.analysis.receptive_field import receptive_fields
from core.analysis.report import receptive_field_cells
from core.analysis.unit_field import UnitFieldError, field_overhang, receptive_field_by_depth, unit_input_region
from core.engine.model import Model
from core.errors import LayerwiseError
from core.examples import example_names, example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from core.graph.validation import check_graph
from tests.core.helpers import network


def direct_taps(layer, input_shape, unit: int, axis: int) -> list[int]:
    """Input indices output ``unit`` of ``layer`` reads along ``axis`` (0: rows, 1: columns), by its definition."""
    type_name, params = layer.type_name, layer.params
    if type_name in ("Conv2D", "DepthwiseConv2D", "MaxPool2D", "AvgPool2D"):
        window = layer.window(input_shape)
        kernel, stride, dilation = window.kernel[axis], window.stride[axis], window.dilation[axis]
        return [unit * stride - window.pads[axis] + j * dilation for j in range(kernel)]
    if type_name == "Conv2DTranspose":  # input i adds its kernel at i·s − p_begin + j·d
        window, _ = layer.window(input_shape)
        kernel, stride, dilation = window.kernel[axis], window.stride[axis], window.dilation[axis]
        shifted = [unit + window.pads[axis] - j * dilation for j in range(kernel)]
        return [position // stride for position in shifted if position % stride == 0]
    if type_name == "Upsample2D":
        size_in, size_out = input_shape[1 + axis], layer.output_shape([input_shape])[1 + axis]
        if params["mode"] == "nearest":
            return [unit * size_in // size_out]
        x = Fraction(2 * unit + 1, 2) * size_in / size_out - Fraction(1, 2)  # before the clamp at the edges
        return [x.__floor__(), x.__floor__() + 1]
    if type_name == "PixelShuffle":  # output pixel (y, x) comes from input pixel (y // r, x // r)
        return [unit // params["upscale_factor"]]
    if type_name == "Pad2D":
        return [unit - params["pads"][axis]]
    if type_name in ("GlobalAvgPool2D", "GlobalMaxPool2D"):
        return list(range(input_shape[1 + axis]))
    return [unit]  # activations, merges: the same position


def seen_by_taps(document, check, node, unit: int, axis: int, cache: dict) -> set[int]:
    """Input indices reached from ``unit`` of ``node`` by following every tap back, padding included."""
    key = (node.id, unit, axis)
    if key not in cache:
        sources = document.inputs_of(node.id)
        if not sources:
            cache[key] = {unit}
        else:
            shape = check.shapes[sources[0].id]
            seen: set[int] = set()
            for tap in direct_taps(node.layer, shape, unit, axis):
                for source in sources:
                    seen |= seen_by_taps(document, check, source, tap, axis, cache)
            cache[key] = seen
    return cache[key]


def assert_fields_equal_brute_force(document, node) -> int:
    """Every unit's field span (both analyses) against the taps followed back; returns units checked."""
    check = check_graph(document)
    assert check.ok, check.problems
    field = receptive_fields(document, check)[node.id]
    shape = check.shapes[node.id]
    height, width = (shape[1], shape[2]) if len(shape) == 3 else (1, 1)
    cache: dict = {}
    expected = {}
    for axis, size in enumerate((height, width)):
        for unit in range(size):
            seen = seen_by_taps(document, check, node, unit, axis, cache)
            expected[axis, unit] = (min(seen), max(seen)) if seen else None
            assert (field.height, field.width)[axis].span(unit) == expected[axis, unit], (axis, unit)
    for row in range(height):
        for col in range(width):
            rows, cols = expected[0, row], expected[1, col]
            if rows is None or cols is None:
                with pytest.raises(UnitFieldError, match="sees no input pixel"):
                    unit_input_region(document, node.id, row, col)
                continue
            region = unit_input_region(document, node.id, row, col)
            assert (region.top, region.bottom, region.left, region.right) == (*rows, *cols)
    return height * width


def assert_real_reads_lie_in_the_clipped_region(document, node, seed=0) -> None:
    model = Model(document, dtype=np.float64, seed=seed)
    model.params[...] = np.random.default_rng(seed).standard_normal(model.params.size)
    x = np.random.default_rng(seed + 1).standard_normal(model.input_shape)
    shape = model.shapes[node.id]
    height, width = (shape[1], shape[2]) if len(shape) == 3 else (1, 1)
    units = [(0, row, col) for row in range(height) for col in range(width)]
    gradients = unit_input_gradients(model, x, node.id, units)
    for (_, row, col), gradient in zip(units, gradients):
        rows, cols = np.nonzero(np.abs(gradient).sum(axis=0))
        if len(rows) == 0:
            continue
        region = unit_input_region(document, node.id, row, col)
        top, left, bottom, right = region.clipped
        assert top <= rows.min() and rows.max() <= bottom and left <= cols.min() and cols.max() <= right


# -- random chains ------------------------------------------------------------------------------


def random_layer(rng: random.Random, side: int):
    kind = rng.choice(["conv", "pool", "transposed", "nearest", "bilinear", "sized", "pad", "depthwise"])
    kernel = [rng.randint(1, 4), rng.randint(1, 4)]
    stride = [rng.randint(1, 3), rng.randint(1, 3)]
    if kind in ("conv", "depthwise"):
        pads = [rng.randint(0, kernel[axis % 2] - 1) for axis in range(4)]
        params = {"kernel_size": kernel, "stride": stride, "padding": pads, "dilation": [rng.randint(1, 2)] * 2}
        return ("Conv2D", {**params, "filters": 2}) if kind == "conv" else ("DepthwiseConv2D", params)
    if kind == "pool":
        pads = [rng.randint(0, kernel[axis % 2] - 1) for axis in range(4)]
        return ("MaxPool2D", {"pool_size": kernel, "stride": stride, "padding": pads, "dilation": rng.randint(1, 2)})
    if kind == "transposed":
        dilation = [rng.randint(1, 2), rng.randint(1, 2)]
        pads = [rng.randint(0, dilation[axis % 2] * (kernel[axis % 2] - 1)) for axis in range(4)]
        extra = [rng.randint(0, max(stride[axis], dilation[axis]) - 1) for axis in range(2)]
        params = {"kernel_size": kernel, "stride": stride, "padding": pads, "dilation": dilation}
        return ("Conv2DTranspose", {**params, "filters": 2, "output_padding": extra})
    if kind in ("nearest", "bilinear"):
        return ("Upsample2D", {"mode": kind, "scale": [rng.randint(1, 3), rng.randint(1, 3)]})
    if kind == "sized":
        size = [rng.randint(side, 2 * side + 3), rng.randint(side, 2 * side + 3)]
        return ("Upsample2D", {"mode": rng.choice(["nearest", "bilinear"]), "size": size})
    mode = rng.choice(["constant", "reflect", "replicate"])
    return ("Pad2D", {"pads": [rng.randint(0, 2) for _ in range(4)], "mode": mode})


def grown_chain(rng: random.Random, largest_side: int, grow):
    """Input of 2 channels → ``grow(rng, document, input node, side)``, retried until it computes and stays small."""
    while True:
        side = rng.randint(3, largest_side)
        document = NetworkDocument("random")
        node = document.add_node("Input", {"shape": [2, side, side + rng.randint(0, 3)]}, name="input")
        try:
            node = grow(rng, document, node, side)
        except LayerwiseError:
            continue
        check = check_graph(document)
        if check.ok and max(check.shapes[node.id][1:]) <= 40:
            return document, node


def random_chain(rng: random.Random):
    def grow(rng, document, node, side):
        for _ in range(rng.randint(1, 4)):
            type_name, params = random_layer(rng, side)
            node = document.chain(node.id, [(type_name, params, None)])
        return node

    return grown_chain(rng, 9, grow)


def test_random_chains_with_up_sampling_equal_brute_force():
    rng = random.Random(7)
    units = 0
    kinds = set()
    for _ in range(120):
        document, last = random_chain(rng)
        units += assert_fields_equal_brute_force(document, last)
        kinds |= {node.type_name for node in document.nodes}
    assert units > 5000
    assert {"Conv2DTranspose", "Upsample2D", "Pad2D", "DepthwiseConv2D", "MaxPool2D"} <= kinds


def test_what_random_chains_really_read_lies_in_the_clipped_regions():
    rng = random.Random(11)
    checked = 0
    while checked < 25:
        document, last = random_chain(rng)
        # A mirrored or copied border counts as padding in the field, though it copies pixels.
        if any(node.type_name == "Pad2D" and node.layer.params["mode"] != "constant" for node in document.nodes):
            continue
        assert_real_reads_lie_in_the_clipped_region(document, last, checked)
        checked += 1


def random_pixel_shuffle_chain(rng: random.Random):
    """Input → random layers, each pixel shuffle fed by a convolution giving it 2·r² channels."""

    def grow(rng, document, node, side):
        for _ in range(rng.randint(1, 3)):
            factor = rng.randint(1, 3)
            kernel = [rng.randint(1, 3), rng.randint(1, 3)]
            pads = [rng.randint(0, kernel[axis % 2] - 1) for axis in range(4)]
            conv = ("Conv2D", {"filters": 2 * factor * factor, "kernel_size": kernel, "padding": pads}, None)
            node = document.chain(node.id, [conv, ("PixelShuffle", {"upscale_factor": factor}, None)])
            if rng.random() < 0.5:
                type_name, params = random_layer(rng, side)
                node = document.chain(node.id, [(type_name, params, None)])
        return node

    return grown_chain(rng, 8, grow)


def test_random_chains_with_pixel_shuffles_equal_brute_force():
    rng = random.Random(5)
    units = 0
    factors = set()
    for _ in range(60):
        document, last = random_pixel_shuffle_chain(rng)
        units += assert_fields_equal_brute_force(document, last)
        factors |= {n.layer.params["upscale_factor"] for n in document.nodes if n.type_name == "PixelShuffle"}
    assert units > 2000 and factors == {1, 2, 3}


def test_what_pixel_shuffles_really_read_lies_in_the_clipped_regions():
    rng = random.Random(13)
    checked = 0
    while checked < 10:
        document, last = random_pixel_shuffle_chain(rng)
        if any(node.type_name == "Pad2D" and node.layer.params["mode"] != "constant" for node in document.nodes):
            continue
        assert_real_reads_lie_in_the_clipped_region(document, last, checked)
        checked += 1


# -- by hand ------------------------------------------------------------------------------------


def test_up_sampling_by_two_halves_the_stride():
    document, node = network((1, 8, 8), ("Upsample2D", {}, "up"))
    field = receptive_fields(document)[node.id]
    assert (field.size, field.stride, field.padding) == ((1, 1), (Fraction(1, 2),) * 2, (0, 0))
    assert [field.height.span(u) for u in range(4)] == [(0, 0), (0, 0), (1, 1), (1, 1)]
    assert receptive_field_cells(field) == ("1~", "1/2", "0") and not field.uniform
    assert field.to_json() == {"size": [1, 1], "stride": ["1/2", "1/2"], "padding": [0, 0], "aligned": True}


def test_a_pixel_shuffle_by_two_has_the_field_of_nearest_up_sampling_by_two():
    shuffled, node = network((4, 8, 8), ("PixelShuffle", {}, "up"))
    upsampled, reference = network((4, 8, 8), ("Upsample2D", {}, "up"))
    field, expected = receptive_fields(shuffled)[node.id], receptive_fields(upsampled)[reference.id]
    assert field.to_json() == expected.to_json()
    assert [field.height.span(u) for u in range(4)] == [(0, 0), (0, 0), (1, 1), (1, 1)]
    assert_fields_equal_brute_force(shuffled, node)


def test_a_stride_two_convolution_then_up_sampling_by_two_pairs_the_units():
    document, node = network(
        (1, 12, 12), ("Conv2D", {"filters": 1, "kernel_size": 3, "stride": 2}, "down"), ("Upsample2D", {}, "up")
    )
    field = receptive_fields(document)[node.id].height
    assert field.stride == 1 and field.period == 2
    assert [field.span(u) for u in range(6)] == [(0, 2), (0, 2), (2, 4), (2, 4), (4, 6), (4, 6)]
    assert_fields_equal_brute_force(document, node)


def test_a_transposed_convolution_with_a_kernel_below_its_stride_leaves_units_blind():
    document, node = network((1, 4, 4), ("Conv2DTranspose", {"filters": 1, "kernel_size": 1, "stride": 2}, "up"))
    field = receptive_fields(document)[node.id].height
    assert [field.span(u) for u in range(4)] == [(0, 0), None, (1, 1), None]
    assert field_overhang(document, node.id) == (0, 0, 0, 0)
    assert_fields_equal_brute_force(document, node)


def test_bilinear_units_at_the_border_reach_into_the_padding():
    document, node = network((1, 4, 4), ("Upsample2D", {"mode": "bilinear"}, "up"))
    field = receptive_fields(document)[node.id]
    # x = (u + ½)/2 − ½: −¼, ¼, ¾, 1¼ … between rows ⌊x⌋ and ⌊x⌋ + 1.
    assert [field.height.span(u) for u in range(4)] == [(-1, 0), (0, 1), (0, 1), (1, 2)]
    assert field_overhang(document, node.id) == (1, 1, 1, 1)
    assert field.size == (2, 2) and field.padding == (1, 1)


# -- a small U-Net -------------------------------------------------------------------------------


def small_unet(up: tuple[str, dict]) -> tuple[NetworkDocument, object]:
    """Input → conv → (skip) ; → pool → conv → conv → up-sampling ; concat(skip, up) → conv."""
    document = NetworkDocument("unet")
    entry = document.add_node("Input", {"shape": [1, 12, 10]}, name="input")
    skip = document.chain(entry.id, [("Conv2D", {"filters": 2, "kernel_size": 3, "padding": 1}, "enc")])
    bottom = document.chain(
        skip.id,
        [
            ("MaxPool2D", {"pool_size": 2, "stride": 2}, "pool"),
            ("Conv2D", {"filters": 2, "kernel_size": 3, "padding": 1}, "mid1"),
            ("Conv2D", {"filters": 2, "kernel_size": 3, "padding": 1}, "mid2"),
            (*up, "up"),
        ],
    )
    concat = document.merge("Concat", [skip.id, bottom.id], name="concat")
    last = document.chain(concat.id, [("Conv2D", {"filters": 1, "kernel_size": 3, "padding": 1}, "dec")])
    return document, last


UPS = {
    "transposed 2×2": ("Conv2DTranspose", {"filters": 2}),
    "transposed 3×3, padded": ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "padding": 1, "output_padding": 1}),
    "nearest": ("Upsample2D", {}),
    "bilinear": ("Upsample2D", {"mode": "bilinear"}),
}


@pytest.mark.parametrize("up", list(UPS))
def test_unet_fields_equal_brute_force_at_every_layer(up):
    document, last = small_unet(UPS[up])
    for node in document.nodes:
        assert_fields_equal_brute_force(document, node)
    assert_real_reads_lie_in_the_clipped_region(document, last)
    fields = receptive_fields(document)
    concat, skip = fields[document.node_by_name("concat").id], fields[document.node_by_name("enc").id]
    assert concat.stride == skip.stride == (1, 1)
    assert concat.height.period == 2  # even and odd rows see different parts of the pooled path
    assert concat.aligned is False  # each pair of rows shares a field off the skip's centre by half a row


def test_unet_with_nearest_up_sampling_by_hand():
    document, last = small_unet(UPS["nearest"])
    fields = receptive_fields(document)
    up = fields[document.node_by_name("up").id].height
    # enc: 3 rows; pool: 4, stride 2; two 3×3 convolutions: 4 + 2·2·2 = 12, padding 1 + 2·2 = 5.
    assert [up.span(u) for u in range(4)] == [(-5, 6), (-5, 6), (-3, 8), (-3, 8)]
    assert (up.size, up.stride, up.padding) == (12, 1, 5)
    concat = fields[document.node_by_name("concat").id]
    assert concat.height.span(0) == (-5, 6) and concat.aligned is False  # the skip's field is centred on row 0
    field = fields[last.id]
    assert receptive_field_cells(field) == ("14*~", "1", "7")
    depth = {point.name: point for point in receptive_field_by_depth(document)}
    assert depth["up"].depth == 5 and depth["dec"].size_h == 14


def test_without_up_sampling_every_field_is_distills_r_s_p():
    checked = 0
    for name in example_names():
        document = load_network(example_path(name))
        if any(node.type_name in ("Upsample2D", "Conv2DTranspose") for node in document.nodes):
            continue
        fields = receptive_fields(document)
        assert all(f.uniform and f.height.period == f.width.period == 1 for f in fields.values() if f is not None), name
        checked += 1
    assert checked >= 14  # the classic examples and the blocks that only down-sample
