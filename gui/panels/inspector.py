"""The inspector: the selected layer's name, parameters, figures and what-ifs.

The panel follows one document. For a single selected layer it shows an editor per
parameter, the layer's figures (shape, parameters, MACs, memory, receptive field)
and, for a convolution, what a 1×1 bottleneck in front of it would save. Every edit
is an undoable command on the window's undo stack; the panel redraws from the
document's events, so undo, the canvas and other panels keep it current.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFont, QPalette, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from core.analysis.bottleneck import (
    BottleneckComparison,
    SeparableComparison,
    bottleneck_for_node,
    separable_for_node,
    separable_layers,
)
from core.analysis.report import format_bytes, format_count, format_si, receptive_field_cells
from core.analysis.summary import LayerSummary, NetworkSummary, summarize
from core.errors import LayerwiseError, ParamError
from core.graph.document import MAX_LR_MULTIPLIER, LayerTraining, NetworkDocument
from core.graph.events import DocumentEvent, NodeMoved, NodeRemoved
from core.graph.validation import check_graph
from core.layers.preprocessing import PREPROCESSING_PARAMS, InputPreprocessing, imagenet_preprocessing
from core.shapes import Shape, format_shape, is_image
from gui.commands import (
    ConnectCommand,
    DisconnectCommand,
    InsertFragmentCommand,
    RemoveNodesCommand,
    RenameNodeCommand,
    SetParamCommand,
    SetParamsCommand,
    SetTrainingCommand,
)
from gui.panels.activation_curve import ActivationCurve
from gui.panels.param_editors import INT_LIMIT, ParamEditor, SpinBox, make_editor

HINT = "Select a layer on the canvas to see and edit its settings."
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
MARGIN = 10

FIGURES = (
    ("output_shape", "Output shape", "Output tensor of one sample: C×H×W for maps, the feature count for vectors."),
    ("params", "Parameters", "Trainable and non-trainable parameters."),
    ("macs", "MACs", "Multiply-accumulates of one forward pass for one sample."),
    ("activations", "Activations", "Size of this layer's float32 output for one sample."),
    ("rf_size", "RF size", "Receptive field: how many input pixels one unit sees (h×w when they differ)."),
    ("rf_stride", "RF stride", "Effective stride: input pixels between neighbouring units' fields."),
    ("rf_padding", "RF padding", "Effective padding: unit u sees input rows from −padding + u·stride."),
)
"""Key, label and tooltip of each figure row, in display order."""

TOTALS = (
    ("params", "Parameters", "Total parameters of the selected layers."),
    ("macs", "MACs", "Total multiply-accumulates of the selected layers, per sample."),
    ("activations", "Activations", "Total float32 output size of the selected layers, per sample."),
)


# -- look ---------------------------------------------------------------------------


def _blend(foreground: QColor, background: QColor, amount: float) -> QColor:
    """Return ``amount`` of ``foreground`` over ``background``."""
    mix = [amount * f + (1 - amount) * b for f, b in zip(foreground.getRgbF()[:3], background.getRgbF()[:3])]
    return QColor.fromRgbF(*mix)


def style_sheet(palette: QPalette) -> str:
    """Colours of the panel's labels (by their ``role`` property), readable on light and dark palettes."""
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    dark = window.lightness() < 128
    muted = _blend(text, window, 0.62).name()
    rule = _blend(text, window, 0.3).name()
    error = "#ffb4ab" if dark else "#b3261e"
    banner = ("#5a1d19", "#ffdad6", "#8c1d18") if dark else ("#fdecea", "#8c1d18", "#f2b8b5")
    good = "#8fd19e" if dark else "#1e7b34"
    return (
        f'QLabel[role="section"] {{ color: {muted}; font-weight: 600; border: none; border-bottom: 1px solid {rule};'
        " padding: 12px 0px 3px 0px; }"
        f' QLabel[role="muted"], QLabel[role="caption"] {{ color: {muted}; }}'
        f' QLabel[role="error"] {{ color: {error}; }}'
        f' QLabel[role="good"] {{ color: {good}; }}'
        f' QLabel[role="banner"] {{ background: {banner[0]}; color: {banner[1]}; border: 1px solid {banner[2]};'
        " border-radius: 4px; padding: 6px 8px; }"
    )


def _label(text: str = "", role: str = "", tooltip: str = "", align: Qt.AlignmentFlag = LEFT) -> QLabel:
    label = QLabel(text)
    if role:
        label.setProperty("role", role)
    label.setToolTip(tooltip)
    label.setAlignment(align)
    return label


def _wrapping(text: str = "", role: str = "") -> QLabel:
    label = _label(text, role)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _value_label() -> QLabel:
    label = _label(align=RIGHT)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _set_role(label: QLabel, role: str) -> None:
    """Change a label's ``role`` and let the style sheet recolour it."""
    if label.property("role") != role:
        label.setProperty("role", role)
        label.style().unpolish(label)
        label.style().polish(label)


def _section(title: str) -> QLabel:
    label = _label(title.upper(), "section")
    label.setIndent(0)
    return label


def _humanize(name: str) -> str:
    """``kernel_size`` → ``Kernel size``."""
    return name.replace("_", " ").capitalize()


