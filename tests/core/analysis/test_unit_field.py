"""Input rectangles of feature-map units, and receptive field size against depth."""

from __future__ import annotations

import itertools
import random

import pytest

from core.analysis.receptive_field import receptive_fields
from core.analysis.unit_field import (
    DepthPoint,
    UnitFieldError,
    feature_map_hw,
    field_overhang,
    receptive_field_by_depth,
    unit_input_region,
)
from core.errors import LayerwiseError
from core.examples import example_names, example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from core.graph.validation import check_graph
from tests.core.helpers import conv, network


def probe_units(height, width):
    """Corners, edges and the centre of an ``height × width`` map."""
    rows, cols = {0, height // 2, height - 1}, {0, width // 2, width - 1}
    return sorted((r, c) for r in rows for c in cols)


@pytest.mark.parametrize("example", example_names())
def test_regions_of_every_example_follow_the_receptive_field_analysis(example):
    doc = load_network(example_path(example))
    check = check_graph(doc)
    fields = receptive_fields(doc, check)
    input_hw = next(check.shapes[n.id][1:] for n in check.order if n.type_name == "Input")
    tested = 0
    for node in check.order:
        field, shape = fields[node.id], check.shapes[node.id]
        if field is None:
            with pytest.raises(UnitFieldError, match=repr(node.name)):
                unit_input_region(doc, node.id, 0, 0)
            continue
        height, width = (shape[1], shape[2]) if len(shape) == 3 else (1, 1)
        for row, col in probe_units(height, width):
            region = unit_input_region(doc, node.id, row, col)
            (top, bottom), (left, right) = field.height.span(row), field.width.span(col)
            assert region.span == (top, left, bottom, right)
            assert region.size == (bottom - top + 1, right - left + 1)
            # After up-sampling units see regions of different sizes; the field reports the largest.
            if field.uniform:
                assert region.size == field.size
            else:
                assert all(seen <= largest for seen, largest in zip(region.size, field.size))
            assert region.centre == ((top + bottom) / 2, (left + right) / 2)
            assert region.aligned == field.aligned
            assert region.input_hw == tuple(input_hw)
            outside = top < 0 or left < 0 or bottom >= input_hw[0] or right >= input_hw[1]
            assert region.touches_padding == outside
            inside = (max(top, 0), max(left, 0), min(bottom, input_hw[0] - 1), min(right, input_hw[1] - 1))
            assert region.clipped == inside
            tested += 1
        for row, col in [(-1, 0), (0, -1), (height, 0), (0, width)]:
            with pytest.raises(UnitFieldError, match=f"{height}×{width} feature map of layer {node.name!r}"):
                unit_input_region(doc, node.id, row, col)
    assert tested > 0


def test_border_units_of_lenet5_reach_into_the_padding():
    doc = load_network(example_path("lenet5"))
    corner = unit_input_region(doc, doc.node_by_name("conv2").id, 0, 0)
    assert corner.span == (-2, -2, 11, 11) and corner.clipped == (0, 0, 11, 11)
    assert corner.touches_padding and corner.size == (14, 14)
    last = unit_input_region(doc, doc.node_by_name("pool2").id, 4, 4)
    assert last.span == (14, 14, 29, 29) and last.clipped == (14, 14, 27, 27) and last.touches_padding
    inner = unit_input_region(doc, doc.node_by_name("conv2").id, 5, 5)
    assert not inner.touches_padding and inner.clipped == inner.span == (8, 8, 21, 21)


def test_a_unit_seeing_only_padding_has_no_clipped_region():
    doc, node = network((1, 6, 6), conv(kernel=1, padding=2, name="c"))
    region = unit_input_region(doc, node.id, 0, 0)
    assert region.span == (-2, -2, -2, -2) and region.clipped is None and region.touches_padding
    assert unit_input_region(doc, node.id, 2, 3).clipped == (0, 1, 0, 1)


def test_global_pooling_output_is_a_one_by_one_map():
    doc, _ = network((3, 9, 7), conv(kernel=3, padding=1, name="c"), ("GlobalAvgPool2D", None, "gap"))
    region = unit_input_region(doc, doc.node_by_name("gap").id, 0, 0)
    assert region.size == (11, 9) and region.clipped == (0, 0, 8, 6)
    with pytest.raises(UnitFieldError, match="1×1 feature map"):
        unit_input_region(doc, doc.node_by_name("gap").id, 0, 1)


def test_errors_are_layerwise_errors_naming_the_layer():
    doc, _ = network((8,), ("Dense", {"units": 4}, "fc"))
    with pytest.raises(LayerwiseError, match="'fc' \\(Dense\\) has no receptive field"):
        unit_input_region(doc, doc.node_by_name("fc").id, 0, 0)
    with pytest.raises(LayerwiseError, match="'input'"):  # a vector input has no image to look at
        unit_input_region(doc, doc.node_by_name("input").id, 0, 0)


# -- brute force: follow every tap of every window back to the input ----------------------


def random_layer(rng: random.Random):
    kernel = [rng.randint(1, 4), rng.randint(1, 4)]
    stride = [rng.randint(1, 3), rng.randint(1, 3)]
    pads = [rng.randint(0, kernel[axis % 2] - 1) for axis in range(4)]  # top, left, bottom, right
    choice = rng.random()
    if choice < 0.5:
        dilation = [rng.randint(1, 2), rng.randint(1, 2)]
        params = {"filters": 2, "kernel_size": kernel, "stride": stride, "padding": pads, "dilation": dilation}
        return ("Conv2D", params, None), kernel, stride, pads, dilation
    kind = "MaxPool2D" if choice < 0.75 else "AvgPool2D"
    params = {"pool_size": kernel, "stride": stride, "padding": pads, "ceil_mode": rng.random() < 0.3}
    return (kind, params, None), kernel, stride, pads, [1, 1]


def taps_back(index, axis, windows, clip_to=None):
    """Input indices reached from ``index`` by following every tap of ``windows`` (last first).

    With ``clip_to`` (the map sizes along the way, input first), taps that land in
    padding stop there, as in the real computation; without, they go on, as the
    theoretical receptive field assumes.
    """
    reached = {index}
    for depth in range(len(windows) - 1, -1, -1):
        kernel, stride, pads, dilation = windows[depth]
        below = {u * stride[axis] - pads[axis] + j * dilation[axis] for u in reached for j in range(kernel[axis])}
        if clip_to is not None:
            below = {i for i in below if 0 <= i < clip_to[depth][axis]}
        reached = below
    return reached


def random_chain_network(rng: random.Random):
    while True:
        height, width = rng.randint(8, 20), rng.randint(8, 20)
        doc = NetworkDocument("random")
        node = doc.add_node("Input", {"shape": [1, height, width]}, name="input")
        layers = [random_layer(rng) for _ in range(rng.randint(1, 4))]
        node = doc.chain(node.id, [layer[0] for layer in layers])
        check = check_graph(doc)
        if check.ok:
            sizes = [check.shapes[n.id][1:] for n in check.order]
            return doc, node, [layer[1:] for layer in layers], sizes


def test_regions_of_random_chains_equal_brute_force_on_both_axes():
    rng = random.Random(3)
    units = 0
    for _ in range(60):
        doc, last, windows, sizes = random_chain_network(rng)
        height, width = sizes[-1]
        for row in range(height):
            for col in range(width):
                region = unit_input_region(doc, last.id, row, col)
                virtual_rows, virtual_cols = taps_back(row, 0, windows), taps_back(col, 1, windows)
                # Exact: the theoretical rectangle is the hull of every tap, padding included.
                assert (region.top, region.bottom) == (min(virtual_rows), max(virtual_rows))
                assert (region.left, region.right) == (min(virtual_cols), max(virtual_cols))
                # What the computation really reads lies inside the clipped rectangle.
                real_rows, real_cols = taps_back(row, 0, windows, sizes), taps_back(col, 1, windows, sizes)
                if real_rows and real_cols:
                    top, left, bottom, right = region.clipped
                    assert top <= min(real_rows) and max(real_rows) <= bottom
                    assert left <= min(real_cols) and max(real_cols) <= right
                units += 1
    assert units > 500


# -- how far the fields reach past the image ----------------------------------------------


def overhang_of_every_unit(doc, node_id):
    """``(top, left, bottom, right)`` reach past the image, from every unit's own region."""
    height, width = feature_map_hw(check_graph(doc).shapes[node_id])
    regions = [unit_input_region(doc, node_id, row, col) for row in range(height) for col in range(width)]
    input_h, input_w = regions[0].input_hw
    return (
        max(0, -min(r.top for r in regions)),
        max(0, -min(r.left for r in regions)),
        max(0, max(r.bottom for r in regions) - (input_h - 1)),
        max(0, max(r.right for r in regions) - (input_w - 1)),
    )


@pytest.mark.parametrize(
    ("input_shape", "layer", "expected"),
    [
        ((1, 8, 8), conv(kernel=5, padding=2), (2, 2, 2, 2)),
        ((1, 8, 8), conv(kernel=3), (0, 0, 0, 0)),
        # Pads are (top, left, bottom, right): a 5×6 map whose last column reads 7 = 5 + 2.
        ((1, 6, 6), conv(kernel=3, padding=[1, 0, 0, 2]), (1, 0, 0, 2)),
        # Ceil mode keeps a last 2×2 window over rows 6–7 of a 7-row image.
        ((1, 7, 7), ("MaxPool2D", {"pool_size": 2, "stride": 2, "ceil_mode": True}, None), (0, 0, 1, 1)),
    ],
)
def test_overhang_by_hand(input_shape, layer, expected):
    doc, node = network(input_shape, layer)
    assert field_overhang(doc, node.id) == expected


def test_overhang_of_lenet5_layers():
    doc = load_network(example_path("lenet5"))
    # conv1 pads its 28×28 input by 2; pool2's last unit reads rows 14–29 (see above).
    assert field_overhang(doc, doc.node_by_name("conv1").id) == (2, 2, 2, 2)
    assert field_overhang(doc, doc.node_by_name("pool2").id) == (2, 2, 2, 2)


def test_overhang_equals_the_reach_of_every_unit_on_random_chains_and_branches():
    rng = random.Random(5)
    for _ in range(40):
        doc, last, _windows, _sizes = random_chain_network(rng)
        assert field_overhang(doc, last.id) == overhang_of_every_unit(doc, last.id)
    for example in ("resnet_block", "inception_block"):
        doc = load_network(example_path(example))
        fields = receptive_fields(doc, check_graph(doc))
        for node in doc.nodes:
            if fields[node.id] is not None:
                assert field_overhang(doc, node.id) == overhang_of_every_unit(doc, node.id), (example, node.name)


def test_overhang_of_a_layer_without_a_field_is_an_error():
    doc, _ = network((8,), ("Dense", {"units": 4}, "fc"))
    with pytest.raises(UnitFieldError, match="'fc'"):
        field_overhang(doc, doc.node_by_name("fc").id)


# -- size against depth ---------------------------------------------------------------------


def test_lenet5_field_grows_with_each_window():
    points = receptive_field_by_depth(load_network(example_path("lenet5")))
    assert points == [
        DepthPoint("input", 0, 1, 1),
        DepthPoint("conv1", 1, 5, 5),
        DepthPoint("pool1", 2, 6, 6),
        DepthPoint("conv2", 3, 14, 14),
        DepthPoint("pool2", 4, 16, 16),
    ]


def test_vgg16_depth_counts_its_eighteen_windows():
    points = receptive_field_by_depth(load_network(example_path("vgg16")))
    assert points[-1] == ("pool5", 18, 212, 212)
    assert [p.depth for p in points] == list(range(19))
    assert all(a.size_h <= b.size_h for a, b in itertools.pairwise(points))


def test_branches_take_the_longest_path_and_merges_appear():
    doc = load_network(example_path("resnet_block"))
    points = {p.name: p for p in receptive_field_by_depth(doc)}
    assert points["block1_add"].depth == 2 and points["block1_add"].size_h == 5
    assert points["block2_proj"].depth == 3  # 1×1 but stride 2: a window
    assert points["block2_add"] == ("block2_add", 4, 11, 11)
    assert "block1_bn1" not in points and "block1_out" not in points
    inception = {p.name: p for p in receptive_field_by_depth(load_network(example_path("inception_block")))}
    assert "b1_1x1" not in inception  # 1×1, stride 1: the field does not move
    assert inception["concat"].depth == 1 and inception["concat"].size_h == 5


def test_no_points_for_a_vector_input():
    doc, _ = network((8,), ("Dense", {"units": 4}, "fc"))
    assert receptive_field_by_depth(doc) == []
