"""Early stopping by "no improvement in n epochs".

After each epoch the trainer reports the monitored validation metric. The best value
so far is remembered, and training stops once ``patience`` epochs in a row have
failed to set a new best. A single dip therefore never stops training; only a
sustained lack of progress does.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from core.errors import ParamError

MONITORS = {"val_loss": "min", "val_accuracy": "max"}
"""Metrics that can be monitored, and whether lower (``"min"``) or higher (``"max"``) is better."""


@dataclass(frozen=True)
class EarlyStopDecision:
    """What one epoch's metric means for early stopping.

    Attributes
    ----------
    epoch
        The epoch just evaluated, as passed to :meth:`EarlyStopping.update`.
    value
        Its monitored value.
    improved
        Whether this epoch set a new best.
    best_epoch, best_value
        The best epoch so far and its value; ``None`` while no finite value has been seen.
    epochs_without_improvement
        Consecutive epochs since the best one (0 when this epoch improved).
    stop
        Patience is exhausted: training should stop now.
    """

    epoch: int
    value: float
    improved: bool
    best_epoch: int | None
    best_value: float | None
    epochs_without_improvement: int
    stop: bool


class EarlyStopping:
    """Stop when ``patience`` consecutive epochs bring no new best validation metric.

    Parameters
    ----------
    patience
        Number of epochs without a new best after which to stop, ≥ 1.
    monitor
        ``"val_loss"`` (lower is better) or ``"val_accuracy"`` (higher is better).
    min_delta
        Smallest change over the best value that counts as an improvement, ≥ 0.

    Raises
    ------
    ParamError
        If a setting is outside its valid range.
    """

    def __init__(self, patience: int, monitor: str = "val_loss", min_delta: float = 0.0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 1:
            raise ParamError("patience", f"must be a whole number ≥ 1, got {patience!r}")
        if monitor not in MONITORS:
            raise ParamError("monitor", f"must be one of {', '.join(MONITORS)}, got {monitor!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) or not 0 <= min_delta < math.inf:
            raise ParamError("min_delta", f"must be a finite number ≥ 0, got {min_delta!r}")
        self.patience = int(patience)
        self.monitor = monitor
        self.min_delta = float(min_delta)
        self.mode = MONITORS[monitor]
        self._best_epoch: int | None = None
        self._best_value: float | None = None
        self._since_best = 0

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the best value so far, or ``None`` before the first finite value."""
        return self._best_epoch

    @property
    def best_value(self) -> float | None:
        """The best value so far, or ``None`` before the first finite value."""
        return self._best_value

    def update(self, epoch: int, value: float) -> EarlyStopDecision:
        """Record one epoch's metric and decide whether to stop.

        Parameters
        ----------
        epoch
            The epoch just evaluated (1-based).
        value
            Its monitored metric. NaN or infinity never counts as an improvement.

        Returns
        -------
        EarlyStopDecision
        """
        value = float(value)
        improved = self._is_improvement(value)
        if improved:
            self._best_epoch, self._best_value, self._since_best = epoch, value, 0
        else:
            self._since_best += 1
        return EarlyStopDecision(
            epoch=epoch,
            value=value,
            improved=improved,
            best_epoch=self._best_epoch,
            best_value=self._best_value,
            epochs_without_improvement=self._since_best,
            stop=self._since_best >= self.patience,
        )

    def _is_improvement(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self._best_value is None:
            return True
        if self.mode == "min":
            return value < self._best_value - self.min_delta
        return value > self._best_value + self.min_delta
