"""The settings of a training run, and the switches that act while it runs.

Settings fixed for a run (epochs, batch size, optimizer, data split, early stopping)
are locked while training; the live switches (dropout, L1, L2, augmentation,
learning rate) stay enabled and emit :attr:`TrainingSettingsForm.live_setting_changed`,
which the panel forwards to the running trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.engine.optimizers import OPTIMIZERS
from core.errors import LayerwiseError
from core.training.augment import AUGMENTATION_KINDS, AugmentSettings
from core.training.trainer import TrainingConfig
from gui.panels.recipe_settings import RecipeSettings

AUGMENT_TOOLTIPS = {
    "noise": "Add Gaussian noise to every input.",
    "shift": "Shift images by up to 2 pixels (vacated pixels are zero).",
    "flip": "Mirror images left to right at random.",
    "rotate": "Rotate images by up to ±10°.",
    "resample": "Draw each epoch's samples with replacement (bootstrap).",
    "sample": "Replace a quarter of each batch by draws from per-class Gaussians.",
}
OPTIMIZER_LABELS = {
    "sgd": "SGD",
    "momentum": "SGD with momentum",
    "adam": "Adam",
    "adamw": "AdamW (decoupled weight decay)",
    "rmsprop": "RMSprop",
}


@dataclass(frozen=True)
class DataSettings:
    """How the chosen dataset becomes training and validation data."""

    val_fraction: float
    subset: int
    """Training samples to use (0: all)."""
    seed: int


def _spin(low: int, high: int, value: int, tooltip: str, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tooltip)
    box.setSuffix(suffix)
    box.setAccelerated(True)
    return box


def _strength(value: float, tooltip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(6)
    box.setRange(0.0, 10.0)
    box.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
    box.setValue(value)
    box.setToolTip(tooltip)
    box.setKeyboardTracking(False)  # act on the finished number, not on each keystroke
    return box


class TrainingSettingsForm(QWidget):
    """Data split, run settings, live switches and early stopping."""

    live_setting_changed = Signal(str, object)
    """``(name, value)``: ``"dropout"`` bool, ``"l1"``/``"l2"``/``"learning_rate"`` float, ``"augment"`` frozenset."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._data_group())
        layout.addWidget(self._run_group())
        self.recipe = RecipeSettings()
        layout.addWidget(self.recipe)
        layout.addWidget(self._live_group())
        layout.addWidget(self._early_group())
        self._locked: list[QWidget] = [
            self.val_percent,
            self.subset,
            self.seed,
            self.epochs,
            self.batch_size,
            self.optimizer,
            self.start_from,
            self.early_enabled,
            self.patience,
            self.monitor,
            self.restore_best,
            *self.recipe.locked,
        ]
        self.recipe.changed.connect(self.update_preview)
        self.epochs.valueChanged.connect(lambda _value: self.update_preview())
        self.learning_rate.valueChanged.connect(lambda _value: self.update_preview())
        self.optimizer.currentIndexChanged.connect(lambda _index: self._optimizer_changed())
        self._optimizer_changed()

    # -- groups ------------------------------------------------------------------------

    def _data_group(self) -> QGroupBox:
        group = QGroupBox("Data split")
        form = QFormLayout(group)
        self.val_percent = _spin(1, 90, 20, "Share of the samples held out for validation, class by class.", " %")
        self.subset = _spin(
            0, 10_000_000, 0, "Train on this many samples (stratified); 0 uses all of the training part."
        )
        self.subset.setSpecialValueText("all")
        self.seed = _spin(0, 2**31 - 1, 0, "Seeds the split, the initial weights, the batch order and dropout.")
        form.addRow("Validation", self.val_percent)
        form.addRow("Training samples", self.subset)
        form.addRow("Seed", self.seed)
        return group

    def _run_group(self) -> QGroupBox:
        group = QGroupBox("Run")
        form = QFormLayout(group)
        self.epochs = _spin(1, 100_000, 20, "Passes over the training data.")
        self.batch_size = _spin(1, 65_536, 64, "Samples per optimiser step.")
        self.optimizer = QComboBox()
        for name in OPTIMIZERS:
            self.optimizer.addItem(OPTIMIZER_LABELS.get(name, name), name)
        self.optimizer.setCurrentIndex(OPTIMIZERS.index("adam"))
        self.learning_rate = _strength(1e-3, "Step size; changes act at the next batch, also while training runs.")
        self.learning_rate.setMinimum(1e-6)
        self.learning_rate.valueChanged.connect(
            lambda value: self.live_setting_changed.emit("learning_rate", float(value))
        )
        self.start_from = QComboBox()
        self.start_from.addItem("fresh weights (from the seed)", "fresh")
        self.start_from.addItem("the network's current weights", "current")
        self.start_from.setToolTip("Fresh weights make runs comparable; current weights continue training.")
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Start from", self.start_from)
        return group

    def _live_group(self) -> QGroupBox:
        group = QGroupBox("Regularisation — acts while training runs")
        grid = QGridLayout(group)
        self.dropout = QCheckBox("Dropout")
        self.dropout.setChecked(True)
        self.dropout.setToolTip("Switch the network's Dropout layers on or off (effective at the next batch).")
        self.dropout.toggled.connect(lambda on: self.live_setting_changed.emit("dropout", bool(on)))
        self.l1_enabled, self.l1 = QCheckBox("L1"), _strength(1e-4, "L1 strength: adds strength·Σ|w| over the kernels.")
        self.l2_enabled, self.l2 = QCheckBox("L2"), _strength(1e-3, "L2 strength: adds strength·Σw² over the kernels.")
        grid.addWidget(self.dropout, 0, 0, 1, 2)
        for row, (name, check, box) in enumerate(
            (("l1", self.l1_enabled, self.l1), ("l2", self.l2_enabled, self.l2)), start=1
        ):
            grid.addWidget(check, row, 0)
            grid.addWidget(box, row, 1)
            box.setEnabled(False)
            check.toggled.connect(box.setEnabled)
            check.toggled.connect(lambda _on, n=name: self._emit_penalty(n))
            box.valueChanged.connect(lambda _value, n=name: self._emit_penalty(n))
        augment = QGroupBox("Augmentation")
        augment.setFlat(True)
        kinds = QGridLayout(augment)
        kinds.setContentsMargins(0, 4, 0, 0)
        self.augment_boxes: dict[str, QCheckBox] = {}
        for index, kind in enumerate(AUGMENTATION_KINDS):
            box = QCheckBox(kind)
            box.setToolTip(AUGMENT_TOOLTIPS.get(kind, kind))
            box.toggled.connect(lambda _on: self.live_setting_changed.emit("augment", self.augment_kinds()))
            self.augment_boxes[kind] = box
            kinds.addWidget(box, index // 3, index % 3)
        grid.addWidget(augment, 3, 0, 1, 2)
        self.augment_extra = QVBoxLayout()
        """Room under the augmentation switches (the panel puts its preview of augmented samples here)."""
        grid.addLayout(self.augment_extra, 4, 0, 1, 2)
        return group

    def _early_group(self) -> QGroupBox:
        group = QGroupBox("Early stopping")
        form = QFormLayout(group)
        self.early_enabled = QCheckBox("Stop when the monitored metric stops improving")
        self.patience = _spin(1, 10_000, 5, "Epochs without a new best after which training stops.")
        self.monitor = QComboBox()
        self.monitor.addItem("validation loss", "val_loss")
        self.monitor.addItem("validation accuracy", "val_accuracy")
        self.restore_best = QCheckBox("Restore the best epoch's weights")
        self.restore_best.setChecked(True)
        form.addRow(self.early_enabled)
        form.addRow("Patience", self.patience)
        form.addRow("Monitor", self.monitor)
        form.addRow(self.restore_best)
        return group

    def _optimizer_changed(self) -> None:
        self.recipe.set_optimizer(str(self.optimizer.currentData()))
        self.update_preview()

    def update_preview(self) -> None:
        """Redraw the learning-rate preview for the settings as they are."""
        try:
            config = self.config()
        except LayerwiseError as exc:
            self.recipe.preview_curve.setData([], [])
            self.recipe.preview_plot.setTitle(str(exc), size="8pt")
            return
        self.recipe.show_preview(config)

    def _emit_penalty(self, name: str) -> None:
        self.live_setting_changed.emit(name, self.penalty(name))

    # -- reading ---------------------------------------------------------------------

    def penalty(self, name: str) -> float:
        """The L1 or L2 strength in effect (0 when switched off)."""
        check, box = (self.l1_enabled, self.l1) if name == "l1" else (self.l2_enabled, self.l2)
        return float(box.value()) if check.isChecked() else 0.0

    def augment_kinds(self) -> frozenset[str]:
        return frozenset(kind for kind, box in self.augment_boxes.items() if box.isChecked())

    def data_settings(self) -> DataSettings:
        return DataSettings(self.val_percent.value() / 100.0, self.subset.value(), self.seed.value())

    def start_from_current(self) -> bool:
        return self.start_from.currentData() == "current"

    def config(self) -> TrainingConfig:
        """The run's settings as the trainer takes them.

        Raises
        ------
        RecipeError
            When a recipe field holds something that is not a setting (the milestones).
        """
        return TrainingConfig(
            epochs=self.epochs.value(),
            batch_size=self.batch_size.value(),
            learning_rate=float(self.learning_rate.value()),
            optimizer=str(self.optimizer.currentData()),
            l1=self.penalty("l1"),
            l2=self.penalty("l2"),
            dropout=self.dropout.isChecked(),
            augment=AugmentSettings(kinds=self.augment_kinds()),
            early_stopping=self.patience.value() if self.early_enabled.isChecked() else None,
            monitor=str(self.monitor.currentData()),
            restore_best=self.restore_best.isChecked(),
            seed=self.seed.value(),
            schedule=self.recipe.schedule(),
            **self.recipe.fields(),  # type: ignore[arg-type]
        )

    # -- state -----------------------------------------------------------------------

    def set_running(self, running: bool) -> None:
        """Lock what a run fixes; the live switches stay enabled."""
        for widget in self._locked:
            widget.setEnabled(not running)
        if not running:
            for check, box in ((self.l1_enabled, self.l1), (self.l2_enabled, self.l2)):
                box.setEnabled(check.isChecked())

    def set_values(self, values: dict[str, Any]) -> None:
        """Set fields by name (used by tests and to restore a run's settings)."""
        for name, value in values.items():
            widget = getattr(self, name) if hasattr(self, name) else getattr(self.recipe, name)
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QComboBox):
                widget.setCurrentIndex(widget.findData(value))
            elif isinstance(widget, QLineEdit):
                widget.setText(str(value))
            else:
                widget.setValue(value)


__all__ = ["DataSettings", "TrainingSettingsForm"]
