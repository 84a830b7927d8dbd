"""How raw images (RGB, values in 0..1) become the tensor a network reads: an image Input's preprocessing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.shapes import Shape

VALUE_RANGES: dict[str, tuple[float, float]] = {"0..1": (0.0, 1.0), "0..255": (0.0, 255.0), "-1..1": (-1.0, 1.0)}
"""What a raw pixel value in ``[0, 1]`` is stretched to before mean and std apply."""
CHANNEL_ORDERS = ("RGB", "BGR")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The per-channel statistics of ImageNet's training images (RGB, values in 0..1): torchvision's models expect them."""
IMAGENET_RESIZE_RATIO = 256 / 224
"""ImageNet evaluation resizes the shorter side to 256 and takes the central 224×224."""
PREPROCESSING_FORMAT_VERSION = 3
"""The network file version that first stored an Input's preprocessing."""


@dataclass(frozen=True)
class InputPreprocessing:
    """How a raw image (RGB, values in ``[0, 1]``) becomes the tensor a network reads.

    Every sample the network is given — a dataset batch in training, a photograph in See
    inside, an image file for ``predict`` — is raw; the network applies this itself, so
    all of them are treated alike.

    Attributes
    ----------
    resize
        For image files: the shorter side is resized to this many pixels and the centre
        ``H × W`` cropped (ImageNet's 256 → 224). 0 crops the centre to the input's aspect
        ratio and resizes that to ``H × W``.
    channel_order
        ``"RGB"`` or ``"BGR"`` (Caffe-trained networks): the order the network reads colours in.
    value_range
        A key of :data:`VALUE_RANGES`: raw ``[0, 1]`` is stretched to it.
    mean, std
        Per channel, in the network's channel order, after the stretch: ``(v - mean) / std``.
        Empty means 0 and 1; one number serves every channel.
    """

    resize: int = 0
    channel_order: str = "RGB"
    value_range: str = "0..1"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @property
    def normalises(self) -> bool:
        """Whether the tensor differs from the raw image (anything but RGB, 0..1, mean 0, std 1)."""
        return (
            self.channel_order != "RGB"
            or self.value_range != "0..1"
            or any(m != 0.0 for m in self.mean)
            or any(s != 1.0 for s in self.std)
        )

    @property
    def is_default(self) -> bool:
        return self == InputPreprocessing()

    def affine(self, channels: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """``(order, scale, shift)``: output channel ``c`` is ``raw[order[c]] * scale[c] + shift[c]``.

        Returns
        -------
        order
            ``(C,)`` int64 source channel of each output channel, or ``None`` when they stay in place.
        scale, shift
            ``(C,)`` float32: ``(hi - lo) / std`` and ``(lo - mean) / std``.
        """
        low, high = VALUE_RANGES[self.value_range]
        mean = np.broadcast_to(np.asarray(self.mean or (0.0,), np.float64), (channels,))
        std = np.broadcast_to(np.asarray(self.std or (1.0,), np.float64), (channels,))
        order = np.arange(channels)[::-1].copy() if self.channel_order == "BGR" else None
        scale = ((high - low) / std).astype(np.float32)
        shift = ((low - mean) / std).astype(np.float32)
        return order, scale, shift

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The network's tensor for raw images ``x`` ``(N, C, H, W)``: the same numbers the Input computes.

        Returns
        -------
        np.ndarray
            ``(N, C, H, W)`` in ``x``'s float type; ``x`` itself when nothing changes.
        """
        if not self.normalises:
            return x
        order, scale, shift = self.affine(x.shape[1])
        picked = x[:, order] if order is not None else x
        return picked * scale.astype(x.dtype)[None, :, None, None] + shift.astype(x.dtype)[None, :, None, None]

    def describe(self) -> str:
        """One line for people, e.g. ``"resize 256, centre crop; RGB 0..1; mean 0.485, 0.456, 0.406; std …"``."""
        parts = [f"resize {self.resize}, centre crop" if self.resize else "centre crop to the input's aspect ratio"]
        parts.append(f"{self.channel_order} {self.value_range}")
        if self.mean:
            parts.append("mean " + ", ".join(f"{m:g}" for m in self.mean))
        if self.std:
            parts.append("std " + ", ".join(f"{s:g}" for s in self.std))
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The settings as plain JSON (the Input's parameters of the same names)."""
        return {
            "resize": self.resize,
            "channel_order": self.channel_order,
            "value_range": self.value_range,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def imagenet_preprocessing(shape: Shape) -> InputPreprocessing:
    """ImageNet's evaluation preprocessing for an input ``(3, H, W)``: resize by 256/224, centre crop, mean/std."""
    resize = round(max(shape[1:]) * IMAGENET_RESIZE_RATIO) if len(shape) == 3 else 0
    return InputPreprocessing(resize, "RGB", "0..1", IMAGENET_MEAN, IMAGENET_STD)


PREPROCESSING_PARAMS = ("resize", "channel_order", "value_range", "mean", "std")
