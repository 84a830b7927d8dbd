"""The network's entry point, and how raw images become the tensor it reads (its preprocessing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import ParamError
from core.layers.base import Layer
from core.layers.preprocessing import (
    CHANNEL_ORDERS,
    PREPROCESSING_FORMAT_VERSION,
    PREPROCESSING_PARAMS,
    VALUE_RANGES,
    InputPreprocessing,
)
from core.ops.basic import InputOp
from core.ops.op import Op
from core.params import ChoiceParam, FloatListParam, IntParam, ShapeParam
from core.registry import register
from core.shapes import Shape, format_shape


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
