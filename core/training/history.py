"""The record of a training run, built from its events, as plots and tables need it.

Positions along a run are measured in epochs: epoch metrics sit at ``x = epoch``
(the end of that epoch), a batch at ``x = epoch − 1 + batch / batches``, a setting
change at the start of the batch it took effect before.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.atomic import atomic_write_text
from core.csv_cells import csv_row
from core.training.events import (
    ActivationsMeasured,
    BatchEnded,
    EarlyStopChecked,
    EpochEnded,
    EventFormatError,
    SettingChanged,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
    event_from_json,
)

OVERFIT_TOLERANCE = 0.05
"""Smoothed validation loss must exceed its lowest value by this fraction to count as rising."""
OVERFIT_WINDOW = 3
"""Epochs in the trailing mean that smooths both losses before looking for overfitting."""
OVERFIT_MIN_EPOCHS = 2
"""Shorter overfitting stretches are not shown."""

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
        The full description, e.g. ``"best: epoch 14, val acc 0.981"``.
    short
        What a plot writes along the marker line (the label when empty).
    """

    x: float
    kind: str
    label: str
    short: str = ""

    @property
    def text(self) -> str:
        return self.short or self.label


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
    if name == "engine":
        return str(value)
    if name == "schedule":
        return _format_schedule(value)
    if name == "clip_norm":
        return f"clip norm {value:g}" if value is not None else "no clipping"
    if name == "label_smoothing":
        return f"label smoothing {value:g}" if value else "no label smoothing"
    if name == "class_weights":
        if value is None:
            return "no class weights"
        return f"class weights: {value if isinstance(value, str) else ', '.join(f'{w:g}' for w in value)}"
    if isinstance(value, float):
        return f"{name.replace('_', ' ')} = {value:g}"
    return f"{name.replace('_', ' ')} = {value}"


def _format_schedule(value: Any) -> str:
    """``"cosine schedule (warm-up 2, min lr 0)"``, ``"constant lr"`` from a schedule's ``to_json()``."""
    if not isinstance(value, dict) or value.get("kind", "none") == "none":
        return "constant lr"
    labels = {"step_size": "every", "warmup_epochs": "warm-up", "min_lr": "min lr"}
    parts = []
    for key, item in value.items():
        if key == "kind":
            continue
        shown = ", ".join(map(str, item)) if isinstance(item, list) else f"{item:g}"
        parts.append(f"{labels.get(key, key.replace('_', ' '))} {shown}")
    return f"{value['kind']} schedule" + (f" ({', '.join(parts)})" if parts else "")


