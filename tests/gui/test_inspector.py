"""The inspector against a document and its undo stack."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QPalette, QUndoStack
from PySide6.QtWidgets import QLabel, QSpinBox

from core.analysis.bottleneck import bottleneck_for_node
from core.analysis.report import format_bytes, format_count, format_si, receptive_field_cells
from core.analysis.summary import summarize
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network, network_to_dict
from core.params import ChoiceParam
from core.shapes import format_shape
from gui.panels import inspector as inspector_module
from gui.panels.inspector import InspectorPanel, NodeInspector, SelectionSummary, default_reduction
from gui.panels.param_editors import (
    BoolEditor,
    ChoiceEditor,
    FloatEditor,
    IntEditor,
    PaddingEditor,
    PairEditor,
    ShapeEditor,
    format_float,
    make_editor,
    parse_shape,
)


@pytest.fixture
def document() -> NetworkDocument:
    return load_network(example_path("lenet5"))


@pytest.fixture
def stack() -> QUndoStack:
    return QUndoStack()


@pytest.fixture
def panel(qtbot, document, stack) -> InspectorPanel:
    widget = InspectorPanel()
    qtbot.addWidget(widget)
    widget.set_context(document, stack)
    return widget


def select(panel: InspectorPanel, document: NetworkDocument, name: str) -> NodeInspector:
    panel.set_selection([document.node_by_name(name).id])
    view = panel.node_inspector
    assert view is not None
    return view


def params_of(document: NetworkDocument, name: str) -> dict:
    return dict(document.node_by_name(name).layer.params)


def type_into(qtbot, edit, text: str) -> None:
    """Replace a line edit's text as a user would, and press Enter."""
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


# -- editors ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["input", "conv1", "relu1", "pool1", "fc1", "probabilities"])
def test_one_editor_per_param_spec(panel, document, name):
    view = select(panel, document, name)
    specs = document.node_by_name(name).layer.param_specs
    assert list(view.editors) == [spec.name for spec in specs]
    for spec in specs:
        assert spec.help in view.editors[spec.name].toolTip()


def test_editor_kinds_and_ranges(panel, document):
    view = select(panel, document, "conv1")
    kinds = {name: type(editor) for name, editor in view.editors.items()}
    assert kinds == {
        "filters": IntEditor,
        "kernel_size": PairEditor,
        "stride": PairEditor,
        "padding": PaddingEditor,
        "dilation": PairEditor,
        "groups": IntEditor,
        "bias": BoolEditor,
    }
    filters = view.editors["filters"].spin
    assert isinstance(filters, QSpinBox)
    assert (filters.minimum(), filters.maximum(), filters.value()) == (1, 65536, 6)
    assert isinstance(select(panel, document, "input").editors["shape"], ShapeEditor)


def test_spin_box_change_edits_document_and_downstream_figures(panel, document, stack):
    view = select(panel, document, "conv1")
    view.editors["filters"].spin.setValue(12)
    assert params_of(document, "conv1")["filters"] == 12
    assert stack.count() == 1
    assert view.figures["output_shape"].text() == "12×28×28"
    conv2 = select(panel, document, "conv2")
    assert conv2.figures["params"].text() == format_count(16 * 12 * 25 + 16)


def test_successive_changes_of_one_spin_box_are_one_undo_step(panel, document, stack):
    spin = select(panel, document, "conv1").editors["filters"].spin
    spin.setValue(8)
    spin.setValue(10)
    assert stack.count() == 1
    stack.undo()
    assert params_of(document, "conv1")["filters"] == 6
    assert spin.value() == 6


def test_undo_and_redo_update_the_editor_in_place(panel, document, stack):
    view = select(panel, document, "conv1")
    editor = view.editors["groups"]
    editor.spin.setValue(2)
    view.editors["bias"].check.setChecked(False)
    assert stack.count() == 2
    stack.undo()
    stack.undo()
    assert (editor.spin.value(), view.editors["bias"].check.isChecked()) == (1, True)
    stack.redo()
    assert editor.spin.value() == 2
    assert panel.node_inspector is view and view.editors["groups"] is editor


