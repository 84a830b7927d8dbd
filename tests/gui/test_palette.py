"""The palette: every layer type under its category, search, drag data, activation."""

from __future__ import annotations

from PySide6.QtCore import Qt

from core.registry import CATEGORIES, layer_types
from gui.panels.palette import LAYER_MIME_TYPE, PaletteWidget, mime_data_for, type_name_from_mime


def visible_types(palette):
    return [item.text(0) for item in palette.type_items() if not item.isHidden() and not item.parent().isHidden()]


def test_every_type_appears_once_under_its_category(qtbot):
    palette = PaletteWidget()
    qtbot.addWidget(palette)
    by_category = {c.text(0): [c.child(i).text(0) for i in range(c.childCount())] for c in palette.categories()}
    assert list(by_category) == [c for c in CATEGORIES if any(cls.category == c for cls in layer_types())]
    for cls in layer_types():
        assert by_category[cls.category].count(cls.type_name) == 1
    assert sorted(visible_types(palette)) == sorted(cls.type_name for cls in layer_types())


def test_search_filters_and_clearing_restores(qtbot):
    palette = PaletteWidget()
    qtbot.addWidget(palette)
    palette.search.setText("pool")
    assert set(visible_types(palette)) == {"MaxPool2D", "AvgPool2D", "GlobalAvgPool2D"}
    palette.search.setText("zzz-no-such-layer")
    assert visible_types(palette) == []
    palette.search.clear()
    assert len(visible_types(palette)) == len(layer_types())


def test_drag_data_carries_only_the_type_name(qtbot):
    data = mime_data_for("Conv2D")
    assert data.formats() == [LAYER_MIME_TYPE]
    assert type_name_from_mime(data) == "Conv2D"
    palette = PaletteWidget()
    qtbot.addWidget(palette)
    item = next(i for i in palette.type_items() if i.text(0) == "Dense")
    dragged = palette.tree.mimeData([item])
    assert type_name_from_mime(dragged) == "Dense"


def test_activation_emits_the_type_and_tooltips_explain(qtbot):
    palette = PaletteWidget()
    qtbot.addWidget(palette)
    item = next(i for i in palette.type_items() if i.text(0) == "Dropout")
    from core.registry import layer_class

    assert layer_class("Dropout").summary in item.toolTip(0)
    with qtbot.waitSignal(palette.layer_activated) as signal:
        palette.tree.itemDoubleClicked.emit(item, 0)
    assert signal.args == ["Dropout"]
    palette.tree.setCurrentItem(item)
    with qtbot.waitSignal(palette.layer_activated) as signal:
        qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert signal.args == ["Dropout"]
