import pytest
from PySide6.QtGui import QColor, QPalette, QUndoStack
from PySide6.QtCore import Qt
from core.examples import example_path
from core.graph.fileformat import load_network
from gui.panels.inspector import InspectorPanel

@pytest.mark.parametrize("ctx", [False, True])
@pytest.mark.parametrize("add", [False, True])
def test_x(qtbot, ctx, add):
    panel = InspectorPanel()
    if add: qtbot.addWidget(panel)
    if ctx: panel.set_context(load_network(example_path("lenet5")), QUndoStack())
    dark = QPalette(panel.palette())
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    panel.setPalette(dark)
    assert panel.testAttribute(Qt.WidgetAttribute.WA_SetPalette)