def test_refused_value_shows_error_and_changes_nothing(panel, document, stack):
    view = select(panel, document, "conv1")
    before = network_to_dict(document)
    groups = view.editors["groups"]
    groups.spin.setValue(4)
    assert groups.has_error
    assert "must divide filters (6), got 4" in groups.error_label.text()
    assert groups.spin.value() == 1
    assert network_to_dict(document) == before
    assert stack.count() == 0
    groups.spin.setValue(3)
    assert not groups.has_error
    assert params_of(document, "conv1")["groups"] == 3


def test_refusal_in_another_field_names_that_field(panel, document):
    view = select(panel, document, "conv1")
    view.editors["groups"].spin.setValue(2)
    view.editors["filters"].spin.setValue(7)
    assert view.editors["filters"].error_label.text() == "groups must divide filters (7), got 2"
    assert view.editors["filters"].spin.value() == 6


def test_external_change_syncs_editors_without_pushing(panel, document, stack):
    view = select(panel, document, "conv1")
    editor = view.editors["filters"]
    document.set_param(document.node_by_name("conv1").id, "filters", 20)
    assert editor.spin.value() == 20
    assert view.figures["output_shape"].text() == "20×28×28"
    assert stack.count() == 0
    assert panel.node_inspector is view


def test_pair_editor_keeps_square_while_linked(panel, document, stack):
    editor = select(panel, document, "conv1").editors["kernel_size"]
    assert editor.linked
    editor.height_spin.setValue(3)
    assert params_of(document, "conv1")["kernel_size"] == (3, 3)
    assert editor.width_spin.value() == 3
    editor.link.setChecked(False)
    editor.width_spin.setValue(5)
    assert params_of(document, "conv1")["kernel_size"] == (3, 5)
    assert stack.count() == 1  # consecutive changes of one field merge
    editor.link.setChecked(True)
    assert params_of(document, "conv1")["kernel_size"] == (3, 3)
    stack.undo()
    assert params_of(document, "conv1")["kernel_size"] == (5, 5)
    assert (editor.height_spin.value(), editor.width_spin.value()) == (5, 5)


def test_padding_editor_modes_and_sides(panel, document):
    editor = select(panel, document, "conv1").editors["padding"]
    assert editor.mode.currentText() == "explicit"
    assert editor.explicit_values == (2, 2, 2, 2)
    editor.mode.setCurrentText("same")
    assert params_of(document, "conv1")["padding"] == "same"
    assert not any(spin.isEnabled() for spin in editor.sides.values())
    editor.mode.setCurrentText("explicit")
    assert params_of(document, "conv1")["padding"] == (2, 2, 2, 2)
    editor.sides["right"].setValue(3)
    assert params_of(document, "conv1")["padding"] == (2, 2, 2, 3)
    assert all(spin.isEnabled() for spin in editor.sides.values())


def test_pad2d_editor_offers_pixels_only(qtbot, panel, document, stack):
    conv1 = document.node_by_name("conv1")
    pad = document.add_node("Pad2D", {"pads": [1, 2, 1, 2], "mode": "reflect"}, name="pad")
    document.connect(conv1.id, pad.id)
    editor = select(panel, document, "pad").editors["pads"]
    assert isinstance(editor, PaddingEditor)
    modes = [editor.mode.itemText(i) for i in range(editor.mode.count())]
    assert "valid" not in modes and "same" not in modes
    assert editor.mode.isHidden()  # nothing to choose: padding is always in pixels
    assert editor.explicit_values == (1, 2, 1, 2)
    assert all(spin.isEnabled() for spin in editor.sides.values())
    assert "Valid: pixels per side (≥ 0)" in editor.toolTip() and "'same'" not in editor.toolTip()
    editor.sides["bottom"].setValue(3)
    assert params_of(document, "pad")["pads"] == (1, 2, 3, 2)
    assert stack.count() == 1
    conv_modes = select(panel, document, "conv1").editors["padding"].mode
    assert [conv_modes.itemText(i) for i in range(conv_modes.count())] == ["valid", "same", "explicit"]


