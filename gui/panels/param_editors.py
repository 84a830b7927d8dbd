"""Editors for layer parameters, one per :class:`core.params.ParamSpec` kind.

An editor shows one canonical parameter value and reports what the user enters
through ``on_commit(value)``; it never touches a document. Whoever owns the
document decides: it either applies the value or calls :meth:`ParamEditor.show_error`
and puts the editor back with :meth:`ParamEditor.set_value`, which never reports a
change. The red message under a control is a ``QLabel`` with the dynamic property
``role="error"``, coloured by the style sheet of the panel that hosts the editor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.params import FloatParam, IntParam, PaddingParam, PairParam, ParamSpec

OnCommit = Callable[[Any], None]

INT_LIMIT = 2**31 - 1
"""Largest magnitude a ``QSpinBox`` holds; stands in for an open bound."""

SPIN_MIN_WIDTH = 44
"""Narrowest a spin box may become, so editors fit a narrow dock."""

SIDE_MIN_WIDTH = 30
"""Narrowest a per-side padding box may become (it has no arrow buttons)."""

PADDING_SIDES = ("top", "left", "bottom", "right")
EXPLICIT = "explicit"
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class SpinBox(QSpinBox):
    """A spin box that leaves the mouse wheel to the scroll area unless it has focus."""

    def __init__(self, minimum: int, maximum: int, tooltip: str = "") -> None:
        super().__init__()
        self.setRange(minimum, maximum)
        self.setKeyboardTracking(False)
        self.setAlignment(RIGHT)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumWidth(SPIN_MIN_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setToolTip(tooltip)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class ComboBox(QComboBox):
    """A combo box that leaves the mouse wheel to the scroll area unless it has focus."""

    def __init__(self, items: tuple[str, ...]) -> None:
        super().__init__()
        self.addItems(list(items))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


def _set_quietly(spin: QSpinBox, value: int) -> None:
    """Set ``spin`` without emitting ``valueChanged``."""
    blocked = spin.blockSignals(True)
    spin.setValue(value)
    spin.blockSignals(blocked)


def format_float(value: float) -> str:
    """``1e-05`` → ``1e-5``, ``0.9`` → ``0.9``: six significant digits, short exponent."""
    text = f"{value:.6g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def parse_shape(text: str) -> list[int]:
    """``"1, 28, 28"`` (or ``1×28×28``, ``1 28 28``) → ``[1, 28, 28]``.

    Raises
    ------
    ValueError
        When a part is not a whole number.
    """
    parts = [part for part in re.split(r"[\s,×xX]+", text.strip()) if part]
    return [int(part) for part in parts]


def _bound_text(minimum: float | None, maximum: float | None, low_op: str, high_op: str) -> str:
    if minimum is not None and maximum is not None:
        return f"{low_op} {minimum:g} and {high_op} {maximum:g}"
    if minimum is not None:
        return f"{low_op} {minimum:g}"
    if maximum is not None:
        return f"{high_op} {maximum:g}"
    return ""


def range_text(spec: ParamSpec) -> str:
    """Describe the values ``spec`` accepts, e.g. ``"> 0 and ≤ 1"``; empty when unbounded."""
    if isinstance(spec, FloatParam):
        low = "≥" if spec.min_inclusive else ">"
        high = "≤" if spec.max_inclusive else "<"
        return _bound_text(spec.minimum, spec.maximum, low, high)
    if isinstance(spec, (IntParam, PairParam)):
        text = _bound_text(spec.minimum, spec.maximum, "≥", "≤")
        return f"each axis {text}" if isinstance(spec, PairParam) and text else text
    if isinstance(spec, PaddingParam):
        if not spec.modes:
            return "pixels per side (≥ 0)"
        return f"{', '.join(repr(mode) for mode in spec.modes)} or explicit pixels per side (≥ 0)"
    return ""


def tooltip(spec: ParamSpec) -> str:
    """The spec's help sentence, followed by its valid range when it has one."""
    bounds = range_text(spec)
    return f"{spec.help}\nValid: {bounds}" if bounds else spec.help


