"""A scroll area that gives its widget all the room there is, and scrolls only below its minimum size."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget


class MinimumScrollArea(QScrollArea):
    """Shows ``widget`` at the viewport's size, never smaller than the widget's minimum size.

    Unlike a resizable :class:`QScrollArea`, the widget never grows beyond the viewport to
    suit its height-for-width (word-wrapped labels would make it much taller): the widget
    fills the area exactly as long as the area is at least the widget's minimum size, and
    scroll bars let one reach the rest when the area is smaller. A dock holding a panel of
    large minimum size this way can be made small without holding the other docks back.
    """

    def __init__(self, widget: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(False)
        self.setWidget(widget)
        self.fit()

    def minimum_content_size(self) -> QSize:
        """The least size the widget is shown at: its minimum size, or its layout's."""
        widget = self.widget()
        return widget.minimumSizeHint().expandedTo(widget.minimumSize())

    def fit(self) -> None:
        """Resize the widget to the viewport, but not below :meth:`minimum_content_size`."""
        widget = self.widget()
        if widget is not None:
            widget.resize(self.viewport().size().expandedTo(self.minimum_content_size()))

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return super().viewportEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The widget's layout changed (a page was shown, a label grew): its minimum may have too.
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.fit()
        return super().eventFilter(watched, event)
