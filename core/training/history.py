"""The record of a training run, built from its events, as plots and tables need it.

Positions along a run are measured in epochs: epoch metrics sit at ``x = epoch``
(the end of that epoch), a batch at ``x = epoch − 1 + batch / batches``, a setting
change at the start of the batch it took effect before.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.training.events import (
    BatchEnded,
    EarlyStopChecked,
    EpochEnded,
    SettingChanged,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
)

OVERFIT_TOLERANCE = 0.01
"""Validation loss must exceed its best so far by this fraction to count as rising."""

METRIC_LABELS = {"val_loss": "val loss", "val_accuracy": "val acc"}


@dataclass(frozen=True)
class Marker:
    """A labelled moment of a run.

    Attributes
    ----------
    x
        Position in epochs.
    kind
        ``"setting"`` (a live change), ``"best"`` (early stopping's best epoch) or
        ``"stopped"`` (where the run ended early).
    label
        What a plot writes beside the marker.
    """

    x: float
    kind: str
    label: str


def format_setting(name: str, value: Any) -> str:
    """A short phrase for a setting's value: ``"dropout off"``, ``"L2 = 0.001"``, ``"augment: flip, noise"``."""
    if name == "dropout":
        return f"dropout {'on' if value else 'off'}"
    if name in ("l1", "l2"):
        return f"{name.upper()} = {value:g}" if value else f"{name.upper()} off"
    if name == "learning_rate":
        return f"lr = {value:g}"
    if name == "augment":
        kinds = sorted(value["kinds"] if isinstance(value, dict) else value)
        return f"augment: {', '.join(kinds)}" if kinds else "augment off"
    if name == "early_stopping":
        return f"early stop (patience {value})" if value else "no early stop"
    if name == "batch_size":
        return f"batch {value}"
    if isinstance(value, float):
        return f"{name.replace('_', ' ')} = {value:g}"
    return f"{name.replace('_', ' ')} = {value}"


DESCRIBED_SETTINGS = (
    "dataset", "dropout", "l1", "l2", "augment", "learning_rate", "optimizer", "batch_size",
    "early_stopping", "epochs", "seed", "loss", "momentum",
)


def describe_difference(settings: dict[str, Any], reference: dict[str, Any] | None) -> str:
    """What differs in ``settings`` from ``reference``, e.g. ``"dropout off, L2 = 0.001"``.

    Both are run settings as in :attr:`RunHistory.settings`; ``reference`` ``None``
    (the first run) gives ``"baseline"``, identical settings ``"same settings"``.
    """
    if reference is None:
        return "baseline"
    parts = [
        format_setting(name, settings.get(name))
        for name in DESCRIBED_SETTINGS
        if name in settings and settings.get(name) != reference.get(name)
    ]
    return ", ".join(parts) if parts else "same settings"


def _value(number: float | None) -> float:
    return math.nan if number is None else float(number)


@dataclass
class RunHistory:
    """Everything plotted about one run; feed it events with :meth:`add`.

    Attributes
    ----------
    name
        Shown in legends and the run list; the user may rename it.
    settings
        The run's settings (``TrainingConfig.to_json()``) plus ``"dataset"``.
    epochs, train_loss, train_data_loss, train_penalty, train_accuracy, val_loss, val_accuracy, learning_rate
        One entry per finished epoch (NaN where there was no validation).
    batch_x, batch_loss
        One entry per batch: position in epochs and the batch's loss.
    markers
        Live setting changes, and the best/stopped epochs of early stopping.
    finished
        The last event, once the run has ended.
    """

    name: str = "run"
    settings: dict[str, Any] = field(default_factory=dict)
    batches_per_epoch: int = 1
    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_data_loss: list[float] = field(default_factory=list)
    train_penalty: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    batch_x: list[float] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)
    batch_data_loss: list[float] = field(default_factory=list)
    batch_penalty: list[float] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    finished: TrainingFinished | None = None
    visible: bool = True

    def add(self, event: TrainingEvent) -> None:
        """Record one trainer event (others are ignored)."""
        if isinstance(event, TrainingStarted):
            self.settings = {**event.settings, "dataset": event.dataset}
            self.batches_per_epoch = max(1, event.batches_per_epoch)
        elif isinstance(event, BatchEnded):
            self.batch_x.append(event.epoch - 1 + event.batch / max(1, event.batches))
            self.batch_loss.append(event.loss)
            self.batch_data_loss.append(event.data_loss)
            self.batch_penalty.append(event.penalty)
        elif isinstance(event, EpochEnded):
            self.epochs.append(event.epoch)
            self.train_loss.append(event.train_loss)
            self.train_data_loss.append(event.train_data_loss)
            self.train_penalty.append(event.train_penalty)
            self.train_accuracy.append(event.train_accuracy)
            self.val_loss.append(_value(event.val_loss))
            self.val_accuracy.append(_value(event.val_accuracy))
            self.learning_rate.append(event.learning_rate)
        elif isinstance(event, SettingChanged):
            x = event.epoch - 1 + (event.batch - 1) / self.batches_per_epoch
            self.markers.append(Marker(x, "setting", format_setting(event.setting, event.new)))
        elif isinstance(event, EarlyStopChecked) and event.stop:
            self._add_early_stop_markers(event)
        elif isinstance(event, TrainingFinished):
            self.finished = event

    def _add_early_stop_markers(self, event: EarlyStopChecked) -> None:
        metric = METRIC_LABELS.get(event.monitor, event.monitor)
        if event.best_epoch is not None and event.best_value is not None:
            self.markers.append(Marker(float(event.best_epoch), "best", f"best: epoch {event.best_epoch}, {metric} {event.best_value:.3f}"))
        self.markers.append(
            Marker(
                float(event.epoch), "stopped",
                f"stopped at {event.epoch} after {event.epochs_without_improvement} epochs without improvement",
            )
        )

    @property
    def has_validation(self) -> bool:
        return any(math.isfinite(v) for v in self.val_loss)

    def smoothed_batch_loss(self, weight: float = 0.9) -> np.ndarray:
        """Exponential moving average of :attr:`batch_loss`, bias-corrected like Adam's moments."""
        losses = np.asarray(self.batch_loss, dtype=np.float64)
        smoothed = np.empty_like(losses)
        average = 0.0
        for index, loss in enumerate(losses):
            average = weight * average + (1 - weight) * loss
            smoothed[index] = average / (1 - weight ** (index + 1))
        return smoothed

    def overfitting_spans(self, tolerance: float = OVERFIT_TOLERANCE) -> list[tuple[float, float]]:
        """Stretches ``(start, end)`` in epochs where validation loss rises while training loss falls.

        An epoch overfits when its validation loss is above the best so far (by more
        than ``tolerance`` of it) while its training loss is below the training loss
        at that best epoch; a stretch runs from the best epoch to the last overfitting
        epoch after it.
        """
        spans: list[tuple[float, float]] = []
        best_index: int | None = None
        start: float | None = None
        end: float | None = None
        for index, (val, train) in enumerate(zip(self.val_loss, self.train_loss)):
            if not math.isfinite(val):
                continue
            if best_index is None or val < self.val_loss[best_index]:
                if start is not None:
                    spans.append((start, end))  # type: ignore[arg-type]
                    start = end = None
                best_index = index
                continue
            best_val = self.val_loss[best_index]
            if val > best_val + tolerance * abs(best_val) and train < self.train_loss[best_index]:
                start = float(self.epochs[best_index]) if start is None else start
                end = float(self.epochs[index])
        if start is not None:
            spans.append((start, end))  # type: ignore[arg-type]
        return spans

    def epoch_rows(self) -> list[dict[str, Any]]:
        """One dict per epoch with every per-epoch figure (for CSV and tables)."""
        return [
            {
                "run": self.name,
                "epoch": epoch,
                "train_loss": self.train_loss[i],
                "train_data_loss": self.train_data_loss[i],
                "train_penalty": self.train_penalty[i],
                "train_accuracy": self.train_accuracy[i],
                "val_loss": self.val_loss[i],
                "val_accuracy": self.val_accuracy[i],
                "learning_rate": self.learning_rate[i],
            }
            for i, epoch in enumerate(self.epochs)
        ]


CSV_COLUMNS = (
    "run", "epoch", "train_loss", "train_data_loss", "train_penalty", "train_accuracy", "val_loss", "val_accuracy",
    "learning_rate",
)


def runs_to_csv(runs: list[RunHistory]) -> str:
    """Per-epoch figures of ``runs`` as CSV text (empty cells where a value is missing)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for run in runs:
        for row in run.epoch_rows():
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return buffer.getvalue()
