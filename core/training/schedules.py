"""Learning-rate schedules: the rate of every step from the base rate and the step's position.

A schedule scales from a *base* rate: the configured ``learning_rate`` at the start, and
the value of the last ``SetLearningRate`` control once one arrives. Every step's rate is
the schedule's formula at that step with the current base, so a live change rescales the
rest of the schedule instead of replacing it (a cosine schedule halfway down, given a base
twice as high, continues twice as high; one-cycle's peak becomes the new base).

Per-epoch schedules (``step``, ``multistep``, ``exponential``, ``cosine``) change the rate
at epoch starts; ``onecycle`` changes it every batch; ``plateau`` after each epoch's
validation. Each equals its ``torch.optim.lr_scheduler`` counterpart stepped once per
epoch (once per batch for ``OneCycleLR``).

:func:`scheduled_rate` and :class:`Plateau` use nothing but :mod:`math`: ``train.py``
holds them as written here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from core.errors import LayerwiseError

SCHEDULES = ("none", "step", "multistep", "exponential", "cosine", "onecycle", "plateau")
"""Schedule kinds: constant, StepLR, MultiStepLR, ExponentialLR, warm-up + CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau."""

ONECYCLE_PCT_START = 0.3
"""``OneCycleLR``'s defaults: the share of steps rising, …"""
ONECYCLE_DIV_FACTOR = 25.0
"""… initial rate = max / 25, …"""
ONECYCLE_FINAL_DIV_FACTOR = 1e4
"""… final rate = initial / 1e4."""
PLATEAU_THRESHOLD = 1e-4
"""``ReduceLROnPlateau``'s relative threshold (mode min, threshold_mode rel, cooldown 0, min_lr 0) …"""
PLATEAU_EPS = 1e-8
"""… and its eps: a reduction smaller than this is not made."""


class ScheduleError(LayerwiseError):
    """A schedule setting is out of range."""


@dataclass(frozen=True)
class ScheduleSettings:
    """A schedule's kind and parameters; each kind reads only its own.

    Attributes
    ----------
    kind
        One of :data:`SCHEDULES`.
    step_size
        ``step``: epochs between reductions.
    gamma
        ``step``, ``multistep``: factor at each reduction; ``exponential``: factor per epoch.
    milestones
        ``multistep``: the epochs (counted from 0, as ``MultiStepLR``) after which the rate is reduced, increasing.
    warmup_epochs
        ``cosine``: epochs of linear warm-up, from ``base / (warmup + 1)`` up to ``base``.
    min_lr
        ``cosine``: the rate the cosine falls to (``eta_min``).
    factor, patience
        ``plateau``: the factor of each reduction, and the epochs without a new best ``val_loss`` tolerated.
    """

    kind: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    milestones: tuple[int, ...] = field(default_factory=tuple)
    warmup_epochs: int = 0
    min_lr: float = 0.0
    factor: float = 0.1
    patience: int = 10

    def validate(self, epochs: int | None = None) -> None:
        """Raise :class:`ScheduleError` naming the first field out of range (``epochs``: the run's length)."""
        milestones = list(self.milestones)
        checks = [
            (self.kind in SCHEDULES, "schedule.kind", f"must be one of {', '.join(SCHEDULES)}", self.kind),
            (self.step_size >= 1, "schedule.step_size", "must be ≥ 1", self.step_size),
            (math.isfinite(self.gamma) and 0 < self.gamma <= 1, "schedule.gamma", "must be in (0, 1]", self.gamma),
            (
                all(m >= 0 for m in milestones) and milestones == sorted(set(milestones)),
                "schedule.milestones",
                "must be increasing epochs ≥ 0",
                milestones,
            ),
            (
                self.kind != "multistep" or bool(milestones),
                "schedule.milestones",
                "must name at least one epoch for multistep",
                milestones,
            ),
            (self.warmup_epochs >= 0, "schedule.warmup_epochs", "must be ≥ 0", self.warmup_epochs),
            (
                epochs is None or self.kind != "cosine" or self.warmup_epochs < epochs,
                "schedule.warmup_epochs",
                f"must be below epochs ({epochs}) to leave epochs for the cosine",
                self.warmup_epochs,
            ),
            (math.isfinite(self.min_lr) and self.min_lr >= 0, "schedule.min_lr", "must be ≥ 0", self.min_lr),
            (0 < self.factor < 1, "schedule.factor", "must be in (0, 1)", self.factor),
            (self.patience >= 0, "schedule.patience", "must be ≥ 0", self.patience),
        ]
        for ok, name, rule, value in checks:
            if not ok:
                raise ScheduleError(f"{name} {rule}, got {value!r}")

    def to_json(self) -> dict[str, Any]:
        """The kind and only the parameters it reads (what a run log and a run's name need)."""
        used = {
            "none": (),
            "step": ("step_size", "gamma"),
            "multistep": ("milestones", "gamma"),
            "exponential": ("gamma",),
            "cosine": ("warmup_epochs", "min_lr"),
            "onecycle": (),
            "plateau": ("factor", "patience"),
        }[self.kind]
        data: dict[str, Any] = {"kind": self.kind}
        for name in used:
            value = getattr(self, name)
            data[name] = list(value) if isinstance(value, tuple) else value
        return data


