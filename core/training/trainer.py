"""The trainer: a generator over epochs and batches that emits events.

It never blocks a caller it does not own: a GUI runs :meth:`Trainer.run` in a worker and
calls the control methods (pause, stop, live settings) from its own thread; changes
take effect before the next batch, each reported as a :class:`SettingChanged` event.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.dataset import Dataset
from core.engine.losses import LOSSES, balanced_class_weights
from core.engine.model import Model
from core.engine.optimizers import DEFAULT_WEIGHT_DECAY, OPTIMIZERS
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument
from core.shapes import format_shape
from core.training.augment import Augmenter, AugmentSettings
from core.training.controls import Control, ControlError, LiveSettings, RunControls
from core.training.early_stopping import EarlyStopping
from core.training.events import (
    ActivationsMeasured,
    BatchEnded,
    EarlyStopChecked,
    EpochEnded,
    SettingChanged,
    TrainingEvent,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
)
from core.training.memory_check import check_training_memory
from core.training.schedules import Schedule, ScheduleError, ScheduleSettings
from core.training.step_engine import (
    EVAL_BATCH,
    NumpyEngine,
    StepEngine,
    StepRecipe,
    add_regularization_gradient,
    regularization_penalty,
)

__all__ = [
    "EVAL_BATCH",
    "Trainer",
    "TrainingConfig",
    "TrainingError",
    "add_regularization_gradient",
    "regularization_penalty",
]
PROBE_PERCENTILES = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)


class TrainingError(LayerwiseError):
    """Training cannot start: bad settings, or data that does not fit the network."""


@dataclass
class TrainingConfig:
    """Everything a run needs besides the network and the data."""

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = False
    loss: str = "cross_entropy"
    l1: float = 0.0
    l2: float = 0.0
    dropout: bool = True
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    early_stopping: int | None = None
    monitor: str = "val_loss"
    min_delta: float = 0.0
    restore_best: bool = True
    seed: int = 0
    probe_samples: int = 0
    """Validation samples whose activations are measured during the run (0: none)."""
    probes_per_epoch: int = 4
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    """How the learning rate changes over the run (:mod:`core.training.schedules`); ``learning_rate`` is its base."""
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    """AdamW's decoupled weight decay, on every parameter (read by ``adamw`` only)."""
    clip_norm: float | None = None
    """Clip the gradient to this global L2 norm (``clip_grad_norm_``); ``None``: no clipping."""
    label_smoothing: float = 0.0
    """Cross-entropy's label smoothing ``ε`` in [0, 1)."""
    class_weights: str | list[float] | None = None
    """Cross-entropy's class weights: ``"balanced"`` (from the training labels), one weight per class, or ``None``."""

    def validate(self) -> None:
        """Raise :class:`TrainingError` naming the first setting out of range."""
        checks = [
            (self.epochs >= 1, "epochs", "must be ≥ 1", self.epochs),
            (self.batch_size >= 1, "batch_size", "must be ≥ 1", self.batch_size),
            (
                np.isfinite(self.learning_rate) and self.learning_rate > 0,
                "learning_rate",
                "must be > 0",
                self.learning_rate,
            ),
            (self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}", self.optimizer),
            (0 <= self.momentum < 1, "momentum", "must be in [0, 1)", self.momentum),
            (self.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}", self.loss),
            (self.l1 >= 0, "l1", "must be ≥ 0", self.l1),
            (self.l2 >= 0, "l2", "must be ≥ 0", self.l2),
            (
                self.early_stopping is None or self.early_stopping >= 1,
                "early_stopping",
                "patience must be ≥ 1",
                self.early_stopping,
            ),
            (self.monitor in ("val_loss", "val_accuracy"), "monitor", "must be val_loss or val_accuracy", self.monitor),
            (self.min_delta >= 0, "min_delta", "must be ≥ 0", self.min_delta),
            (self.probe_samples >= 0, "probe_samples", "must be ≥ 0", self.probe_samples),
            (self.probes_per_epoch >= 1, "probes_per_epoch", "must be ≥ 1", self.probes_per_epoch),
            (
                np.isfinite(self.weight_decay) and self.weight_decay >= 0,
                "weight_decay",
                "must be ≥ 0",
                self.weight_decay,
            ),
            (
                self.clip_norm is None or (np.isfinite(self.clip_norm) and self.clip_norm > 0),
                "clip_norm",
                "must be > 0 (or None for no clipping)",
                self.clip_norm,
            ),
            (0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)", self.label_smoothing),
            (
                self.class_weights is None
                or self.class_weights == "balanced"
                or (
                    isinstance(self.class_weights, (list, tuple))
                    and len(self.class_weights) > 0
                    and all(np.isfinite(w) and w > 0 for w in self.class_weights)
                ),
                "class_weights",
                "must be 'balanced', None or a list of weights > 0, one per class",
                self.class_weights,
            ),
        ]
        for ok, name, rule, value in checks:
            if not ok:
                raise TrainingError(f"{name} {rule}, got {value!r}")
        for name, value, unset in (
            ("label_smoothing", self.label_smoothing, 0.0),
            ("class_weights", self.class_weights, None),
        ):
            if self.loss != "cross_entropy" and value != unset:
                raise TrainingError(f"{name} {value!r} needs loss cross_entropy, got loss {self.loss!r}")
        try:
            self.schedule.validate(self.epochs)
        except ScheduleError as exc:
            raise TrainingError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["augment"] = {**data["augment"], "kinds": sorted(self.augment.kinds)}
        data["schedule"] = self.schedule.to_json()
        if isinstance(self.class_weights, (list, tuple)):
            data["class_weights"] = [float(w) for w in self.class_weights]
        return data

    def class_weight_vector(self, labels: np.ndarray, classes: int) -> np.ndarray | None:
        """The ``(K,)`` class weights for training labels ``labels`` ``(n,)``, or ``None`` without any.

        Raises
        ------
        TrainingError
            When a list does not hold one weight per class, or "balanced" meets a class without samples.
        """
        if self.class_weights is None:
            return None
        if self.class_weights == "balanced":
            try:
                return balanced_class_weights(labels, classes)
            except LayerwiseError as exc:
                raise TrainingError(str(exc)) from None
        if len(self.class_weights) != classes:
            raise TrainingError(
                f"class_weights must hold one weight per class ({classes}), got {len(self.class_weights)}: "
                f"{list(self.class_weights)!r}"
            )
        return np.asarray(self.class_weights, dtype=np.float64)

    def recipe(self, labels: np.ndarray, classes: int) -> StepRecipe:
        """What each step computes beyond the optimiser's name, for training labels ``labels`` ``(n,)``."""
        return StepRecipe(
            weight_decay=self.weight_decay,
            clip_norm=self.clip_norm,
            label_smoothing=self.label_smoothing,
            class_weights=self.class_weight_vector(labels, classes),
        )


