"""The new activations compute what torch.nn.functional does, forward and backward, in float64.

Skipped where PyTorch is not installed (it is no dependency).
"""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.model import Model
from core.graph.document import NetworkDocument

torch = pytest.importorskip("torch")
F = torch.nn.functional

REFERENCES = {
    "ReLU6": ({}, F.relu6),
    "PReLU": ({}, F.prelu),
    "HardSigmoid": ({}, F.hardsigmoid),
    "HardSwish": ({}, F.hardswish),
    "SiLU": ({}, F.silu),
    "GELU": ({}, lambda x: F.gelu(x, approximate="none")),
    "GELU-tanh": ({"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
    "Softplus": ({}, F.softplus),
    "SELU": ({}, F.selu),
    "HardTanh": ({}, F.hardtanh),
    "HardTanh-asymmetric": ({"min_val": -0.5, "max_val": 3.0}, lambda x: F.hardtanh(x, -0.5, 3.0)),
    "LogSoftmax": ({}, lambda x: F.log_softmax(x, dim=1)),
}
"""Layer configuration and the PyTorch function (PReLU's takes the slopes too)."""


@pytest.mark.parametrize("shape", [(3, 5, 4), (7,)], ids=["map", "features"])
@pytest.mark.parametrize("case", list(REFERENCES))
def test_forward_and_backward_match_pytorch(case, shape):
    params, reference = REFERENCES[case]
    type_name = case.split("-")[0]
    document = NetworkDocument("against torch")
    entry = document.add_node("Input", {"shape": list(shape)}, name="input")
    document.chain(entry.id, [(type_name, params, "act")])
    model = Model(document, dtype=np.float64)
    rng = np.random.default_rng(0)
    model.params[...] = rng.uniform(-0.5, 0.5, model.params.size)  # PReLU's slopes, per channel
    # ±8 covers every piece; Softplus stays below PyTorch's threshold of 20, where it turns linear.
    x = rng.uniform(-8, 8, (4, *shape))
    grad_output = rng.standard_normal((4, *shape))

    ours = model.forward(x, training=True)
    ours_grad = model.backward(grad_output, from_logits=False)

    x_torch = torch.tensor(x, requires_grad=True)
    slopes = torch.tensor(model.params.copy(), requires_grad=True)
    theirs = reference(x_torch, slopes) if type_name == "PReLU" else reference(x_torch)
    theirs.backward(torch.tensor(grad_output))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to single precision (1.0f / 6.0f),
    # even in float64: a relative difference of 3e-8.
    np.testing.assert_allclose(
        ours_grad, x_torch.grad.numpy(), rtol=1e-7 if case == "HardSigmoid" else 1e-10, atol=1e-12
    )
    if type_name == "PReLU":
        np.testing.assert_allclose(model.grads, slopes.grad.numpy(), rtol=1e-10, atol=1e-12)
