"""The layer palette: grouping, search, drag data, activation and tooltips."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QTextDocument

from core.layers import CATEGORIES, layer_class, layer_types
from gui.panels.palette import (
    CATEGORY_COLOURS,
    LAYER_MIME_TYPE,
    MIN_WIDTH,
    PaletteWidget,
    category_icon,
    drag_pixmap,
    mime_data_for,
    type_name_from_mime,
)
from tests.gui.helpers import shown


@pytest.fixture
def palette(qtbot) -> PaletteWidget:
    return shown(qtbot, PaletteWidget(), 260, 640)


def item_for(palette: PaletteWidget, type_name: str):
    return next(item for item in palette.type_items() if item.text(0) == type_name)


def visible_types(palette: PaletteWidget) -> set[str]:
    return {item.text(0) for item in palette.type_items() if not item.isHidden() and not item.parent().isHidden()}


def visible_categories(palette: PaletteWidget) -> list[str]:
    return [category.text(0) for category in palette.categories() if not category.isHidden()]


def plain(html: str) -> str:
    document = QTextDocument()
    document.setHtml(html)
    return document.toPlainText()


def white_contrast(hex_colour: str) -> float:
    """WCAG contrast ratio of white text on ``hex_colour``."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    colour = QColor(hex_colour)
    luminance = 0.2126 * linear(colour.redF()) + 0.7152 * linear(colour.greenF()) + 0.0722 * linear(colour.blueF())
    return 1.05 / (luminance + 0.05)


# -- contents ------------------------------------------------------------------------


def test_every_type_appears_once_under_its_category(palette):
    shown = [(item.parent().text(0), item.text(0)) for item in palette.type_items()]
    assert sorted(shown) == sorted((cls.category, cls.type_name) for cls in layer_types())
    assert len({name for _, name in shown}) == len(shown)


def test_categories_follow_the_registry_order_and_start_expanded(palette):
    used = {cls.category for cls in layer_types()}
    assert [c.text(0) for c in palette.categories()] == [c for c in CATEGORIES if c in used]
    assert all(category.isExpanded() for category in palette.categories())


def test_only_layer_types_are_selectable_and_draggable(palette):
    for category in palette.categories():
        assert not category.flags() & Qt.ItemFlag.ItemIsDragEnabled
        assert not category.flags() & Qt.ItemFlag.ItemIsSelectable
    for item in palette.type_items():
        assert item.flags() & Qt.ItemFlag.ItemIsDragEnabled


def test_panel_keeps_a_usable_minimum_width(palette):
    assert palette.minimumWidth() == MIN_WIDTH


# -- search --------------------------------------------------------------------------


def test_search_for_pool_shows_only_pooling_types(palette):
    palette.search.setText("pool")
    assert visible_types(palette) == {c.type_name for c in layer_types() if c.category == "Pooling"}
    assert visible_categories(palette) == ["Pooling"]


def test_search_matches_category_and_summary_in_any_case(palette):
    palette.search.setText("ACTIVATION")
    assert visible_types(palette) == {c.type_name for c in layer_types() if c.category == "Activation"}
    palette.search.setText("residual")
    assert visible_types(palette) == {"Add"}


def test_every_word_of_the_search_must_match(palette):
    palette.search.setText("pool average")
    assert visible_types(palette) == {"AvgPool2D", "GlobalAvgPool2D"}


def test_nonsense_search_shows_nothing_and_says_so(palette):
    palette.search.setText("qwertyzzz")
    assert visible_types(palette) == set()
    assert visible_categories(palette) == []
    assert palette.empty_label.isVisible()
    assert "qwertyzzz" in palette.empty_label.text()


def test_clearing_the_search_restores_everything(palette):
    palette.search.setText("qwertyzzz")
    palette.search.clear()
    assert visible_types(palette) == {c.type_name for c in layer_types()}
    assert palette.tree.isVisible() and not palette.empty_label.isVisible()


def test_escape_clears_the_search(palette, qtbot):
    palette.search.setText("pool")
    qtbot.keyClick(palette.search, Qt.Key.Key_Escape)
    assert palette.search.text() == ""
    assert visible_types(palette) == {c.type_name for c in layer_types()}


# -- drag data -----------------------------------------------------------------------


def test_mime_data_carries_exactly_the_type_name():
    mime = mime_data_for("Conv2D")
    assert mime.formats() == [LAYER_MIME_TYPE]
    assert bytes(mime.data(LAYER_MIME_TYPE).data()) == b"Conv2D"
    assert type_name_from_mime(mime) == "Conv2D"


