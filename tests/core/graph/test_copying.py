"""Copies of a network document: equal in content, independent, with kept or fresh ids."""

from __future__ import annotations

import pytest

from core.examples import example_names, example_path
from core.graph.copying import copy_network
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network, network_from_dict, network_to_dict


def branching() -> NetworkDocument:
    """Two branches into a Concat, wired port 1 first; ids with a gap; one loose layer."""
    doc = NetworkDocument("branches", "a test network")
    x = doc.add_node("Input", {"shape": [3, 8, 8]}, name="x", position=(-40.5, 10))
    removed = doc.add_node("ReLU")
    a = doc.add_node("Conv2D", {"filters": 4, "kernel_size": 3, "padding": 1}, name="a", position=(0, -30))
    b = doc.add_node("Conv2D", {"filters": 6, "kernel_size": 1}, name="b", position=(0, 30))
    doc.remove_node(removed.id)
    concat = doc.add_node("Concat", name="both", position=(60.25, 0))
    doc.connect(x.id, b.id)
    doc.connect(b.id, concat.id, 1)
    doc.connect(x.id, a.id)
    doc.connect(a.id, concat.id, 0)
    doc.add_node("LeakyReLU", {"alpha": 0.3}, name="loose", position=(5, 5))
    return doc


def content(doc: NetworkDocument) -> tuple:
    """Everything but the ids: metadata, layers in order, edges in order by layer name."""
    names = {node.id: node.name for node in doc.nodes}
    layers = [(n.name, n.type_name, n.layer.get_config(), n.position) for n in doc.nodes]
    edges = [(names[e.source], names[e.target], e.port) for e in doc.edges]
    return doc.name, doc.description, layers, edges


@pytest.mark.parametrize("keep_ids", [True, False])
def test_the_copy_has_the_same_layers_params_positions_and_edges(keep_ids):
    original = branching()
    copy = copy_network(original, keep_ids=keep_ids)
    assert copy is not original
    assert content(copy) == content(original)
    assert content(copy)[3] == [("x", "b", 0), ("b", "both", 1), ("x", "a", 0), ("a", "both", 0)]


def test_kept_ids_name_the_same_layers():
    original = branching()
    copy = copy_network(original, keep_ids=True)
    assert [n.id for n in copy.nodes] == [n.id for n in original.nodes] == ["n1", "n3", "n4", "n5", "n6"]
    assert copy.edges == original.edges


def test_fresh_ids_number_the_layers_as_a_file_read_does():
    original = branching()
    copy = copy_network(original, keep_ids=False)
    assert [n.id for n in copy.nodes] == ["n1", "n2", "n3", "n4", "n5"]
    assert [n.id for n in copy.nodes] == [n.id for n in network_from_dict(network_to_dict(original)).nodes]


@pytest.mark.parametrize("keep_ids", [True, False])
def test_editing_the_copy_leaves_the_original_and_back(keep_ids):
    original = branching()
    before = content(original)
    heard: list = []
    original.subscribe(heard.append)
    copy = copy_network(original, keep_ids=keep_ids)
    a, both = copy.node_by_name("a"), copy.node_by_name("both")
    copy.set_param(a.id, "filters", 9)
    copy.rename_node(a.id, "renamed")
    copy.move_node(both.id, (1.0, 2.0))
    copy.disconnect(copy.input_edges(both.id)[0])
    copy.remove_node(copy.node_by_name("loose").id)
    copy.add_node("Dense", name="extra")
    assert content(original) == before
    assert heard == []  # listeners stay with the original
    edited = content(copy)
    original.set_param(original.node_by_name("b").id, "filters", 2)
    original.remove_node(original.node_by_name("x").id)
    assert content(copy) == edited


@pytest.mark.parametrize("name", example_names())
def test_every_example_copies_to_the_same_file(name):
    original = load_network(example_path(name))
    for keep_ids in (True, False):
        assert network_to_dict(copy_network(original, keep_ids=keep_ids)) == network_to_dict(original)
