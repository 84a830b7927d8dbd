"""The inspector draws each new activation's curve as its formula, and follows parameter edits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

from core.graph.document import NetworkDocument
from gui.panels.inspector import InspectorPanel
from tests.core.layers.test_activations import CURVES


def inspect(qtbot, type_name, params=None):
    """An inspector showing ``Input → Conv2D → type_name``, with that layer selected; and the document."""
    document = NetworkDocument("curves")
    entry = document.add_node("Input", {"shape": [2, 6, 6]}, name="input")
    document.chain(entry.id, [("Conv2D", {"filters": 3, "kernel_size": 3}, "conv"), (type_name, params, "act")])
    panel = InspectorPanel()
    qtbot.addWidget(panel)
    panel.set_context(document, QUndoStack())
    panel.set_selection([document.node_by_name("act").id])
    return panel, document


def drawn(panel):
    curve = panel.node_inspector.curve
    assert curve is not None and not curve.isHidden()
    return curve.curve.getData()


@pytest.mark.parametrize(("type_name", "params", "formula"), CURVES)
def test_the_drawn_curve_is_the_formula(qtbot, type_name, params, formula):
    panel, _ = inspect(qtbot, type_name, params)
    x, y = drawn(panel)
    assert x.min() < -3 and x.max() > 3  # the corners of the hard functions are in view
    np.testing.assert_allclose(y, formula(x), rtol=1e-12, atol=1e-12)


def test_the_curve_follows_edits(qtbot):
    panel, document = inspect(qtbot, "HardSigmoid")
    act = document.node_by_name("act").id
    document.set_param(act, "alpha", 0.5)
    x, y = drawn(panel)
    np.testing.assert_allclose(y, np.clip(0.5 * x + 0.5, 0, 1))
    panel, document = inspect(qtbot, "GELU")
    document.set_param(document.node_by_name("act").id, "approximate", "tanh")
    x, y = drawn(panel)
    exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    assert 1e-5 < np.abs(y - exact).max() < 1e-3  # the tanh form, close to the exact one


def test_log_softmax_has_no_curve(qtbot):
    panel, _ = inspect(qtbot, "LogSoftmax")
    assert panel.node_inspector.curve is None
