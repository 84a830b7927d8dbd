"""What the trainer asks of an engine: one optimiser step, evaluation, weights.

The :class:`~core.training.trainer.Trainer` owns everything a run decides — batch
order, augmentation, live settings, pause and stop, early stopping, divergence, events —
and leaves the arithmetic to a :class:`StepEngine`: the built-in NumPy engine
(:class:`NumpyEngine`) or PyTorch (:mod:`core.torch_engine`). Both take and give
weights in Layerwise's state-dict form (``"layer/param"`` keys, Layerwise layouts), so a
run's weights come back into the network whichever engine trained them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.analysis.introspection import activation_percentiles
from core.data.dataset import Dataset
from core.engine.losses import LOSSES, softmax_cross_entropy
from core.engine.model import Model
from core.engine.optimizers import DEFAULT_WEIGHT_DECAY, clip_by_global_norm, make_optimizer

EVAL_BATCH = 512


@dataclass(frozen=True)
class StepResult:
    """One optimiser step: the batch's mean data loss, the penalty, and how many samples it got right.

    When ``data_loss + penalty`` is not finite, the engine has taken no step and has put
    back the weights from before its previous step.
    """

    data_loss: float
    penalty: float
    correct: int

    @property
    def loss(self) -> float:
        return self.data_loss + self.penalty

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.loss))


@dataclass(frozen=True)
class StepRecipe:
    """How each step computes beyond the optimiser's name: what both engines do alike.

    Attributes
    ----------
    weight_decay
        AdamW's decoupled decay, on every parameter.
    clip_norm
        Scale the gradient (data loss and L1/L2 together) to this global L2 norm at most; ``None``: no clipping.
    label_smoothing
        Cross-entropy's ``ε`` (training steps only; validation reads the plain loss).
    class_weights
        ``(K,)`` cross-entropy weights per class (training steps only), or ``None``.
    """

    weight_decay: float = DEFAULT_WEIGHT_DECAY
    clip_norm: float | None = None
    label_smoothing: float = 0.0
    class_weights: np.ndarray | None = None


class StepEngine(Protocol):
    """The arithmetic of training, as :class:`~core.training.trainer.Trainer` drives it."""

    model: Model
    """The network in Layerwise's engine: shapes and names, and the weights once :meth:`sync` has run."""
    description: str
    """Where the arithmetic runs, for people (``"NumPy"``, ``"PyTorch on cuda:0"``)."""

    def begin(self, seed: int, dropout: bool, recipe: StepRecipe | None = None) -> None:
        """Prepare a run: seed the dropout masks, switch dropout, make a fresh optimiser; ``recipe``: ``StepRecipe()``."""
        ...

    def set_dropout(self, enabled: bool) -> None: ...

    def train_step(self, x: np.ndarray, y: np.ndarray, l1: float, l2: float, learning_rate: float) -> StepResult:
        """One step on the batch ``x`` ``(B, *input_shape)``, ``y`` ``(B,)`` in training mode.

        ``learning_rate`` is the run's (live rate and schedule); each layer takes it times its
        multiplier, and frozen layers take no step, no penalty and no gradient.
        """
        ...

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        """Mean data loss and accuracy over ``data`` in inference mode."""
        ...

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of the weights and buffers, Layerwise's keys and layouts."""
        ...

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...

    def sync(self) -> None:
        """Bring the engine's current weights into :attr:`model` (a no-op when they live there)."""
        ...

    def activation_percentiles(self, x: np.ndarray, percentiles: Sequence[float]) -> dict[str, list[float]]:
        """Percentiles of every layer's outputs on ``x`` in inference mode, by layer name."""
        ...

    def predict_with_confidence(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted class ``(N,)`` and its softmax probability ``(N,)`` in inference mode."""
        ...


def layer_percentiles(model: Model, x: np.ndarray, percentiles: Sequence[float]) -> dict[str, list[float]]:
    """Every layer's activation percentiles on ``x`` with ``model``'s weights, by layer name."""
    layers = [node for node in model.order if node is not model.input_node]
    values = activation_percentiles(model, x, [node.id for node in layers], percentiles)
    return {node.name: [float(v) for v in values[node.id]] for node in layers}


def softmax_confidence(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arg-max class ``(N,)`` and its softmax probability ``(N,)`` of ``(N, K)`` scores."""
    scores = logits.astype(np.float64)
    scores -= scores.max(axis=1, keepdims=True)
    probabilities = np.exp(scores)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities.argmax(axis=1), probabilities.max(axis=1)


def regularization_penalty(weights: np.ndarray, l1: float, l2: float) -> float:
    """``l1·Σ|w| + l2·Σw²`` over the penalised weights (kernels of layers that train, not biases)."""
    penalty = 0.0
    if l1:
        penalty += l1 * float(np.abs(weights).sum())
    if l2:
        penalty += l2 * float(np.dot(weights, weights))
    return penalty


def add_regularization_gradient(weights: np.ndarray, grads: np.ndarray, l1: float, l2: float) -> None:
    """``grads += l1·sign(w) + 2·l2·w`` in place."""
    if l1:
        grads += weights.dtype.type(l1) * np.sign(weights)
    if l2:
        grads += weights.dtype.type(2 * l2) * weights


class NumpyEngine:
    """The built-in engine: Layerwise's own forward and backward passes in NumPy.

    Each layer's training settings (``Model.update_scale``) apply: a frozen layer's weights
    get no gradient, no L1/L2 penalty and no update (AdamW's decay included); every other
    parameter is stepped at the step's learning rate times its layer's multiplier.
    """

    description = "NumPy"

    def __init__(self, model: Model, optimizer: str, loss: str, *, momentum: float = 0.9, nesterov: bool = False):
        self.model = model
        self._optimizer_settings = (optimizer, momentum, nesterov)
        self._loss = loss
        self._loss_fn = LOSSES[loss]
        self._optimizer = make_optimizer(optimizer, momentum=momentum, nesterov=nesterov)
        self._recipe = StepRecipe()
        # L1/L2 reach the kernels of layers that train: the model places them first.
        self._regularized = slice(0, model.penalized_size)
        # One rate per parameter only when some layer's differs from the run's (frozen: 0).
        scale = model.update_scale.astype(model.params.dtype)
        self._rate_scale = None if np.all(scale == 1.0) else scale
        self._rates: tuple[float, np.ndarray] | None = None
        """The per-parameter rates of the latest learning rate: made again only when it changes."""
        self._last_good = model.state_dict()

    def begin(self, seed: int, dropout: bool, recipe: StepRecipe | None = None) -> None:
        name, momentum, nesterov = self._optimizer_settings
        self._recipe = recipe = recipe or StepRecipe()
        self._optimizer = make_optimizer(name, momentum=momentum, nesterov=nesterov, weight_decay=recipe.weight_decay)
        self.model.reseed(seed)
        self.model.dropout_enabled = dropout
        self._last_good = self.model.state_dict()

    def set_dropout(self, enabled: bool) -> None:
        self.model.dropout_enabled = enabled

    def _scores(self, x: np.ndarray, training: bool) -> np.ndarray:
        # Cross-entropy is fused with a final Softmax, so it reads the logits.
        if self._loss == "cross_entropy":
            return self.model.forward_logits(x, training)
        return self.model.forward(x, training)

    def train_step(self, x: np.ndarray, y: np.ndarray, l1: float, l2: float, learning_rate: float) -> StepResult:
        model = self.model
        # Overflow is caught just below as a non-finite loss; no warning needed.
        with np.errstate(over="ignore", invalid="ignore"):
            scores = self._scores(x, training=True)
            data_loss, grad = self._training_loss(scores, y)
        weights = model.params[self._regularized]
        penalty = regularization_penalty(weights, l1, l2)
        result = StepResult(data_loss, penalty, int((scores.argmax(axis=1) == y).sum()))
        if not result.finite:
            model.load_state_dict(self._last_good)
            return result
        model.backward(grad, from_logits=self._loss == "cross_entropy", input_grad=False)
        for frozen in model.frozen_slices:
            # No gradient, as PyTorch's frozen parameters: none in the clipping norm, and with
            # a rate of 0 every optimiser leaves them exactly as they are (moments stay 0).
            model.grads[frozen] = 0
        add_regularization_gradient(weights, model.grads[self._regularized], l1, l2)
        if self._recipe.clip_norm is not None:
            clip_by_global_norm(model.grads, self._recipe.clip_norm)
        self._keep_good()
        self._optimizer.step(model.params, model.grads, self._rate(learning_rate))
        return result

    def _rate(self, learning_rate: float) -> float | np.ndarray:
        """The step's rate: a number, or one per parameter when layers differ (kept while the rate stays)."""
        if self._rate_scale is None:
            return learning_rate
        if self._rates is None or self._rates[0] != learning_rate:
            self._rates = (learning_rate, self._rate_scale * self._rate_scale.dtype.type(learning_rate))
        return self._rates[1]

    def _training_loss(self, scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        recipe = self._recipe
        if self._loss == "cross_entropy" and (recipe.label_smoothing or recipe.class_weights is not None):
            return softmax_cross_entropy(
                scores, y, label_smoothing=recipe.label_smoothing, class_weights=recipe.class_weights
            )
        return self._loss_fn(scores, y)

    def _keep_good(self) -> None:
        """Copy the current weights into the last good state's arrays (no allocation per step)."""
        model, kept = self.model, self._last_good
        for entry in model.entries:
            np.copyto(kept[entry.key], model.params[entry.start : entry.stop].reshape(entry.shape))
        for key, buffer in model.buffers.items():
            np.copyto(kept[key], buffer)

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        total_loss, correct = 0.0, 0
        for start in range(0, len(data), EVAL_BATCH):
            x, y = data.x[start : start + EVAL_BATCH], data.y[start : start + EVAL_BATCH]
            scores = self._scores(x, training=False)
            loss, _ = self._loss_fn(scores, y)
            total_loss += loss * len(y)
            correct += int((scores.argmax(axis=1) == y).sum())
        return total_loss / len(data), correct / len(data)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.model.load_state_dict(state)

    def sync(self) -> None:
        """The weights live in :attr:`model` already."""

    def activation_percentiles(self, x: np.ndarray, percentiles: Sequence[float]) -> dict[str, list[float]]:
        return layer_percentiles(self.model, x, percentiles)

    def predict_with_confidence(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        predicted, confidence = [], []
        for start in range(0, len(x), EVAL_BATCH):
            batch_predicted, batch_confidence = softmax_confidence(
                self.model.forward_logits(x[start : start + EVAL_BATCH])
            )
            predicted.append(batch_predicted)
            confidence.append(batch_confidence)
        return np.concatenate(predicted), np.concatenate(confidence)
