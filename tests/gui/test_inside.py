"""The "See inside" panel: receptive fields drawn exactly, effective fields, maps, activations, BatchNorm."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QImage, QMouseEvent, QUndoStack
from PySide6.QtWidgets import QApplication

from core.analysis.introspection import channel_mixing_matrix, conv_filters, effective_receptive_field, feature_maps
from core.analysis.unit_field import receptive_field_by_depth, unit_input_region
from core.data import load_builtin
from core.engine.model import Model
from core.examples import example_path
from core.graph.fileformat import load_network
from core.graph.validation import check_graph
from core.session.engines import EngineChoice
from core.shapes import is_image
from core.training.events import ActivationsMeasured
from core.training.history import RunHistory
from gui.inside.inside_panel import InsidePanel, default_layer
from gui.inside.model_host import ModelHost
from gui.panels.inspector import InspectorPanel

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def digits():
    return load_builtin("digits", input_shape=(1, 8, 8))


def make_panel(qtbot, name, dataset=None, weights=None, mode="thread", tab=0):
    document = load_network(example_path(name))
    panel = InsidePanel(worker_mode=mode)
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.tabs.setCurrentIndex(tab)
    panel.set_context(document, lambda: weights, lambda: dataset)
    panel.show()
    return panel, document


def settle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.host.busy, timeout=WAIT_MS)


def layer_id(document, name):
    return document.node_by_name(name).id


def spatial_layers(document):
    check = check_graph(document)
    return [n for n in check.order if n.layer.max_inputs != 0 and is_image(check.shapes[n.id])]


def units_to_check(height, width):
    """Corners, edge middles and the centre."""
    rows, cols = {0, height // 2, height - 1}, {0, width // 2, width - 1}
    return sorted({(r, c) for r in rows for c in cols})


# -- the receptive field rectangle -------------------------------------------------------


EXAMPLES = ["digits_cnn", "lenet5", "cifar_cnn", "resnet_block", "inception_block", "squeezenet_fire"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_drawn_rectangle_equals_the_core_analysis_for_every_layer_and_unit(qtbot, name, digits):
    panel, document = make_panel(qtbot, name, dataset=digits if name == "digits_cnn" else None)
    view = panel.receptive_field
    check = check_graph(document)
    assert view.canvas.image is not None  # a dataset sample or a photograph fitted to the input
    for node in spatial_layers(document):
        panel.select_layer(node.id)
        height, width = check.shapes[node.id][1:]
        assert view.canvas.map_hw == (height, width)
        for row, col in units_to_check(height, width):
            view.show_unit(row, col)
            expected = unit_input_region(document, node.id, row, col)
            assert view.region == expected
            # Read back from the painted geometry: the rectangle on screen covers exactly these pixels.
            assert view.canvas.drawn_span() == expected.span, (node.name, row, col)
            geometry = view.canvas.geometry_()
            clipped = view.canvas.clipped_rect()
            if expected.clipped is None:
                assert clipped is None
            else:
                assert geometry.rect_pixels(clipped) == expected.clipped
    panel.shutdown()


def test_padding_at_the_borders_is_part_of_the_rectangle_and_the_message(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view = panel.receptive_field
    panel.select_layer(layer_id(document, "conv2"))
    view.show_unit(0, 0)
    region = view.region
    assert region.span == (-2, -2, 2, 2) and region.clipped == (0, 0, 2, 2) and region.touches_padding
    assert view.canvas.drawn_span() == (-2, -2, 2, 2)
    assert view.canvas.overhang == (2, 2, 2, 2)  # the padding zone drawn around the image
    assert "sees <b>5×5 px</b>" in view.info.text() and "16 of 25 px in padding" in view.info.text()
    view.show_unit(4, 4)
    assert "all on the image" in view.info.text()


def test_hover_click_and_keys_pin_units(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view = panel.receptive_field
    panel.select_layer(layer_id(document, "pool"))
    assert view.canvas.pinned == (2, 2)  # the centre unit is pinned to start with
    geometry = view.canvas.geometry_()
    centre = geometry.unit_rect(1, 3).center()
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        centre,
        view.canvas.mapToGlobal(centre),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(view.canvas, move)  # a plain move: QTest's needs a real window system
    assert view.canvas.hovered == (1, 3)
    assert view.region.row == 1 and view.region.col == 3
    qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=centre.toPoint())
    assert view.canvas.pinned == (1, 3)
    view.pin_unit(0, 0)
    qtbot.keyClick(view.canvas, Qt.Key.Key_Right)
    assert view.canvas.pinned == (0, 1) and view.region.col == 1


# -- the effective receptive field -------------------------------------------------------


@pytest.mark.parametrize(
    "name, layers", [("digits_cnn", ["conv1", "conv2", "pool"]), ("lenet5", ["conv1", "pool1", "conv2", "pool2"])]
)
def test_effective_field_is_non_zero_only_inside_the_theoretical_one(qtbot, digits, name, layers):
    dataset = digits if name == "digits_cnn" else load_builtin("digits", input_shape=(1, 28, 28), n_samples=50)
    panel, document = make_panel(qtbot, name, dataset=dataset)
    view = panel.receptive_field
    view.set_erf_enabled(True)
    for layer in layers:
        panel.select_layer(layer_id(document, layer))
        height, width = view.canvas.map_hw
        seen = 0.0
        for row, col in units_to_check(height, width):
            view.pin_unit(row, col)
            erf, region = view.erf, view.region
            assert erf is not None and erf.shape == region.input_hw
            top, left, bottom, right = region.clipped
            outside = erf.copy()
            outside[top : bottom + 1, left : right + 1] = 0
            assert not outside.any(), (layer, row, col)
            # The overlay drawn is transparent wherever the field is zero.
            alpha = _alpha(view.canvas.erf_image)
            assert np.array_equal(alpha > 0, erf > 0)
            seen += float(erf.sum())
        assert seen > 0, layer  # the overlay is not trivially empty
    panel.shutdown()


def _alpha(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = np.frombuffer(bytes(image.constBits()), np.uint8).reshape(image.height(), image.bytesPerLine())
    return data[:, : image.width() * 4].reshape(image.height(), image.width(), 4)[..., 3]


def test_effective_field_uses_the_trained_weights_and_the_engine(qtbot, digits):
    document = load_network(example_path("digits_cnn"))
    trained = Model(document, seed=7).state_dict()
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits, weights=trained)
    view = panel.receptive_field
    panel.select_layer(layer_id(document, "conv2"))
    view.set_channel(3)
    view.set_erf_enabled(True)
    view.pin_unit(2, 5)
    model = Model(document)
    model.load_state_dict(trained)
    x = panel.chooser.sample().x
    expected = effective_receptive_field(model, x, layer_id(document, "conv2"), 3, 2, 5)
    np.testing.assert_allclose(view.erf, expected, rtol=1e-5)
    assert "trained weights" in view.info.text()


def test_big_networks_compute_in_the_background_without_blocking(qtbot):
    panel, document = make_panel(qtbot, "cifar_cnn")
    assert not panel.host.is_inline()
    view = panel.receptive_field
    panel.select_layer(layer_id(document, "conv3"))
    settle(qtbot, panel)
    view.set_erf_enabled(True)
    view.pin_unit(0, 0)
    assert view.erf is None and panel.host.busy  # asked for, not computed in the GUI thread
    assert panel.busy_bar.isVisibleTo(panel)
    settle(qtbot, panel)
    erf, region = view.erf, view.region
    assert erf is not None and erf.any()
    top, left, bottom, right = region.clipped
    outside = erf.copy()
    outside[top : bottom + 1, left : right + 1] = 0
    assert not outside.any()
    assert not panel.busy_bar.isVisibleTo(panel)
    panel.shutdown()


# -- maps, channels, messages ------------------------------------------------------------


def test_channel_chooser_changes_the_shown_map(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view = panel.receptive_field
    conv1 = layer_id(document, "conv1")
    panel.select_layer(conv1)
    maps = feature_maps(Model(document), panel.chooser.sample().x, conv1)
    view.set_channel(0)
    np.testing.assert_allclose(view.canvas.map_values, maps[0], rtol=1e-5, atol=1e-6)
    view.set_channel(5)
    np.testing.assert_allclose(view.canvas.map_values, maps[5], rtol=1e-5, atol=1e-6)
    assert "channel 5 of 16" in view.canvas.map_caption
    before = view.canvas.map_image.copy()
    view.colour_map.setCurrentText("inferno")
    assert view.canvas.map_image != before
    qtbot.mouseClick(view.strongest, Qt.MouseButton.LeftButton)
    assert view.channel.value() == int(np.argmax(maps.reshape(16, -1).max(axis=1)))
    assert "channel" in view.info.text() and "Error" not in view.info.text()


def test_a_bad_image_file_shows_a_message(qtbot, tmp_path, digits):
    panel, _document = make_panel(qtbot, "digits_cnn", dataset=digits)
    junk = tmp_path / "broken.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\nnot an image at all")
    assert not panel.chooser.load_file(junk)
    view = panel.receptive_field
    assert view.canvas.image is None
    assert "broken.png: is not a readable image" in view.canvas.message
    assert "broken.png" in view.info.text()
    good = tmp_path / "good.png"
    Image.new("L", (40, 30), 200).save(good)
    assert panel.chooser.load_file(good)
    assert view.canvas.image is not None and view.canvas.image_hw == (8, 8)


def test_a_layer_without_a_spatial_output_says_so(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    panel.select_layer(layer_id(document, "fc1"))
    view = panel.receptive_field
    assert view.region is None and view.canvas.map_image is None
    assert "has no receptive field" in view.info.text() and "fc1" in view.info.text()


def test_the_panel_follows_edits_and_picks_a_telling_default_layer(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    assert panel.current_layer() == default_layer(document) == layer_id(document, "pool")
    conv2 = layer_id(document, "conv2")
    panel.select_layer(conv2)
    document.set_param(conv2, "kernel_size", 5)
    document.set_param(conv2, "padding", 2)
    panel.network_changed()
    view = panel.receptive_field
    view.show_unit(0, 0)
    assert view.region == unit_input_region(document, conv2, 0, 0) and view.region.size == (7, 7)
    # Hidden tabs wait: only the visible one was recomputed.
    assert 1 in panel._dirty and 0 not in panel._dirty


def test_feature_maps_filters_mixing_and_pooling(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view = panel.feature_maps
    panel.tabs.setCurrentWidget(view)
    model = Model(document)
    x = panel.chooser.sample().x
    conv2 = layer_id(document, "conv2")
    panel.select_layer(conv2)
    assert view.mode == "maps" and view.grid.count() == 32
    np.testing.assert_allclose(view.shown, feature_maps(model, x, conv2), rtol=1e-5, atol=1e-6)
    assert view.mode_buttons["filters"].isEnabled() and not view.mode_buttons["pooling"].isEnabled()
    view.set_mode("filters")
    view.filter_index.setValue(4)
    np.testing.assert_allclose(view.shown, conv_filters(model, conv2)[4])
    assert view.grid.count() == 16 and "16 channels, one per channel of relu1" in view.header.text()
    panel.select_layer(layer_id(document, "pool"))
    assert view.mode == "maps"  # filters do not apply to pooling
    view.set_mode("pooling")
    before, after = view.shown
    assert before.shape == (8, 8) and after.shape == (4, 4)
    np.testing.assert_allclose(after, before.reshape(4, 2, 4, 2).max(axis=(1, 3)), rtol=1e-6)
    view._pool_unit_hovered((1, 2))
    assert view.before.window == (2, 4, 3, 5)
    clicked = []
    view.channel_chosen.connect(clicked.append)
    panel.select_layer(layer_id(document, "fc1"))
    assert view.mode == "maps" and view.shown.shape == (64,)
    panel.shutdown()


def test_filters_of_a_transposed_convolution_by_output_channel(qtbot):
    panel, document = make_panel(qtbot, "conv_autoencoder")
    view = panel.feature_maps
    panel.tabs.setCurrentWidget(view)
    dec1 = layer_id(document, "dec1")
    panel.select_layer(dec1)
    assert view.mode_buttons["filters"].isEnabled() and not view.mode_buttons["mixing"].isEnabled()
    view.set_mode("filters")
    view.filter_index.setValue(3)
    settle(qtbot, panel)
    model = Model(document)
    kernels = conv_filters(model, dec1)
    channels = model.ops[dec1].params["weight"].shape[0]
    assert kernels.shape == (16, channels, 2, 2)
    np.testing.assert_allclose(view.shown, kernels[3])
    np.testing.assert_allclose(view.shown, model.ops[dec1].params["weight"][:, 3])
    assert view.grid.count() == min(channels, 64)
    header = view.header.text()
    assert "a transposed convolution" in header and "stamps its kernel" in header
    assert f"weight[0:{channels}, 3]" in header
    panel.shutdown()


def test_channel_mixing_matrix_of_a_1x1_convolution(qtbot):
    panel, document = make_panel(qtbot, "squeezenet_fire")
    view = panel.feature_maps
    panel.tabs.setCurrentWidget(view)
    squeeze = next(
        n for n in document.nodes if n.type_name == "Conv2D" and tuple(n.layer.params["kernel_size"]) == (1, 1)
    )
    panel.select_layer(squeeze.id)
    view.set_mode("mixing")
    settle(qtbot, panel)
    np.testing.assert_allclose(view.shown, channel_mixing_matrix(Model(document), squeeze.id))
    assert "1×1 convolution" in view.header.text()
    panel.shutdown()


def test_rf_depth_chart_draws_the_core_points(qtbot):
    panel, document = make_panel(qtbot, "vgg16", tab=3)
    assert panel.depth_chart.points == receptive_field_by_depth(document)
    assert panel.depth_chart.input_hw == (224, 224)
    assert "212×212 px" in panel.depth_chart.summary.text()
    assert not panel.host.busy  # the chart needs no compiled model
    panel.shutdown()


# -- activations and the BatchNorm comparison --------------------------------------------


def measured(position, scale, names=("conv1", "relu1")):
    levels = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)
    values = [float(v) * scale for v in (-3, -2, -1, 0, 1, 2, 3)]
    return ActivationsMeasured(int(position) + 1, 1, position, levels, dict.fromkeys(names, values))


def test_activation_bands_fill_from_the_run_history(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    panel.tabs.setCurrentWidget(panel.activations)
    panel.select_layer(layer_id(document, "relu1"))
    history = RunHistory(name="Run 1")
    for i in range(3):
        history.add(measured(i * 0.5, 1 + i))
    panel.set_run(history)
    plot = panel.activations.current
    np.testing.assert_allclose(plot.positions, [0, 0.5, 1.0])
    assert plot.values.shape == (3, 7) and plot.values[2, 6] == 9.0
    assert panel.activations.spread.names == ["conv1", "relu1"]
    history.add(measured(1.5, 10))
    panel.run_updated()
    assert len(plot.positions) == 4 and plot.values[-1, 0] == -30.0


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_batchnorm_comparison_runs_end_to_end(qtbot, engine):
    tiny = load_builtin("digits", input_shape=(1, 8, 8), n_samples=200)
    panel, document = make_panel(qtbot, "digits_cnn", dataset=tiny, mode="thread")
    if engine == "torch":
        pytest.importorskip("torch")
        panel.activations.engine_provider = lambda: EngineChoice("torch", "cpu")
    panel.tabs.setCurrentWidget(panel.activations)
    panel.select_layer(layer_id(document, "conv1"))
    view = panel.activations
    view.epochs.setValue(1)
    qtbot.mouseClick(view.compare_button, Qt.MouseButton.LeftButton)
    assert view.comparing and view.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not view.comparing and view.compare_button.isEnabled(), timeout=WAIT_MS)
    for key in ("plain", "batchnorm"):
        run = view.comparison[key]
        assert run.finished is not None and run.finished.reason == "completed", run.finished
        assert len(run.activations) >= 2
    assert "conv1_bn" in view.comparison["batchnorm"].activations[-1].layers
    assert "conv1_bn" not in view.comparison["plain"].activations[-1].layers
    assert len(view.compare_plots["plain"].positions) >= 2 and len(view.compare_plots["batchnorm"].positions) >= 2
    assert "conv1_bn" in view.compare_plots["batchnorm"].title
    assert "Done" in view.status.text()
    panel.shutdown()


def test_a_comparison_can_be_stopped(qtbot, digits):
    panel, _document = make_panel(qtbot, "digits_cnn", dataset=digits, mode="thread")
    view = panel.activations
    view.epochs.setValue(20)
    assert view.compare_with_batchnorm()
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.comparing and view.compare_button.isEnabled(), timeout=WAIT_MS)
    assert view.comparison["plain"].finished.reason == "stopped"
    assert view.comparison["batchnorm"].finished is None  # the second run never started


def test_comparison_without_a_dataset_says_why(qtbot):
    panel, _document = make_panel(qtbot, "digits_cnn", dataset=None)
    assert not panel.activations.compare_with_batchnorm()
    assert "choose a dataset" in panel.activations.status.text()


# -- the host and the inspector ----------------------------------------------------------


def test_host_reports_errors_instead_of_raising(qtbot):
    host = ModelHost()
    document = load_network(example_path("digits_cnn"))
    document.remove_node(layer_id(document, "flatten"))  # no longer computes
    host.set_context(document, lambda: None)
    results, errors = [], []
    host.request("x", lambda compiled: compiled.model, results.append, errors.append)
    assert not results and errors and "does not compute" in errors[0]


def test_work_of_many_passes_leaves_the_gui_thread_even_for_a_small_network(qtbot):
    host = ModelHost()
    host.set_context(load_network(example_path("digits_cnn")), lambda: None)
    assert host.is_inline()
    once, many = [], []
    host.request("one", lambda compiled: "done", once.append, pytest.fail)
    assert once == ["done"]  # one pass: at once, in the GUI thread
    host.request("many", lambda compiled: "done", many.append, pytest.fail, passes=10_000)
    assert many == []  # ten thousand passes: in the background
    qtbot.waitUntil(lambda: many == ["done"], timeout=10_000)


def test_inspector_draws_the_activation_curve(qtbot):
    document = load_network(example_path("digits_cnn"))
    panel = InspectorPanel()
    qtbot.addWidget(panel)
    panel.set_context(document, QUndoStack())
    panel.set_selection([layer_id(document, "relu1")])
    curve = panel.node_inspector.curve
    assert curve is not None and not curve.isHidden()
    x, y = curve.curve.getData()
    np.testing.assert_allclose(y, np.maximum(0, x))
    panel.set_selection([layer_id(document, "conv1")])
    assert panel.node_inspector.curve is None
    relu = layer_id(document, "relu1")
    document.remove_node(relu)
    leaky = document.add_node("LeakyReLU", {"alpha": 0.2}, name="leaky")
    panel.set_selection([leaky.id])
    x, y = panel.node_inspector.curve.curve.getData()
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.2 * x))
    document.set_param(leaky.id, "alpha", 0.5)
    x, y = panel.node_inspector.curve.curve.getData()
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.5 * x))


def test_the_info_line_gives_the_shown_units_value(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits)
    view = panel.receptive_field
    conv2 = layer_id(document, "conv2")
    panel.select_layer(conv2)
    view.set_channel(7)
    maps = feature_maps(Model(document), panel.chooser.sample().x, conv2)
    for row, col in [(0, 0), (3, 6), (7, 2)]:
        view.show_unit(row, col)
        assert f"channel 7 = {maps[7, row, col]:.3g}" in view.info.text()


def test_clicking_a_feature_map_tile_follows_that_channel_in_the_field_view(qtbot, digits):
    panel, document = make_panel(qtbot, "digits_cnn", dataset=digits, tab=1)
    conv1 = layer_id(document, "conv1")
    panel.select_layer(conv1)
    view = panel.feature_maps
    assert view.grid.count() == 16
    view.grid.sample_clicked.emit(9)
    assert panel.tabs.currentWidget() is panel.receptive_field
    rf = panel.receptive_field
    assert rf.channel.value() == 9 and "conv1 · channel 9 of 16" in rf.canvas.map_caption
    maps = feature_maps(Model(document), panel.chooser.sample().x, conv1)
    np.testing.assert_allclose(rf.canvas.map_values, maps[9], rtol=1e-5, atol=1e-6)
