"""Sliding-window arithmetic shared by convolution and pooling layers."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ShapeError
from core.params import Padding4

AXES = ("height", "width")


@dataclass(frozen=True)
class Window:
    """A sliding window resolved against a concrete input size.

    Attributes
    ----------
    kernel, stride, dilation
        Per axis (H, W).
    pads
        ``(top, left, bottom, right)`` zero padding actually applied.
    output_hw
        Output height and width.
    """

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: Padding4
    output_hw: tuple[int, int]

    @property
    def pad_begin(self) -> tuple[int, int]:
        return (self.pads[0], self.pads[1])


def _same_padding(size: int, span: int, stride: int) -> tuple[int, int]:
    """TensorFlow / ONNX SAME_UPPER: output ``ceil(size/stride)``, odd pixel at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _output_size(size: int, span: int, stride: int, begin: int, end: int, ceil_mode: bool) -> int:
    padded = size + begin + end
    if ceil_mode:
        out = -(-(padded - span) // stride) + 1
        # The last window must start inside the input or its left padding (PyTorch, ONNX).
        if (out - 1) * stride >= size + begin:
            out -= 1
        return out
    return (padded - span) // stride + 1


def resolve_window(
    layer_name: str,
    input_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: str | Padding4,
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
) -> Window:
    """Resolve ``padding`` for ``input_hw`` and compute the output size.

    Raises
    ------
    ShapeError
        When the (dilated) kernel does not fit the padded input.
    """
    spans = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    if padding == "valid":
        pads: Padding4 = (0, 0, 0, 0)
    elif padding == "same":
        (top, bottom), (left, right) = (_same_padding(input_hw[i], spans[i], stride[i]) for i in range(2))
        pads = (top, left, bottom, right)
    else:
        pads = padding  # type: ignore[assignment]
    begins, ends = (pads[0], pads[1]), (pads[2], pads[3])
    out = []
    for axis in range(2):
        padded = input_hw[axis] + begins[axis] + ends[axis]
        if padded < spans[axis]:
            dilated = f" (dilated to {spans[axis]})" if spans[axis] != kernel[axis] else ""
            raise ShapeError(
                f"{layer_name} kernel {kernel[axis]}{dilated} is larger than its padded input "
                f"{padded} along the {AXES[axis]} (input {input_hw[axis]}, padding "
                f"{begins[axis]}+{ends[axis]})"
            )
        out.append(_output_size(input_hw[axis], spans[axis], stride[axis], begins[axis], ends[axis], ceil_mode))
    return Window(kernel, stride, dilation, pads, (out[0], out[1]))