DESCRIBED_SETTINGS = (
    "engine",
    "dataset",
    "dropout",
    "l1",
    "l2",
    "augment",
    "learning_rate",
    "optimizer",
    "batch_size",
    "early_stopping",
    "epochs",
    "seed",
    "loss",
    "momentum",
    "schedule",
    "weight_decay",
    "clip_norm",
    "label_smoothing",
    "class_weights",
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


def _trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each value and up to ``window − 1`` before it: ``(E,)`` → ``(E,)``."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    index = np.arange(1, len(values) + 1)
    first = np.maximum(0, index - window)
    return (sums[index] - sums[first]) / (index - first)


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
    activations
        Activation percentiles per layer measured during the run (when probed).
    finished
        The last event, once the run has ended.
    source
        The run log the run is read from (:mod:`core.training.run_log`); empty for the app's own runs.
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
    activations: list[ActivationsMeasured] = field(default_factory=list)
    source: str = ""

    def clear(self) -> None:
        """Forget every event, keeping the name, the visibility and the source (a run log started over)."""
        kept = ("name", "visible", "source")
        fresh = RunHistory()
        for f in dataclasses.fields(self):
            if f.name not in kept:
                setattr(self, f.name, getattr(fresh, f.name))
        self.__dict__.pop("_smoothing", None)

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
        elif isinstance(event, ActivationsMeasured):
            self.activations.append(event)

    def _add_early_stop_markers(self, event: EarlyStopChecked) -> None:
        metric = METRIC_LABELS.get(event.monitor, event.monitor)
        if event.best_epoch is not None and event.best_value is not None:
            label = f"best: epoch {event.best_epoch}, {metric} {event.best_value:.3f}"
            self.markers.append(Marker(float(event.best_epoch), "best", label, f"best {event.best_epoch}"))
        self.markers.append(
            Marker(
                float(event.epoch),
                "stopped",
                f"stopped at {event.epoch} after {event.epochs_without_improvement} epochs without improvement",
                f"stopped {event.epoch}",
            )
        )

    @property
    def has_validation(self) -> bool:
        return any(math.isfinite(v) for v in self.val_loss)

    def smoothed_batch_loss(self, weight: float = 0.9) -> np.ndarray:
        """Exponential moving average of :attr:`batch_loss`, bias-corrected like Adam's moments: ``(B,)``.

        Extended incrementally: a live plot asks for it a few times a second while the
        run grows, and only the new batches are averaged each time.
        """
        cache = self.__dict__.setdefault("_smoothing", {"weight": weight, "values": [], "average": 0.0})
        if cache["weight"] != weight or len(cache["values"]) > len(self.batch_loss):
            cache.update(weight=weight, values=[], average=0.0)
        values, average = cache["values"], cache["average"]
        for index in range(len(values), len(self.batch_loss)):
            average = weight * average + (1 - weight) * self.batch_loss[index]
            values.append(average / (1 - weight ** (index + 1)))
        cache["average"] = average
        return np.asarray(values, dtype=np.float64)

    def overfitting_spans(
        self, tolerance: float = OVERFIT_TOLERANCE, window: int = OVERFIT_WINDOW, min_epochs: int = OVERFIT_MIN_EPOCHS
    ) -> list[tuple[float, float]]:
        """Stretches ``(start, end)`` in epochs where validation loss rises while training loss falls.

        Both losses are first smoothed with a trailing mean over ``window`` epochs, so
        that epoch-to-epoch noise on a plateau is not mistaken for a trend. An epoch
        overfits when its smoothed validation loss lies more than ``tolerance`` (a
        fraction) above the lowest smoothed value so far while its smoothed training
        loss is below the training loss at that lowest point. A stretch runs from the
        epoch of that lowest point to the last overfitting epoch after it; a new lowest
        raw validation loss also ends it. Stretches shorter than ``min_epochs`` are dropped.
        """
        epochs, raw_val, train = self._with_validation()
        first = min(window, len(epochs)) - 1  # the first full window: shorter means are too noisy
        val, train = _trailing_mean(raw_val, window), _trailing_mean(train, window)
        spans: list[tuple[float, float]] = []
        best = first
        raw_best = float(raw_val[: first + 1].min()) if len(raw_val) else math.inf
        start: float | None = None
        end = 0.0
        for index in range(first + 1, len(epochs)):
            # A new lowest validation loss, smoothed or not, is never overfitting.
            new_raw_low = raw_val[index] < raw_best
            raw_best = min(raw_best, float(raw_val[index]))
            if val[index] < val[best] or new_raw_low:
                if start is not None:
                    spans.append((start, end))
                    start = None
                best = index
            elif val[index] > val[best] * (1 + tolerance) and train[index] < train[best]:
                start = float(epochs[best]) if start is None else start
                end = float(epochs[index])
        if start is not None:
            spans.append((start, end))
        return [(a, b) for a, b in spans if b - a >= min_epochs]

    def _with_validation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Epochs that have a finite validation loss, with both losses: three ``(E,)`` arrays."""
        val = np.asarray(self.val_loss, dtype=np.float64)
        keep = np.isfinite(val)
        return np.asarray(self.epochs)[keep], val[keep], np.asarray(self.train_loss, dtype=np.float64)[keep]

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


def run_to_json(run: RunHistory) -> dict[str, Any]:
    """Everything of ``run`` as JSON-ready data (for the recovery file)."""
    data = {
        f.name: getattr(run, f.name)
        for f in dataclasses.fields(run)
        if f.name not in ("markers", "finished", "activations")
    }
    data["markers"] = [dataclasses.asdict(marker) for marker in run.markers]
    data["finished"] = run.finished.to_json() if run.finished is not None else None
    data["activations"] = [event.to_json() for event in run.activations]
    return _json_safe(data)


def run_from_json(data: dict[str, Any]) -> RunHistory:
    """Rebuild a run written by :func:`run_to_json`.

    Raises
    ------
    ValueError
        When ``data`` is not such a record (a field missing or of the wrong kind).
    """
    try:
        values = dict(data)
        markers = [Marker(**marker) for marker in values.pop("markers")]
        finished = values.pop("finished")
        activations = values.pop("activations")
        run = RunHistory(**values)
        run.markers = markers
        run.finished = _event_from_json(finished) if finished is not None else None
        run.activations = [_event_from_json(event) for event in activations]
    except (KeyError, TypeError, AttributeError, EventFormatError) as exc:
        raise ValueError(f"not a training run record: {exc}") from None
    run.val_loss = [_value(v) for v in run.val_loss]
    run.val_accuracy = [_value(v) for v in run.val_accuracy]
    return run


def _event_from_json(data: dict[str, Any]) -> Any:
    event = event_from_json(data)
    if event is None:
        raise EventFormatError(f"unknown event {data.get('event')!r}")
    return event


def _json_safe(value: Any) -> Any:
    """NaN and infinities become ``None`` (JSON has no such numbers); containers are walked."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


CSV_COLUMNS = (
    "run",
    "epoch",
    "train_loss",
    "train_data_loss",
    "train_penalty",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
)


def runs_to_csv(runs: list[RunHistory]) -> str:
    """Per-epoch figures of ``runs`` as CSV text (empty cells where a value is missing).

    Run names are written as they are (quoted where CSV needs it: commas, quotes, line
    breaks), but for a leading apostrophe before a name a spreadsheet would read as a
    formula (:func:`~core.csv_cells.csv_text_cell`; :func:`~core.csv_cells.text_from_csv_cell`
    gives it back), and numbers in their shortest exact form, so a CSV reader gets both back.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for run in runs:
        for row in run.epoch_rows():
            writer.writerow(csv_row({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}))
    return buffer.getvalue()


def write_runs_csv(path: str | os.PathLike[str], runs: list[RunHistory]) -> None:
    """Write :func:`runs_to_csv` of ``runs`` to ``path`` (UTF-8) atomically; ``OSError`` when it cannot be."""
    atomic_write_text(path, runs_to_csv(runs))
