"""NumPy samples as Qt images."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def sample_to_uint8(sample: np.ndarray) -> np.ndarray:
    """One sample as display bytes.

    Parameters
    ----------
    sample
        ``(C, H, W)`` (or ``(H, W)``) values in ``[0, 1]``; values outside are clipped,
        NaN shows black. C 3 is RGB; C 1 grey; any other C shows its first channel.

    Returns
    -------
    np.ndarray
        uint8, C-contiguous: ``(H, W)`` for grey or ``(H, W, 3)`` for RGB.
    """
    sample = np.asarray(sample)
    if sample.ndim == 2:
        sample = sample[None]
    if sample.ndim != 3 or 0 in sample.shape:
        raise ValueError(f"a sample must have shape (C, H, W) or (H, W), got {sample.shape}")
    pixels = sample.transpose(1, 2, 0) if sample.shape[0] == 3 else sample[0]
    pixels = np.nan_to_num(pixels.astype(np.float32, copy=False), nan=0.0)
    return np.ascontiguousarray(np.rint(np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8))


def array_to_qimage(sample: np.ndarray, scale: int = 1) -> QImage:
    """One sample as a QImage that owns its pixels.

    Parameters
    ----------
    sample
        ``(C, H, W)`` values in ``[0, 1]`` (clipped); C 1 is greyscale, C 3 RGB, any
        other C shows the first channel in grey. ``(H, W)`` is read as greyscale.
    scale
        Whole-number upscaling factor; each pixel becomes a ``scale × scale`` block
        (nearest neighbour), so small images stay sharp.

    Returns
    -------
    QImage
        ``Format_Grayscale8`` or ``Format_RGB888``, ``W·scale`` wide and ``H·scale`` high.
    """
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    pixels = sample_to_uint8(sample)
    if scale > 1:
        pixels = np.ascontiguousarray(pixels.repeat(scale, axis=0).repeat(scale, axis=1))
    height, width = pixels.shape[:2]
    rgb = pixels.ndim == 3
    image_format = QImage.Format.Format_RGB888 if rgb else QImage.Format.Format_Grayscale8
    image = QImage(pixels.data, width, height, pixels.strides[0], image_format)
    # The QImage above borrows the NumPy buffer; the copy owns its pixels, so the array may go.
    return image.copy()


def unit_range(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``x`` mapped linearly so ``low`` → 0 and ``high`` → 1 (for data stored in another range).

    Parameters
    ----------
    x
        Any shape.
    low, high
        The values that become black and white; ``high ≤ low`` only shifts.
    """
    span = high - low if high > low else 1.0
    return ((np.asarray(x, dtype=np.float32) - np.float32(low)) / np.float32(span)).astype(np.float32)


def value_bounds(x: np.ndarray) -> tuple[float, float] | None:
    """``(low, high)`` of ``x`` when its values leave ``[0, 1]``, else ``None`` (it displays as is)."""
    if x.size == 0:
        return None
    low, high = float(np.nanmin(x)), float(np.nanmax(x))
    return None if low >= 0.0 and high <= 1.0 else (low, high)