def test_shape_editor_parses_and_refuses(qtbot, panel, document, stack):
    view = select(panel, document, "input")
    editor = view.editors["shape"]
    assert editor.edit.text() == "1, 28, 28"
    type_into(qtbot, editor.edit, "3, 32, 32")
    assert params_of(document, "input")["shape"] == (3, 32, 32)
    assert view.figures["output_shape"].text() == "3×32×32"
    type_into(qtbot, editor.edit, "3, 32")
    assert "3 entries" in editor.error_label.text()
    assert editor.edit.text() == "3, 32, 32"
    type_into(qtbot, editor.edit, "three")
    assert "whole numbers" in editor.error_label.text()
    assert stack.count() == 1


def test_float_editor_accepts_scientific_notation_and_respects_bounds(qtbot, stack):
    document = NetworkDocument()
    source = document.add_node("Input", {"shape": [3, 8, 8]})
    norm = document.add_node("BatchNorm")
    document.connect(source.id, norm.id)
    panel = InspectorPanel()
    qtbot.addWidget(panel)
    panel.set_context(document, stack)
    panel.set_selection([norm.id])
    editor = panel.node_inspector.editors["epsilon"]
    assert isinstance(editor, FloatEditor)
    assert editor.edit.text() == "1e-5"
    type_into(qtbot, editor.edit, "2.5e-3")
    assert document.node(norm.id).layer.params["epsilon"] == 0.0025
    type_into(qtbot, editor.edit, "0")
    assert editor.error_label.text() == "must be > 0, got 0"
    assert editor.edit.text() == "0.0025"
    assert stack.count() == 1


def test_choice_editor_commits_the_chosen_string(qtbot):
    committed = []
    spec = ChoiceParam("mode", "nearest", "How to resample.", choices=("nearest", "bilinear"))
    editor = make_editor(spec, "nearest", committed.append)
    qtbot.addWidget(editor)
    assert isinstance(editor, ChoiceEditor) and editor.toolTip() == spec.help
    editor.combo.setCurrentText("bilinear")
    editor.set_value("nearest")
    assert committed == ["bilinear"] and editor.combo.currentText() == "nearest"


def test_float_format_shape_parsing_and_default_reduction():
    assert format_float(1e-5) == "1e-5"
    assert format_float(0.9) == "0.9"
    assert parse_shape("3 × 32 × 32") == [3, 32, 32]
    assert parse_shape("784") == [784]
    assert default_reduction(6, 1) == 2
    assert default_reduction(1, 1) == 1
    assert default_reduction(64, 4) == 16


# -- name ---------------------------------------------------------------------------


def test_rename_and_refused_names(qtbot, panel, document, stack):
    view = select(panel, document, "conv1")
    node_id = view.node_id
    type_into(qtbot, view.name_edit, "features")
    assert document.node(node_id).name == "features"
    assert stack.count() == 1
    type_into(qtbot, view.name_edit, "conv2")
    assert view.name_error.text() == "another layer is already named 'conv2'"
    assert not view.name_error.isHidden()
    assert view.name_edit.text() == "features"
    type_into(qtbot, view.name_edit, "   ")
    assert "empty" in view.name_error.text()
    assert document.node(node_id).name == "features"
    assert stack.count() == 1
    stack.undo()
    assert view.name_edit.text() == "conv1"


def test_a_name_read_from_a_file_keeps_its_spaces_until_it_is_edited(qtbot, panel, document, stack):
    node_id = document.node_by_name("conv1").id
    document.rename_node(node_id, " /conv1/Conv ")  # as an ONNX model or a network file may name it
    view = select(panel, document, " /conv1/Conv ")
    assert view.name_edit.text() == " /conv1/Conv "
    qtbot.keyClick(view.name_edit, Qt.Key.Key_Return)
    assert document.node(node_id).name == " /conv1/Conv " and stack.count() == 0
    type_into(qtbot, view.name_edit, " features ")  # what people type loses its spaces at either end
    assert document.node(node_id).name == "features" and stack.count() == 1


# -- figures ------------------------------------------------------------------------


def test_figures_match_summary(panel, document):
    summary = summarize(document)
    for layer in summary.layers:
        view = select(panel, document, layer.name)
        size, stride, padding = receptive_field_cells(layer.receptive_field, "–")
        shown = {key: label.text() for key, label in view.figures.items()}
        assert shown == {
            "output_shape": format_shape(layer.output_shape),
            "params": format_count(layer.params),
            "macs": format_count(layer.macs),
            "activations": format_bytes(layer.activation_bytes),
            "rf_size": size,
            "rf_stride": stride,
            "rf_padding": padding,
        }
        assert view.problem_label.isHidden()