class ParamEditor(QWidget):
    """Edits one parameter: a control row and, under it, a message when a value is refused.

    Subclasses build the control in :meth:`_build_control`, show a value in
    :meth:`_show` and call :meth:`commit` when the user changes it.

    Attributes
    ----------
    spec
        The parameter edited.
    value
        The canonical value last given to :meth:`set_value`.
    control
        The widget in the first row (what a form label lines up with).
    error_label
        The red message; hidden while there is none.
    """

    def __init__(self, spec: ParamSpec, value: Any, on_commit: OnCommit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.value = value
        self._on_commit = on_commit
        self._signal_sources: list[QWidget] = []
        self.control = self._build_control()
        self.error_label = QLabel()
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.control)
        layout.addWidget(self.error_label)
        self.setToolTip(tooltip(spec))
        self.set_value(value)

    def _build_control(self) -> QWidget:
        """Create the control widgets; register the ones that emit with :meth:`_watch`."""
        raise NotImplementedError

    def _show(self, value: Any) -> None:
        """Put the canonical ``value`` into the controls (their signals are blocked)."""
        raise NotImplementedError

    def _watch(self, widget: QWidget) -> QWidget:
        """Register ``widget`` as one whose signals :meth:`set_value` blocks; return it."""
        self._signal_sources.append(widget)
        return widget

    def set_value(self, value: Any) -> None:
        """Show ``value`` without calling ``on_commit``."""
        self.value = value
        previous = [widget.blockSignals(True) for widget in self._signal_sources]
        try:
            self._show(value)
        finally:
            for widget, blocked in zip(self._signal_sources, previous):
                widget.blockSignals(blocked)

    def commit(self, value: Any) -> None:
        """Report a value the user entered."""
        self._on_commit(value)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()

    @property
    def has_error(self) -> bool:
        return not self.error_label.isHidden()

    @property
    def label_height(self) -> int:
        """Height of the first control row, which the form's label lines up with."""
        return self.control.sizeHint().height()


class IntEditor(ParamEditor):
    """A spin box over the spec's valid range; arrows, wheel and Enter commit."""

    def _build_control(self) -> QWidget:
        spec: IntParam = self.spec  # type: ignore[assignment]
        low = -INT_LIMIT if spec.minimum is None else spec.minimum
        high = INT_LIMIT if spec.maximum is None else spec.maximum
        self.spin = self._watch(SpinBox(low, high))
        self.spin.valueChanged.connect(self.commit)
        return self.spin

    def _show(self, value: int) -> None:
        self.spin.setValue(value)


class _LineEditor(ParamEditor):
    """A right-aligned line edit whose text is parsed when editing finishes."""

    def _build_control(self) -> QWidget:
        self.edit = self._watch(QLineEdit())
        self.edit.setAlignment(RIGHT)
        self.edit.editingFinished.connect(self._on_editing_finished)
        return self.edit

    def _on_editing_finished(self) -> None:
        if not self.edit.isModified():
            return
        self.edit.setModified(False)
        try:
            value = self._parse(self.edit.text())
        except ValueError:
            self.show_error(self._parse_error(self.edit.text()))
            self.set_value(self.value)
            return
        self.commit(value)

    def _parse(self, text: str) -> Any:
        raise NotImplementedError

    def _parse_error(self, text: str) -> str:
        raise NotImplementedError


class FloatEditor(_LineEditor):
    """A line edit for real numbers, scientific notation included (``1e-5``)."""

    def _parse(self, text: str) -> float:
        return float(text.strip())

    def _parse_error(self, text: str) -> str:
        return f"must be a number such as 0.5 or 1e-5, got {text.strip()!r}"

    def _show(self, value: float) -> None:
        self.edit.setText(format_float(value))


class ShapeEditor(_LineEditor):
    """A line edit for a sample shape: ``1, 28, 28`` (C, H, W) or ``784`` (features)."""

    def _build_control(self) -> QWidget:
        edit = super()._build_control()
        self.edit.setPlaceholderText("C, H, W  or  F")
        return edit

    def _parse(self, text: str) -> list[int]:
        return parse_shape(text)

    def _parse_error(self, text: str) -> str:
        return f"write whole numbers such as 3, 32, 32 or 784, got {text.strip()!r}"

    def _show(self, value: tuple[int, ...]) -> None:
        self.edit.setText(", ".join(str(n) for n in value))


class FloatsEditor(_LineEditor):
    """A line edit for a short list of numbers: ``0.485, 0.456, 0.406``; empty for none."""

    def _build_control(self) -> QWidget:
        edit = super()._build_control()
        self.edit.setPlaceholderText("none")
        return edit

    def _parse(self, text: str) -> list[float]:
        return [float(part) for part in re.split(r"[\s,;]+", text.strip()) if part]

    def _parse_error(self, text: str) -> str:
        return f"write numbers separated by commas, such as 0.485, 0.456, 0.406, got {text.strip()!r}"

    def _show(self, value: tuple[float, ...]) -> None:
        self.edit.setText(", ".join(format_float(v) for v in value))


class BoolEditor(ParamEditor):
    """A check box."""

    def _build_control(self) -> QWidget:
        self.check = self._watch(QCheckBox())
        self.check.toggled.connect(self.commit)
        return self.check

    def _show(self, value: bool) -> None:
        self.check.setChecked(value)


class ChoiceEditor(ParamEditor):
    """A combo box of the spec's choices."""

    def _build_control(self) -> QWidget:
        self.combo = self._watch(ComboBox(self.spec.choices))  # type: ignore[attr-defined]
        self.combo.currentTextChanged.connect(self.commit)
        return self.combo

    def _show(self, value: str) -> None:
        self.combo.setCurrentText(value)


