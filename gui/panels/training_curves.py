"""The curves dock: live plots, the list of runs to compare, and the last run's results."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.training.history import RunHistory, write_runs_csv
from gui.panels.run_results import RunResultsWidget
from gui.panels.training_plots import RUN_HUES, TRAIN_COLOUR, TrainingPlots

RUN_ROLE = Qt.ItemDataRole.UserRole
STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
"""A run's state beside its name (e.g. a followed log's "following"); not part of the name."""


class _RunItemDelegate(QStyledItemDelegate):
    """Draws a run's status on a second line, under its name.

    A long name does not hide the status, and editing the name leaves it out.
    """

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        status = index.data(STATUS_ROLE)
        if status:
            option.text = f"{option.text}\u2028    {status}"


class RunList(QWidget):
    """Runs with a visibility check box each; double-click renames; buttons remove and export."""

    changed = Signal()
    export_png_requested = Signal()
    export_csv_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[RunHistory] = []
        self.current: RunHistory | None = None
        self.statuses: dict[int, tuple[str, str]] = {}
        """``id(run)`` → (a short state shown beside the name, a sentence for its tooltip)."""
        self.list = QListWidget()
        self.list.setItemDelegate(_RunItemDelegate(self.list))
        self.list.setToolTip("Tick to show a run on the plots; double-click to rename it.")
        self.list.itemChanged.connect(self._item_changed)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected runs from the plots.")
        self.remove_button.clicked.connect(self.remove_selected)
        png, csv = QPushButton("PNG…"), QPushButton("CSV…")
        png.setToolTip("Save the plots as a PNG image.")
        csv.setToolTip("Save every visible run's per-epoch figures as CSV.")
        png.clicked.connect(self.export_png_requested)
        csv.clicked.connect(self.export_csv_requested)
        buttons = QHBoxLayout()
        for button in (self.remove_button, png, csv):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Runs")
        title.setStyleSheet("font-weight: 600")
        layout.addWidget(title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    def set_runs(self, runs: list[RunHistory], current: RunHistory | None) -> None:
        self.runs, self.current = runs, current
        present = {id(run) for run in runs}
        self.statuses = {key: value for key, value in self.statuses.items() if key in present}
        self.list.blockSignals(True)
        self.list.clear()
        for index, run in enumerate(runs):
            item = QListWidgetItem(run.name)
            item.setData(RUN_ROLE, index)
            flags = item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsUserCheckable
            item.setFlags(flags)
            item.setCheckState(Qt.CheckState.Checked if run.visible else Qt.CheckState.Unchecked)
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(TRAIN_COLOUR if run is current else RUN_HUES[index % len(RUN_HUES)]))
            item.setIcon(swatch)
            tooltip = [run.name]
            if run.finished is not None:
                tooltip.append(run.finished.message)
            status, detail = self.statuses.get(id(run), ("log", f"Read from {run.source}") if run.source else ("", ""))
            if status:
                item.setData(STATUS_ROLE, status)
                tooltip.append(detail)
            item.setToolTip("\n".join(tooltip))
            self.list.addItem(item)
        self.list.blockSignals(False)

    def _item_changed(self, item: QListWidgetItem) -> None:
        run = self.runs[item.data(RUN_ROLE)]
        name = item.text().strip()
        run.name = name or run.name
        run.visible = item.checkState() == Qt.CheckState.Checked
        self.changed.emit()

    def remove_selected(self) -> None:
        chosen = {item.data(RUN_ROLE) for item in self.list.selectedItems()}
        kept = [
            run
            for index, run in enumerate(self.runs)
            if index not in chosen or (run is self.current and run.finished is None and not run.source)
        ]
        self.runs[:] = kept
        self.changed.emit()


class TrainingCurvesPanel(QWidget):
    """Tabs "Curves" (plots and runs) and "Results" (confusion matrix, mistakes)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plots = TrainingPlots()
        self.run_list = RunList()
        self.results = RunResultsWidget()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plots)
        splitter.addWidget(self.run_list)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([900, 220])
        self.tabs = QTabWidget()
        self.tabs.addTab(splitter, "Curves")
        self.tabs.addTab(self.results, "Results")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs)
        self.runs: list[RunHistory] = []
        self.current: RunHistory | None = None
        self.run_list.changed.connect(self._runs_edited)
        self.run_list.export_png_requested.connect(self.export_png)
        self.run_list.export_csv_requested.connect(self.export_csv)

    def set_runs(self, runs: list[RunHistory], current: RunHistory | None) -> None:
        """Show ``runs`` (the list is shared with the training panel and edited in place)."""
        self.runs, self.current = runs, current
        self.run_list.set_runs(runs, current)
        self.plots.set_runs(runs, current)

    def set_run_status(self, run: RunHistory, status: str, detail: str = "") -> None:
        """Show ``status`` beside ``run``'s name (e.g. "following"), ``detail`` in its tooltip."""
        self.run_list.statuses[id(run)] = (status, detail)
        self.run_list.set_runs(self.runs, self.current)

    def refresh_run(self, run: RunHistory) -> None:
        """Redraw ``run``'s curves after it received events (any run, not only the current one)."""
        if run is self.current:
            self.plots.refresh()
        else:
            self.plots.refresh_run(run)

    def _runs_edited(self) -> None:
        if self.current is not None and self.current not in self.runs:
            self.current = None
        self.set_runs(self.runs, self.current)

    def refresh(self) -> None:
        self.plots.refresh()

    # -- export ------------------------------------------------------------------------

    def save_png(self, path: str | Path) -> bool:
        return self.plots.grab().save(str(path), "PNG")

    def save_csv(self, path: str | Path) -> None:
        write_runs_csv(path, [run for run in self.runs if run.visible])

    def export_png(self) -> None:
        chosen, _ = QFileDialog.getSaveFileName(self, "Save plots as PNG", "training.png", "PNG images (*.png)")
        if chosen and not self.save_png(chosen):
            QMessageBox.critical(self, "Cannot save plots", f"{chosen}: the image could not be written")

    def export_csv(self) -> None:
        chosen, _ = QFileDialog.getSaveFileName(self, "Save runs as CSV", "training.csv", "CSV files (*.csv)")
        if not chosen:
            return
        try:
            self.save_csv(chosen)
        except OSError as exc:
            QMessageBox.critical(self, "Cannot save runs", f"{chosen}: {exc.strerror or exc}")
