"""Full circle: a PyTorch model → torch.onnx.export → Layerwise's import → export-pytorch gives PyTorch's logits."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import pytest

from core.engine.model import Model
from core.onnx_io.importer import import_model
from core.torch_export.project import write_torch_project
from tests.core.onnx_io.helpers import relative_difference
from tests.core.torch_export.helpers import import_generated

torch = pytest.importorskip("torch")
nn = torch.nn


class BasicBlock(nn.Module):
    """ResNet's basic block, with a strided 1×1 projection shortcut when the shape changes."""

    def __init__(self, channels: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(channels, width, 1, stride, bias=False), nn.BatchNorm2d(width))
            if stride != 1 or channels != width
            else nn.Identity()
        )

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet in miniature: stem, max pooling, two stages of basic blocks, global pooling, classifier."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.stage1 = BasicBlock(8, 8, 1)
        self.stage2 = BasicBlock(8, 16, 2)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        y = self.stage2(self.stage1(self.pool(self.stem(x))))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def test_a_torch_model_comes_back_with_its_logits(tmp_path):
    torch.manual_seed(0)
    original = SmallResNet()
    with torch.no_grad():  # statistics and affine terms that show in the output
        for module in original.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    original.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(original, torch.zeros(1, 3, 16, 16), buffer, opset_version=17, dynamo=False)
    imported = import_model(onnx.load_from_string(buffer.getvalue()), "small resnet")
    model = Model(imported.document)
    model.load_state_dict(imported.weights)
    write_torch_project(model, tmp_path / "project")
    exported = import_generated(tmp_path / "project").build_model().eval()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32))
    with torch.no_grad():
        expected, got = original(x).numpy(), exported(x).numpy()
    assert got.shape == (4, 10)
    assert relative_difference(got, expected) <= 1e-4
