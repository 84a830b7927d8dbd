"""Colour maps for feature maps, filters and heat maps, and NumPy arrays as Qt images."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QFont, QImage, QLinearGradient, QPainter, QPalette, QPen

COLOUR_MAPS = {
    "viridis": "viridis",
    "inferno": "inferno",
    "magma": "magma",
    "cividis": "cividis",
    "grey": "CET-L1",
    "blue–red (signed)": "CET-D1",
}
"""Display name → pyqtgraph colour map. The last one is diverging: zero sits in its centre."""
DEFAULT_MAP = "viridis"
SIGNED_MAP = "blue–red (signed)"
HEAT_MAP = "CET-L3"
"""The effective-receptive-field overlay: black → red → yellow → white, transparent where zero."""
HEAT_LOW, HEAT_HIGH = 0.3, 0.82
"""The part of :data:`HEAT_MAP` used, from the weakest to the strongest pixel."""


def accent(palette: QPalette) -> QColor:
    """The colour of the highlighted receptive field: a warm orange that reads on images and palettes."""
    dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
    return QColor("#ffb74d" if dark else "#ff9800")


@lru_cache(maxsize=16)
def lookup_table(name: str) -> np.ndarray:
    """``(256, 3)`` uint8 colours of the colour map called ``name`` (a display name or a pyqtgraph name)."""
    cmap = pg.colormap.get(COLOUR_MAPS.get(name, name))
    table = np.asarray(cmap.getLookupTable(0.0, 1.0, 256, alpha=False), dtype=np.uint8)
    table.setflags(write=False)
    return table


def is_signed(name: str) -> bool:
    return name == SIGNED_MAP


def value_range(values: np.ndarray, signed: bool) -> tuple[float, float]:
    """``(low, high)`` to scale ``values`` by: min and max, or ±max|v| for a diverging map."""
    finite = values[np.isfinite(values)] if values.size else values
    if finite.size == 0:
        return (0.0, 1.0)
    if signed:
        top = float(np.abs(finite).max()) or 1.0
        return (-top, top)
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low, low + 1.0)


def colourise(values: np.ndarray, low: float, high: float, name: str) -> np.ndarray:
    """Map ``values`` linearly from ``[low, high]`` onto a colour map.

    Parameters
    ----------
    values
        ``(..., H, W)`` any real values; NaN shows as the lowest colour.
    low, high
        The values that get the first and last colour (clipped beyond).
    name
        A key of :data:`COLOUR_MAPS` (or a pyqtgraph colour map name).

    Returns
    -------
    np.ndarray
        ``(..., H, W, 3)`` uint8.
    """
    span = high - low if high > low else 1.0
    scaled = np.nan_to_num((np.asarray(values, dtype=np.float64) - low) / span, nan=0.0)
    index = np.clip(np.rint(scaled * 255), 0, 255).astype(np.intp)
    return lookup_table(name)[index]


def as_images(rgb: np.ndarray) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 colours as ``(N, 3, H, W)`` float32 in ``[0, 1]`` for :class:`SampleGrid`."""
    return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)


def rgb_qimage(rgb: np.ndarray) -> QImage:
    """``(H, W, 3)`` uint8 as an RGB888 QImage that owns its pixels."""
    pixels = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = pixels.shape[:2]
    return QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB888).copy()


def rgba_qimage(rgba: np.ndarray) -> QImage:
    """``(H, W, 4)`` uint8 (straight alpha) as an RGBA8888 QImage that owns its pixels."""
    pixels = np.ascontiguousarray(rgba, dtype=np.uint8)
    height, width = pixels.shape[:2]
    return QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGBA8888).copy()


def heat_overlay(heat: np.ndarray, opacity: float = 0.85) -> np.ndarray:
    """A translucent heat map of non-negative ``heat``: transparent where it is zero.

    Parameters
    ----------
    heat
        ``(H, W)`` non-negative values (an effective receptive field).
    opacity
        Alpha of the strongest pixel.

    Returns
    -------
    np.ndarray
        ``(H, W, 4)`` uint8 RGBA. Colour and alpha grow with the square root of the value
        (relative to the maximum), so the faint tails of the field stay visible; a pixel
        whose value is exactly zero is fully transparent.
    """
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float64), nan=0.0)
    top = float(heat.max()) if heat.size else 0.0
    relative = np.sqrt(heat / top) if top > 0 else np.zeros_like(heat)
    # Dark red → orange → yellow: the middle of the map reads on dark and light images, white would not.
    position = HEAT_LOW + (HEAT_HIGH - HEAT_LOW) * relative
    colours = lookup_table(HEAT_MAP)[np.clip(np.rint(position * 255), 0, 255).astype(np.intp)]
    alpha = np.where(heat > 0, np.clip(np.rint((0.3 + 0.7 * relative) * opacity * 255), 1, 255), 0).astype(np.uint8)
    return np.concatenate([colours, alpha[..., None]], axis=-1)


def paint_colour_bar(painter: QPainter, bar: QRectF, name: str, border: QColor, font: QFont) -> QFont:
    """Fill ``bar`` with colour map ``name`` (low at the bottom), frame it, and set a small font for its labels.

    Returns the small font, ``font`` at 85 % (at least 7 points), already set on ``painter``.
    """
    gradient = QLinearGradient(bar.bottomLeft(), bar.topLeft())
    table = lookup_table(name)
    for stop in range(0, 256, 15):
        gradient.setColorAt(stop / 255, QColor(*[int(v) for v in table[stop]]))
    gradient.setColorAt(1.0, QColor(*[int(v) for v in table[255]]))
    painter.fillRect(bar, gradient)
    painter.setPen(QPen(border, 1))
    painter.drawRect(bar)
    small = QFont(font)
    small.setPointSizeF(max(small.pointSizeF() * 0.85, 7))
    painter.setFont(small)
    return small
