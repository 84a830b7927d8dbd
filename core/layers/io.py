"""The network's entry point, and how raw images become the tensor it reads (its preprocessing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import ParamError
from core.layers.base import Layer
from core.ops.basic import InputOp
from core.ops.op import Op
from core.params import ChoiceParam, FloatListParam, IntParam, ShapeParam
from core.registry import register
from core.shapes import Shape, format_shape

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


@register
class Input(Layer):
    """Where samples enter: a C×H×W image or a vector of features (no batch axis).

    An image input also says how raw images are prepared for the network (its
    :attr:`preprocessing`): resizing and cropping image files, channel order, value range
    and per-channel mean and std.
    """

    type_name = "Input"
    category = "Input"
    is_network_input = True
    summary = "Where samples enter the network: a C×H×W image or a vector of features."
    param_specs = (
        ShapeParam("shape", (1, 28, 28), "Sample shape without the batch: [C, H, W] or [features]."),
        IntParam(
            "resize",
            0,
            "Image files: the shorter side is resized to this and the centre H×W cropped "
            "(ImageNet: 256 for 224); 0 crops the centre to the input's aspect ratio and resizes it.",
            minimum=0,
            maximum=1 << 14,
        ),
        ChoiceParam(
            "channel_order", "RGB", "The order the network reads colours in (BGR for Caffe models).", CHANNEL_ORDERS
        ),
        ChoiceParam(
            "value_range", "0..1", "Raw pixel values 0..1 are stretched to this range first.", tuple(VALUE_RANGES)
        ),
        FloatListParam(
            "mean", (), "Subtracted per channel after the stretch; empty means 0, one number serves every channel."
        ),
        FloatListParam(
            "std",
            (),
            "Divides per channel after the mean; empty means 1, one number serves every channel.",
            minimum=0.0,
            min_inclusive=False,
        ),
    )
    min_inputs = 0
    max_inputs = 0

    @property
    def preprocessing(self) -> InputPreprocessing:
        """The preprocessing parameters as one value."""
        return InputPreprocessing(*(self.params[name] for name in PREPROCESSING_PARAMS))

    def check_params(self) -> None:
        preprocessing = self.preprocessing
        if preprocessing.is_default:
            return
        shape = self.params["shape"]
        if len(shape) != 3:
            changed = next(n for n in PREPROCESSING_PARAMS if self.params[n] != InputPreprocessing().to_json()[n])
            raise ParamError(
                changed, f"preprocessing applies to image inputs (C, H, W); this input is {format_shape(shape)}"
            )
        channels, height, width = shape
        for name in ("mean", "std"):
            count = len(self.params[name])
            if count not in (0, 1, channels):
                raise ParamError(
                    name,
                    f"holds {count} numbers; the input has {channels} channel{'s' if channels != 1 else ''}: "
                    f"give {channels} (one per channel), 1 (for all) or none",
                )
        if preprocessing.channel_order == "BGR" and channels != 3:
            raise ParamError("channel_order", f"BGR needs a 3-channel input; this one has {channels}")
        if preprocessing.resize and preprocessing.resize < max(height, width):
            raise ParamError(
                "resize",
                f"is {preprocessing.resize}, smaller than the input's {height}×{width}: the centre crop would not "
                f"fit; use 0 or at least {max(height, width)}",
            )

    def get_config(self) -> dict[str, Any]:
        # Preprocessing is written only when set, so that files without it stay readable by older versions.
        config = super().get_config()
        defaults = InputPreprocessing().to_json()
        return {key: value for key, value in config.items() if key not in defaults or value != defaults[key]}

    def required_format_version(self) -> int:
        return PREPROCESSING_FORMAT_VERSION if not self.preprocessing.is_default else 1

    def describe(self) -> str:
        shape = format_shape(self.params["shape"])
        return f"{shape}, normalised" if self.preprocessing.normalises else shape

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        return self.params["shape"]

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        preprocessing = self.preprocessing
        if not preprocessing.normalises:
            return InputOp()
        return InputOp(*preprocessing.affine(self.params["shape"][0]))
