"""The Training dock's recipe: learning-rate schedule (with a preview curve), weight decay, clipping, smoothing, class weights.

Each control maps to one field of :class:`~core.training.trainer.TrainingConfig`
(:mod:`core.training.schedules` for the schedule); ``docs/training.md`` ("Recipes")
gives every formula. The preview draws the rate of every step of the run as the
schedule will set it, before training starts (a plateau schedule draws as constant: its
reductions wait for the validation losses).
"""

from __future__ import annotations

import re

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from core.errors import LayerwiseError
from core.training.schedules import SCHEDULES, ScheduleSettings, preview_points
from gui.widgets.plots import chart, style_chart

SCHEDULE_LABELS = {
    "none": "constant",
    "step": "step",
    "multistep": "multi-step",
    "exponential": "exponential",
    "cosine": "cosine with warm-up",
    "onecycle": "one-cycle",
    "plateau": "reduce on plateau",
}
SCHEDULE_TOOLTIPS = {
    "none": "The learning rate stays as set.",
    "step": "Multiply the rate by gamma every 'step size' epochs (StepLR).",
    "multistep": "Multiply the rate by gamma after each listed epoch (MultiStepLR).",
    "exponential": "Multiply the rate by gamma after every epoch (ExponentialLR).",
    "cosine": "Rise linearly over the warm-up epochs, then fall along a cosine to the minimum rate.",
    "onecycle": "Per batch: rise from rate/25 to the rate over 30 % of the run, then fall to rate/250 000 (OneCycleLR).",
    "plateau": "Multiply the rate by the factor when the validation loss has not improved for 'patience' epochs.",
}
PARAMETERS = {
    "step": ("step_size", "gamma"),
    "multistep": ("milestones", "gamma"),
    "exponential": ("gamma",),
    "cosine": ("warmup_epochs", "min_lr"),
    "plateau": ("factor", "patience"),
}
"""The fields each schedule reads (the others are hidden)."""
PREVIEW_BATCHES = 20
"""Batches per epoch the preview assumes until the run's are known: the curve's shape in epochs."""


class RecipeError(LayerwiseError):
    """A recipe field holds something that is not a setting (named in the message)."""


