"""Which engine trains: the built-in NumPy engine or PyTorch on one of its devices."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

from core.engine.model import Model
from core.errors import LayerwiseError
from core.torch_engine.engine import INSTALL_HINT, TorchEngine, torch_devices, torch_installed
from core.training.step_engine import NumpyEngine, StepEngine
from core.training.trainer import TrainingConfig

EngineKind = Literal["numpy", "torch"]
ENGINE_KINDS: tuple[EngineKind, ...] = ("numpy", "torch")


@dataclass(frozen=True)
class EngineChoice:
    """An engine and, for PyTorch, its device (``"cpu"``, ``"cuda:0"``, ``"mps"``)."""

    kind: EngineKind = "numpy"
    device: str = "cpu"
    device_label: str = ""
    """The device as people know it (``"CUDA 0: NVIDIA H200"``); the device's name when empty."""

    def __post_init__(self) -> None:
        if self.kind not in ENGINE_KINDS:
            raise LayerwiseError(f"engine must be one of {', '.join(ENGINE_KINDS)}, got {self.kind!r}")

    @property
    def label(self) -> str:
        if self.kind == "numpy":
            return "NumPy (built-in)"
        return f"PyTorch — {self.device_label or self.device}"

    def to_json(self) -> dict[str, str]:
        return {"engine": self.kind, "device": self.device} if self.kind == "torch" else {"engine": self.kind}


NUMPY = EngineChoice()


def torch_engines() -> list[EngineChoice]:
    """PyTorch on each of its devices (imports it).

    Raises
    ------
    LayerwiseError
        Without PyTorch, or when it cannot be loaded (the message says why).
    """
    return [EngineChoice("torch", device.name, device.label) for device in torch_devices()]


def available_engines() -> list[EngineChoice]:
    """NumPy, and PyTorch on each of its devices when PyTorch is installed (imports it then)."""
    choices = [NUMPY]
    if torch_installed():
        # Installed but broken: the NumPy engine still trains.
        with contextlib.suppress(LayerwiseError):
            choices += torch_engines()
    return choices


def missing_torch_hint() -> str:
    return f"PyTorch is not installed; to train with it: {INSTALL_HINT}"


def make_engine(choice: EngineChoice, model: Model, config: TrainingConfig) -> StepEngine:
    """The step engine ``choice`` names, on ``model``'s network.

    Raises
    ------
    LayerwiseError
        Without PyTorch, on a missing device, or when a layer cannot run in PyTorch.
    """
    if choice.kind == "torch":
        return TorchEngine(
            model,
            config.optimizer,
            config.loss,
            momentum=config.momentum,
            nesterov=config.nesterov,
            device=choice.device,
        )
    return NumpyEngine(model, config.optimizer, config.loss, momentum=config.momentum, nesterov=config.nesterov)
