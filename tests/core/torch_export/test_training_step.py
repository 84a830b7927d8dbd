"""One training step of the generated module: the engine's loss, gradients and running statistics."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.losses import softmax_cross_entropy
from core.engine.model import Model
from core.examples import example_names, example_path
from core.graph.fileformat import load_network
from core.torch_export.project import torch_state
from tests.core.engine.test_gradients import CASES
from tests.core.onnx_io.helpers import randomize, relative_difference
from tests.core.torch_export.helpers import torch_twin

torch = pytest.importorskip("torch")
F = torch.nn.functional

BIG = {"vgg16", "alexnet"}
"""Examples whose float64 backward pass takes long; the forward test covers them."""


def engine_step(model: Model, x: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """The engine's training loss, cross-entropy on the scores (before a final Softmax or LogSoftmax, fused), and its gradient with respect to ``x``."""
    fused = model.logits_node is not model.output_node
    out = model.forward_logits(x, training=True) if fused else model.forward(x, training=True)
    loss, grad = softmax_cross_entropy(out.reshape(len(x), -1), labels)
    return loss, model.backward(grad.reshape(out.shape), from_logits=fused)


def torch_step(model: Model, module, x: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """The same loss in PyTorch, from the module's output, and its gradient with respect to ``x``."""
    inputs = torch.from_numpy(x).requires_grad_()
    out = module(inputs).reshape(len(x), -1)
    target = torch.from_numpy(labels)
    final = model.output_node.type_name
    if model.logits_node is not model.output_node:  # the engine reads the scores before it
        loss = F.nll_loss(torch.log(out) if final == "Softmax" else out, target)
    else:
        loss = F.cross_entropy(out, target)
    loss.backward()
    return float(loss.detach()), inputs.grad.numpy()


def check_one_step(model: Model, tmp_path) -> None:
    randomize(model)
    model.dropout_enabled = False
    module = torch_twin(model, tmp_path).train()
    for layer in module.modules():
        if isinstance(layer, torch.nn.Dropout):
            layer.p = 0.0  # switched off on both sides
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, *model.input_shape))
    labels = rng.integers(0, int(np.prod(model.output_shape)), 4)
    ours, our_input_grad = engine_step(model, x, labels)
    theirs, their_input_grad = torch_step(model, module, x, labels)
    assert abs(ours - theirs) <= 1e-4 * max(abs(theirs), 1.0)
    assert relative_difference(our_input_grad, their_input_grad) <= 1e-4
    gradients = torch_state(model, gradients=True)
    parameters = dict(module.named_parameters())
    assert set(parameters) <= set(gradients)
    for key, parameter in parameters.items():
        assert parameter.grad is not None, key
        assert relative_difference(gradients[key], parameter.grad.numpy()) <= 1e-4, key
    # BatchNorm's running statistics moved alike (momentum and the unbiased variance).
    buffers = dict(module.named_buffers())
    for key, value in torch_state(model).items():
        if key.endswith(("running_mean", "running_var")):
            assert relative_difference(value, buffers[key].numpy()) <= 1e-6, key


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_layer_case_trains_as_the_engine(case, tmp_path):
    check_one_step(Model(CASES[case], dtype=np.float64, seed=1), tmp_path)


@pytest.mark.parametrize("name", [name for name in example_names() if name not in BIG])
def test_every_example_trains_as_the_engine(name, tmp_path):
    check_one_step(Model(load_network(example_path(name)), dtype=np.float64, seed=1), tmp_path)
