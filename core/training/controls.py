"""Typed controls of a running training: pause, resume, stop and the live settings.

A front end (the Training dock, a test, a script) sends control objects; an engine
takes them through one :class:`RunControls` shared between the two threads. Pause and
stop act at once (the engine waits or ends before its next batch); a live setting waits
in a queue and takes effect before the next batch, where :class:`LiveSettings` checks it
and says what changed. Every control is a small frozen dataclass, so it pickles into a
training process unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from core.errors import LayerwiseError
from core.training.augment import AUGMENTATION_KINDS


class ControlError(LayerwiseError):
    """A control carries a value out of range (named in the message)."""


@dataclass(frozen=True)
class Pause:
    """Wait before the next batch until :class:`Resume` or :class:`Stop`."""


@dataclass(frozen=True)
class Resume:
    """Go on after :class:`Pause`."""


@dataclass(frozen=True)
class Stop:
    """End the run before the next batch, keeping what it trained."""


@dataclass(frozen=True)
class SetDropout:
    """Dropout layers drop (``True``) or pass everything through (``False``)."""

    enabled: bool
    setting = "dropout"

    @property
    def value(self) -> bool:
        return bool(self.enabled)


@dataclass(frozen=True)
class _PenaltyStrength:
    """A penalty's strength on the kernels (≥ 0)."""

    strength: float
    setting: ClassVar[str]

    @property
    def value(self) -> float:
        value = float(self.strength)
        if not (math.isfinite(value) and value >= 0):
            raise ControlError(f"{self.setting} must be ≥ 0, got {self.strength!r}")
        return value


@dataclass(frozen=True)
class SetL1(_PenaltyStrength):
    """The L1 penalty's strength on the kernels (≥ 0)."""

    setting = "l1"


@dataclass(frozen=True)
class SetL2(_PenaltyStrength):
    """The L2 penalty's strength on the kernels (≥ 0)."""

    setting = "l2"


@dataclass(frozen=True)
class SetLearningRate:
    """The optimiser's learning rate (> 0)."""

    rate: float
    setting = "learning_rate"

    @property
    def value(self) -> float:
        rate = float(self.rate)
        if not (math.isfinite(rate) and rate > 0):
            raise ControlError(f"learning_rate must be > 0, got {self.rate!r}")
        return rate


@dataclass(frozen=True)
class SetAugmentation:
    """The augmentation kinds switched on (a subset of :data:`~core.training.augment.AUGMENTATION_KINDS`)."""

    kinds: frozenset[str]
    setting = "augment"

    @property
    def value(self) -> frozenset[str]:
        kinds = frozenset(self.kinds)
        unknown = sorted(kinds - set(AUGMENTATION_KINDS))
        if unknown:
            raise ControlError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(AUGMENTATION_KINDS)}")
        return kinds


LiveSetting = SetDropout | SetL1 | SetL2 | SetLearningRate | SetAugmentation
Control = Pause | Resume | Stop | LiveSetting
LIVE_SETTINGS: tuple[type, ...] = (SetDropout, SetL1, SetL2, SetLearningRate, SetAugmentation)


def live_setting(name: str, value: Any) -> LiveSetting:
    """The control that sets the live setting ``name`` (as :class:`SettingChanged` names it) to ``value``."""
    for kind in LIVE_SETTINGS:
        if kind.setting == name:
            return kind(frozenset(value) if kind is SetAugmentation else value)
    raise ControlError(f"{name!r} is not a live setting; live settings: {', '.join(k.setting for k in LIVE_SETTINGS)}")


@dataclass
class LiveSettings:
    """The settings a run may change between two batches, as they are now."""

    dropout: bool
    l1: float
    l2: float
    learning_rate: float
    augment: frozenset[str]

    def apply(self, control: LiveSetting) -> tuple[Any, Any]:
        """Take ``control``'s value; return ``(old, new)`` in the form run logs record them.

        Raises
        ------
        ControlError
            When the value is out of range; nothing changes then.
        """
        new = control.value
        old = getattr(self, control.setting)
        setattr(self, control.setting, new)
        if control.setting == "augment":
            return sorted(old), sorted(new)
        return old, new

    def copy(self) -> LiveSettings:
        return dataclasses.replace(self)


class RunControls:
    """What a front end tells a running engine, safe to use from any thread."""

    def __init__(self) -> None:
        self._settings: queue.SimpleQueue[LiveSetting] = queue.SimpleQueue()
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()

    def send(self, control: Control) -> None:
        """Act on ``control``: pause and stop at once, a live setting before the next batch.

        Raises
        ------
        TypeError
            For anything but a control.
        """
        if isinstance(control, Pause):
            self._running.clear()
        elif isinstance(control, Resume):
            self._running.set()
        elif isinstance(control, Stop):
            self._stop.set()
            self._running.set()
        elif isinstance(control, LIVE_SETTINGS):
            self._settings.put(control)  # type: ignore[arg-type]
        else:
            raise TypeError(f"not a training control: {control!r}")

    def pending(self) -> list[LiveSetting]:
        """The live settings sent since the last call, in order."""
        taken: list[LiveSetting] = []
        while True:
            try:
                taken.append(self._settings.get_nowait())
            except queue.Empty:
                return taken

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self) -> None:
        """Block until resumed or stopped."""
        self._running.wait()