class PairEditor(ParamEditor):
    """Height and width spin boxes, kept equal while the "square" link is on."""

    def _build_control(self) -> QWidget:
        spec: PairParam = self.spec  # type: ignore[assignment]
        low = 0 if spec.minimum is None else spec.minimum
        high = INT_LIMIT if spec.maximum is None else spec.maximum
        self.height_spin = self._watch(SpinBox(low, high, "Height"))
        self.width_spin = self._watch(SpinBox(low, high, "Width"))
        self.link = self._watch(QToolButton())
        self.link.setText("=")
        self.link.setCheckable(True)
        self.link.setChecked(True)
        self.link.setToolTip("Square: keep height and width equal")
        self.link.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.height_spin.valueChanged.connect(lambda value: self._on_axis_changed(value, self.width_spin))
        self.width_spin.valueChanged.connect(lambda value: self._on_axis_changed(value, self.height_spin))
        self.link.toggled.connect(self._on_link_toggled)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        times = QLabel("×")
        times.setProperty("role", "muted")
        layout.addWidget(self.height_spin, 1)
        layout.addWidget(times)
        layout.addWidget(self.width_spin, 1)
        layout.addWidget(self.link)
        return row

    @property
    def linked(self) -> bool:
        return self.link.isChecked()

    def _on_axis_changed(self, value: int, other: QSpinBox) -> None:
        if self.linked:
            _set_quietly(other, value)
        self.commit((self.height_spin.value(), self.width_spin.value()))

    def _show_link(self) -> None:
        self.link.setText("=" if self.linked else "≠")

    def _on_link_toggled(self, linked: bool) -> None:
        self._show_link()
        if linked and self.height_spin.value() != self.width_spin.value():
            _set_quietly(self.width_spin, self.height_spin.value())
            self.commit((self.height_spin.value(), self.width_spin.value()))

    def _show(self, value: tuple[int, int]) -> None:
        self.height_spin.setValue(value[0])
        self.width_spin.setValue(value[1])
        if value[0] != value[1]:
            self.link.setChecked(False)
        self._show_link()


class PaddingEditor(ParamEditor):
    """A mode combo (the spec's named modes and explicit) and four per-side spin boxes for explicit padding.

    Where the spec names no modes (padding is always in pixels) the combo stays hidden.
    """

    def _build_control(self) -> QWidget:
        modes: tuple[str, ...] = self.spec.modes if isinstance(self.spec, PaddingParam) else ()
        self.mode = self._watch(ComboBox((*modes, EXPLICIT)))
        self.mode.setVisible(bool(modes))
        self.mode.currentTextChanged.connect(self._on_mode_changed)
        self.sides = {
            side: self._watch(SpinBox(0, INT_LIMIT, f"Rows or columns added at the {side}")) for side in PADDING_SIDES
        }
        for spin in self.sides.values():
            spin.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
            spin.setMinimumWidth(SIDE_MIN_WIDTH)
            spin.valueChanged.connect(self._commit_sides)
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(1)
        grid.addWidget(self.mode, 0, 0, 1, len(PADDING_SIDES))
        for column, (side, spin) in enumerate(self.sides.items()):
            caption = QLabel(side)
            caption.setProperty("role", "caption")
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(caption, 1, column)
            grid.addWidget(spin, 2, column)
            grid.setColumnStretch(column, 1)
        return box

    @property
    def label_height(self) -> int:
        return self.mode.sizeHint().height() if not self.mode.isHidden() else super().label_height

    @property
    def explicit_values(self) -> tuple[int, int, int, int]:
        top, left, bottom, right = (spin.value() for spin in self.sides.values())
        return (top, left, bottom, right)

    def _enable_sides(self, enabled: bool) -> None:
        for spin in self.sides.values():
            spin.setEnabled(enabled)

    def _on_mode_changed(self, mode: str) -> None:
        self._enable_sides(mode == EXPLICIT)
        self.commit(self.explicit_values if mode == EXPLICIT else mode)

    def _commit_sides(self) -> None:
        self.commit(self.explicit_values)

    def _show(self, value: str | tuple[int, int, int, int]) -> None:
        explicit = not isinstance(value, str)
        self.mode.setCurrentText(EXPLICIT if explicit else value)
        if explicit:
            for spin, pixels in zip(self.sides.values(), value):
                spin.setValue(pixels)
        self._enable_sides(explicit)


EDITORS: dict[str, type[ParamEditor]] = {
    "int": IntEditor,
    "float": FloatEditor,
    "bool": BoolEditor,
    "choice": ChoiceEditor,
    "pair": PairEditor,
    "padding": PaddingEditor,
    "shape": ShapeEditor,
    "floats": FloatsEditor,
}
"""Editor class per :attr:`core.params.ParamSpec.kind`."""


def make_editor(spec: ParamSpec, value: Any, on_commit: OnCommit) -> ParamEditor:
    """Return the editor for ``spec``'s kind, showing the canonical ``value``.

    Parameters
    ----------
    spec
        The parameter to edit; its ``help`` becomes the tooltip.
    value
        The canonical current value (as in ``layer.params``).
    on_commit
        Called with each value the user enters, not yet validated.
    """
    return EDITORS[spec.kind](spec, value, on_commit)
