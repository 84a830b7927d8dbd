"""Small ``nn.Module`` classes for what PyTorch has no module for, as the source an export writes.

A layer's :meth:`~core.layers.base.Layer.export_torch` asks for one by name
(:meth:`~core.layers.torch_writer.TorchWriter.helper`); the exporter writes into the
generated ``model.py`` only those the network uses, in this order. Each is plain code over
``torch``, ``nn`` and ``F`` (``torch.nn.functional``); nothing here is imported or run by
Layerwise itself.
"""

from __future__ import annotations

TORCH_HELPERS: dict[str, str] = {
    "Add": '''
class Add(nn.Module):
    """The elementwise sum of its inputs (a residual connection)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        total = inputs[0]
        for other in inputs[1:]:
            total = total + other
        return total
''',
    "Concat": '''
class Concat(nn.Module):
    """Stacks its inputs along the channels (or features): dim 1."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs, dim=1)
''',
    "Multiply": '''
class Multiply(nn.Module):
    """The elementwise product of a tensor and a second one of its shape, or of a per-channel gate.

    A gate of N×C features scales every position of its channel of an N×C×H×W map, as a
    gate of N×C×1×1 does by broadcasting (squeeze-and-excitation).
    """

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and gate.dim() == 2:
            gate = gate[:, :, None, None]
        return x * gate
''',
    "Scale": '''
class Scale(nn.Module):
    """A learned per-channel affine map, ``weight[c] · x + bias[c]``, without normalisation."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.weight.view(shape) + self.bias.view(shape)
''',
    "LayerNorm2d": '''
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the C channels at each pixel of an N×C×H×W map (ConvNeXt's channels-last LayerNorm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
''',
    "ChannelSlice": '''
class ChannelSlice(nn.Module):
    """Keeps channels (or features) ``start`` to ``stop − 1``."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start : self.stop]
''',
    "ChannelSplit": '''
class ChannelSplit(nn.Module):
    """Splits the channels (or features) into ``parts`` equal runs: a tuple, one tensor per part."""

    def __init__(self, parts: int) -> None:
        super().__init__()
        self.parts = parts

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(x.chunk(self.parts, dim=1))
''',
    "GlobalAvgPool2d": '''
class GlobalAvgPool2d(nn.Module):
    """Averages each channel over its whole map: N×C×H×W → N×C."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))
''',
    "GlobalMaxPool2d": '''
class GlobalMaxPool2d(nn.Module):
    """Keeps the largest value of each channel over its whole map: N×C×H×W → N×C."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3))
''',
    "PaddedConv2d": '''
class PaddedConv2d(nn.Conv2d):
    """A convolution after zero padding of its own, ``pads = (left, right, top, bottom)``.

    For padding that differs between the sides ('same' with an even kernel or a stride),
    which ``nn.Conv2d``'s ``padding`` cannot express.
    """

    def __init__(self, *args, pads: tuple[int, int, int, int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pads = pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pads))
''',
    "CroppedConvTranspose2d": '''
class CroppedConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution whose full output is cropped by ``crop = (left, right, top, bottom)``.

    A negative crop extends that side with zeros (before the bias): the output padding of a
    transposed convolution whose padding differs between the sides.
    """

    def __init__(self, *args, crop: tuple[int, int, int, int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.crop = crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(x, self.weight, None, self.stride, 0, 0, self.groups, self.dilation)
        y = F.pad(y, tuple(-amount for amount in self.crop))
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y
''',
    "PaddedMaxPool2d": '''
class PaddedMaxPool2d(nn.MaxPool2d):
    """Max pooling after padding of its own with −∞, ``pads = (left, right, top, bottom)``.

    For padding that differs between the sides or exceeds half the window, which
    ``nn.MaxPool2d``'s ``padding`` cannot express; padded positions never win.
    """

    def __init__(self, *args, pads: tuple[int, int, int, int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pads = pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pads, value=float("-inf")))
''',
    "PaddedAvgPool2d": '''
class PaddedAvgPool2d(nn.Module):
    """Average pooling after zero padding ``pads = (left, right, top, bottom)``.

    Each window's sum is divided by the number of its positions inside the map or inside
    the ``counted`` part of the padding (the same sides' order): padding that does not
    count adds nothing to the sum and nothing to the divisor.
    """

    def __init__(
        self,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
        pads: tuple[int, int, int, int],
        counted: tuple[int, int, int, int],
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.pads, self.counted = kernel_size, stride, pads, counted

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = F.avg_pool2d(F.pad(x, self.pads), self.kernel_size, self.stride)
        inside = F.pad(x.new_ones((1, 1, *x.shape[2:])), self.counted, value=1.0)
        rest = tuple(pad - counted for pad, counted in zip(self.pads, self.counted))
        share = F.avg_pool2d(F.pad(inside, rest), self.kernel_size, self.stride)
        return total / share
''',
    "LocalResponseNormEven": '''
class LocalResponseNormEven(nn.Module):
    """``x / (k + alpha / size · Σ x²) ** beta`` over the ``size`` channels ``c − before`` … ``c + size − 1 − before``.

    ``nn.LocalResponseNorm`` centres an even window one channel earlier than ONNX's LRN
    (``before = (size − 1) // 2``); an odd one is the same in both.
    """

    def __init__(self, size: int, alpha: float, beta: float, k: float, before: int) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k, self.before = size, alpha, beta, k, before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squares = F.pad((x * x).unsqueeze(1), (0, 0, 0, 0, self.before, self.size - 1 - self.before))
        mean = F.avg_pool3d(squares, (self.size, 1, 1), stride=1).squeeze(1)
        return x / (self.k + self.alpha * mean) ** self.beta
''',
    "HardSigmoid": '''
class HardSigmoid(nn.Module):
    """``max(0, min(1, alpha · x + beta))``; ``nn.Hardsigmoid`` is alpha 1/6, beta 1/2."""

    def __init__(self, alpha: float, beta: float) -> None:
        super().__init__()
        self.alpha, self.beta = alpha, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.alpha * x + self.beta, 0.0, 1.0)
''',
    "ScaledELU": '''
class ScaledELU(nn.Module):
    """``gamma · ELU(x, alpha)``: SELU with other constants than ``nn.SELU``'s."""

    def __init__(self, alpha: float, gamma: float) -> None:
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * F.elu(x, self.alpha)
''',
}
"""Helper name → its class's source (the class is named as the key)."""