def _layer_figures(layer: LayerSummary | None) -> dict[str, tuple[str, str]]:
    """Text and tooltip per figure key; ``?`` where the layer's shape is unknown."""
    if layer is None or layer.output_shape is None:
        return {key: ("?", "Unknown until the layers feeding this one compute.") for key, _, _ in FIGURES}
    rf_size, rf_stride, rf_padding = receptive_field_cells(layer.receptive_field, "–")
    no_rf = "" if layer.receptive_field else "No spatial layout here (vector, or after Flatten/Dense)."
    params_tip = (
        f"{format_count(layer.frozen_params)} frozen"
        if layer.frozen_params
        else f"{format_count(layer.trainable_params)} trainable"
    )
    return {
        "output_shape": (format_shape(layer.output_shape), "C×H×W" if is_image(layer.output_shape) else "features"),
        "params": (format_count(layer.params), params_tip),
        "macs": (format_count(layer.macs), f"{format_si(layer.macs or 0)} per sample"),
        "activations": (format_bytes(layer.activation_bytes), f"{format_count(layer.activation_bytes)} bytes"),
        "rf_size": (rf_size, no_rf),
        "rf_stride": (rf_stride, no_rf),
        "rf_padding": (rf_padding, no_rf),
    }


def _align_label_columns(grids: Sequence[QGridLayout], labels: Sequence[QLabel]) -> None:
    """Give the label column of every grid the width of the widest label, so sections line up."""
    width = max((label.sizeHint().width() for label in labels), default=0)
    for grid in grids:
        grid.setColumnMinimumWidth(0, width)


def _grid() -> QGridLayout:
    grid = QGridLayout()
    grid.setContentsMargins(0, 0, 0, 0)
    grid.setHorizontalSpacing(12)
    grid.setVerticalSpacing(6)
    grid.setColumnStretch(1, 1)
    return grid


# -- one layer ----------------------------------------------------------------------


def default_reduction(channels: int, groups: int) -> int:
    """About a quarter of ``channels``, at least 1, and a multiple of ``groups``."""
    return max(1, round(channels / 4 / groups)) * groups


class BottleneckSection(QWidget):
    """What a 1×1 convolution to ``k`` channels in front of a Conv2D would save, and a button to add it.

    Attributes
    ----------
    channels
        Spin box for ``k``, the reduction's output channels.
    table
        The grid of ``k`` and the comparison; its label column lines up with the form's.
    row_labels
        The labels in the table's first column.
    cells
        Table text per ``(figure, variant)``: figures ``params``, ``macs``; variants
        ``without``, ``with``, ``ratio``.
    insert_button
        Pushes one :class:`~gui.commands.InsertFragmentCommand`.
    """

    def __init__(self, document: NetworkDocument, undo_stack: QUndoStack, node_id: str) -> None:
        super().__init__()
        self._document, self._undo_stack, self._node_id = document, undo_stack, node_id
        self._channels_chosen = False
        self.channels = SpinBox(1, INT_LIMIT)
        self.channels.setToolTip("Output channels of the 1×1 reduction (k).")
        self.channels.valueChanged.connect(self._update_table)
        self.error_label = _wrapping(role="error")
        self.error_label.hide()
        self.insert_button = QPushButton("Insert 1×1 bottleneck")
        self.insert_button.setToolTip("Add a 1×1 Conv2D to k channels and a ReLU between this layer and its input.")
        self.insert_button.clicked.connect(self.insert)
        self.cells: dict[tuple[str, str], QLabel] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(_section("1×1 bottleneck"))
        layout.addWidget(_wrapping("Reduce the input to k channels with a 1×1 convolution first.", "muted"))
        self.table = self._build_table()
        layout.addLayout(self.table)
        layout.addWidget(self.error_label)
        layout.addWidget(self.insert_button, 0, Qt.AlignmentFlag.AlignRight)

    def _build_table(self) -> QGridLayout:
        grid = _grid()
        self.row_labels = [_label("k channels", tooltip=self.channels.toolTip())]
        grid.addWidget(self.row_labels[0], 0, 0)
        grid.addWidget(self.channels, 0, 1, 1, 2)
        figures = (("params", "Parameters"), ("macs", "MACs"))
        variants = (
            ("without", "Without", "The convolution as it is."),
            ("with", "With 1×1", "The 1×1 reduction plus the convolution on k channels."),
            ("ratio", "Ratio", "With divided by without: below 1 is cheaper."),
        )
        for column, (_, title) in enumerate(figures, start=1):
            grid.addWidget(_label(title, "muted", align=RIGHT), 1, column)
            grid.setColumnStretch(column, 1)
        for row, (variant, title, tooltip) in enumerate(variants, start=2):
            self.row_labels.append(_label(title, tooltip=tooltip))
            grid.addWidget(self.row_labels[-1], row, 0)
            for column, (figure, _) in enumerate(figures, start=1):
                self.cells[figure, variant] = _value_label()
                grid.addWidget(self.cells[figure, variant], row, column)
        return grid

    def refresh(self, input_shape: Shape | None) -> None:
        """Show the section for a Conv2D fed a known C×H×W ``input_shape``; hide it otherwise."""
        self.setVisible(input_shape is not None and is_image(input_shape))
        if self.isHidden():
            return
        if not self._channels_chosen:
            groups = self._document.node(self._node_id).layer.params["groups"]
            blocked = self.channels.blockSignals(True)
            self.channels.setValue(default_reduction(input_shape[0], groups))  # type: ignore[index]
            self.channels.blockSignals(blocked)
            self._channels_chosen = True
        self._update_table()

    def _update_table(self) -> None:
        try:
            comparison = bottleneck_for_node(self._document, self._node_id, self.channels.value())
        except LayerwiseError as exc:
            self._show_comparison(None)
            self.error_label.setText(str(exc))
            self.error_label.show()
            self.insert_button.setEnabled(False)
            return
        self.error_label.hide()
        self.insert_button.setEnabled(True)
        self._show_comparison(comparison)

    def _show_comparison(self, comparison: BottleneckComparison | None) -> None:
        if comparison is None:
            for cell in self.cells.values():
                cell.setText("–")
            return
        with_k = comparison.with_bottleneck
        rows = (
            ("params", comparison.direct.params, with_k.params, comparison.params_ratio),
            ("macs", comparison.direct.macs, with_k.macs, comparison.macs_ratio),
        )
        for key, direct, reduced, ratio in rows:
            self.cells[key, "without"].setText(format_si(direct))
            self.cells[key, "without"].setToolTip(format_count(direct))
            self.cells[key, "with"].setText(format_si(reduced))
            self.cells[key, "with"].setToolTip(format_count(reduced))
            self.cells[key, "ratio"].setText(f"×{ratio:.2f}")
            _set_role(self.cells[key, "ratio"], "good" if ratio < 1 else "error")

    def insert(self) -> None:
        """Push one command that puts ``Conv2D(k, 1×1) → ReLU`` between the conv and its input."""
        node = self._document.node(self._node_id)
        edge = self._document.input_edges(self._node_id)[0]
        x, y = node.position
        reduce_name = f"{node.name}_reduce"
        relu_name = f"{reduce_name}_relu"
        params = {"filters": self.channels.value(), "kernel_size": 1, "bias": node.layer.params["bias"]}
        fragment = {
            "layers": [
                {"name": reduce_name, "type": "Conv2D", "params": params, "position": [x, y - 60]},
                {"name": relu_name, "type": "ReLU", "inputs": [reduce_name], "position": [x, y - 30]},
            ]
        }
        self._undo_stack.push(
            InsertFragmentCommand(
                self._document,
                fragment,
                wire_from=edge.source,
                wire_port=edge.source_port,
                rewire=(edge, relu_name),
                text=f"Insert 1×1 bottleneck before {node.name}",
            )
        )


