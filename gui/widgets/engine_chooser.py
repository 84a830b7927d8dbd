"""The Engine choice of the Training dock: NumPy (built-in) or PyTorch on one of its devices.

Finding PyTorch's devices means importing PyTorch, which takes a second or two; it
happens once per process in a background thread, and the devices join the list when
they are known. "PyTorch — CPU" is offered at once whenever PyTorch is installed.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QWidget

from core.errors import LayerwiseError
from core.session.engines import NUMPY, EngineChoice, missing_torch_hint, torch_engines
from core.torch_engine.engine import torch_installed

PROBE_POLL_MS = 200
TORCH_CPU = EngineChoice("torch", "cpu", "CPU")

_probe_lock = threading.Lock()
_probe: Future[list[EngineChoice]] | None = None


def probe_torch_engines() -> Future[list[EngineChoice]]:
    """PyTorch on each of its devices, found once per process in a background thread."""
    global _probe
    with _probe_lock:
        if _probe is None:
            future: Future[list[EngineChoice]] = Future()

            def find() -> None:
                try:
                    future.set_result(torch_engines())
                except LayerwiseError as exc:
                    future.set_exception(exc)

            threading.Thread(target=find, name="layerwise-torch-devices", daemon=True).start()
            _probe = future
        return _probe


class EngineChooser(QWidget):
    """A labelled combo box of the engines that can train here."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        label = QLabel("Engine:")
        label.setBuddy(self.combo)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(label)
        layout.addWidget(self.combo, 1)
        self._running = False
        self.torch_available = torch_installed()
        self._add(NUMPY)
        self._timer = QTimer(self)
        self._timer.setInterval(PROBE_POLL_MS)
        self._timer.timeout.connect(self._take_devices)
        if self.torch_available:
            self._add(TORCH_CPU)
            self.combo.setToolTip(
                "Which engine trains: Layerwise's own NumPy engine, or PyTorch on the CPU or a GPU. "
                "Curves, live switches, early stopping and trained weights work alike."
            )
            self._probe = probe_torch_engines()
            self._timer.start()
        else:
            self.combo.setToolTip(f"Training runs on Layerwise's NumPy engine. {missing_torch_hint()}")
            self.setToolTip(self.combo.toolTip())
        self._update_enabled()

    def _add(self, choice: EngineChoice) -> None:
        self.combo.addItem(choice.label, choice)

    def _take_devices(self) -> None:
        if not self._probe.done():
            return
        self._timer.stop()
        if self._probe.exception() is not None:
            self.combo.setToolTip(f"PyTorch could not be loaded: {self._probe.exception()}")
            index = self._index_of(TORCH_CPU)
            if index >= 0 and self.combo.currentIndex() != index:
                self.combo.removeItem(index)
            self._update_enabled()
            return
        for choice in self._probe.result():
            if self._index_of(choice) < 0:
                self._add(choice)
        self._update_enabled()

    def _index_of(self, choice: EngineChoice) -> int:
        for index, offered in enumerate(self.choices()):
            if (offered.kind, offered.device) == (choice.kind, choice.device):
                return index
        return -1

    def choices(self) -> list[EngineChoice]:
        return [self.combo.itemData(index) for index in range(self.combo.count())]

    def choice(self) -> EngineChoice:
        """The engine chosen."""
        return self.combo.currentData() or NUMPY

    def select(self, choice: EngineChoice) -> bool:
        """Choose ``choice`` (by engine and device); ``False`` when it is not offered."""
        index = self._index_of(choice)
        if index >= 0:
            self.combo.setCurrentIndex(index)
        return index >= 0

    def set_running(self, running: bool) -> None:
        self._running = running
        self._update_enabled()

    def _update_enabled(self) -> None:
        self.combo.setEnabled(not self._running and self.combo.count() > 1)
