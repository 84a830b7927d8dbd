"""Events the trainer emits: plain, picklable records a GUI, a log or a test can consume."""

from __future__ import annotations

import dataclasses
import functools
import typing
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


EVENT_TYPES: dict[str, type[TrainingEvent]] = {
    cls.__name__: cls
    for cls in (
        TrainingStarted,
        BatchEnded,
        EpochEnded,
        SettingChanged,
        EarlyStopChecked,
        ActivationsMeasured,
        TrainingPaused,
        TrainingResumed,
        TrainingFinished,
    )
}
"""Every event by its ``"event"`` name, as :meth:`TrainingEvent.to_json` writes it."""


class EventFormatError(ValueError):
    """A JSON record is not a well-formed event (a field missing or of the wrong kind)."""


def event_from_json(data: dict[str, Any]) -> TrainingEvent | None:
    """The event :meth:`TrainingEvent.to_json` wrote as ``data``; ``None`` for an unknown event name.

    Fields the event does not have are ignored, so that a writer may add some; every
    field it has must be present and of its kind (a number where a number belongs,
    ``null`` only where the event allows it).

    Raises
    ------
    EventFormatError
        When ``data`` names no event, or a field is missing or of the wrong kind.
    """
    name = data.get("event")
    if not isinstance(name, str):
        raise EventFormatError('no "event" name')
    kind = EVENT_TYPES.get(name)
    if kind is None:
        return None
    values: dict[str, Any] = {}
    for field_name, hint in _field_hints(kind).items():
        if field_name not in data:
            raise EventFormatError(f"{name} has no field {field_name!r}")
        value = data[field_name]
        if not _fits(value, hint):
            raise EventFormatError(f"{name} field {field_name!r} should be {_describe(hint)}, got {value!r}")
        values[field_name] = tuple(value) if typing.get_origin(hint) is tuple else value
    return kind(**values)


@functools.cache
def _field_hints(kind: type[TrainingEvent]) -> dict[str, Any]:
    hints = typing.get_type_hints(kind)
    return {f.name: hints[f.name] for f in dataclasses.fields(kind)}


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value ``value`` is of the annotated kind ``hint`` (numbers: JSON ints count as floats)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, _UNION_TYPE):
        return any(_fits(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if origin in (list, tuple):
        item = args[0] if args else Any
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    return True


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, _UNION_TYPE):
        return " or ".join(_describe(arg) for arg in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple):
        return "a list"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}.get(
        hint, "an object" if origin is dict or hint is dict else str(hint)
    )


_UNION_TYPE = type(int | None)
