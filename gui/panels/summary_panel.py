"""The summary table: every layer's shape, parameters, MACs, memory and receptive field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from core.analysis.report import format_bytes, format_count, format_si, receptive_field_cells
from core.analysis.summary import LayerSummary, NetworkSummary, summarize
from core.graph.document import NetworkDocument
from core.graph.events import DocumentEvent, NodeMoved
from core.shapes import format_shape

PROBLEM_COLOUR = QColor("#b3261e")

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Column:
    header: str
    text: Callable[[LayerSummary], str]
    tooltip: str
    numeric: bool = False


COLUMNS = (
    Column("Layer", lambda l: l.name, "The layer's unique name."),
    Column("Type", lambda l: l.type, "The layer type."),
    Column("Inputs", lambda l: ", ".join(l.inputs) or "–", "Layers feeding this one, in input order."),
    Column(
        "Output shape",
        lambda l: format_shape(l.output_shape),
        "C×H×W for maps, the feature count for vectors (batch axis not shown).",
    ),
    Column(
        "Params",
        lambda l: format_count(l.params),
        "Trainable, frozen and non-trainable parameters (BatchNorm's running statistics).",
        numeric=True,
    ),
    Column(
        "MACs", lambda l: format_count(l.macs), "Multiply-accumulates of one forward pass for one sample.", numeric=True
    ),
    Column(
        "Activations",
        lambda l: format_bytes(l.activation_bytes),
        "Size of this layer's float32 output for one sample.",
        numeric=True,
    ),
    Column(
        "RF size",
        lambda l: receptive_field_cells(l.receptive_field, "–")[0],
        "Receptive field: how many input pixels one unit sees (h×w when they differ; * marks a misaligned merge).",
        numeric=True,
    ),
    Column(
        "RF stride",
        lambda l: receptive_field_cells(l.receptive_field, "–")[1],
        "Effective stride: input pixels between neighbouring units' fields.",
        numeric=True,
    ),
    Column(
        "RF padding",
        lambda l: receptive_field_cells(l.receptive_field, "–")[2],
        "Effective padding: unit u sees input rows from −padding + u·stride.",
        numeric=True,
    ),
)


INPUTS_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.header == "Inputs")


class SummaryTableModel(QAbstractTableModel):
    """Read-only table over a :class:`NetworkSummary`; rows with a problem are marked."""

    def __init__(self) -> None:
        super().__init__()
        self._summary = NetworkSummary("")
        self._problems: dict[str, str] = {}

    def set_summary(self, summary: NetworkSummary) -> None:
        self.beginResetModel()
        self._summary = summary
        self._problems = {p.node_id: p.message for p in summary.problems if p.node_id}
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._summary.layers)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        column = COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tooltip
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        layer = self._summary.layers[index.row()]
        column = COLUMNS[index.column()]
        problem = self._problems.get(layer.node_id)
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(layer)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and problem:
            return QBrush(PROBLEM_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole and problem:
            return problem
        if role == Qt.ItemDataRole.FontRole and index.column() == 0:
            font = QFont()
            font.setBold(True)
            return font
        return None


class SummaryPanel(QWidget):
    """Shows the summary of a document and follows its changes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = SummaryTableModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        self.table.setShowGrid(False)
        self.table.setStyleSheet(
            "QTableView::item { padding: 0px 12px; }"
            " QHeaderView::section { padding: 4px 15px; border: none; border-bottom: 1px solid #c8c8c8;"
            " background: palette(window); font-weight: 600; }"
        )
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(INPUTS_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label.setStyleSheet(
            "QLabel { background: #fdecea; color: #8c1d18; border: 1px solid #f2b8b5;"
            " border-radius: 4px; padding: 6px 8px; }"
        )
        self.problems_label.hide()
        self.totals_label = QLabel()
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.totals_label)
        self._document: NetworkDocument | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.summary = NetworkSummary("")

    def set_document(self, document: NetworkDocument) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self._document = document
        self._unsubscribe = document.subscribe(self._on_document_event)
        self.refresh()

    def _on_document_event(self, event: DocumentEvent) -> None:
        if not isinstance(event, NodeMoved):  # positions do not change any figure
            self.refresh()

    def refresh(self) -> None:
        if self._document is None:
            return
        self.summary = summarize(self._document)
        self.model.set_summary(self.summary)
        problems = self.summary.problems
        self.problems_label.setVisible(bool(problems))
        if problems:
            noun = "problem" if len(problems) == 1 else "problems"
            items = "".join(f"<li>{_escape(str(p))}</li>" for p in problems)
            self.problems_label.setText(
                f"<b>The network does not compute ({len(problems)} {noun}):</b><ul style='margin:2px 0 0 -20px'>{items}</ul>"
            )
        s = self.summary
        known = sum(1 for layer in s.layers if layer.output_shape is not None)
        partial = (
            f" &nbsp;<span style='color:#8c1d18'>(totals of the {known} layers whose shapes are known)</span>"
            if known < len(s.layers) or len(s.layers) < len(self._document)
            else ""
        )
        frozen = f", {s.frozen_params:,} frozen" if s.has_frozen_layers else ""
        self.totals_label.setText(
            f"<b>{len(self._document)}</b> layers &nbsp;·&nbsp; <b>{s.total_params:,}</b> parameters "
            f"({s.trainable_params:,} trainable{frozen}) &nbsp;·&nbsp; <b>{format_si(s.total_macs)}</b> MACs per sample"
            f" &nbsp;·&nbsp; <b>{format_bytes(s.total_activation_bytes)}</b> of activations per sample{partial}"
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
