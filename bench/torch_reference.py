"""Build the PyTorch twin of a Layerwise network, with the same weights.

Used by the benchmarks to time PyTorch on exactly the same network, and to check
first that both compute the same outputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.engine.model import Model
from core.graph.document import Node


def _padding(pads: tuple[int, int, int, int]) -> tuple[nn.Module | None, tuple[int, int]]:
    top, left, bottom, right = pads
    if (top, left) == (bottom, right):
        return None, (top, left)
    return nn.ZeroPad2d((left, right, top, bottom)), (0, 0)


def _module(node: Node, model: Model) -> nn.Module:
    layer, op = node.layer, model.ops[node.id]
    p = layer.params
    kind = node.type_name
    if kind == "Conv2D":
        window = op.window
        pad, symmetric = _padding(window.pads)
        conv = nn.Conv2d(
            op.channels, op.filters, window.kernel, window.stride, symmetric, window.dilation, op.groups, op.use_bias
        )
        return nn.Sequential(pad, conv) if pad else conv
    if kind in ("MaxPool2D", "AvgPool2D"):
        window = op.window
        top, left, bottom, right = window.pads
        if (top, left) != (bottom, right):
            raise NotImplementedError("asymmetric pooling padding")
        if kind == "MaxPool2D":
            return nn.MaxPool2d(window.kernel, window.stride, (top, left), ceil_mode=p["ceil_mode"])
        return nn.AvgPool2d(
            window.kernel,
            window.stride,
            (top, left),
            ceil_mode=p["ceil_mode"],
            count_include_pad=p["count_include_pad"],
        )
    if kind == "GlobalAvgPool2D":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Identity() if p["keepdims"] else nn.Flatten())
    if kind == "BatchNorm":
        channels = model.shapes[node.id][0]
        norm = nn.BatchNorm2d if len(model.shapes[node.id]) == 3 else nn.BatchNorm1d
        return norm(channels, eps=p["epsilon"], momentum=1 - p["momentum"])
    if kind == "Dense":
        return nn.Linear(op.features, op.units, bias=op.use_bias)
    simple = {
        "ReLU": lambda: nn.ReLU(),
        "LeakyReLU": lambda: nn.LeakyReLU(p["alpha"]),
        "Sigmoid": lambda: nn.Sigmoid(),
        "Tanh": lambda: nn.Tanh(),
        "ELU": lambda: nn.ELU(p["alpha"]),
        "Softmax": lambda: nn.Softmax(dim=1),
        "Dropout": lambda: nn.Dropout(p["rate"]),
        "Flatten": lambda: nn.Flatten(),
        "LRN": lambda: nn.LocalResponseNorm(p["size"], p["alpha"], p["beta"], p["bias"]),
    }
    return simple[kind]()


class TorchTwin(nn.Module):
    """Runs the document's graph with PyTorch modules, in the same topological order."""

    def __init__(self, model: Model, channels_last: bool = False) -> None:
        super().__init__()
        self.model = model
        self.nodes = [n for n in model.order if n.type_name != "Input"]
        self.layers = nn.ModuleDict(
            {n.id: _module(n, model) for n in self.nodes if n.type_name not in ("Add", "Concat")}
        )
        self.channels_last = channels_last
        self._copy_weights()

    def _copy_weights(self) -> None:
        for node in self.nodes:
            if node.id not in self.layers:
                continue
            module = self.layers[node.id]
            target = module[-1] if isinstance(module, nn.Sequential) and node.type_name == "Conv2D" else module
            op = self.model.ops[node.id]
            with torch.no_grad():
                for name, value in op.params.items():
                    torch_name = {"gamma": "weight", "beta": "bias"}.get(name, name)
                    getattr(target, torch_name).copy_(torch.from_numpy(np.array(value)))

    def _run(self, x: torch.Tensor, stop_at: Node) -> torch.Tensor:
        values = {self.model.input_node.id: x}
        for node in self.nodes:
            inputs = [values[s] for s in self.model.sources[node.id]]
            if node.type_name == "Add":
                values[node.id] = torch.stack(inputs).sum(0)
            elif node.type_name == "Concat":
                values[node.id] = torch.cat(inputs, dim=1)
            else:
                values[node.id] = self.layers[node.id](inputs[0])
            if node is stop_at:
                return values[node.id]
        raise AssertionError("stop node not reached")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, self.model.output_node)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Output before a final Softmax (what cross-entropy reads)."""
        return self._run(x, self.model.logits_node)
