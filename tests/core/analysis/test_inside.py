"""What the See-inside views can show of a layer: shapes, sources, views and windows."""

from __future__ import annotations

import pytest

from core.analysis.inside import LayerFacts, layer_facts
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument
from core.layers.base import SpatialGeometry
from tests.core.helpers import conv, network


def chain() -> NetworkDocument:
    doc, _ = network(
        (3, 12, 12),
        conv(filters=4, kernel=5, padding=2, name="conv5"),
        ("MaxPool2D", {"pool_size": 3, "stride": 2, "padding": 1}, "maxpool"),
        conv(filters=2, kernel=1, name="mix"),
        ("AvgPool2D", {"pool_size": 2, "stride": 2}, "avgpool"),
        ("Flatten", None, "flat"),
        ("Dense", {"units": 5}, "fc"),
    )
    return doc


def facts(doc: NetworkDocument, name: str) -> LayerFacts:
    return layer_facts(doc, doc.node_by_name(name).id)


def test_facts_along_a_chain_by_hand():
    doc = chain()
    ids = {node.name: node.id for node in doc.nodes}
    window = SpatialGeometry
    # Heights: 12 + 2 + 2 − 5 + 1 = 12; (12 + 1 + 1 − 3) // 2 + 1 = 6; 6 // 2 = 3; Flatten 2·3·3 = 18.
    expected = {  # shape, source, views, window, pools_by, modes
        "input": ((3, 12, 12), None, (), None, "", ["maps"]),
        "conv5": ((4, 12, 12), "input", ("filters",), window((5, 5), pad_begin=(2, 2)), "", ["maps", "filters"]),
        "maxpool": (
            (4, 6, 6),
            "conv5",
            ("pooling",),
            window((3, 3), (2, 2), (1, 1)),
            "largest value",
            ["maps", "pooling"],
        ),
        "mix": ((2, 6, 6), "maxpool", ("mixing",), window(), "", ["maps", "mixing"]),
        "avgpool": ((2, 3, 3), "mix", ("pooling",), window((2, 2), (2, 2)), "average", ["maps", "pooling"]),
        "flat": ((18,), "avgpool", (), None, "", ["maps"]),
        "fc": ((5,), "flat", (), None, "", ["maps"]),
    }
    for name, (shape, source, views, geometry, pools_by, modes) in expected.items():
        found = facts(doc, name)
        assert (found.node_id, found.name, found.type_name) == (ids[name], name, doc.node(ids[name]).type_name)
        assert found.shape == shape and found.views == views and found.geometry == geometry, name
        assert found.source_id == (ids[source] if source else None), name
        assert (found.pools_by, found.modes) == (pools_by, modes), name


def test_a_merge_has_no_single_source_and_no_window():
    doc, left = network((2, 6, 6), conv(filters=2, kernel=3, padding=1, name="left"))
    right = doc.chain(doc.node_by_name("input").id, [conv(filters=2, kernel=3, padding=1, name="right")])
    add = doc.merge("Add", [left.id, right.id], name="sum")
    found = layer_facts(doc, add.id)
    assert (found.shape, found.source_id, found.geometry, found.modes) == ((2, 6, 6), None, None, ["maps"])


def test_pooling_is_offered_only_against_a_single_source():
    with_source = LayerFacts("p", "p", "MaxPool2D", (1, 2, 2), "s", ("pooling",), None, "largest value")
    without = LayerFacts("p", "p", "MaxPool2D", (1, 2, 2), None, ("pooling",), None, "largest value")
    assert with_source.modes == ["maps", "pooling"]
    assert without.modes == ["maps"]


def test_a_layer_of_unknown_shape_is_an_error_naming_it():
    doc = chain()
    loose = doc.add_node("Conv2D", name="loose")  # no input: no shape
    with pytest.raises(LayerwiseError, match="'loose' has no known output shape"):
        layer_facts(doc, loose.id)