class SeparableSection(QWidget):
    """What a k×k Conv2D would cost as a depthwise k×k plus a 1×1 convolution, and a button to rewrite it.

    Attributes
    ----------
    table
        The comparison; its label column lines up with the form's.
    row_labels
        The labels in the table's first column.
    cells
        Table text per ``(figure, variant)``: figures ``params``, ``macs``; variants
        ``as_is``, ``separable``, ``ratio``.
    rewrite_button
        Replaces the convolution by the two layers in one undo step.
    """

    def __init__(self, document: NetworkDocument, undo_stack: QUndoStack, node_id: str) -> None:
        super().__init__()
        self._document, self._undo_stack, self._node_id = document, undo_stack, node_id
        self.cells: dict[tuple[str, str], QLabel] = {}
        self.error_label = _wrapping(role="muted")
        self.error_label.hide()
        self.rewrite_button = QPushButton("Rewrite as depthwise + 1×1")
        self.rewrite_button.setToolTip("Replace this convolution by a depthwise k×k and a 1×1 convolution (MobileNet).")
        self.rewrite_button.clicked.connect(self.rewrite)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(_section("As depthwise + 1×1 pointwise"))
        layout.addWidget(
            _wrapping("Filter each channel on its own, then mix channels with a 1×1 convolution.", "muted")
        )
        self.table, self.row_labels = _grid(), []
        figures = (("params", "Parameters"), ("macs", "MACs"))
        variants = (
            ("as_is", "As is", "The convolution as it is."),
            ("separable", "Separable", "A depthwise k×k convolution, then a 1×1 convolution to the same outputs."),
            ("ratio", "Ratio", "Separable divided by as is: below 1 is cheaper."),
        )
        for column, (_, title) in enumerate(figures, start=1):
            self.table.addWidget(_label(title, "muted", align=RIGHT), 0, column)
            self.table.setColumnStretch(column, 1)
        for row, (variant, title, tooltip) in enumerate(variants, start=1):
            self.row_labels.append(_label(title, tooltip=tooltip))
            self.table.addWidget(self.row_labels[-1], row, 0)
            for column, (figure, _) in enumerate(figures, start=1):
                self.cells[figure, variant] = _value_label()
                self.table.addWidget(self.cells[figure, variant], row, column)
        # Where no comparison applies (a 1×1 kernel), the reason shows instead of a table of dashes.
        self.figures = QWidget()
        self.figures.setLayout(self.table)
        layout.addWidget(self.figures)
        layout.addWidget(self.error_label)
        layout.addWidget(self.rewrite_button, 0, Qt.AlignmentFlag.AlignRight)

    def refresh(self, input_shape: Shape | None) -> None:
        """Show the comparison for a known C×H×W ``input_shape``; hide the section otherwise."""
        self.setVisible(input_shape is not None and is_image(input_shape))
        if self.isHidden():
            return
        try:
            comparison: SeparableComparison | None = separable_for_node(self._document, self._node_id)
        except LayerwiseError as exc:
            comparison = None
            self.error_label.setText(str(exc))
        self.error_label.setVisible(comparison is None)
        self.figures.setVisible(comparison is not None)
        self.rewrite_button.setVisible(comparison is not None)
        for key in ("params", "macs"):
            if comparison is None:
                for variant in ("as_is", "separable", "ratio"):
                    self.cells[key, variant].setText("–")
                continue
            direct, separable = getattr(comparison.direct, key), getattr(comparison.separable, key)
            ratio = getattr(comparison, f"{key}_ratio")
            self.cells[key, "as_is"].setText(format_si(direct))
            self.cells[key, "as_is"].setToolTip(format_count(direct))
            self.cells[key, "separable"].setText(format_si(separable))
            self.cells[key, "separable"].setToolTip(format_count(separable))
            self.cells[key, "ratio"].setText(f"×{ratio:.2f}")
            _set_role(self.cells[key, "ratio"], "good" if ratio < 1 else "error")

    def rewrite(self) -> None:
        """Replace the convolution by ``DepthwiseConv2D → Conv2D 1×1`` in one undo step, keeping its wiring."""
        document, node = self._document, self._document.node(self._node_id)
        depthwise, pointwise = separable_layers(node.layer)
        (source,) = document.input_edges(node.id)
        outputs = list(document.output_edges(node.id))
        x, y = node.position
        names = (f"{node.name}_depthwise", f"{node.name}_pointwise")
        fragment = {
            "layers": [
                {
                    "name": names[0],
                    "type": depthwise.type_name,
                    "params": depthwise.get_config(),
                    "position": [x, y - 15],
                },
                {
                    "name": names[1],
                    "type": pointwise.type_name,
                    "params": pointwise.get_config(),
                    "inputs": [names[0]],
                    "position": [x, y + 15],
                },
            ]
        }
        stack = self._undo_stack
        stack.beginMacro(f"Rewrite {node.name} as depthwise + 1×1")
        insert = InsertFragmentCommand(
            document, fragment, wire_from=source.source, wire_port=source.source_port, text="Insert depthwise + 1×1"
        )
        stack.push(insert)
        if insert.node_ids:  # empty when a running training refused the change
            for edge in outputs:
                stack.push(DisconnectCommand(document, edge))
                stack.push(ConnectCommand(document, insert.node_ids[1], edge.target, edge.port))
            stack.push(RemoveNodesCommand(document, [node.id]))
        stack.endMacro()


