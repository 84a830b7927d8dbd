"""Edges that leave a layer from one of several outputs: document, validation, file, copies, analysis."""

from __future__ import annotations

import json

import pytest

from core.analysis.receptive_field import receptive_fields
from core.analysis.summary import summarize
from core.errors import GraphError, NetworkFileError
from core.examples import example_names, example_path
from core.graph.batchnorm_variant import with_batchnorm
from core.graph.copying import copy_network
from core.graph.document import NetworkDocument
from core.graph.events import Edge
from core.graph.fileformat import dumps_network, load_network, loads_network, network_to_dict
from core.graph.layout import layered_positions
from core.graph.validation import check_graph, connection_problem, validate


def split_block() -> NetworkDocument:
    """input 6×8×8 → split (3 parts) → left: conv on output 0, right: relu on output 2 → concat."""
    doc = NetworkDocument("split block")
    entry = doc.add_node("Input", {"shape": [6, 8, 8]}, name="input")
    split = doc.chain(entry.id, [("ChannelSplit", {"parts": 3}, "split")])
    conv = doc.add_node("Conv2D", {"filters": 5, "kernel_size": 3, "padding": 1}, name="conv")
    relu = doc.add_node("ReLU", name="relu")
    doc.connect(split.id, conv.id)
    doc.connect(split.id, relu.id, source_port=2)
    doc.merge("Concat", [conv.id, relu.id], name="concat")
    return doc


def test_connect_names_the_output_it_leaves_and_refuses_one_that_does_not_exist():
    doc = split_block()
    split, relu = doc.node_by_name("split"), doc.node_by_name("relu")
    assert doc.input_edges(relu.id) == [Edge(split.id, relu.id, 0, 2)]
    other = doc.add_node("ReLU", name="other")
    with pytest.raises(GraphError, match=r"ChannelSplit layer 'split' has 3 outputs; output port 3 .*does not exist"):
        doc.connect(split.id, other.id, source_port=3)
    with pytest.raises(GraphError, match=r"layer 'relu' has 1 output; output port 1 "):
        doc.connect(relu.id, other.id, source_port=1)
    assert connection_problem(doc, split.id, other.id, source_port=3) == (
        "'split' has 3 outputs; output 4 does not exist"
    )
    assert connection_problem(doc, split.id, other.id, source_port=1) is None


def test_shapes_are_inferred_per_output():
    doc = split_block()
    check = check_graph(doc)
    split = doc.node_by_name("split")
    assert check.output_shapes[split.id] == [(2, 8, 8)] * 3
    assert check.shapes[doc.node_by_name("concat").id] == (7, 8, 8)


def test_connection_problem_checks_the_shape_of_the_output_dragged_from():
    doc = NetworkDocument("uneven")
    entry = doc.add_node("Input", {"shape": [4, 4, 4]}, name="input")
    split = doc.chain(entry.id, [("ChannelSplit", None, "split")])
    wide = doc.add_node("Conv2D", {"filters": 2, "kernel_size": 1}, name="wide")
    doc.connect(entry.id, wide.id)
    add = doc.add_node("Add", name="add")
    doc.connect(wide.id, add.id)
    assert connection_problem(doc, split.id, add.id, source_port=1) is None  # 2×4×4 joins 2×4×4
    doc.set_param(wide.id, "filters", 3)
    assert "Add" in (connection_problem(doc, split.id, add.id, source_port=1) or "")


def test_shrinking_the_parts_names_the_output_that_no_longer_exists():
    doc = split_block()
    split = doc.node_by_name("split")
    doc.set_param(split.id, "parts", 2)
    problems = validate(doc)
    assert [(p.node_name, p.field) for p in problems] == [("split", "parts")]
    assert problems[0].message == (
        "output 3 of 'split' no longer exists (parts is 2): connect 'relu' to one of its outputs 1 to 2, "
        "or set parts to 3 or more"
    )
    check = check_graph(doc)
    assert check.shapes[doc.node_by_name("relu").id] is None  # downstream of the problem
    doc.set_param(split.id, "parts", 3)
    assert validate(doc) == []


def test_the_file_writes_from_port_only_for_later_outputs_and_reads_it_back():
    doc = split_block()
    data = network_to_dict(doc)
    inputs = {layer["name"]: layer["inputs"] for layer in data["layers"]}
    assert inputs["conv"] == ["split"]
    assert inputs["relu"] == [{"from": "split", "from_port": 2}]
    text = dumps_network(doc)
    assert '"inputs": [{"from": "split", "from_port": 2}]' in text
    again = loads_network(text)
    assert dumps_network(again) == text
    relu = again.node_by_name("relu")
    assert [e.source_port for e in again.input_edges(relu.id)] == [2]


