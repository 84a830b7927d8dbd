"""An undo stack that can refuse a change before it happens.

While a training run uses the network, editing its structure would leave the trained
weights and the running model apart; the window's guard asks the user first, and a
refused command is never executed nor recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand, QUndoStack

Guard = Callable[[QUndoCommand | None], bool]
"""Called with the command about to run (``None`` for a macro); ``False`` refuses it."""


class GuardedUndoStack(QUndoStack):
    """A :class:`QUndoStack` whose pushes, macros, undos and redos pass :attr:`guard` first.

    Undo and redo must be triggered through this object's Python methods (not the
    actions of ``createUndoAction``, which call the C++ slots directly).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.guard: Guard | None = None
        self._refused_depth = 0  # inside a refused macro: drop its pushes and its end

    def _allowed(self, command: QUndoCommand | None) -> bool:
        return self.guard is None or self.guard(command)

    def push(self, command: QUndoCommand) -> None:
        if self._refused_depth or not self._allowed(command):
            return
        super().push(command)

    def beginMacro(self, text: str) -> None:
        if self._refused_depth or not self._allowed(None):
            self._refused_depth += 1
            return
        super().beginMacro(text)

    def endMacro(self) -> None:
        if self._refused_depth:
            self._refused_depth -= 1
            return
        super().endMacro()

    def undo(self) -> None:
        if self.canUndo() and self._allowed(self.command(self.index() - 1)):
            super().undo()

    def redo(self) -> None:
        if self.canRedo() and self._allowed(self.command(self.index())):
            super().redo()