def test_type_name_from_mime_ignores_other_data():
    other = QMimeData()
    other.setText("Conv2D")
    assert type_name_from_mime(other) is None


def test_the_tree_drags_an_item_as_its_type_name(palette):
    tree = palette.tree
    assert tree.mimeTypes() == [LAYER_MIME_TYPE]
    mime = tree.mimeData([item_for(palette, "MaxPool2D")])
    assert mime.formats() == [LAYER_MIME_TYPE]
    assert type_name_from_mime(mime) == "MaxPool2D"
    assert tree.mimeData([next(palette.categories())]) is None


def test_drag_image_is_a_small_chip(palette):
    pixmap = drag_pixmap("Conv2D", "Convolution", palette.font(), 2.0)
    assert not pixmap.isNull()
    assert pixmap.deviceIndependentSize().height() < 40


# -- activation ----------------------------------------------------------------------


def test_double_click_activates_the_type(palette, qtbot):
    tree = palette.tree
    item = item_for(palette, "Dense")
    tree.scrollToItem(item)
    centre = tree.visualItemRect(item).center()
    # An item view takes a double-click only on the item the first click pressed.
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    with qtbot.waitSignal(palette.layer_activated, timeout=1000) as blocker:
        qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert blocker.args == ["Dense"]


def test_enter_activates_the_current_type(palette, qtbot):
    palette.tree.setCurrentItem(item_for(palette, "ReLU"))
    with qtbot.waitSignal(palette.layer_activated, timeout=1000) as blocker:
        qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert blocker.args == ["ReLU"]


def test_enter_on_a_category_does_not_activate_anything(palette, qtbot):
    category = next(palette.categories())
    palette.tree.setCurrentItem(category)
    with qtbot.assertNotEmitted(palette.layer_activated):
        qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert not category.isExpanded()


def test_double_click_on_a_category_folds_it(palette, qtbot):
    tree = palette.tree
    category = next(palette.categories())
    centre = tree.visualItemRect(category).center()
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    with qtbot.assertNotEmitted(palette.layer_activated):
        qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert not category.isExpanded()


def test_enter_in_the_search_field_activates_the_first_match(palette, qtbot):
    palette.search.setText("leaky")
    with qtbot.waitSignal(palette.layer_activated, timeout=1000) as blocker:
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert blocker.args == ["LeakyReLU"]


def test_enter_in_an_empty_search_field_adds_nothing(palette, qtbot):
    with qtbot.assertNotEmitted(palette.layer_activated):
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)


def test_down_in_the_search_field_moves_to_the_first_match(palette, qtbot):
    palette.search.setText("batch")
    qtbot.keyClick(palette.search, Qt.Key.Key_Down)
    assert palette.tree.currentItem().text(0) == "BatchNorm"


# -- tooltips and looks ----------------------------------------------------------------


@pytest.mark.parametrize("type_name", [cls.type_name for cls in layer_types()])
def test_type_tooltip_has_the_summary_and_parameter_defaults(palette, type_name):
    cls = layer_class(type_name)
    tooltip = plain(item_for(palette, type_name).toolTip(0))
    assert cls.summary in tooltip
    for spec in cls.param_specs:
        assert f"{spec.name}=" in tooltip


def test_conv_tooltip_shows_defaults_as_written_in_files(palette):
    tooltip = plain(item_for(palette, "Conv2D").toolTip(0))
    assert "filters=32, kernel_size=3" in tooltip
    assert 'padding="valid"' in tooltip


def test_category_tooltip_gives_name_and_count(palette):
    pooling = next(c for c in palette.categories() if c.text(0) == "Pooling")
    count = sum(1 for cls in layer_types() if cls.category == "Pooling")
    assert pooling.toolTip(0) == f"Pooling — {count} layer types"


def test_every_category_has_a_distinct_colour_that_carries_white_text():
    assert set(CATEGORY_COLOURS) == set(CATEGORIES)
    assert len(set(CATEGORY_COLOURS.values())) == len(CATEGORIES)
    for colour in CATEGORY_COLOURS.values():
        assert white_contrast(colour) >= 4.5, colour


@pytest.mark.parametrize("category", CATEGORIES)
def test_category_icons_render_at_list_sizes(qtbot, category):
    icon = category_icon(category)
    for size in (16, 20):
        assert not icon.pixmap(QSize(size, size)).isNull()
        assert not icon.pixmap(QSize(size, size), QIcon.Mode.Selected).isNull()