def _double(low: float, high: float, value: float, decimals: int, tooltip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(low, high)
    box.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
    box.setValue(value)
    box.setToolTip(tooltip)
    return box


def parse_milestones(text: str) -> tuple[int, ...]:
    """``"10, 20"`` → ``(10, 20)``.

    Raises
    ------
    RecipeError
        When an item is not a whole number.
    """
    items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    try:
        return tuple(int(item) for item in items)
    except ValueError:
        raise RecipeError(f"milestones must be whole epochs separated by commas, got {text!r}") from None


class RecipeSettings(QGroupBox):
    """Schedule, weight decay, gradient clipping, label smoothing and class weights."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Schedule and recipe", parent)
        defaults = ScheduleSettings()
        self.form = QFormLayout(self)
        self.kind = QComboBox()
        for kind in SCHEDULES:
            self.kind.addItem(SCHEDULE_LABELS[kind], kind)
            self.kind.setItemData(self.kind.count() - 1, SCHEDULE_TOOLTIPS[kind], 3)  # 3: Qt.ToolTipRole
        self.kind.setToolTip("How the learning rate changes over the run; the rate above is its base.")
        self.step_size = QSpinBox()
        self.step_size.setRange(1, 100_000)
        self.step_size.setValue(defaults.step_size)
        self.step_size.setToolTip("Epochs between two reductions.")
        self.gamma = _double(1e-6, 1.0, defaults.gamma, 6, "Factor of each reduction (per epoch for exponential).")
        self.milestones = QLineEdit()
        self.milestones.setPlaceholderText("e.g. 10, 20")
        self.milestones.setToolTip("Epochs (counted from 0) after which the rate is multiplied by gamma.")
        self.warmup_epochs = QSpinBox()
        self.warmup_epochs.setRange(0, 100_000)
        self.warmup_epochs.setToolTip("Epochs of linear warm-up before the cosine.")
        self.min_lr = _double(0.0, 10.0, defaults.min_lr, 8, "The rate the cosine falls to.")
        self.factor = _double(1e-6, 0.999999, defaults.factor, 6, "Factor of each reduction on a plateau.")
        self.patience = QSpinBox()
        self.patience.setRange(0, 100_000)
        self.patience.setValue(defaults.patience)
        self.patience.setToolTip("Epochs without a new best validation loss before the rate is reduced.")
        self.preview_widget, self.preview_plot = chart("epoch", "learning rate")
        self.preview_plot.getAxis("left").enableAutoSIPrefix(False)  # "0.001", not "1 (×0.001)" cut off
        self.preview_widget.setFixedHeight(130)
        self.preview_plot.setMouseEnabled(x=False, y=False)
        self.preview_curve = self.preview_plot.plot([], [], pen={"color": "#4c78a8", "width": 2})
        style_chart(self.preview_widget, self.palette())
        self.weight_decay = _double(0.0, 10.0, 0.01, 6, "AdamW's decoupled weight decay, on every parameter.")
        self.clip_enabled = QCheckBox("Clip gradient norm")
        self.clip_enabled.setToolTip("Scale the whole gradient down to this global L2 norm when it is longer.")
        self.clip_norm = _double(1e-6, 1e6, 1.0, 4, "The largest global L2 norm of the gradient.")
        self.clip_norm.setEnabled(False)
        self.clip_enabled.toggled.connect(self.clip_norm.setEnabled)
        self.label_smoothing = _double(0.0, 0.99, 0.0, 3, "Cross-entropy's target: (1 − ε)·one-hot + ε / classes.")
        self.class_weights = QComboBox()
        self.class_weights.addItem("equal", None)
        self.class_weights.addItem("balanced (from the training labels)", "balanced")
        self.class_weights.setToolTip(
            "Balanced weighs each class by samples / (classes · its count), for imbalanced data "
            "(explicit weights: layerwise train --class-weights)."
        )
        self.rows: dict[str, QWidget] = {
            "step_size": self.step_size,
            "gamma": self.gamma,
            "milestones": self.milestones,
            "warmup_epochs": self.warmup_epochs,
            "min_lr": self.min_lr,
            "factor": self.factor,
            "patience": self.patience,
        }
        labels = {
            "step_size": "Step size",
            "gamma": "Gamma",
            "milestones": "Milestones",
            "warmup_epochs": "Warm-up epochs",
            "min_lr": "Minimum rate",
            "factor": "Factor",
            "patience": "Patience",
        }
        self.form.addRow("Schedule", self.kind)
        for name, widget in self.rows.items():
            self.form.addRow(labels[name], widget)
        self.form.addRow(self.preview_widget)
        self.form.addRow("Weight decay", self.weight_decay)
        self.form.addRow(self.clip_enabled, self.clip_norm)
        self.form.addRow("Label smoothing", self.label_smoothing)
        self.form.addRow("Class weights", self.class_weights)
        self.locked: list[QWidget] = [
            self.kind,
            *self.rows.values(),
            self.weight_decay,
            self.clip_enabled,
            self.clip_norm,
            self.label_smoothing,
            self.class_weights,
        ]
        for box in (self.step_size, self.gamma, self.warmup_epochs, self.min_lr, self.factor, self.patience):
            box.valueChanged.connect(lambda _value: self.changed.emit())
        for box in (self.weight_decay, self.clip_norm, self.label_smoothing):
            box.valueChanged.connect(lambda _value: self.changed.emit())
        self.milestones.textChanged.connect(lambda _text: self.changed.emit())
        self.kind.currentIndexChanged.connect(lambda _index: self._show_parameters())
        self._show_parameters()

    def _show_parameters(self) -> None:
        used = PARAMETERS.get(self.kind.currentData(), ())
        for name, widget in self.rows.items():
            self.form.setRowVisible(widget, name in used)
        self.changed.emit()

    # -- reading -----------------------------------------------------------------------

    def schedule(self) -> ScheduleSettings:
        """The schedule as set.

        Raises
        ------
        RecipeError
            When the milestones are not whole numbers.
        """
        return ScheduleSettings(
            kind=str(self.kind.currentData()),
            step_size=self.step_size.value(),
            gamma=float(self.gamma.value()),
            milestones=parse_milestones(self.milestones.text()),
            warmup_epochs=self.warmup_epochs.value(),
            min_lr=float(self.min_lr.value()),
            factor=float(self.factor.value()),
            patience=self.patience.value(),
        )

    def fields(self) -> dict[str, object]:
        """The recipe's :class:`TrainingConfig` fields besides the schedule."""
        return {
            "weight_decay": float(self.weight_decay.value()),
            "clip_norm": float(self.clip_norm.value()) if self.clip_enabled.isChecked() else None,
            "label_smoothing": float(self.label_smoothing.value()),
            "class_weights": self.class_weights.currentData(),
        }

    def set_optimizer(self, name: str) -> None:
        """Weight decay is AdamW's alone: the field is enabled for it only."""
        self.weight_decay.setEnabled(name == "adamw")
        self.weight_decay.setToolTip(
            "AdamW's decoupled weight decay, on every parameter."
            if name == "adamw"
            else "Only AdamW decays weights; for other optimisers use L2 under Regularisation."
        )

    def show_preview(self, config: object, batches_per_epoch: int = PREVIEW_BATCHES) -> str:
        """Draw the rate of every step of ``config``'s run; return why not when it cannot ("" when drawn)."""
        try:
            # Sampled: a run of 100,000 epochs must not stall the dock at every keystroke.
            steps, rates = preview_points(config, batches_per_epoch)  # type: ignore[arg-type]
        except LayerwiseError as exc:
            self.preview_curve.setData([], [])
            self.preview_plot.setTitle(str(exc), size="8pt")
            return str(exc)
        self.preview_curve.setData(steps, rates)
        self.preview_plot.setTitle(None)
        return ""
