"""Insert → Block with the modern blocks: wired to the selection, one undo step."""

from __future__ import annotations

import pytest

from core.examples import example_path
from core.graph.fileformat import load_network
from core.graph.validation import validate
from gui.main_window import BLOCKS, TEMPLATES

# block example: (network to open, layer to select, the block's first layer)
CASES = {
    "depthwise_separable": ("cifar_cnn", "conv2_relu", "depthwise"),
    "inverted_residual": ("mobilenet_cifar", "s1_pointwise_relu6", "expand"),
    "se_block": ("cifar_cnn", "conv2_relu", "se_pool"),
    "mbconv": ("mobilenet_cifar", "s1_pointwise_relu6", "expand"),
    "convnext_block": ("cifar_cnn", "conv2_relu", "depthwise"),
    "shufflenet_unit": ("mobilenet_cifar", "s1_pointwise_relu6", "split"),
    "shufflenet_unit_down": ("mobilenet_cifar", "s1_pointwise_relu6", "a_depthwise"),
    "unet_small": ("lenet5", "input", "enc1_conv"),
    "conv_autoencoder": ("lenet5", "input", "enc1"),
}


def test_menus_list_the_new_blocks_and_templates():
    assert set(CASES) <= set(BLOCKS.values())
    assert {"unet_small", "conv_autoencoder", "mobilenet_cifar"} <= set(TEMPLATES)


@pytest.mark.parametrize("example", CASES)
def test_insert_block_below_the_selection_in_one_undo_step(make_window, example):
    network, selected, first = CASES[example]
    window = make_window(network)
    doc = window.document
    names_before = {node.name for node in doc.nodes}
    anchor = doc.node_by_name(selected)
    window.scene.node_items[anchor.id].setSelected(True)
    title = next(t for t, n in BLOCKS.items() if n == example)
    steps = window.undo_stack.count()

    window.insert_block(example, title)

    block = load_network(example_path(example))
    added = [node for node in doc.nodes if node.name not in names_before]
    assert len(added) == len(block) - 1  # all but the block's Input
    assert window.undo_stack.count() == steps + 1
    assert [n.name for n in doc.inputs_of(doc.node_by_name(first).id)] == [selected]
    # Every layer the block's Input fed (a residual's skip, an SE gate's map) reads the selection, at the same port.
    entry = next(node.name for node in block.nodes if node.layer.is_network_input)
    for node in block.nodes:
        sources = [source.name for source in block.inputs_of(node.id)]
        if entry in sources:
            wired = [source.name for source in doc.inputs_of(doc.node_by_name(node.name).id)]
            assert wired == [selected if name == entry else name for name in sources], node.name
    assert all(node.position[1] > anchor.position[1] for node in added)
    assert validate(doc) == []

    window.undo_stack.undo()
    assert {node.name for node in doc.nodes} == names_before


def test_insert_block_wires_the_residual_shortcut_too(make_window):
    window = make_window("mobilenet_cifar")
    doc = window.document
    selected = doc.node_by_name("s1_pointwise_relu6")
    window.scene.node_items[selected.id].setSelected(True)
    before = {node.name for node in doc.nodes}
    window.insert_block("inverted_residual", "MobileNetV2 inverted residual")
    add = next(n for n in doc.nodes if n.name not in before and n.type_name == "Add")
    assert selected in doc.inputs_of(add.id) and len(doc.inputs_of(add.id)) == 2


def test_the_shufflenet_unit_keeps_its_branch_on_the_second_half_of_the_split(make_window):
    window = make_window("mobilenet_cifar")
    doc = window.document
    window.scene.node_items[doc.node_by_name("s1_pointwise_relu6").id].setSelected(True)
    window.insert_block("shufflenet_unit", "ShuffleNetV2 unit")
    split = doc.node_by_name("split")
    readers = {doc.node(edge.target).name: edge.source_port for edge in doc.output_edges(split.id)}
    assert readers == {"concat": 0, "b_pointwise1": 1}