def preprocessing_formula(preprocessing: InputPreprocessing) -> str:
    """What the Input computes from a raw pixel, e.g. ``"x = (pixel − mean) / std per channel, RGB; pixel in 0..1"``."""
    if not preprocessing.normalises:
        return "x = pixel, RGB in 0..1: the network reads raw pixels."
    formula = {"0..1": "pixel", "0..255": "255·pixel", "-1..1": "2·pixel − 1"}[preprocessing.value_range]
    shifted = any(m != 0.0 for m in preprocessing.mean)
    scaled = any(s != 1.0 for s in preprocessing.std)
    if shifted:
        formula = f"{formula} − mean"
    if scaled:
        formula = f"({formula}) / std" if " " in formula else f"{formula} / std"
    per_channel = " per channel" if shifted or scaled else ""
    order = "BGR (colours reversed)" if preprocessing.channel_order == "BGR" else "RGB"
    return f"x = {formula}{per_channel}, {order}; pixel in 0..1."


class PreprocessingSection(QWidget):
    """An image Input's preprocessing: its five parameters, presets and the formula they make.

    The editors report to the :class:`NodeInspector` like its other editors (one undo step
    per edit); each preset is one :class:`~gui.commands.SetParamsCommand`. Hidden for a
    vector input, to which preprocessing does not apply.

    Attributes
    ----------
    editors
        One editor per name of :data:`core.layers.io.PREPROCESSING_PARAMS`.
    table
        The grid of editors; its label column lines up with the form's.
    row_labels
        The labels in the table's first column.
    imagenet_button, none_button
        Set ImageNet's evaluation preprocessing, or none (the defaults).
    formula
        What the Input computes from a raw pixel.
    error_label
        Why a preset was refused; hidden while there is none.
    """

    def __init__(
        self,
        document: NetworkDocument,
        undo_stack: QUndoStack,
        node_id: str,
        committer: Callable[[str], Callable[[Any], None]],
    ) -> None:
        super().__init__()
        self._document, self._undo_stack, self._node_id = document, undo_stack, node_id
        layer = document.node(node_id).layer
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(_section("Preprocessing"))
        layout.addWidget(
            _wrapping(
                "How raw images (RGB, 0..1) become the tensor the network reads; the network applies it.", "muted"
            )
        )
        self.table = _grid()
        self.row_labels: list[QLabel] = []
        self.editors: dict[str, ParamEditor] = {}
        specs = {spec.name: spec for spec in layer.param_specs}
        for row, name in enumerate(PREPROCESSING_PARAMS):
            editor = make_editor(specs[name], layer.params[name], committer(name))
            label = _label(_humanize(name), tooltip=editor.toolTip())
            label.setMinimumHeight(editor.label_height)
            self.row_labels.append(label)
            self.table.addWidget(label, row, 0, Qt.AlignmentFlag.AlignTop)
            self.table.addWidget(editor, row, 1)
            self.editors[name] = editor
        layout.addLayout(self.table)
        self.imagenet_button = QPushButton("ImageNet defaults")
        self._imagenet_tip = (
            "Resize by 256/224, centre crop, and ImageNet's mean and std (RGB, 0..1): what torchvision's "
            "pretrained models expect."
        )
        self.imagenet_button.clicked.connect(self.use_imagenet)
        self.none_button = QPushButton("None")
        self.none_button.setToolTip("No preprocessing: the network reads raw RGB pixels in 0..1.")
        self.none_button.clicked.connect(self.use_none)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(6)
        buttons.addStretch(1)
        buttons.addWidget(self.imagenet_button)
        buttons.addWidget(self.none_button)
        layout.addLayout(buttons)
        self.formula = _wrapping(role="muted")
        layout.addWidget(self.formula)
        self.error_label = _wrapping(role="error")
        self.error_label.hide()
        layout.addWidget(self.error_label)

    def refresh(self) -> None:
        """Follow the Input's shape and preprocessing: visibility, presets and the formula."""
        layer = self._document.node(self._node_id).layer
        shape, preprocessing = layer.params["shape"], layer.preprocessing
        self.setVisible(len(shape) == 3 or not preprocessing.is_default)
        rgb = len(shape) == 3 and shape[0] == 3
        self.imagenet_button.setEnabled(rgb and preprocessing != imagenet_preprocessing(shape))
        self.imagenet_button.setToolTip(
            self._imagenet_tip if rgb else "ImageNet's statistics are for 3-channel (RGB) inputs."
        )
        self.none_button.setEnabled(not preprocessing.is_default)
        self.formula.setText(preprocessing_formula(preprocessing))
        self.formula.setToolTip(preprocessing.describe())

    def use_imagenet(self) -> None:
        """Set ImageNet's evaluation preprocessing for this input's size, as one undo step."""
        shape = self._document.node(self._node_id).layer.params["shape"]
        self.apply(imagenet_preprocessing(shape), "Use ImageNet preprocessing for")

    def use_none(self) -> None:
        """Remove every preprocessing setting, as one undo step."""
        self.apply(InputPreprocessing(), "Remove preprocessing of")

    def apply(self, preprocessing: InputPreprocessing, verb: str) -> None:
        """Push one :class:`SetParamsCommand` for the settings that differ, or show why they are refused."""
        if self._node_id not in self._document:
            return
        node = self._document.node(self._node_id)
        wanted = preprocessing.to_json()
        current = node.layer.preprocessing.to_json()
        changes = {name: value for name, value in wanted.items() if current[name] != value}
        for editor in self.editors.values():
            editor.clear_error()
        try:  # asked first: a command must not fail inside the undo stack
            node.layer.with_params(**changes)
        except ParamError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.error_label.hide()
        if changes:
            self._undo_stack.push(SetParamsCommand(self._document, self._node_id, changes, f"{verb} {node.name}"))


