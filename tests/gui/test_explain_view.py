"""The "Why this class?" tab: the maps it shows are the core's, and what cannot be explained says why."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.explain import default_gradcam_layer, grad_cam, occlusion, saliency, top_classes
from core.data import load_builtin
from core.engine.model import Model
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from gui.inside.explain_canvas import blend, input_rgb, overlay_weight
from gui.inside.explain_view import UNTRAINED_NOTE, window_count
from gui.inside.inside_panel import TABS, InsidePanel

WAIT_MS = 60_000
EXPLAIN_TAB = TABS.index("Why this class?")


@pytest.fixture(scope="module")
def digits():
    return load_builtin("digits", input_shape=(1, 8, 8))


def make_panel(qtbot, name, dataset=None, weights=None, document=None):
    document = document or load_network(example_path(name))
    panel = InsidePanel(worker_mode="thread")
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.tabs.setCurrentIndex(EXPLAIN_TAB)
    panel.set_context(document, lambda: weights, lambda: dataset)
    panel.show()
    settle(qtbot, panel)
    return panel, document


def settle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.host.busy, timeout=WAIT_MS)


def node_id(document, name):
    return document.node_by_name(name).id


def test_the_tab_exists_and_shares_the_input_chooser(qtbot, digits):
    panel, _document = make_panel(qtbot, "digits_cnn", dataset=digits)
    assert panel.tabs.tabText(EXPLAIN_TAB) == "Why this class?"
    assert panel.tabs.widget(EXPLAIN_TAB) is panel.explain
    assert panel.chooser.isVisibleTo(panel)
    panel.shutdown()


def test_grad_cam_and_top_classes_equal_the_core_functions(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    panel.chooser.choose_sample(3)
    view = panel.explain
    model = Model(document)
    x = panel.chooser.sample().x
    layer = view.result.explanation.layer_id
    assert layer == panel.current_layer()  # the panel's layer is a feature map: Grad-CAM reads it
    np.testing.assert_allclose(view.heatmap, grad_cam(model, x, layer), rtol=1e-6, atol=1e-9)
    expected_top = top_classes(model, x, 5)
    assert [c for c, _ in view.bars.top] == [c for c, _ in expected_top]
    np.testing.assert_allclose([p for _, p in view.bars.top], [p for _, p in expected_top], rtol=1e-6)
    predicted = expected_top[0][0]
    assert view.result.explanation.class_index == predicted
    assert f"Why “{digits.class_names[predicted]}”?" in view.title.text()
    assert view.bars.names == list(digits.class_names)  # a dataset sample: the dataset's class names
    assert UNTRAINED_NOTE in view.notes.text()
    panel.shutdown()


def test_a_non_map_selection_falls_back_to_the_last_feature_map_and_says_so(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view = panel.explain
    panel.select_layer(node_id(document, "fc1"))
    model = Model(document)
    x = panel.chooser.sample().x
    assert view.result.explanation.layer_id == default_gradcam_layer(model)
    np.testing.assert_allclose(view.heatmap, grad_cam(model, x), rtol=1e-6, atol=1e-9)
    assert "last feature map" in view.notes.text() and "fc1" in view.notes.text()
    # Insisting on the selected layer names why it cannot be used, instead of a picture.
    view.choose_layer_mode("selected")
    assert view.result is None and view.pages.currentWidget() is view.message
    assert "fc1" in view.message.text() and "feature map" in view.message.text()
    view.choose_layer_mode("default")
    assert view.result is not None
    panel.shutdown()


def test_switching_to_occlusion_recomputes_with_the_core_function(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view = panel.explain
    view.set_method("occlusion")
    settle(qtbot, panel)
    model = Model(document)
    x = panel.chooser.sample().x
    window, stride = view.window.value(), view.stride.value()
    assert view.window.isVisibleTo(view) and not view.layer_choice.isVisibleTo(view)
    np.testing.assert_allclose(view.heatmap, occlusion(model, x, window=window, stride=stride), rtol=1e-6, atol=1e-9)
    assert f"{window_count(8, 8, window, stride)} hidden squares" in view.notes.text()
    view.window.setValue(3)
    view.stride.setValue(2)
    np.testing.assert_allclose(view.heatmap, occlusion(model, x, window=3, stride=2), rtol=1e-6, atol=1e-9)
    view.set_method("saliency")
    np.testing.assert_allclose(view.heatmap, saliency(model, x), rtol=1e-5, atol=1e-9)
    panel.shutdown()


def test_choosing_another_class_changes_the_map_and_the_title(qtbot, digits):
    weights = Model(load_network(example_path("digits_cnn")), seed=3).state_dict()
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits, weights=weights)
    view = panel.explain
    model = Model(document)
    model.load_state_dict(weights)
    x = panel.chooser.sample().x
    before, title = view.heatmap.copy(), view.title.text()
    assert UNTRAINED_NOTE not in view.notes.text() and "trained weights" in view.notes.text().lower()
    top = [c for c, _ in view.bars.top]
    other = top[2]
    view.bars.class_clicked.emit(other)  # as a click on the third bar
    assert view.result.explanation.class_index == other
    assert view.class_choice.currentData() == other and view.bars.explained == other
    assert not np.allclose(view.heatmap, before)
    assert view.title.text() != title and f"Why “{digits.class_names[other]}”?" in view.title.text()
    layer = view.result.explanation.layer_id
    np.testing.assert_allclose(view.heatmap, grad_cam(model, x, layer, other), rtol=1e-6, atol=1e-9)
    view.choose_class(None)
    np.testing.assert_allclose(view.heatmap, before)
    panel.shutdown()


def test_recomputes_when_the_input_or_weights_change_and_only_when_visible(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view = panel.explain
    first = view.heatmap.copy()
    panel.chooser.choose_sample(7)
    x = panel.chooser.sample().x
    model = Model(document)
    np.testing.assert_allclose(view.heatmap, grad_cam(model, x, view.result.explanation.layer_id), atol=1e-9)
    assert not np.allclose(view.heatmap, first)
    panel.tabs.setCurrentIndex(0)
    trained = Model(document, seed=11).state_dict()
    panel.host.set_context(document, lambda: trained)
    panel.weights_changed()
    assert EXPLAIN_TAB in panel._dirty  # hidden: waits until shown
    panel.tabs.setCurrentIndex(EXPLAIN_TAB)
    model.load_state_dict(trained)
    np.testing.assert_allclose(view.heatmap, grad_cam(model, x, view.result.explanation.layer_id), atol=1e-9)
    panel.shutdown()


def test_a_network_without_feature_maps_names_the_cause(qtbot):
    panel, _document = make_panel(qtbot, "mlp")
    view = panel.explain
    assert view.result is None and view.pages.currentWidget() is view.message
    assert "Grad-CAM needs a layer with a feature map" in view.message.text()
    assert "Traceback" not in view.message.text()
    assert "Saliency, SmoothGrad and Occlusion need no feature map" in view.message.text()
    view.set_method("saliency")  # pixels still have gradients
    assert view.result is not None and view.heatmap.shape == (28, 28)
    panel.shutdown()


def test_a_network_without_class_scores_names_the_cause(qtbot):
    panel, _document = make_panel(qtbot, "conv_autoencoder")
    view = panel.explain
    assert view.result is None
    assert "class scores" in view.message.text()
    panel.shutdown()


def test_a_network_without_an_image_input_names_the_cause(qtbot):
    document = NetworkDocument("vectors")
    source = document.add_node("Input", {"shape": [16]}, name="input")
    dense = document.add_node("Dense", {"units": 3}, name="scores")
    document.connect(source.id, dense.id)
    panel, _document = make_panel(qtbot, "", document=document)
    view = panel.explain
    assert view.result is None
    assert "not an image" in view.message.text()
    panel.shutdown()


def test_big_networks_explain_in_the_background_on_a_photograph(qtbot):
    panel, _document = make_panel(qtbot, "cifar_cnn")
    assert not panel.host.is_inline()
    panel.chooser.choose("photo", "flower.jpg")
    view = panel.explain
    view.set_method("smoothgrad")
    assert panel.host.busy and "Computing SmoothGrad" in view.notes.text()  # not in the GUI thread
    settle(qtbot, panel)
    assert view.result is not None and view.heatmap.shape == (32, 32)
    assert view.bars.names[0] == "class 0"  # a photograph: no dataset names
    view.set_side_by_side(True)
    assert view.canvas.side_by_side and not view.opacity.isVisibleTo(view)
    panel.shutdown()


def test_overlay_and_side_by_side_draw_the_same_map(qtbot, digits):
    panel, _document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view, canvas = panel.explain, panel.explain.canvas
    view.opacity.setValue(40)
    expected = blend(input_rgb(panel.chooser.sample().x), canvas.heat_rgb(), overlay_weight(view.heatmap, (0, 1), 0.4))
    np.testing.assert_array_equal(canvas.overlay_rgb(), expected)
    assert canvas.levels == (0.0, 1.0)  # Grad-CAM is scaled so its strongest pixel is 1
    panel.grab()  # paints without raising
    view.set_side_by_side(True)
    assert canvas.side_by_side and len(canvas._panes()) == 2
    panel.grab()
    panel.shutdown()


def test_a_network_that_does_not_compute_shows_a_message(qtbot, digits):
    document = load_network(example_path("digits_cnn"))
    document.remove_node(node_id(document, "flatten"))
    panel, _document = make_panel(qtbot, "", dataset=digits, document=document)
    view = panel.explain
    assert view.result is None and view.message.text()
    assert "Traceback" not in view.message.text()
    panel.grab()
    panel.shutdown()


def test_an_edit_of_the_network_explains_the_predicted_class_again(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view = panel.explain
    view.choose_class(9)
    assert view.result.explanation.class_index == 9
    document.set_param(node_id(document, "conv2"), "kernel_size", 5)
    document.set_param(node_id(document, "conv2"), "padding", 2)
    panel.network_changed()
    assert view.class_choice.currentData() is None
    assert view.result.explanation.class_index == view.bars.top[0][0]
    panel.shutdown()
