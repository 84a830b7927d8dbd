"""The network document: edits, names, ports and the events that describe them."""

from __future__ import annotations

import pytest

from core.errors import GraphError, ParamError
from core.graph.document import NetworkDocument
from core.graph.events import EdgeAdded, EdgeRemoved, NodeAdded, NodeMoved, NodeRemoved, NodeRenamed, ParamChanged


@pytest.fixture
def recorded():
    doc = NetworkDocument()
    events: list = []
    doc.subscribe(events.append)
    return doc, events


def test_each_edit_emits_one_past_tense_event_after_the_change(recorded):
    doc, events = recorded
    seen_sizes = []
    doc.subscribe(lambda event: seen_sizes.append(len(doc)))
    a = doc.add_node("Input", {"shape": [1, 8, 8]})
    b = doc.add_node("Conv2D")
    edge = doc.connect(a.id, b.id)
    doc.set_param(b.id, "filters", 8)
    doc.rename_node(b.id, "features")
    doc.move_node(b.id, (10, 20))
    assert events == [
        NodeAdded(a.id),
        NodeAdded(b.id),
        EdgeAdded(edge),
        ParamChanged(b.id, "filters", 32, 8),
        NodeRenamed(b.id, "conv", "features"),
        NodeMoved(b.id, (0.0, 0.0), (10.0, 20.0)),
    ]
    assert seen_sizes[:2] == [1, 2]


def test_removing_a_node_removes_its_edges_first(recorded):
    doc, events = recorded
    a, b, c = doc.add_node("Input"), doc.add_node("ReLU"), doc.add_node("ReLU")
    e1, e2 = doc.connect(a.id, b.id), doc.connect(b.id, c.id)
    events.clear()
    doc.remove_node(b.id)
    assert events[-1] == NodeRemoved(b.id)
    assert set(events[:-1]) == {EdgeRemoved(e1), EdgeRemoved(e2)}
    assert doc.edges == [] and b.id not in doc


def test_unchanged_values_emit_nothing(recorded):
    doc, events = recorded
    node = doc.add_node("Conv2D", {"kernel_size": 3})
    events.clear()
    doc.set_param(node.id, "kernel_size", [3, 3])
    doc.move_node(node.id, node.position)
    doc.rename_node(node.id, node.name)
    assert events == []


def test_names_are_generated_unique_and_checked():
    doc = NetworkDocument()
    names = [doc.add_node("Conv2D").name for _ in range(3)]
    assert names == ["conv", "conv_1", "conv_2"]
    assert doc.add_node("GlobalAvgPool2D").name == "global_pool"
    assert doc.add_node("LeakyReLU").name == "leaky_relu"
    with pytest.raises(GraphError, match="already named 'conv'"):
        doc.add_node("ReLU", name="conv")
    with pytest.raises(GraphError, match="empty"):
        doc.rename_node(doc.nodes[0].id, "  ")


def test_invalid_parameter_names_layer_and_field_and_changes_nothing(recorded):
    doc, events = recorded
    node = doc.add_node("Conv2D", name="conv1")
    events.clear()
    with pytest.raises(ParamError) as info:
        doc.set_param(node.id, "kernel_size", 0)
    assert info.value.field == "kernel_size"
    assert "must be ≥ 1, got 0" in str(info.value) and "conv1" in str(info.value)
    assert node.layer.params["kernel_size"] == (3, 3) and events == []


def test_ports_fill_in_order_and_refuse_reuse():
    doc = NetworkDocument()
    a, b, c = doc.add_node("Input"), doc.add_node("Input"), doc.add_node("Input")
    concat = doc.add_node("Concat")
    assert [doc.connect(n.id, concat.id).port for n in (a, b, c)] == [0, 1, 2]
    assert doc.inputs_of(concat.id) == [a, b, c]
    relu = doc.add_node("ReLU")
    doc.connect(a.id, relu.id)
    with pytest.raises(GraphError, match="port 1 does not exist"):
        doc.connect(b.id, relu.id, 1)
    with pytest.raises(GraphError, match="already fed by 'input'"):
        doc.connect(b.id, relu.id, 0)
    with pytest.raises(GraphError, match="takes no inputs"):
        doc.connect(relu.id, a.id)
    with pytest.raises(GraphError, match="cannot feed itself"):
        doc.connect(relu.id, relu.id)


def test_removed_node_can_be_restored_with_its_id():
    doc = NetworkDocument()
    node = doc.add_node("ReLU")
    doc.remove_node(node.id)
    again = doc.add_node("ReLU", name=node.name, node_id=node.id)
    assert again.id == node.id
    assert doc.add_node("ReLU").id != node.id
    with pytest.raises(GraphError, match="exists already"):
        doc.add_node("ReLU", node_id=node.id)


def test_unsubscribe_stops_events():
    doc = NetworkDocument()
    events: list = []
    unsubscribe = doc.subscribe(events.append)
    unsubscribe()
    doc.add_node("ReLU")
    assert events == []


def test_metadata_changes_are_events(recorded):
    from core.graph.events import MetadataChanged

    doc, events = recorded
    doc.name = "Renamed"
    doc.description = "Text"
    doc.name = "Renamed"
    assert events == [
        MetadataChanged("name", "Untitled network", "Renamed"),
        MetadataChanged("description", "", "Text"),
    ]


def test_merge_helper_feeds_inputs_in_order():
    doc = NetworkDocument()
    sources = [doc.add_node("Input", {"shape": [c, 4, 4]}) for c in (1, 2, 3)]
    concat = doc.merge("Concat", [s.id for s in sources], name="cat")
    assert doc.inputs_of(concat.id) == sources and concat.name == "cat"


def test_name_problem_explains_without_changing_anything():
    doc = NetworkDocument()
    a, b = doc.add_node("ReLU", name="a"), doc.add_node("ReLU", name="b")
    assert doc.name_problem("a", b.id) == "another layer is already named 'a'"
    assert doc.name_problem("a", a.id) is None and doc.name_problem("c") is None
    assert doc.name_problem(" ") == "a layer name must not be empty"
    assert [n.name for n in doc.nodes] == ["a", "b"]


def test_analyses_are_shared_until_the_document_changes():
    from core.analysis.summary import summarize
    from core.graph.validation import check_graph

    doc = NetworkDocument()
    entry = doc.add_node("Input", {"shape": [1, 8, 8]})
    conv = doc.add_node("Conv2D", {"filters": 4})
    doc.connect(entry.id, conv.id)
    first = summarize(doc)
    assert summarize(doc) is first and check_graph(doc) is check_graph(doc)
    doc.move_node(conv.id, (50, 50))
    assert summarize(doc) is first  # positions feed no analysis
    seen = []
    doc.subscribe(lambda event: seen.append(summarize(doc).layer(conv.name).output_shape))
    doc.set_param(conv.id, "filters", 6)
    assert seen == [(6, 6, 6)] and summarize(doc) is not first