def scheduled_rate(
    kind: str,
    base: float,
    epoch: int,
    batch: int,
    epochs: int,
    batches: int,
    step_size: int = 10,
    gamma: float = 0.1,
    milestones: tuple[int, ...] = (),
    warmup_epochs: int = 0,
    min_lr: float = 0.0,
) -> float:
    """The learning rate of batch ``batch`` of epoch ``epoch`` (both from 1) under schedule ``kind``.

    ``epochs`` and ``batches`` (per epoch) are the run's length; ``base`` the rate the
    schedule scales from. ``plateau`` and ``none`` give ``base`` (a plateau's reductions
    are :class:`Plateau`'s).
    """
    done = epoch - 1  # epochs finished before this one: the torch scheduler's step count
    if kind == "step":
        return base * gamma ** (done // step_size)
    if kind == "multistep":
        return base * gamma ** sum(1 for milestone in milestones if milestone <= done)
    if kind == "exponential":
        return base * gamma**done
    if kind == "cosine":
        if done < warmup_epochs:  # LinearLR(start_factor=1 / (warmup + 1), total_iters=warmup)
            return base * (done + 1) / (warmup_epochs + 1)
        span = epochs - warmup_epochs  # CosineAnnealingLR(T_max=span, eta_min=min_lr)
        return min_lr + (base - min_lr) * (1 + math.cos(math.pi * (done - warmup_epochs) / span)) / 2
    if kind == "onecycle":  # OneCycleLR(max_lr=base, total_steps=epochs·batches), its defaults
        total = epochs * batches
        step = done * batches + batch - 1
        initial = base / ONECYCLE_DIV_FACTOR
        final = initial / ONECYCLE_FINAL_DIV_FACTOR
        peak_step = float(ONECYCLE_PCT_START * total) - 1
        if step <= peak_step:
            start, end, share = initial, base, step / peak_step
        else:
            start, end, share = base, final, (step - peak_step) / (total - 1 - peak_step)
        return end + (start - end) / 2 * (math.cos(math.pi * share) + 1)
    return base


class Plateau:
    """``ReduceLROnPlateau`` on ``val_loss`` (mode min, threshold 1e-4 rel, cooldown 0, min_lr 0).

    :attr:`scale` multiplies the base rate; :meth:`update` takes each epoch's validation
    loss and reduces the scale by ``factor`` once more than ``patience`` epochs in a row
    brought no new best.
    """

    def __init__(self, factor: float, patience: int) -> None:
        self.factor, self.patience = factor, patience
        self.scale = 1.0
        self.best = math.inf
        self.bad_epochs = 0

    def update(self, value: float, base: float) -> bool:
        """Take an epoch's ``val_loss``; return whether the rate (``base · scale``) was reduced."""
        if value < self.best * (1 - PLATEAU_THRESHOLD):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1  # NaN is never better: a bad epoch, as PyTorch counts it
        if self.bad_epochs <= self.patience:
            return False
        self.bad_epochs = 0
        old = base * self.scale
        if old - old * self.factor <= PLATEAU_EPS:  # PyTorch keeps a rate whose change would be below eps
            return False
        self.scale *= self.factor
        return True


class _ScheduledConfig(Protocol):
    epochs: int
    learning_rate: float
    schedule: ScheduleSettings


class Schedule:
    """The rate of every step of a run: :func:`scheduled_rate`, and a :class:`Plateau` for ``plateau``."""

    def __init__(self, settings: ScheduleSettings, epochs: int, batches: int) -> None:
        self.settings, self.epochs, self.batches = settings, epochs, batches
        self.plateau = Plateau(settings.factor, settings.patience) if settings.kind == "plateau" else None

    def rate(self, base: float, epoch: int, batch: int) -> float:
        """The rate of batch ``batch`` of epoch ``epoch`` (from 1) for base rate ``base``."""
        s = self.settings
        rate = scheduled_rate(
            s.kind, base, epoch, batch, self.epochs, self.batches, s.step_size, s.gamma, s.milestones,
            s.warmup_epochs, s.min_lr,
        )  # fmt: skip
        return rate * self.plateau.scale if self.plateau is not None else rate

    def epoch_ended(self, val_loss: float | None, base: float) -> bool:
        """Feed an epoch's validation loss to a plateau schedule; whether it reduced the rate."""
        if self.plateau is None or val_loss is None:
            return False
        return self.plateau.update(val_loss, base)


def preview_points(
    config: _ScheduledConfig, batches_per_epoch: int, max_points: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` steps of a run, evenly spread, and their rates: a curve that stays cheap for long runs.

    Returns
    -------
    (position, rate)
        ``(P,)`` each: the step's position in epochs (batch ``b`` of epoch ``e`` at
        ``e − 1 + b / batches_per_epoch``) and its rate. A plateau schedule draws as constant.
    """
    schedule = Schedule(config.schedule, config.epochs, batches_per_epoch)
    total = config.epochs * batches_per_epoch
    steps = np.unique(np.linspace(0, total - 1, min(total, max_points)).round().astype(np.int64))
    epochs, batches = steps // batches_per_epoch + 1, steps % batches_per_epoch + 1
    rates = [schedule.rate(config.learning_rate, int(e), int(b)) for e, b in zip(epochs, batches, strict=True)]
    return (epochs - 1 + batches / batches_per_epoch).astype(np.float64), np.array(rates)


def preview(config: _ScheduledConfig, batches_per_epoch: int) -> np.ndarray:
    """The rate of every step of a run, ``(epochs · batches_per_epoch,)``, for a curve before training.

    A plateau schedule previews as constant: its reductions depend on the validation losses.
    """
    schedule = Schedule(config.schedule, config.epochs, batches_per_epoch)
    return np.array(
        [
            schedule.rate(config.learning_rate, epoch, batch)
            for epoch in range(1, config.epochs + 1)
            for batch in range(1, batches_per_epoch + 1)
        ]
    )