class NodeInspector(QWidget):
    """Everything about one layer: header, parameter editors, figures and, for a Conv2D, a bottleneck.

    Attributes
    ----------
    name_edit, name_error
        The layer's name (Enter or leaving the field renames) and why a name was refused.
    editors
        One :class:`~gui.panels.param_editors.ParamEditor` per parameter, by name.
    figures
        The value label per figure key (see :data:`FIGURES`).
    figures_note
        Says why the figures are unknown when a layer above this one has a problem.
    problem_label
        The layer's problem, in red at the top; hidden while there is none.
    preprocessing
        The preprocessing section of an Input, else ``None``; its editors are in :attr:`editors` too.
    bottleneck
        The 1×1 bottleneck section of a Conv2D, else ``None``.
    curve
        The plot of an activation layer's function (ReLU, LeakyReLU, Sigmoid, Tanh, ELU), else ``None``.
    """

    def __init__(self, document: NetworkDocument, undo_stack: QUndoStack, node_id: str) -> None:
        super().__init__()
        self._document, self._undo_stack, self.node_id = document, undo_stack, node_id
        node = document.node(node_id)
        self.problem_label = _wrapping(role="banner")
        self.problem_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(6)
        layout.addWidget(self.problem_label)
        self._build_header(layout)
        grid = _grid()
        self._row_labels: list[QLabel] = []
        self.editors = self._build_editors(grid)
        self.preprocessing: PreprocessingSection | None = None
        if node.layer.preprocessing is not None:
            self.preprocessing = PreprocessingSection(document, undo_stack, node_id, self._committer)
            self.editors.update(self.preprocessing.editors)
            grid.addWidget(self.preprocessing, grid.rowCount(), 0, 1, 2)
        self._build_training(grid)
        self.figures = self._build_figures(grid)
        layout.addLayout(grid)
        self.bottleneck = (
            BottleneckSection(document, undo_stack, node_id) if node.layer.offers_bottleneck_comparison else None
        )
        self.separable = (
            SeparableSection(document, undo_stack, node_id) if node.layer.offers_bottleneck_comparison else None
        )
        grids, labels = [grid], list(self._row_labels)
        if self.preprocessing is not None:
            grids.append(self.preprocessing.table)
            labels += self.preprocessing.row_labels
        if self.bottleneck is not None:
            layout.addWidget(self.bottleneck)
            grids.append(self.bottleneck.table)
            labels += self.bottleneck.row_labels
        if self.separable is not None:
            layout.addWidget(self.separable)
            grids.append(self.separable.table)
            labels += self.separable.row_labels
        _align_label_columns(grids, labels)
        self.curve: ActivationCurve | None = None
        if node.layer.is_activation_function:
            self.curve = ActivationCurve()
            layout.addWidget(_section("Function"))
            layout.addWidget(self.curve)
        layout.addStretch(1)

    # -- building ------------------------------------------------------------------

    def _build_header(self, layout: QVBoxLayout) -> None:
        node = self._document.node(self.node_id)
        self.name_edit = QLineEdit(node.name)
        self.name_edit.setToolTip("The layer's unique name; press Enter to rename.")
        font = QFont(self.name_edit.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.name_edit.setFont(font)
        self.name_edit.editingFinished.connect(self.commit_name)
        self.name_edit.textEdited.connect(lambda _text: self.name_error.hide())
        self.name_error = _wrapping(role="error")
        self.name_error.hide()
        category = "" if node.layer.category == node.type_name else f" · {node.layer.category}"
        type_label = _label(f"<b>{node.type_name}</b>{category}")
        type_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.name_edit)
        layout.addWidget(self.name_error)
        layout.addWidget(type_label)
        layout.addWidget(_wrapping(node.layer.summary, "muted"))

    def _build_editors(self, grid: QGridLayout) -> dict[str, ParamEditor]:
        layer = self._document.node(self.node_id).layer
        grid.addWidget(_section("Parameters"), grid.rowCount(), 0, 1, 2)
        if not layer.param_specs:
            grid.addWidget(_label("This layer has no parameters.", "muted"), grid.rowCount(), 0, 1, 2)
        editors = {}
        # An Input's preprocessing has a section of its own.
        own_section = PREPROCESSING_PARAMS if layer.preprocessing is not None else ()
        for spec in layer.param_specs:
            if spec.name in own_section:
                continue
            editor = make_editor(spec, layer.params[spec.name], self._committer(spec.name))
            label = _label(_humanize(spec.name), tooltip=editor.toolTip())
            label.setMinimumHeight(editor.label_height)
            self._row_labels.append(label)
            row = grid.rowCount()
            grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(editor, row, 1)
            editors[spec.name] = editor
        return editors

    def _build_training(self, grid: QGridLayout) -> None:
        """Trainable or frozen, and the learning-rate multiplier: shown for layers with weights."""
        training = self._document.node(self.node_id).training
        self.training_title = _section("Training")
        self.trainable = QCheckBox("Trainable")
        self.trainable.setToolTip(
            "Unticked, the layer is frozen: training leaves its weights (and a BatchNorm's statistics) as they are — "
            "keep a pretrained network's features and train a new head."
        )
        self.trainable.setChecked(training.trainable)
        self.trainable.toggled.connect(lambda _on: self.commit_training())
        self.lr_multiplier = QDoubleSpinBox()
        self.lr_multiplier.setRange(0.0, MAX_LR_MULTIPLIER)
        self.lr_multiplier.setDecimals(3)
        self.lr_multiplier.setSingleStep(0.1)
        self.lr_multiplier.setKeyboardTracking(False)
        self.lr_multiplier.setValue(training.lr_multiplier)
        self.lr_multiplier.setToolTip("This layer learns at the run's learning rate times this (below 1: gently).")
        self.lr_multiplier.valueChanged.connect(lambda _value: self.commit_training())
        self.lr_label = _label("Learning rate ×", tooltip=self.lr_multiplier.toolTip())
        self._row_labels.append(self.lr_label)
        grid.addWidget(self.training_title, grid.rowCount(), 0, 1, 2)
        grid.addWidget(self.trainable, grid.rowCount(), 0, 1, 2)
        row = grid.rowCount()
        grid.addWidget(self.lr_label, row, 0)
        grid.addWidget(self.lr_multiplier, row, 1)
        self._training_widgets = (self.training_title, self.trainable, self.lr_label, self.lr_multiplier)

    def commit_training(self) -> None:
        """Push the checkbox's and the multiplier's values as one undoable change (none when equal)."""
        if self.node_id not in self._document:
            return
        node = self._document.node(self.node_id)
        training = LayerTraining(self.trainable.isChecked(), float(self.lr_multiplier.value()))
        self.lr_multiplier.setEnabled(training.trainable)
        if training == node.training:
            return
        if training.trainable != node.training.trainable:
            verb = "Unfreeze" if training.trainable else "Freeze"
        else:
            verb = "Set learning-rate multiplier of"
        self._undo_stack.push(SetTrainingCommand(self._document, {self.node_id: training}, f"{verb} {node.name}"))

    def _build_figures(self, grid: QGridLayout) -> dict[str, QLabel]:
        grid.addWidget(_section("Figures"), grid.rowCount(), 0, 1, 2)
        self.figures_note = _wrapping("Unknown until the layers feeding this one compute.", "muted")
        grid.addWidget(self.figures_note, grid.rowCount(), 0, 1, 2)
        figures = {}
        for key, title, tooltip in FIGURES:
            row = grid.rowCount()
            self._row_labels.append(_label(title, tooltip=tooltip))
            grid.addWidget(self._row_labels[-1], row, 0)
            figures[key] = _value_label()
            grid.addWidget(figures[key], row, 1)
        return figures

    # -- editing -------------------------------------------------------------------

    def _committer(self, param: str) -> Callable[[Any], None]:
        return lambda value: self.commit_param(param, value)

    def commit_param(self, param: str, value: Any) -> None:
        """Push a :class:`SetParamCommand`, or show why the layer refuses ``value``.

        The layer is asked first, so a refused value changes nothing and leaves no undo step.
        """
        if self.node_id not in self._document:
            return
        editor = self.editors[param]
        layer = self._document.node(self.node_id).layer
        try:
            changed = layer.with_params(**{param: value})
        except ParamError as exc:
            editor.show_error(exc.reason if exc.field == param else str(exc))
            editor.set_value(layer.params[param])
            return
        for each in self.editors.values():
            each.clear_error()
        new_value = changed.params[param]
        if new_value == layer.params[param]:
            editor.set_value(new_value)
            return
        spec = next(s for s in layer.param_specs if s.name == param)
        self._undo_stack.push(SetParamCommand(self._document, self.node_id, param, spec.to_json(new_value)))

    def commit_name(self) -> None:
        """Rename the layer to the field's text, or show why the name is refused and restore it."""
        if self.node_id not in self._document:
            return
        node = self._document.node(self.node_id)
        text = self.name_edit.text()
        name = text.strip()  # spaces typed at either end are slips; a name read from a file keeps its own
        if node.name in (text, name):
            self.name_edit.setText(node.name)
            return
        problem = self._document.name_problem(name, self.node_id)
        if problem is not None:  # checked first: a command must not fail inside the undo stack
            self.name_error.setText(problem)
            self.name_error.show()
            self.name_edit.setText(node.name)
            return
        self.name_error.hide()
        self._undo_stack.push(RenameNodeCommand(self._document, self.node_id, name))
        self.name_edit.setText(name)

    # -- following the document ----------------------------------------------------

    def refresh(self, summary: NetworkSummary) -> None:
        """Show the document's current values and ``summary``'s figures, keeping the widgets."""
        node = self._document.node(self.node_id)
        if self.name_edit.text() != node.name and not self.name_edit.isModified():
            self.name_edit.setText(node.name)
        for name, editor in self.editors.items():
            if editor.value != node.layer.params[name]:
                editor.set_value(node.layer.params[name])
        by_id = {layer.node_id: layer for layer in summary.layers}
        self._show_training(node.training, by_id.get(self.node_id))
        problems = [p.message for p in summary.problems if p.node_id == self.node_id]
        self._show_problems(problems)
        self._show_figures(by_id.get(self.node_id), bool(problems))
        if self.preprocessing is not None:
            self.preprocessing.refresh()
        if self.bottleneck is not None:
            known = by_id.get(self.node_id)
            self.bottleneck.refresh(self._input_shape(by_id) if known and known.output_shape else None)
        if self.separable is not None:
            known = by_id.get(self.node_id)
            self.separable.refresh(self._input_shape(by_id) if known and known.output_shape else None)
        if self.curve is not None:
            self.curve.set_layer(node.layer)  # follows alpha edits

    def _show_training(self, training: LayerTraining, layer: LayerSummary | None) -> None:
        has_weights = layer is not None and bool(layer.params)
        for widget in self._training_widgets:
            widget.setVisible(has_weights or not training.is_default)
        if self.trainable.isChecked() != training.trainable:
            blocked = self.trainable.blockSignals(True)
            self.trainable.setChecked(training.trainable)
            self.trainable.blockSignals(blocked)
        if self.lr_multiplier.value() != training.lr_multiplier:
            blocked = self.lr_multiplier.blockSignals(True)
            self.lr_multiplier.setValue(training.lr_multiplier)
            self.lr_multiplier.blockSignals(blocked)
        self.lr_multiplier.setEnabled(training.trainable)

    def _input_shape(self, by_id: dict[str, LayerSummary]) -> Shape | None:
        edges = self._document.input_edges(self.node_id)
        if len(edges) != 1 or by_id.get(edges[0].source) is None:
            return None
        return check_graph(self._document).edge_shape(edges[0])

    def _show_problems(self, messages: Sequence[str]) -> None:
        self.problem_label.setVisible(bool(messages))
        self.problem_label.setText("\n".join(messages))

    def _show_figures(self, layer: LayerSummary | None, has_problem: bool) -> None:
        self.figures_note.setVisible(not has_problem and (layer is None or layer.output_shape is None))
        for key, (text, tooltip) in _layer_figures(layer).items():
            self.figures[key].setText(text)
            self.figures[key].setToolTip(tooltip)


