"""Receptive fields: published figures, Distill's worked examples, and brute force."""

from __future__ import annotations

import random

import pytest

from core.analysis.receptive_field import receptive_fields
from core.analysis.summary import summarize
from core.errors import LayerwiseError
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from core.graph.validation import check_graph
from tests.core.helpers import conv, network, pool


def field_of(doc: NetworkDocument, name: str):
    return receptive_fields(doc)[doc.node_by_name(name).id]


@pytest.mark.parametrize(
    ("example", "layer", "size", "stride", "padding"),
    [("vgg16", "pool5", 212, 32, 90), ("alexnet", "pool5", 195, 32, 64)],
)
def test_published_figures(example, layer, size, stride, padding):
    field = field_of(load_network(example_path(example)), layer)
    assert (field.size, field.stride, field.padding) == ((size, size), (stride, stride), (padding, padding))


def distill_aligned_network(side=8):
    """Second figure of Distill's 'arbitrary computation graphs': r=3, S=4, P=1."""
    doc, left = network((1, side, side), conv(kernel=1, stride=4, name="L1"))
    right = doc.chain(
        doc.node_by_name("input").id,
        [conv(kernel=3, stride=2, padding=[1, 1, 0, 0], name="L2"), conv(kernel=1, stride=2, name="L3")],
    )
    return doc, doc.merge("Add", [left.id, right.id], name="add")


def test_distill_aligned_example():
    doc, _ = distill_aligned_network()
    field = field_of(doc, "add")
    assert (field.size, field.stride, field.padding, field.aligned) == ((3, 3), (4, 4), (1, 1), True)


def test_distill_example_with_an_intermediate_add():
    doc, first_add = distill_aligned_network(side=16)
    relu = doc.chain(first_add.id, [("ReLU", None, "relu")])
    left = doc.chain(relu.id, [conv(kernel=1, stride=2, name="L5")])
    right = doc.chain(relu.id, [conv(kernel=3, stride=2, padding=[1, 1, 0, 0], name="L6")])
    doc.merge("Add", [left.id, right.id], name="output")
    field = field_of(doc, "output")
    assert (field.size, field.stride, field.padding) == ((11, 11), (8, 8), (5, 5))


def test_distill_misaligned_example_is_flagged():
    # First figure: a padded 5×5 stride-2 path against two unpadded 3×3 convolutions.
    doc, left = network((1, 8, 8), conv(kernel=5, stride=2, padding=[2, 2, 1, 1], name="L1"))
    right = doc.chain(doc.node_by_name("input").id, [conv(kernel=3, name="L2"), conv(kernel=3, name="L3")])
    doc.merge("Add", [left.id, right.id], name="add")
    assert check_graph(doc).ok
    assert field_of(doc, "add").aligned is False


def test_non_square_kernels():
    # Distill library's non-square test: kernels [3, 5] and [3, 1], stride 2: 7 rows, 5 columns.
    doc, _ = network((1, 8, 8), conv(kernel=[3, 5], stride=2), conv(kernel=[3, 1], stride=2, name="last"))
    field = field_of(doc, "last")
    assert (field.size, field.stride, field.padding) == ((7, 5), (4, 4), (0, 0))


def test_padding_moves_the_field_but_does_not_grow_it():
    unpadded, _ = network((1, 16, 16), conv(kernel=5, name="c"))
    padded, _ = network((1, 16, 16), conv(kernel=5, padding=2, name="c"))
    assert field_of(unpadded, "c").size == field_of(padded, "c").size == (5, 5)
    assert field_of(padded, "c").padding == (2, 2)


def test_no_field_after_flatten_or_dense_and_whole_map_after_global_pool():
    doc, _ = network(
        (3, 12, 12),
        conv(kernel=3, name="c"),
        ("GlobalAvgPool2D", None, "gap"),
        ("Dense", {"units": 4}, "fc"),
        ("ReLU", None, "r"),
    )
    assert field_of(doc, "gap").size == (12, 12)
    assert field_of(doc, "fc") is None and field_of(doc, "r") is None
    flat, _ = network((3, 8, 8), ("Flatten", None, "f"))
    assert field_of(flat, "f") is None
    vector, _ = network((20,), ("Dense", {"units": 4}, "fc"))
    assert field_of(vector, "input") is None


