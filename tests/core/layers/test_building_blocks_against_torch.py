"""Depthwise and transposed convolutions, up-sampling, padding and pooling compute what
torch.nn.functional does, forward and backward (input and weights), in float64.

Skipped where PyTorch is not installed (it is no dependency).
"""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.model import Model
from core.graph.document import NetworkDocument

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPE = (4, 7, 6)

REFERENCES = {
    "depthwise 3×3, padded": (
        "DepthwiseConv2D",
        {"kernel_size": 3, "padding": 1},
        lambda x, p: F.conv2d(x, p["weight"], p["bias"], padding=1, groups=4),
    ),
    "depthwise ×2, strided, asymmetric": (
        "DepthwiseConv2D",
        {"kernel_size": [3, 2], "stride": 2, "padding": [1, 0, 0, 1], "depth_multiplier": 2, "bias": False},
        lambda x, p: F.conv2d(F.pad(x, (0, 1, 1, 0)), p["weight"], stride=2, groups=4),
    ),
    "depthwise dilated, asymmetric": (
        "DepthwiseConv2D",
        {"kernel_size": [2, 3], "dilation": [2, 1], "padding": [0, 2, 1, 0]},
        lambda x, p: F.conv2d(F.pad(x, (2, 0, 0, 1)), p["weight"], p["bias"], dilation=(2, 1), groups=4),
    ),
    "depthwise ×3, dilated, same": (
        "DepthwiseConv2D",
        {"kernel_size": 3, "dilation": 2, "padding": "same", "depth_multiplier": 3},
        lambda x, p: F.conv2d(x, p["weight"], p["bias"], padding=2, dilation=2, groups=4),
    ),
    "transposed 2×2, stride 2": (
        "Conv2DTranspose",
        {"filters": 3},
        lambda x, p: F.conv_transpose2d(x, p["weight"], p["bias"], stride=2),
    ),
    "transposed 3×3, padded, output padding": (
        "Conv2DTranspose",
        {"filters": 5, "kernel_size": 3, "padding": 1, "output_padding": 1},
        lambda x, p: F.conv_transpose2d(x, p["weight"], p["bias"], stride=2, padding=1, output_padding=1),
    ),
    "transposed grouped, dilated, stride 1×3": (
        "Conv2DTranspose",
        {"filters": 6, "kernel_size": [2, 3], "stride": [1, 3], "dilation": 2, "groups": 2, "output_padding": [1, 2]},
        lambda x, p: F.conv_transpose2d(
            x, p["weight"], p["bias"], stride=(1, 3), dilation=2, groups=2, output_padding=(1, 2)
        ),
    ),
    "transposed 4×4, stride 1": (
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 4, "stride": 1, "padding": 1, "bias": False},
        lambda x, p: F.conv_transpose2d(x, p["weight"], padding=1),
    ),
    "nearest ×2": ("Upsample2D", {}, lambda x, p: F.interpolate(x, scale_factor=2, mode="nearest")),
    "nearest 3×2": ("Upsample2D", {"scale": [3, 2]}, lambda x, p: F.interpolate(x, scale_factor=(3, 2))),
    "nearest to 11×15": ("Upsample2D", {"size": [11, 15]}, lambda x, p: F.interpolate(x, size=(11, 15))),
    "bilinear ×2": (
        "Upsample2D",
        {"mode": "bilinear"},
        lambda x, p: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
    ),
    "bilinear 3×4": (
        "Upsample2D",
        {"mode": "bilinear", "scale": [3, 4]},
        lambda x, p: F.interpolate(x, scale_factor=(3, 4), mode="bilinear", align_corners=False),
    ),
    "bilinear to 10×13": (
        "Upsample2D",
        {"mode": "bilinear", "size": [10, 13]},
        lambda x, p: F.interpolate(x, size=(10, 13), mode="bilinear", align_corners=False),
    ),
    "pixel shuffle ×2": ("PixelShuffle", {}, lambda x, p: F.pixel_shuffle(x, 2)),
    "pad constant": (
        "Pad2D",
        {"pads": [1, 2, 0, 3], "value": 0.5},
        lambda x, p: F.pad(x, (2, 3, 1, 0), value=0.5),
    ),
    "pad reflect": ("Pad2D", {"pads": [2, 1, 3, 5], "mode": "reflect"}, lambda x, p: F.pad(x, (1, 5, 2, 3), "reflect")),
    "pad replicate": (
        "Pad2D",
        {"pads": [3, 0, 1, 4], "mode": "replicate"},
        lambda x, p: F.pad(x, (0, 4, 3, 1), "replicate"),
    ),
    "max pool dilated": (
        "MaxPool2D",
        {"pool_size": 2, "stride": 1, "dilation": 2, "padding": 1},
        lambda x, p: F.max_pool2d(x, 2, stride=1, padding=1, dilation=2),
    ),
    "max pool dilated, ceil": (
        "MaxPool2D",
        {"pool_size": 2, "stride": 2, "dilation": [2, 3], "ceil_mode": True},
        lambda x, p: F.max_pool2d(x, 2, stride=2, dilation=(2, 3), ceil_mode=True),
    ),
    "global max pool": ("GlobalMaxPool2D", {}, lambda x, p: F.adaptive_max_pool2d(x, 1).flatten(1)),
    "global max pool, keepdims": ("GlobalMaxPool2D", {"keepdims": True}, lambda x, p: F.adaptive_max_pool2d(x, 1)),
}
"""Layer type, configuration, and the PyTorch function of the input and the weights by name."""


@pytest.mark.parametrize("case", list(REFERENCES))
def test_forward_and_backward_match_pytorch(case):
    type_name, params, reference = REFERENCES[case]
    document = NetworkDocument("against torch")
    entry = document.add_node("Input", {"shape": list(SHAPE)}, name="input")
    document.chain(entry.id, [(type_name, params, "layer")])
    model = Model(document, dtype=np.float64)
    rng = np.random.default_rng(0)
    model.params[...] = rng.standard_normal(model.params.size)
    x = rng.standard_normal((3, *SHAPE))

    ours = model.forward(x, training=True)
    grad_output = rng.standard_normal(ours.shape)
    ours_grad = model.backward(grad_output, from_logits=False)

    x_torch = torch.tensor(x, requires_grad=True)
    weights = {key.split("/")[1]: torch.tensor(value, requires_grad=True) for key, value in model.state_dict().items()}
    theirs = reference(x_torch, weights)
    theirs.backward(torch.tensor(grad_output))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours_grad, x_torch.grad.numpy(), rtol=1e-12, atol=1e-12)
    ours_weights = {entry.key.split("/")[1]: model.grads[entry.start : entry.stop] for entry in model.entries}
    for key, tensor in weights.items():
        np.testing.assert_allclose(ours_weights[key].reshape(tensor.shape), tensor.grad.numpy(), rtol=1e-12, atol=1e-12)
