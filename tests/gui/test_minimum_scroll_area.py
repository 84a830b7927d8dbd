"""The scroll area of the roomy docks: its widget fills it, and scrolls only below its minimum size."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.widgets.minimum_scroll_area import MinimumScrollArea


def test_the_widget_fills_the_area_and_scrolls_below_its_minimum(qtbot):
    panel = QWidget()
    layout = QVBoxLayout(panel)
    label = QLabel("A long explanation that wraps over several lines when the panel is narrow. " * 8)
    label.setWordWrap(True)  # height for width: a resizable QScrollArea would make the panel tall
    layout.addWidget(label)
    box = QWidget()
    box.setMinimumSize(300, 200)
    layout.addWidget(box)
    area = MinimumScrollArea(panel)
    qtbot.addWidget(area)
    area.resize(900, 600)
    area.show()
    qtbot.waitExposed(area)
    assert panel.size() == area.viewport().size()  # fills the room, no taller
    assert area.verticalScrollBar().maximum() == 0

    area.resize(250, 150)
    minimum = area.minimum_content_size()
    qtbot.waitUntil(lambda: panel.height() == max(area.viewport().height(), minimum.height()))
    assert panel.width() >= minimum.width() and panel.height() >= minimum.height()  # never squeezed
    assert area.verticalScrollBar().maximum() > 0 and area.horizontalScrollBar().maximum() > 0
