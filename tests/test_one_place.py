"""Adding a layer type touches one place: its class (and its runtime op).

A throwaway activation, Softsign, is defined and registered here and nowhere else; the
palette, the inspector, the engine, analysis, See inside, the ONNX round trip and the
PyTorch export all pick it up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

from core.analysis.activation_curve import activation_curve
from core.analysis.inside import layer_facts
from core.analysis.introspection import activation_percentiles, feature_maps
from core.analysis.summary import summarize
from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.layers import layer_class, layer_types
from core.layers.base import Layer
from core.onnx_io.export import export_model
from core.onnx_io.importer import import_model
from core.ops.op import ElementwiseOp, Op
from core.registry import register, unregister
from core.shapes import Shape
from core.torch_export.project import model_source
from gui.panels.inspector import InspectorPanel
from gui.panels.palette import PaletteWidget
from tests.core.engine.test_gradients import check_gradients
from tests.core.onnx_io.helpers import run_onnx


class SoftsignOp(ElementwiseOp):
    """``x / (1 + |x|)``; its derivative is ``1 / (1 + |x|)²``."""

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        np.abs(x, out=out)
        out += 1
        np.divide(x, out, out=out)

    def save_for_backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        np.abs(saved, out=out)
        out += 1
        np.multiply(out, out, out=out)
        np.divide(grad_output, out, out=out)


class Softsign(Layer):
    """``x / (1 + |x|)``: a sigmoid-shaped squashing into (−1, 1)."""

    type_name = "Softsign"
    onnx_op = "Softsign"
    torch_module = "nn.Softsign"
    category = "Activation"
    summary = "x / (1 + |x|): squashes any value into (−1, 1), more gently than tanh."
    is_activation_function = True

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return SoftsignOp()


@pytest.fixture
def softsign() -> Iterator[type[Layer]]:
    register(Softsign)
    yield Softsign
    unregister(Softsign.type_name)


def softsign_network() -> NetworkDocument:
    document = NetworkDocument("softsign")
    entry = document.add_node("Input", {"shape": [2, 6, 6]}, name="input")
    document.chain(
        entry.id,
        [("Conv2D", {"filters": 3, "kernel_size": 3}, "conv"), ("Softsign", None, "soft"), ("Flatten", None, "flat")],
    )
    return document


def test_the_registry_knows_it_and_forgets_it(softsign):
    assert layer_class("Softsign") is softsign
    assert softsign in layer_types()


def test_the_palette_lists_it_under_its_category(qtbot, softsign):
    palette = PaletteWidget()
    qtbot.addWidget(palette)
    items = [item for item in palette.type_items() if item.text(0) == "Softsign"]
    assert len(items) == 1
    assert items[0].parent().text(0) == "Activation"


def test_the_inspector_draws_its_curve(qtbot, softsign):
    document = softsign_network()
    panel = InspectorPanel()
    qtbot.addWidget(panel)
    panel.set_context(document, QUndoStack())
    panel.set_selection([document.node_by_name("soft").id])
    curve = panel.node_inspector.curve
    assert curve is not None and not curve.isHidden()
    x, y = curve.curve.getData()
    np.testing.assert_allclose(y, x / (1 + np.abs(x)), rtol=1e-12)
    np.testing.assert_allclose(activation_curve(softsign())[1], y)


def test_the_engine_trains_it_with_exact_gradients(softsign):
    model = Model(softsign_network(), dtype=np.float64, seed=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, *model.input_shape))
    weights = rng.standard_normal((3, *model.output_shape))

    def weighted_sum(m, with_grad=False):
        value = float(np.sum(m.forward(x, training=True) * weights))
        return (value, weights, False) if with_grad else (value,)

    check_gradients(model, x, weighted_sum)


def test_analysis_and_see_inside_pick_it_up(softsign):
    document = softsign_network()
    summary = summarize(document)
    row = next(layer for layer in summary.layers if layer.name == "soft")
    assert row.output_shape == (3, 4, 4) and row.params == 0
    facts = layer_facts(document, document.node_by_name("soft").id)
    assert facts.views == () and facts.pools_by == ""
    model = Model(document, seed=0)
    sample = np.random.default_rng(3).standard_normal(model.input_shape).astype(np.float32)
    maps = feature_maps(model, sample, document.node_by_name("soft").id)
    conv = feature_maps(model, sample, document.node_by_name("conv").id)
    np.testing.assert_allclose(maps, conv / (1 + np.abs(conv)), rtol=1e-5)
    soft = document.node_by_name("soft").id
    low, high = activation_percentiles(model, sample[None], [soft], (0, 100))[soft]
    assert (low, high) == pytest.approx((maps.min(), maps.max()), rel=1e-6)


def test_the_onnx_round_trip_keeps_it(softsign):
    document = softsign_network()
    model = Model(document, seed=4)
    exported = export_model(model)
    assert "Softsign" in {node.op_type for node in exported.graph.node}
    x = np.random.default_rng(5).standard_normal((2, *model.input_shape)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(exported, x), model.forward(x), rtol=1e-5, atol=1e-6)
    imported = import_model(exported)
    assert [node.type_name for node in imported.document.nodes] == [node.type_name for node in document.nodes]
    again = Model(imported.document, seed=0)
    again.load_state_dict(imported.weights)
    np.testing.assert_allclose(again.forward(x), model.forward(x), rtol=1e-5, atol=1e-6)


def test_the_pytorch_export_writes_it(softsign, tmp_path):
    model = Model(softsign_network(), seed=4)
    source = model_source(model)
    assert "self.soft = nn.Softsign()  # Softsign" in source
    compile(source, "model.py", "exec")
    torch = pytest.importorskip("torch")
    from tests.core.torch_export.helpers import torch_twin

    exact = Model(softsign_network(), dtype=np.float64, seed=4)
    module = torch_twin(exact, tmp_path)
    x = np.random.default_rng(5).standard_normal((2, *model.input_shape))
    with torch.no_grad():
        theirs = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(theirs, exact.forward(x), rtol=1e-10)