class Trainer:
    """Trains ``model`` (or a fresh one built from ``document``) on ``train``, validating on ``val``.

    The trainer decides everything a run does — batch order, augmentation, live
    settings, pause and stop, early stopping, divergence — and emits the events; the
    arithmetic is ``engine``'s (the NumPy engine on ``model`` unless another is given).

    Raises
    ------
    TrainingError
        Before anything runs, when a setting is out of range or the data do not fit
        the network (naming both shapes, or the class counts).
    """

    def __init__(
        self,
        document: NetworkDocument,
        train: Dataset,
        val: Dataset | None,
        config: TrainingConfig,
        *,
        model: Model | None = None,
        engine: StepEngine | None = None,
    ) -> None:
        config.validate()
        self.document, self.train, self.val, self.config = document, train, val, config
        if engine is not None:
            model = engine.model
        if model is None:
            check_training_memory(document, config.batch_size, config.optimizer, EVAL_BATCH)
        self.model = model or Model(document, seed=config.seed)
        self._check_data_fits(train, "training")
        if val is not None:
            self._check_data_fits(val, "validation")
        if config.early_stopping and (val is None or len(val) == 0):
            raise TrainingError("early stopping needs validation data; set a validation split above 0")
        if config.schedule.kind == "plateau" and (val is None or len(val) == 0):
            raise TrainingError(
                "schedule.kind 'plateau' needs validation data (it follows val_loss); set a validation split above 0"
            )
        self.recipe = config.recipe(train.y, train.num_classes)
        self.engine: StepEngine = engine or NumpyEngine(
            self.model, config.optimizer, config.loss, momentum=config.momentum, nesterov=config.nesterov
        )
        self.augmenter = Augmenter(config.augment)
        self.controls = RunControls()
        self.live = LiveSettings(config.dropout, config.l1, config.l2, config.learning_rate, config.augment.kinds)

    def _check_data_fits(self, data: Dataset, role: str) -> None:
        model = self.model
        if tuple(data.sample_shape) != tuple(model.input_shape):
            raise TrainingError(
                f"the {role} data {data.name!r} has samples of shape {format_shape(data.sample_shape)}, "
                f"but the network's input {model.input_node.name!r} expects {format_shape(model.input_shape)}"
            )
        if len(model.output_shape) != 1:
            raise TrainingError(
                f"the network's output {model.output_node.name!r} is {format_shape(model.output_shape)}; "
                "a classifier must end in a vector of class scores (add Flatten or GlobalAvgPool2D and a Dense layer)"
            )
        if model.output_shape[0] != data.num_classes:
            raise TrainingError(
                f"the network outputs {model.output_shape[0]} class scores ({model.output_node.name!r}), but the "
                f"{role} data {data.name!r} has {data.num_classes} classes; set the last Dense layer's units to {data.num_classes}"
            )

    def control(self, control: Control) -> None:
        """Pause, resume or stop at once; change a live setting before the next batch (any thread)."""
        self.controls.send(control)

    # -- the loop ----------------------------------------------------------------------

    def _apply_changes(self, epoch: int, batch: int) -> Iterator[SettingChanged]:
        for change in self.controls.pending():
            try:
                old, new = self.live.apply(change)
                if change.setting == "augment":
                    self.augmenter.settings = dataclasses.replace(self.augmenter.settings, kinds=self.live.augment)
                    self._fit_augmenter()
            except (ControlError, ValueError) as exc:
                raise TrainingError(str(exc)) from None
            if change.setting == "dropout":
                self.engine.set_dropout(self.live.dropout)
            if old != new:
                yield SettingChanged(epoch, batch, change.setting, old, new)

    def _fit_augmenter(self) -> None:
        """Fit the per-class Gaussians the first time "sample" is switched on (costly on big data)."""
        if "sample" in self.augmenter.settings.kinds and not self.augmenter.fitted:
            self.augmenter.fit(self.train.x, self.train.y)

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        """Data loss and accuracy over ``data`` in inference mode."""
        return self.engine.evaluate(data)

    def run(self) -> Iterator[TrainingEvent]:
        """Train, yielding events; the last one is always :class:`TrainingFinished`.

        The engine's weights are in :attr:`model` once the last event is out.
        """
        try:
            yield from self._run()
        except LayerwiseError as exc:
            yield TrainingFinished("failed", str(exc), 0, None, None, "last")
        except Exception as exc:  # noqa: BLE001 — an engine bug must reach the user as a message, not kill the app
            yield TrainingFinished("failed", f"training failed: {type(exc).__name__}: {exc}", 0, None, None, "last")
        finally:
            self.engine.sync()

    def _run(self) -> Iterator[TrainingEvent]:
        config, engine, train, live, controls = self.config, self.engine, self.train, self.live, self.controls
        rng = np.random.default_rng(config.seed)
        engine.begin(config.seed, live.dropout, self.recipe)
        self._fit_augmenter()
        early = (
            EarlyStopping(config.early_stopping, config.monitor, config.min_delta) if config.early_stopping else None
        )
        best_state: dict[str, np.ndarray] | None = None
        batches = -(-len(train) // config.batch_size)
        schedule = Schedule(config.schedule, config.epochs, batches)
        rate = live.learning_rate
        started = time.perf_counter()
        yield TrainingStarted(
            self.document.name,
            train.name,
            len(train),
            len(self.val) if self.val else 0,
            self.model.parameter_count,
            config.epochs,
            batches,
            {**config.to_json(), "engine": engine.description},
        )
        probe_every = max(1, batches // config.probes_per_epoch)
        yield from self._probe(0, 0, batches)
        epoch = 0
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            order = self.augmenter.epoch_order(len(train), rng)
            sums = np.zeros(4)  # loss, data loss, penalty, correct
            seen = 0
            for batch in range(1, batches + 1):
                yield from self._apply_changes(epoch, batch)
                if controls.paused:
                    yield TrainingPaused(epoch, batch)
                    controls.wait_while_paused()
                    if not controls.stop_requested:
                        yield TrainingResumed(epoch, batch)
                    yield from self._apply_changes(epoch, batch)
                if controls.stop_requested:
                    yield self._finish("stopped", f"stopped by the user in epoch {epoch}", epoch - 1, early, best_state)
                    return
                index = order[(batch - 1) * config.batch_size : batch * config.batch_size]
                x, y = self.augmenter.apply(train.x[index], train.y[index], rng)
                # The schedule scales from the live base rate: SetLearningRate rescales the rest of it.
                rate = schedule.rate(live.learning_rate, epoch, batch)
                step = engine.train_step(x, y, live.l1, live.l2, rate)
                if not step.finite:
                    message = (
                        f"the loss became {step.loss} in epoch {epoch}, batch {batch}; training stopped and the "
                        f"weights from before that step are restored (try a learning rate below {rate:g})"
                    )
                    yield TrainingFinished("diverged", message, epoch - 1, *self._best(early), "last_good")
                    return
                sums += (step.loss, step.data_loss, step.penalty, step.correct)
                seen += len(y)
                yield BatchEnded(
                    epoch,
                    batch,
                    batches,
                    step.loss,
                    step.data_loss,
                    step.penalty,
                    step.correct / len(y),
                    time.perf_counter() - started,
                )
                if batch % probe_every == 0 or batch == batches:
                    yield from self._probe(epoch, batch, batches)
            val_loss = val_accuracy = None
            if self.val is not None and len(self.val):
                val_loss, val_accuracy = self.evaluate(self.val)
            means = sums[:3] / batches
            yield EpochEnded(
                epoch,
                float(means[0]),
                float(means[1]),
                float(means[2]),
                float(sums[3] / seen),
                val_loss,
                val_accuracy,
                rate,
                time.perf_counter() - epoch_start,
            )
            schedule.epoch_ended(val_loss, live.learning_rate)
            if early is not None:
                value = val_loss if config.monitor == "val_loss" else val_accuracy
                decision = early.update(epoch, float(value))  # type: ignore[arg-type]
                if decision.improved:
                    best_state = engine.state_dict()
                yield EarlyStopChecked(
                    epoch,
                    config.monitor,
                    decision.value,
                    decision.improved,
                    decision.best_epoch,
                    decision.best_value,
                    decision.epochs_without_improvement,
                    config.early_stopping,
                    decision.stop,
                )
                if decision.stop:
                    best = (
                        f"best: epoch {decision.best_epoch}, {config.monitor} {decision.best_value:.4g}"
                        if decision.best_epoch is not None
                        else f"no epoch had a finite {config.monitor}"
                    )
                    message = (
                        f"stopped at epoch {epoch} after {decision.epochs_without_improvement} epochs without a new best "
                        f"{config.monitor}; {best}"
                    )
                    yield self._finish("early_stopped", message, epoch, early, best_state)
                    return
        yield self._finish("completed", f"completed {epoch} epoch{'' if epoch == 1 else 's'}", epoch, early, best_state)

    def _probe(self, epoch: int, batch: int, batches: int) -> Iterator[ActivationsMeasured]:
        """Measure every layer's activation percentiles on the probe batch, if one is asked for."""
        count = self.config.probe_samples
        if not count:
            return
        source = self.val if self.val is not None and len(self.val) else self.train
        yield ActivationsMeasured(
            epoch,
            batch,
            epoch - 1 + batch / batches if epoch else 0.0,
            PROBE_PERCENTILES,
            self.engine.activation_percentiles(source.x[:count], PROBE_PERCENTILES),
        )

    @staticmethod
    def _best(early: EarlyStopping | None) -> tuple[int | None, float | None]:
        return (early.best_epoch, early.best_value) if early is not None else (None, None)

    def _finish(
        self,
        reason: str,
        message: str,
        epochs_run: int,
        early: EarlyStopping | None,
        best_state: dict[str, np.ndarray] | None,
    ) -> TrainingFinished:
        restored = "last"
        if early is not None and best_state is not None and self.config.restore_best:
            self.engine.load_state_dict(best_state)
            restored = "best"
            message += f"; the weights of epoch {early.best_epoch} are restored"
        return TrainingFinished(reason, message, epochs_run, *self._best(early), restored)  # type: ignore[arg-type]
