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


def resolve_transposed_window(
    layer_name: str,
    input_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: str | Padding4,
    dilation: tuple[int, int] = (1, 1),
    output_padding: tuple[int, int] = (0, 0),
) -> tuple[Window, tuple[int, int]]:
    """Resolve a transposed convolution on ``input_hw``: the convolution it transposes, and its output size.

    Per axis, with span ``K = d·(k − 1) + 1`` and pads ``p_b + p_e``::

        H_out = (H − 1)·s − (p_b + p_e) + K + output_padding

    ``'valid'`` pads nothing; ``'same'`` pads ``K − s`` in all, the odd pixel at the end,
    so that ``H_out = H·s + output_padding``.

    Returns
    -------
    window
        The convolution of the ``H_out × W_out`` output, padded by ``pads``, whose
        ``output_hw`` is the ``H × W`` input: the transposed convolution is its input
        gradient. Output padding rows lie past its last window.
    output_hw
        ``(H_out, W_out)``.

    Raises
    ------
    ShapeError
        When ``output_padding`` is not smaller than the stride or the dilation (PyTorch's
        rule), ``'same'`` would need negative padding, or the output would be empty.
    """
    spans = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    for axis in range(2):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise ShapeError(
                f"{layer_name} output_padding {output_padding[axis]} along the {AXES[axis]} must be smaller "
                f"than its stride {stride[axis]} or dilation {dilation[axis]}"
            )
    if padding == "valid":
        pads: Padding4 = (0, 0, 0, 0)
    elif padding == "same":
        totals = [spans[axis] - stride[axis] for axis in range(2)]
        for axis, total in enumerate(totals):
            if total < 0:
                raise ShapeError(
                    f"{layer_name} 'same' padding needs a kernel span of at least the stride along the "
                    f"{AXES[axis]} (span {spans[axis]}, stride {stride[axis]}); pad 0 and set output_padding "
                    f"to {stride[axis] - spans[axis]} instead"
                )
        pads = (totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2, totals[1] - totals[1] // 2)
    else:
        pads = padding  # type: ignore[assignment]
    out = []
    for axis in range(2):
        begin, end = pads[axis], pads[axis + 2]
        size = (input_hw[axis] - 1) * stride[axis] - begin - end + spans[axis] + output_padding[axis]
        if size < 1:
            raise ShapeError(
                f"{layer_name} padding {begin}+{end} along the {AXES[axis]} leaves no output "
                f"(input {input_hw[axis]}, stride {stride[axis]}, kernel span {spans[axis]}); reduce the padding"
            )
        out.append(size)
    return Window(kernel, stride, dilation, pads, input_hw), (out[0], out[1])