def test_the_parts_of_a_split_are_edited_and_an_output_they_drop_is_a_problem(panel, document, stack):
    split = document.add_node("ChannelSplit", {"parts": 3}, name="split")
    document.connect(document.node_by_name("conv1").id, split.id)
    side = document.add_node("ReLU", name="side")
    document.connect(split.id, side.id, source_port=2)
    view = select(panel, document, "split")
    assert list(view.editors) == ["parts"] and isinstance(view.editors["parts"], IntEditor)
    assert view.figures["output_shape"].text() == "2×28×28"
    view.editors["parts"].spin.setValue(2)
    assert params_of(document, "split")["parts"] == 2 and stack.count() == 1
    assert not view.problem_label.isHidden()
    assert "output 3 of 'split' no longer exists (parts is 2)" in view.problem_label.text()
    stack.undo()
    assert view.problem_label.isHidden()


def test_problem_is_shown_and_figures_unknown(panel, document):
    view = select(panel, document, "conv2")
    document.set_param(view.node_id, "kernel_size", 30)
    assert not view.problem_label.isHidden()
    assert "kernel 30 is larger" in view.problem_label.text()
    assert view.figures["output_shape"].text() == "?"
    assert view.bottleneck is not None and view.bottleneck.isHidden()
    downstream = select(panel, document, "fc1")
    assert downstream.problem_label.isHidden()
    assert not downstream.figures_note.isHidden()
    document.set_param(document.node_by_name("conv2").id, "kernel_size", 5)
    assert downstream.figures["output_shape"].text() == "120"
    assert downstream.figures_note.isHidden()


# -- bottleneck ---------------------------------------------------------------------


def test_bottleneck_comparison_matches_analysis(panel, document):
    view = select(panel, document, "conv2")
    section = view.bottleneck
    assert section is not None and not section.isHidden()
    assert section.channels.value() == 2  # about a quarter of pool1's 6 channels
    section.channels.setValue(3)
    comparison = bottleneck_for_node(document, view.node_id, 3)
    assert section.cells["macs", "without"].text() == format_si(comparison.direct.macs)
    assert section.cells["params", "with"].text() == format_si(comparison.with_bottleneck.params)
    assert section.cells["macs", "ratio"].text() == f"×{comparison.macs_ratio:.2f}"
    assert select(panel, document, "fc1").bottleneck is None


def test_bottleneck_refuses_channels_that_groups_do_not_divide(panel, document, stack):
    view = select(panel, document, "conv2")
    view.editors["groups"].spin.setValue(2)
    section = view.bottleneck
    section.channels.setValue(3)
    assert "multiple of the convolution's groups" in section.error_label.text()
    assert not section.insert_button.isEnabled()
    section.channels.setValue(4)
    assert section.insert_button.isEnabled()


def test_insert_bottleneck_is_one_undo_step(panel, document, stack):
    before = network_to_dict(document)
    view = select(panel, document, "conv2")
    view.bottleneck.channels.setValue(3)
    view.bottleneck.insert_button.click()
    assert stack.count() == 1
    conv2 = document.node_by_name("conv2")
    relu = document.inputs_of(conv2.id)[0]
    reduce = document.inputs_of(relu.id)[0]
    assert (relu.name, relu.type_name) == ("conv2_reduce_relu", "ReLU")
    assert (reduce.name, reduce.type_name) == ("conv2_reduce", "Conv2D")
    assert reduce.layer.params["filters"] == 3 and reduce.layer.params["kernel_size"] == (1, 1)
    assert [n.name for n in document.inputs_of(reduce.id)] == ["pool1"]
    assert reduce.position == (conv2.position[0], conv2.position[1] - 60)
    assert view.figures["params"].text() == format_count(16 * 3 * 25 + 16)
    stack.undo()
    assert network_to_dict(document) == before
    assert view.figures["params"].text() == format_count(16 * 6 * 25 + 16)
    stack.redo()
    assert [n.name for n in document.inputs_of(conv2.id)] == ["conv2_reduce_relu"]


