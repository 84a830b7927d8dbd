"""What ``torch.onnx.export`` writes for modern building blocks imports, and computes what torch computes.

Runs only where a CPU build of torch is installed in the virtual environment; the
TorchScript exporter (``dynamo=False``) needs nothing else.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import pytest

from core.engine.model import Model
from core.onnx_io.importer import import_model

torch = pytest.importorskip("torch")
nn = torch.nn


class ChannelsLastLayerNorm(nn.Module):
    """ConvNeXt's LayerNorm: over the channels of each pixel, with the channels last."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=1e-6)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ChannelsLastLinear(nn.Module):
    """A pointwise Linear layer on a channels-last map (ConvNeXt's MLP, one layer of it)."""

    def __init__(self, channels: int, features: int, bias: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(channels, features, bias=bias)

    def forward(self, x):
        return self.linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt's block: depthwise 7×7, then LayerNorm → Linear → GELU → Linear → layer scale, channels last."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.expand, self.project = nn.Linear(channels, 4 * channels), nn.Linear(4 * channels, channels)
        self.layer_scale = nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x):
        y = self.norm(self.depthwise(x).permute(0, 2, 3, 1))
        y = self.project(nn.functional.gelu(self.expand(y))).permute(0, 3, 1, 2)
        return x + self.layer_scale * y


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation with 1×1 convolutions (torchvision's) or with Linear layers and a view."""

    def __init__(self, channels: int, linear: bool) -> None:
        super().__init__()
        self.linear = linear
        squeezed = max(channels // 2, 1)
        if linear:
            self.reduce, self.expand = nn.Linear(channels, squeezed), nn.Linear(squeezed, channels)
        else:
            self.reduce, self.expand = nn.Conv2d(channels, squeezed, 1), nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        pooled = nn.functional.adaptive_avg_pool2d(x, 1)
        if self.linear:
            pooled = pooled.flatten(1)
        gate = torch.sigmoid(self.expand(torch.relu(self.reduce(pooled))))
        return x * (gate.view(x.shape[0], -1, 1, 1) if self.linear else gate)


def exported(module: nn.Module, shape: tuple[int, ...], opset: int) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(module, torch.zeros(1, *shape), buffer, opset_version=opset, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def randomized(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.5 + (1 if parameter.ndim == 1 else 0))
    return module.eval()


CONVNEXT_LAYERS = [
    ("DepthwiseConv2D", {}), ("LayerNorm", {"over": "channels", "epsilon": 1e-6}), ("Conv2D", {}), ("GELU", {}),
    ("Conv2D", {}), ("Scale", {}), ("Add", {}),
]  # fmt: skip

MODULES = {
    "GroupNorm": (lambda: nn.GroupNorm(2, 6), (6, 5, 4), [("GroupNorm", {"groups": 2, "epsilon": 1e-5})]),
    "GroupNorm of one group": (lambda: nn.GroupNorm(1, 4), (4, 3, 3), [("GroupNorm", {"groups": 1, "epsilon": 1e-5})]),
    "InstanceNorm2d": (
        lambda: nn.InstanceNorm2d(4, affine=True),
        (4, 5, 5),
        [("GroupNorm", {"groups": 4, "epsilon": 1e-5})],
    ),
    "channels-last LayerNorm": (
        lambda: ChannelsLastLayerNorm(6),
        (6, 4, 5),
        [("LayerNorm", {"over": "channels", "epsilon": 1e-6})],
    ),
    "ConvNeXt block": (
        lambda: ConvNeXtBlock(4),
        (4, 6, 5),
        CONVNEXT_LAYERS,
    ),
    "LayerNorm over C×H×W": (
        lambda: nn.LayerNorm([3, 4, 5]),
        (3, 4, 5),
        [("LayerNorm", {"over": "all", "epsilon": 1e-5})],
    ),
    "channels-last Linear": (
        lambda: ChannelsLastLinear(4, 6, bias=True),
        (4, 3, 5),
        [("Conv2D", {"filters": 6, "kernel_size": (1, 1), "bias": True})],
    ),
    "channels-last Linear without bias": (
        lambda: ChannelsLastLinear(4, 6, bias=False),
        (4, 3, 5),
        [("Conv2D", {"filters": 6, "kernel_size": (1, 1), "bias": False})],
    ),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), (8, 3, 4), [("PixelShuffle", {"upscale_factor": 2})]),
    "PixelShuffle by 3": (lambda: nn.PixelShuffle(3), (18, 2, 3), [("PixelShuffle", {"upscale_factor": 3})]),
    "SELU": (lambda: nn.SELU(), (3, 4, 4), [("SELU", {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805})]),
    "Hardtanh": (lambda: nn.Hardtanh(-0.5, 2.0), (3, 4, 4), [("HardTanh", {"min_val": -0.5, "max_val": 2.0})]),
    "Softmin": (lambda: nn.Softmin(dim=1), (6,), [("Scale", {}), ("Softmax", {})]),
    "squeeze-and-excitation": (
        lambda: SqueezeExcitation(4, linear=False),
        (4, 5, 5),
        [("GlobalAvgPool2D", {}), ("Conv2D", {}), ("ReLU", {}), ("Conv2D", {}), ("Sigmoid", {}), ("Multiply", {})],
    ),
    "squeeze-and-excitation with Linear": (
        lambda: SqueezeExcitation(4, linear=True),
        (4, 5, 5),
        [("GlobalAvgPool2D", {}), ("Dense", {}), ("ReLU", {}), ("Dense", {}), ("Sigmoid", {}), ("Multiply", {})],
    ),
}


@pytest.mark.parametrize("opset", [9, 11, 17, 18])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_torch_export_imports_as_the_layer(name, opset):
    build, shape, expected = MODULES[name]
    module = randomized(build())
    imported = import_model(exported(module, shape, opset))
    layers = [(node.type_name, dict(node.layer.params)) for node in Model(imported.document).order[1:]]
    assert [
        (type_name, {k: params[k] for k in wanted}) for (type_name, params), (_, wanted) in zip(layers, expected)
    ] == [(type_name, wanted) for type_name, wanted in expected]
    assert len(layers) == len(expected)
    model = Model(imported.document, dtype=np.float64)
    model.load_state_dict({key: value.astype(np.float64) for key, value in imported.weights.items()})
    x = np.random.default_rng(1).standard_normal((3, *shape))
    with torch.no_grad():
        reference = module.double()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(model.forward(x), reference, rtol=1e-5, atol=1e-5)
