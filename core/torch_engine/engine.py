"""PyTorch as a training engine of the app: the exported module, trained step by step.

:class:`TorchEngine` is a :class:`~core.training.step_engine.StepEngine`: the
:class:`~core.training.trainer.Trainer` keeps deciding everything a run does (batch
order and augmentation from the same generator, live settings, pause and stop, early
stopping, divergence, events), and PyTorch does the arithmetic on the chosen device. The
module is the one ``layerwise export-pytorch`` writes (:func:`~core.torch_export.project.model_source`),
so the engine and the exported project cannot drift apart; it starts from the network's
weights and gives its weights back in Layerwise's layouts.

PyTorch is optional: it is imported when an engine is made, and its absence is a
:class:`TorchEngineError` that says how to add it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.dataset import Dataset
from core.engine.model import Model
from core.errors import LayerwiseError
from core.torch_export.project import model_source, regularized_keys, torch_layers, torch_state
from core.torch_export.weights_back import TorchStateMap
from core.training.step_engine import EVAL_BATCH, StepRecipe, StepResult, layer_percentiles, softmax_confidence

INSTALL_HINT = 'pip install "layerwise[torch]"'
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
"""The NumPy engine's Adam constants (:class:`core.engine.optimizers.Adam`)."""
RMSPROP_ALPHA, RMSPROP_EPS = 0.99, 1e-8
"""The NumPy engine's RMSprop constants (:class:`core.engine.optimizers.RMSprop`)."""


class TorchEngineError(LayerwiseError):
    """PyTorch is missing, the device is not there, or the network cannot run in PyTorch."""


def torch_installed() -> bool:
    """Whether PyTorch can be imported (without importing it: that takes a second or two)."""
    return importlib.util.find_spec("torch") is not None


def import_torch() -> Any:
    """The ``torch`` module.

    Raises
    ------
    TorchEngineError
        Without PyTorch, saying how to add it.
    """
    try:
        import torch
    except (ImportError, OSError) as exc:  # OSError: a library of a broken install did not load
        raise TorchEngineError(
            f"the PyTorch engine needs PyTorch, which is not installed ({exc}); {INSTALL_HINT}"
        ) from None
    return torch


@dataclass(frozen=True)
class TorchDevice:
    """A device PyTorch can train on: ``name`` as ``torch.device`` takes it, ``label`` for people."""

    name: str
    label: str


def torch_devices() -> list[TorchDevice]:
    """The CPU, every CUDA device and Apple's MPS when present (imports PyTorch).

    Raises
    ------
    TorchEngineError
        Without PyTorch.
    """
    torch = import_torch()
    devices = [TorchDevice("cpu", "CPU")]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            devices.append(TorchDevice(f"cuda:{index}", f"CUDA {index}: {torch.cuda.get_device_name(index)}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(TorchDevice("mps", "MPS (Apple GPU)"))
    return devices


def check_device(name: str) -> None:
    """Raise :class:`TorchEngineError` unless PyTorch can use the device ``name`` here."""
    available = torch_devices()
    if not any(device.name == name for device in available):
        if name == "cuda" and any(device.name == "cuda:0" for device in available):
            return
        names = ", ".join(device.name for device in available)
        raise TorchEngineError(f"device {name!r} is not available to PyTorch here; available: {names}")


def generated_model(model: Model) -> dict[str, Any]:
    """The namespace of the generated ``model.py`` of ``model``'s network, run (imports PyTorch).

    The source is :func:`~core.torch_export.project.model_source`'s, which lets
    nothing from the network file reach the code but escaped literals and comments.
    """
    import_torch()
    namespace: dict[str, Any] = {"__name__": "layerwise_model", "__file__": "model.py"}
    exec(compile(model_source(model), "<model.py>", "exec"), namespace)
    return namespace


def build_module(model: Model, namespace: dict[str, Any] | None = None) -> Any:
    """The generated ``nn.Module`` of ``model``'s network, holding ``model``'s weights (on the CPU).

    Frozen layers' parameters do not require gradients, and frozen BatchNorm layers stay
    in inference mode when the module trains (both as ``model.py`` writes them).
    ``namespace``: :func:`generated_model`'s, when already at hand.
    """
    torch = import_torch()
    namespace = namespace or generated_model(model)
    module = namespace["build_model"](pretrained=False)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in torch_state(model).items()})
    return module


def _writable(array: np.ndarray, dtype: type) -> np.ndarray:
    """``array`` as a contiguous, writable array of ``dtype``, copied only when it must be.

    Views of shared memory are read-only, and PyTorch warns about tensors it may not write.
    """
    array = np.ascontiguousarray(array, dtype=dtype)
    return array if array.flags.writeable else array.copy()