# -- brute force: follow every tap of every window back to the input pixels -------------


def dependencies(doc, check, node, unit, cache):
    """Input rows that output row ``unit`` of ``node`` reads, by direct enumeration.

    Returns ``(rows, touched_padding)``; the second is true when some tap, at any depth,
    fell outside its map (in the padding or in rows a floor-mode division dropped).
    """
    key = (node.id, unit)
    if key in cache:
        return cache[key]
    sources = doc.inputs_of(node.id)
    if not sources:
        result = ({unit}, False)
    else:
        params = node.layer.params
        if node.type_name in ("Conv2D", "MaxPool2D"):
            kernel = params["kernel_size" if node.type_name == "Conv2D" else "pool_size"][0]
            begin = params["padding"][0]  # random networks use explicit padding
            dilation = params.get("dilation", (1, 1))[0]
            taps = [unit * params["stride"][0] - begin + j * dilation for j in range(kernel)]
        else:
            taps = [unit]
        rows, touched = set(), False
        for source in sources:
            size = check.shapes[source.id][1]
            for tap in taps:
                if 0 <= tap < size:
                    more, deeper = dependencies(doc, check, source, tap, cache)
                    rows |= more
                    touched |= deeper
                else:
                    touched = True
        result = (rows, touched)
    cache[key] = result
    return result


def random_chain(rng):
    layers = []
    for _ in range(rng.randint(1, 4)):
        kernel = rng.randint(1, 4)
        stride = rng.randint(1, min(kernel, 3))  # stride ≤ kernel: no holes in the field
        pad = rng.randint(0, kernel - 1)
        if rng.random() < 0.5:
            layers.append(conv(kernel=kernel, stride=stride, padding=pad))
        else:
            layers.append(pool(size=kernel, stride=stride, padding=pad))
    return layers


def assert_fields_match_brute_force(doc, node):
    check = check_graph(doc)
    assert check.ok, check.problems
    field = receptive_fields(doc, check)[node.id]
    cache: dict = {}
    clean = 0
    for unit in range(check.shapes[node.id][1]):
        seen, touched_padding = dependencies(doc, check, node, unit, cache)
        start, end = field.height.span(unit)
        assert seen and start <= min(seen) and max(seen) <= end, (unit, start, end, sorted(seen))
        if not touched_padding:
            assert (min(seen), max(seen)) == (start, end), (unit, start, end, sorted(seen))
            clean += 1
        if start < 0 and seen:
            # At the top/left border the field starts in the padding and pixel 0 is seen.
            assert min(seen) == 0
    return clean


def test_single_path_fields_equal_brute_force_including_borders():
    rng = random.Random(11)
    tested = clean_units = 0
    while tested < 150:
        side = rng.randint(12, 40)
        doc = NetworkDocument("random")
        node = doc.add_node("Input", {"shape": [1, side, side]}, name="input")
        try:
            node = doc.chain(node.id, [(t, p, None) for t, p, _ in random_chain(rng)])
        except LayerwiseError:  # a random chain that does not fit its input
            continue
        if not check_graph(doc).ok:
            continue
        clean_units += assert_fields_match_brute_force(doc, node)
        tested += 1
    assert clean_units > 500  # most units lie in the interior and are checked exactly


def test_merged_fields_equal_brute_force_where_strides_agree():
    rng = random.Random(5)
    tested = 0
    while tested < 60:
        side = rng.randint(16, 40)
        doc = NetworkDocument("random")
        entry = doc.add_node("Input", {"shape": [1, side, side]}, name="input")
        ends = [doc.chain(entry.id, [(t, p, None) for t, p, _ in random_chain(rng)]) for _ in range(2)]
        add = doc.merge("Add", [end.id for end in ends])
        check = check_graph(doc)
        if not check.ok:
            continue
        fields = receptive_fields(doc, check)
        if fields[ends[0].id].stride != fields[ends[1].id].stride:
            continue
        assert_fields_match_brute_force(doc, add)
        tested += 1


def test_summary_reports_the_same_fields():
    doc = load_network(example_path("inception_block"))
    summary = summarize(doc)
    fields = receptive_fields(doc)
    for layer in summary.layers:
        assert layer.receptive_field == fields[layer.node_id]
    assert summary.layer("concat").receptive_field.size == (5, 5)
