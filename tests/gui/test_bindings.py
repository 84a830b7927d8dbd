"""The installed Qt bindings keep Python's reference counts intact while painting."""

from __future__ import annotations

import sys

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QPen


def test_painting_does_not_release_references_to_none(qapp):
    # PySide6 6.12.0 decremented None's count on every void painter call; on Python 3.11
    # a canvas then aborted after a few thousand paints ("deallocating None").
    image = QImage(32, 32, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        before = sys.getrefcount(None)
        for _ in range(500):
            painter.setPen(QPen(QColor("red"), 1))
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.drawRect(QRectF(0, 0, 4, 4))
        assert sys.getrefcount(None) >= before
    finally:
        painter.end()
