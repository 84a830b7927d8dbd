"""Events the trainer emits: plain, picklable records a GUI, a log or a test can consume."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class TrainingEvent:
    """Base of every event; ``to_json`` gives a flat dict with an ``"event"`` name."""

    def to_json(self) -> dict[str, Any]:
        return {"event": type(self).__name__, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class TrainingStarted(TrainingEvent):
    network: str
    dataset: str
    train_samples: int
    val_samples: int
    parameters: int
    epochs: int
    batches_per_epoch: int
    settings: dict[str, Any]


@dataclass(frozen=True)
class BatchEnded(TrainingEvent):
    """One optimiser step. ``loss = data_loss + penalty``; ``accuracy`` on this (augmented) batch."""

    epoch: int
    batch: int
    batches: int
    loss: float
    data_loss: float
    penalty: float
    accuracy: float
    elapsed: float


@dataclass(frozen=True)
class EpochEnded(TrainingEvent):
    """Means over the epoch's batches for training; a full pass in inference mode for validation."""

    epoch: int
    train_loss: float
    train_data_loss: float
    train_penalty: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    learning_rate: float
    seconds: float


@dataclass(frozen=True)
class SettingChanged(TrainingEvent):
    """A live setting took effect before ``batch`` of ``epoch``."""

    epoch: int
    batch: int
    setting: str
    old: Any
    new: Any


@dataclass(frozen=True)
class EarlyStopChecked(TrainingEvent):
    """Early stopping's verdict after an epoch ("no improvement in n epochs")."""

    epoch: int
    monitor: str
    value: float
    improved: bool
    best_epoch: int | None
    best_value: float | None
    epochs_without_improvement: int
    patience: int
    stop: bool


@dataclass(frozen=True)
class ActivationsMeasured(TrainingEvent):
    """Percentiles of every layer's outputs on a fixed probe batch, in inference mode.

    Measured before the first step (``epoch`` 0) and a few times per epoch, so that a
    view can show how each layer's distribution moves during training.

    Attributes
    ----------
    position
        Where in the run, in epochs (``epoch − 1 + batch / batches``; 0 before training).
    percentiles
        The percentile levels, e.g. ``(1, 5, 25, 50, 75, 95, 99)``.
    layers
        Layer name → the values at those levels, in network order.
    """

    epoch: int
    batch: int
    position: float
    percentiles: tuple[float, ...]
    layers: dict[str, list[float]]


@dataclass(frozen=True)
class TrainingPaused(TrainingEvent):
    epoch: int
    batch: int


@dataclass(frozen=True)
class TrainingResumed(TrainingEvent):
    epoch: int
    batch: int


FinishReason = Literal["completed", "early_stopped", "stopped", "diverged", "failed"]


@dataclass(frozen=True)
class TrainingFinished(TrainingEvent):
    """The last event of every run.

    ``restored`` says which weights the model holds now: ``"best"`` (early stopping's
    best epoch), ``"last_good"`` (before a diverging step) or ``"last"``.
    """

    reason: FinishReason
    message: str
    epochs_run: int
    best_epoch: int | None
    best_value: float | None
    restored: Literal["best", "last_good", "last"]