@pytest.mark.parametrize("name", example_names())
def test_files_without_later_outputs_are_written_as_before(name):
    text = example_path(name).read_text(encoding="utf-8")
    assert "from_port" not in text or "ChannelSplit" in text
    if "from_port" not in text:
        assert dumps_network(load_network(example_path(name))) == text


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"from": "split", "from_port": -1}, r'"from_port" must be a whole number ≥ 0'),
        ({"from": "split", "from_port": True}, r'"from_port" must be a whole number ≥ 0'),
        ({"from": "split", "from_port": 1.5}, r'"from_port" must be a whole number ≥ 0'),
        ({"from": "split"}, r'each input must be a layer name or \{"from"'),
        ({"from": "split", "from_port": 1, "extra": 0}, r'each input must be a layer name or \{"from"'),
        ({"from": 3, "from_port": 1}, r'each input must be a layer name or \{"from"'),
        (["split"], r'each input must be a layer name or \{"from"'),
        ({"from": "nowhere", "from_port": 1}, r"names 'nowhere', but no layer has that name"),
    ],
)
def test_a_bad_input_reference_is_refused_naming_the_layer_and_field(item, message):
    data = network_to_dict(split_block())
    relu = next(layer for layer in data["layers"] if layer["name"] == "relu")
    relu["inputs"] = [item]
    with pytest.raises(NetworkFileError, match=r"layer 'relu' \(layers\[3\]\): field \"inputs"):
        loads_network(json.dumps(data))
    with pytest.raises(NetworkFileError, match=message):
        loads_network(json.dumps(data))


def test_a_file_with_an_output_the_layer_no_longer_has_opens_with_the_problem():
    doc = split_block()
    doc.set_param(doc.node_by_name("split").id, "parts", 2)
    again = loads_network(dumps_network(doc))
    assert [str(p) for p in validate(again)] == [str(p) for p in validate(doc)]
    assert dumps_network(again) == dumps_network(doc)


def test_copies_keep_the_output_each_edge_leaves():
    doc = split_block()
    doc.set_param(doc.node_by_name("split").id, "parts", 2)  # an edge from output 3 stays, as a problem
    for keep_ids in (True, False):
        copy = copy_network(doc, keep_ids=keep_ids)
        assert dumps_network(copy) == dumps_network(doc)


def test_the_batchnorm_variant_keeps_the_outputs_of_a_split():
    variant = with_batchnorm(split_block())
    relu = variant.node_by_name("relu")
    assert [e.source_port for e in variant.input_edges(relu.id)] == [2]
    assert validate(variant) == []


def test_the_summary_names_the_output_read_and_counts_every_output():
    doc = split_block()
    layers = {layer.name: layer for layer in summarize(doc).layers}
    assert layers["conv"].inputs == ["split (output 1)"]
    assert layers["relu"].inputs == ["split (output 3)"]
    assert layers["concat"].inputs == ["conv", "relu"]
    assert layers["split"].output_shape == (2, 8, 8)
    assert layers["split"].activation_bytes == 6 * 8 * 8 * 4  # three outputs of 2×8×8


def test_each_output_of_a_split_sees_what_its_input_sees():
    doc = split_block()
    fields = receptive_fields(doc)
    ids = {node.name: node.id for node in doc.nodes}
    assert fields[ids["split"]] == fields[ids["input"]]
    assert fields[ids["relu"]] == fields[ids["input"]]
    assert fields[ids["conv"]].size == (3, 3)


def test_the_layout_puts_the_readers_of_a_split_in_the_order_of_its_outputs():
    doc = NetworkDocument("readers")
    entry = doc.add_node("Input", {"shape": [6, 4, 4]}, name="input")
    split = doc.chain(entry.id, [("ChannelSplit", {"parts": 3}, "split")])
    readers = {}
    for port in (2, 0, 1):  # added in another order than the outputs'
        readers[port] = doc.add_node("ReLU", name=f"reads_{port}")
        doc.connect(split.id, readers[port].id, source_port=port)
    doc.merge("Concat", [readers[p].id for p in (1, 2, 0)], name="join")
    positions = layered_positions(doc)
    xs = [positions[readers[port].id][0] for port in range(3)]
    assert xs == sorted(xs) and len(set(xs)) == 3
