"""Validation names the layer at fault and the reason, and only root causes."""

from __future__ import annotations

from core.graph.document import NetworkDocument
from core.graph.validation import check_graph, connection_problem, validate
from tests.core.helpers import conv, network


def messages(doc):
    return [str(p) for p in validate(doc)]


def test_valid_network_has_no_problems_and_all_shapes():
    doc, last = network(
        (1, 28, 28),
        conv(6, 5, name="c1"),
        ("ReLU", None, None),
        ("Flatten", None, None),
        ("Dense", {"units": 10}, "fc"),
    )
    check = check_graph(doc)
    assert check.ok and check.shapes[last.id] == (10,)
    assert next(n.name for n in check.order) == "input"


def test_cycle_is_named():
    doc = NetworkDocument()
    entry = doc.add_node("Input", {"shape": [1, 8, 8]}, name="input")
    a = doc.add_node("Add", name="a")
    b = doc.add_node("ReLU", name="b")
    doc.connect(entry.id, a.id)
    doc.connect(a.id, b.id)
    doc.connect(b.id, a.id)
    tail = doc.add_node("ReLU", name="after")
    doc.connect(b.id, tail.id)
    problems = validate(doc)
    assert {p.node_name for p in problems} == {"a", "b"}
    assert all(p.message == "is part of a cycle: 'a' → 'b' → 'a'" for p in problems)


def test_missing_input_and_wrong_arity():
    doc, relu = network((1, 8, 8), ("ReLU", None, "r"))
    doc.add_node("Conv2D", name="loose")
    add = doc.merge("Add", [relu.id], name="lonely_add")
    assert set(messages(doc)) == {
        "layer 'loose': Conv2D needs 1 input, but has no input",
        "layer 'lonely_add': Add needs at least 2 inputs, but has 1 input",
    }
    assert check_graph(doc).shapes[add.id] is None


def test_shape_problems_are_reported_once_at_their_root():
    doc, left = network((3, 16, 16), conv(8, 3, padding=1, name="left"))
    right = doc.chain(doc.node_by_name("input").id, [conv(4, 3, padding=1, name="right")])
    add = doc.merge("Add", [left.id, right.id], name="sum")
    doc.chain(add.id, [("ReLU", None, "after"), ("Flatten", None, None)])
    assert messages(doc) == [
        "layer 'sum': Add needs inputs of equal shape, but input 1 is 8×16×16 and input 2 is 4×16×16"
    ]


def test_concat_spatial_mismatch_dense_on_map_and_oversized_kernel():
    doc, a = network((3, 16, 16), conv(8, 3, name="a"))
    b = doc.chain(doc.node_by_name("input").id, [conv(8, 3, padding=1, name="b")])
    doc.merge("Concat", [a.id, b.id], name="cat")
    assert "equal spatial size" in messages(doc)[0] and "'cat'" in messages(doc)[0]

    doc, _ = network((3, 16, 16), ("Dense", {"units": 10}, "fc"))
    assert messages(doc) == [
        "layer 'fc': Dense needs a feature vector, but gets a 3×16×16 (C×H×W) map — add a Flatten (or GlobalAvgPool2D) before it"
    ]

    doc, _ = network((3, 4, 4), conv(8, 5, name="big"))
    assert "kernel 5 is larger than its padded input 4 along the height" in messages(doc)[0]


def test_network_without_input():
    doc = NetworkDocument()
    doc.add_node("ReLU")
    assert "the network has no Input layer" in messages(doc)


def test_connection_problem_explains_refusals():
    doc, relu = network((3, 8, 8), ("ReLU", None, "relu"))
    entry = doc.node_by_name("input")
    fc = doc.add_node("Dense", name="fc")
    assert "Dense needs a feature vector" in connection_problem(doc, relu.id, fc.id)
    assert "already fed by 'input'" in connection_problem(doc, entry.id, relu.id)
    tail = doc.chain(relu.id, [("Add", None, "add")])
    other = doc.add_node("ReLU", name="other")
    doc.connect(tail.id, other.id)
    assert "would close a cycle" in connection_problem(doc, other.id, tail.id)
    assert connection_problem(doc, entry.id, tail.id) is None
    assert "take no inputs" in connection_problem(doc, relu.id, entry.id)