class TorchEngine:
    """Training steps in PyTorch on ``device`` for ``model``'s network (see the module's notes).

    Layers' training settings apply as in the NumPy engine: frozen layers' parameters do not
    require gradients and are not in the optimiser (no step, no AdamW decay, no L1/L2),
    frozen BatchNorm layers stay in inference mode while training, and every other
    parameter is in the group of its layer's multiplier, whose rate is the step's times it.

    Raises
    ------
    TorchEngineError
        Without PyTorch, on a device PyTorch does not have, or when a layer cannot be
        written in PyTorch (named in the message).
    """

    def __init__(
        self,
        model: Model,
        optimizer: str,
        loss: str,
        *,
        momentum: float = 0.9,
        nesterov: bool = False,
        device: str = "cpu",
    ) -> None:
        torch = import_torch()
        check_device(device)
        self.torch, self.model, self.device = torch, model, torch.device(device)
        self.description = f"PyTorch on {self.device}"
        self._optimizer_settings = (optimizer, momentum, nesterov)
        self._loss = loss
        self._map = TorchStateMap(model)
        namespace = generated_model(model)
        # The optimiser's parameter groups as train.py makes them: frozen layers left out,
        # one group per learning-rate multiplier.
        self._trainable_groups = namespace["trainable_groups"]
        self.module = build_module(model, namespace).to(self.device)
        _, layers, _ = torch_layers(model)
        self._fused: Any = None
        self._final_softmax: str | None = None
        """The attribute of a final Softmax/LogSoftmax, whose input is the logits; ``None`` without one."""
        if model.logits_node is not model.output_node:
            self._final_softmax = next(layer.attribute for layer in layers if layer.node is model.output_node)
        if loss == "cross_entropy" and self._final_softmax is not None:
            # Cross-entropy reads the scores before a final Softmax, as the NumPy engine fuses them.
            getattr(self.module, self._final_softmax).register_forward_pre_hook(self._keep_logits)
            self._fused = self._final_softmax
        self._logits: Any = None
        self._trained: list[Any] = []
        self._dropouts = [
            (layer, layer.p)
            for layer in self.module.modules()
            if isinstance(layer, torch.nn.modules.dropout._DropoutNd)
        ]
        parameters = dict(self.module.named_parameters())
        self._penalised = [parameters[key] for key in regularized_keys(model)]
        self._kept = [tensor.detach().clone() for tensor in self._tensors()]
        self._recipe = StepRecipe()
        self._class_weights: Any = None
        self._optimizer = self._make_optimizer(1e-3)

    # -- set-up -------------------------------------------------------------------------

    def _keep_logits(self, _module: Any, inputs: tuple[Any, ...]) -> None:
        self._logits = inputs[0]

    def _tensors(self) -> list[Any]:
        """Every parameter and buffer: what a step changes and divergence puts back."""
        return [*self.module.parameters(), *self.module.buffers()]

    def _make_optimizer(self, learning_rate: float) -> Any:
        torch = self.torch
        name, momentum, nesterov = self._optimizer_settings
        parameters = self._trainable_groups(self.module, learning_rate)
        self._trained = [parameter for group in parameters for parameter in group["params"]]
        if not parameters:
            return None  # nothing to train (PyTorch's optimisers refuse an empty list); steps only measure
        if name == "adam":
            return torch.optim.Adam(parameters, lr=learning_rate, betas=ADAM_BETAS, eps=ADAM_EPS)
        if name == "adamw":
            return torch.optim.AdamW(
                parameters, lr=learning_rate, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=self._recipe.weight_decay
            )
        if name == "rmsprop":
            return torch.optim.RMSprop(parameters, lr=learning_rate, alpha=RMSPROP_ALPHA, eps=RMSPROP_EPS)
        if name == "momentum":
            return torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum, nesterov=nesterov)
        return torch.optim.SGD(parameters, lr=learning_rate)

    def begin(self, seed: int, dropout: bool, recipe: StepRecipe | None = None) -> None:
        self._recipe = recipe = recipe or StepRecipe()
        self._class_weights = (
            None
            if recipe.class_weights is None
            else self.torch.tensor(recipe.class_weights, dtype=self.torch.float32, device=self.device)
        )
        self.torch.manual_seed(seed)  # dropout masks
        self._optimizer = self._make_optimizer(1e-3)
        self.set_dropout(dropout)
        self._keep_good()

    def set_dropout(self, enabled: bool) -> None:
        for layer, rate in self._dropouts:
            layer.p = rate if enabled else 0.0

    # -- steps --------------------------------------------------------------------------

    def _scores(self, x: Any) -> Any:
        output = self.module(x)
        if self._fused is None:
            return output
        logits, self._logits = self._logits, None
        return logits

    def _to_device(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[Any, Any]:
        torch = self.torch
        xb = torch.from_numpy(_writable(x, np.float32)).to(self.device, non_blocking=True)
        yb = None if y is None else torch.from_numpy(_writable(y, np.int64)).to(self.device)
        return xb, yb

    def _summed_loss(self, scores: Any, y: Any) -> Any:
        """The batch's data loss times its size (the NumPy engine's mean, summed)."""
        functional = self.torch.nn.functional
        if self._loss == "cross_entropy":
            return functional.cross_entropy(scores, y, reduction="sum")
        targets = functional.one_hot(y, scores.shape[1]).to(scores.dtype)
        return functional.mse_loss(scores, targets, reduction="sum") / scores.shape[1]

    def _training_loss(self, scores: Any, y: Any) -> Any:
        """The batch's mean data loss, with label smoothing and class weights (``F.cross_entropy``'s weighted mean)."""
        recipe = self._recipe
        if self._loss == "cross_entropy" and (recipe.label_smoothing or self._class_weights is not None):
            return self.torch.nn.functional.cross_entropy(
                scores, y, weight=self._class_weights, label_smoothing=recipe.label_smoothing
            )
        return self._summed_loss(scores, y) / len(y)

    def _penalty(self, l1: float, l2: float) -> Any:
        total = self.torch.zeros((), device=self.device)
        for weight in self._penalised:
            if l1:
                total = total + l1 * weight.abs().sum()
            if l2:
                total = total + l2 * (weight * weight).sum()
        return total

    def train_step(self, x: np.ndarray, y: np.ndarray, l1: float, l2: float, learning_rate: float) -> StepResult:
        torch = self.torch
        self.module.train()
        xb, yb = self._to_device(x, y)
        scores = self._scores(xb)
        data_loss = self._training_loss(scores, yb)
        penalty = self._penalty(l1, l2)
        correct = (scores.argmax(1) == yb).sum()
        # One transfer per step: the loop needs the numbers for its events anyway.
        numbers = torch.stack([data_loss.detach().double(), penalty.detach().double(), correct.double()]).cpu()
        result = StepResult(float(numbers[0]), float(numbers[1]), int(numbers[2]))
        if not result.finite:
            with torch.no_grad():
                for tensor, kept in zip(self._tensors(), self._kept, strict=True):
                    tensor.copy_(kept)
            return result
        self._keep_good()
        if self._optimizer is None:
            return result
        for group in self._optimizer.param_groups:
            group["lr"] = learning_rate * group["lr_multiplier"]
        self._optimizer.zero_grad(set_to_none=True)
        (data_loss + penalty).backward()
        if self._recipe.clip_norm is not None:  # over the parameters that train: frozen ones have no gradient
            torch.nn.utils.clip_grad_norm_(self._trained, self._recipe.clip_norm)
        self._optimizer.step()
        return result

    def _keep_good(self) -> None:
        with self.torch.no_grad():
            for tensor, kept in zip(self._tensors(), self._kept, strict=True):
                kept.copy_(tensor)

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        torch = self.torch
        self.module.eval()
        sums = torch.zeros(2, dtype=torch.float64, device=self.device)
        with torch.no_grad():
            for start in range(0, len(data), EVAL_BATCH):
                xb, yb = self._to_device(data.x[start : start + EVAL_BATCH], data.y[start : start + EVAL_BATCH])
                scores = self._scores(xb)
                sums[0] += self._summed_loss(scores, yb).double()
                sums[1] += (scores.argmax(1) == yb).sum().double()
        loss, correct = sums.cpu().tolist()
        return loss / len(data), correct / len(data)

    def predict_with_confidence(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        self.module.eval()
        predicted, confidence = [], []
        with torch.no_grad():
            for start in range(0, len(x), EVAL_BATCH):
                xb, _ = self._to_device(x[start : start + EVAL_BATCH])
                logits = self._logits_of(xb)
                batch_predicted, batch_confidence = softmax_confidence(logits.float().cpu().numpy())
                predicted.append(batch_predicted)
                confidence.append(batch_confidence)
        return np.concatenate(predicted), np.concatenate(confidence)

    def _logits_of(self, x: Any) -> Any:
        """The scores before a final Softmax whatever the loss (as the NumPy engine's ``forward_logits``)."""
        if self._fused is not None or self._final_softmax is None:
            return self._scores(x)
        captured: list[Any] = []
        handle = getattr(self.module, self._final_softmax).register_forward_pre_hook(
            lambda _m, inputs: captured.append(inputs[0])
        )
        try:
            self.module(x)
        finally:
            handle.remove()
        return captured[0]

    # -- weights ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {key: value.detach().cpu().numpy().copy() for key, value in self.module.state_dict().items()}
        return self._map.to_layerwise(state)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.model.load_state_dict(state)
        torch = self.torch
        with torch.no_grad():
            current = self.module.state_dict()
            for key, value in torch_state(self.model).items():
                # reshape: torch_state holds BatchNorm's 0-d num_batches_tracked as shape (1,).
                current[key].copy_(torch.from_numpy(value).reshape(current[key].shape))

    def sync(self) -> None:
        self.model.load_state_dict(self.state_dict())

    def activation_percentiles(self, x: np.ndarray, percentiles: Sequence[float]) -> dict[str, list[float]]:
        # Measured by Layerwise's engine on the PyTorch weights: one definition of a layer's outputs.
        self.sync()
        return layer_percentiles(self.model, x, percentiles)