def test_separable_comparison_and_rewrite_in_one_undo_step(panel, document, stack):
    from core.analysis.bottleneck import separable_for_node
    from core.engine.model import Model

    before = network_to_dict(document)
    view = select(panel, document, "conv2")
    section = view.separable
    assert section is not None and not section.isHidden()
    comparison = separable_for_node(document, view.node_id)
    assert section.cells["macs", "as_is"].text() == format_si(comparison.direct.macs)
    assert section.cells["params", "separable"].text() == format_si(comparison.separable.params)
    assert section.cells["macs", "ratio"].text() == f"×{comparison.macs_ratio:.2f}"
    shape_before = Model(document).output_shape
    section.rewrite_button.click()
    assert stack.count() == 1
    assert document.node_by_name("conv2") is None
    depthwise, pointwise = document.node_by_name("conv2_depthwise"), document.node_by_name("conv2_pointwise")
    assert (depthwise.type_name, pointwise.type_name) == ("DepthwiseConv2D", "Conv2D")
    assert [n.name for n in document.inputs_of(depthwise.id)] == ["pool1"]
    assert [n.name for n in document.inputs_of(pointwise.id)] == ["conv2_depthwise"]
    assert [n.name for n in document.inputs_of(document.node_by_name("relu2").id)] == ["conv2_pointwise"]
    assert Model(document).output_shape == shape_before
    stack.undo()
    assert network_to_dict(document) == before
    assert select(panel, document, "fc1").separable is None


def test_a_pointwise_convolution_shows_why_it_has_no_separable_form(panel, document, stack):
    conv2 = document.node_by_name("conv2")
    document.set_param(conv2.id, "kernel_size", 1)
    section = select(panel, document, "conv2").separable
    assert not section.isHidden()
    assert section.figures.isHidden() and section.rewrite_button.isHidden()
    assert "1×1 convolution has no spatial part" in section.error_label.text()
    assert not section.error_label.isHidden()
    document.set_param(conv2.id, "kernel_size", 3)
    section = select(panel, document, "conv2").separable
    assert not section.figures.isHidden() and not section.rewrite_button.isHidden()
    assert section.error_label.isHidden()


# -- selection and context ----------------------------------------------------------


def test_empty_and_multiple_selection(panel, document):
    assert isinstance(panel.view, QLabel)
    names = ["conv1", "pool1", "fc1"]
    panel.set_selection([document.node_by_name(n).id for n in names])
    assert isinstance(panel.view, SelectionSummary)
    assert panel.view.title.text() == "3 layers selected"
    layers = [summarize(document).layer(n) for n in names]
    assert panel.view.totals["params"].text() == format_count(sum(l.params for l in layers))
    assert panel.view.totals["macs"].text() == format_count(sum(l.macs for l in layers))
    panel.set_selection([])
    assert isinstance(panel.view, QLabel) and "Select a layer" in panel.view.text()


def test_removing_the_selected_layer_drops_it_from_the_selection(panel, document):
    select(panel, document, "relu1")
    document.remove_node(document.node_by_name("relu1").id)
    assert panel.selection == [] and panel.node_inspector is None


def test_set_context_stops_following_the_previous_document(panel, document, stack, monkeypatch):
    other = load_network(example_path("lenet5"))
    panel.set_context(other, stack)
    select(panel, other, "conv1")
    calls = []
    monkeypatch.setattr(inspector_module, "summarize", lambda doc: calls.append(doc) or summarize(doc))
    document.set_param(document.node_by_name("conv1").id, "filters", 9)
    assert calls == []
    other.set_param(other.node_by_name("conv1").id, "filters", 9)
    assert calls == [other]


def test_dark_palette_switches_colours(qapp, panel):
    light = qapp.palette()
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#e0e0e0"))
    assert "#b3261e" in panel.styleSheet()
    try:
        qapp.setPalette(dark)
        QCoreApplication.sendPostedEvents(panel, 0)
        assert "#ffb4ab" in panel.styleSheet()
    finally:
        qapp.setPalette(light)
        QCoreApplication.sendPostedEvents(panel, 0)
    assert "#b3261e" in panel.styleSheet()