# -- several layers -----------------------------------------------------------------


class SelectionSummary(QWidget):
    """Totals of several selected layers.

    Attributes
    ----------
    title
        ``"N layers selected"``.
    totals
        The value label per key of :data:`TOTALS`.
    """

    def __init__(self, document: NetworkDocument, node_ids: Sequence[str]) -> None:
        super().__init__()
        self._document, self._node_ids = document, list(node_ids)
        self.title = _label(f"{len(self._node_ids)} layers selected")
        font = QFont(self.title.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.names = _wrapping(role="muted")
        self.note = _wrapping(role="muted")
        grid = _grid()
        grid.addWidget(_section("Totals"), 0, 0, 1, 2)
        self.totals: dict[str, QLabel] = {}
        for row, (key, title, tooltip) in enumerate(TOTALS, start=1):
            grid.addWidget(_label(title, tooltip=tooltip), row, 0)
            self.totals[key] = _value_label()
            grid.addWidget(self.totals[key], row, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        layout.addWidget(self.names)
        layout.addLayout(grid)
        layout.addWidget(self.note)
        layout.addStretch(1)

    def refresh(self, summary: NetworkSummary) -> None:
        """Sum the figures of the selected layers in ``summary``."""
        self.names.setText(", ".join(self._document.node(i).name for i in self._node_ids))
        chosen = [layer for layer in summary.layers if layer.node_id in self._node_ids]
        known = [layer for layer in chosen if layer.output_shape is not None]
        self.totals["params"].setText(format_count(sum(layer.params or 0 for layer in known)))
        macs = sum(layer.macs or 0 for layer in known)
        self.totals["macs"].setText(format_count(macs))
        self.totals["macs"].setToolTip(f"{format_si(macs)} per sample")
        self.totals["activations"].setText(format_bytes(sum(layer.activation_bytes or 0 for layer in known)))
        unknown = len(self._node_ids) - len(known)
        self.note.setVisible(unknown > 0)
        self.note.setText(f"Not counted: {unknown} of them, whose shapes are unknown.")


# -- the panel ----------------------------------------------------------------------


class InspectorPanel(QWidget):
    """Shows and edits the selected layers of one document.

    Attributes
    ----------
    view
        What is shown: a hint (``QLabel``), a :class:`NodeInspector` or a :class:`SelectionSummary`.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._document: NetworkDocument | None = None
        self._undo_stack: QUndoStack | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._selection: list[str] = []
        self._style = ""
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)
        self.view: QWidget = self._hint()
        self.scroll.setWidget(self.view)
        self._apply_style()

    # -- public API ----------------------------------------------------------------

    def set_context(self, document: NetworkDocument, undo_stack: QUndoStack) -> None:
        """Follow ``document`` (and stop following the previous one); edits go on ``undo_stack``."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._document, self._undo_stack = document, undo_stack
        self._unsubscribe = document.subscribe(self._on_document_event)
        self._selection = []
        self._rebuild()

    def set_selection(self, node_ids: Sequence[str]) -> None:
        """Show nothing (a hint), one layer in full, or the totals of several layers."""
        document = self._document
        ids = [i for i in dict.fromkeys(node_ids) if document is not None and i in document]
        if ids != self._selection:
            self._selection = ids
            self._rebuild()

    @property
    def selection(self) -> list[str]:
        return list(self._selection)

    @property
    def node_inspector(self) -> NodeInspector | None:
        """The single-layer view, when exactly one layer is selected."""
        return self.view if isinstance(self.view, NodeInspector) else None

    # -- views ---------------------------------------------------------------------

    def _hint(self) -> QLabel:
        hint = _wrapping(HINT, "muted")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setContentsMargins(MARGIN * 2, MARGIN * 2, MARGIN * 2, MARGIN * 2)
        return hint

    def _rebuild(self) -> None:
        document, stack, ids = self._document, self._undo_stack, self._selection
        if document is None or stack is None or not ids:
            view: QWidget = self._hint()
        elif len(ids) == 1:
            view = NodeInspector(document, stack, ids[0])
        else:
            view = SelectionSummary(document, ids)
        old = self.scroll.takeWidget()
        if old is not None:
            old.deleteLater()
        self.view = view
        self.scroll.setWidget(view)
        self._refresh()

    def _refresh(self) -> None:
        if self._document is not None and isinstance(self.view, (NodeInspector, SelectionSummary)):
            self.view.refresh(summarize(self._document))

    def _on_document_event(self, event: DocumentEvent) -> None:
        if isinstance(event, NodeMoved):
            return
        if isinstance(event, NodeRemoved) and event.node_id in self._selection:
            self.set_selection([i for i in self._selection if i != event.node_id])
            return
        self._refresh()

    # -- palette -------------------------------------------------------------------

    def _apply_style(self) -> None:
        sheet = style_sheet(self.palette())
        if sheet != self._style:
            self._style = sheet
            self.setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_style()
        super().changeEvent(event)
