"""AdamW, RMSprop, gradient clipping, label smoothing and class weights against PyTorch and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.losses import balanced_class_weights, softmax_cross_entropy
from core.engine.optimizers import AdamW, RMSprop, clip_by_global_norm, make_optimizer
from core.errors import LayerwiseError

RNG = np.random.default_rng(3)
PARAMS = RNG.standard_normal(20).astype(np.float32)
GRADS = [RNG.standard_normal(20).astype(np.float32) for _ in range(6)]


def numpy_run(optimizer, lr=0.01):
    params = PARAMS.copy()
    for grad in GRADS:
        optimizer.step(params, grad.copy(), lr)
    return params


def torch_run(make, lr=0.01):
    torch = pytest.importorskip("torch")
    parameter = torch.nn.Parameter(torch.from_numpy(PARAMS.copy()))
    optimizer = make(torch, [parameter], lr)
    for grad in GRADS:
        parameter.grad = torch.from_numpy(grad.copy())
        optimizer.step()
    return parameter.detach().numpy()


@pytest.mark.parametrize("weight_decay", [0.0, 0.01, 0.3])
def test_adamw_steps_as_torch(weight_decay):
    ours = numpy_run(make_optimizer("adamw", weight_decay=weight_decay))
    theirs = torch_run(lambda torch, p, lr: torch.optim.AdamW(p, lr=lr, weight_decay=weight_decay))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_steps_as_torch(momentum):
    ours = numpy_run(make_optimizer("rmsprop", rmsprop_momentum=momentum))
    theirs = torch_run(lambda torch, p, lr: torch.optim.RMSprop(p, lr=lr, momentum=momentum))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_adamw_and_rmsprop_follow_their_formulas_written_out():
    """The fallback without torch: the updates of torch's documentation, in float64."""
    params = PARAMS.astype(np.float64)
    m = v = s = np.zeros(20)
    adamw, rms = params.copy(), params.copy()
    for t, g in enumerate(GRADS, start=1):
        g = g.astype(np.float64)
        adamw = adamw * (1 - 0.01 * 0.05)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        adamw = adamw - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        s = 0.99 * s + 0.01 * g * g
        rms = rms - 0.01 * g / (np.sqrt(s) + 1e-8)
    np.testing.assert_allclose(numpy_run(AdamW(weight_decay=0.05)), adamw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy_run(RMSprop()), rms, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_clipping_equals_clip_grad_norm(max_norm):
    grads = GRADS[0] * 3
    ours = grads.copy()
    norm = clip_by_global_norm(ours, max_norm)
    assert norm == pytest.approx(float(np.linalg.norm(grads.astype(np.float64))))
    expected = grads * min(1.0, max_norm / (norm + 1e-6))
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
    try:
        import torch
    except ImportError:
        return
    pieces = [torch.from_numpy(grads[:8].copy()), torch.from_numpy(grads[8:].copy())]
    tensors = [torch.nn.Parameter(torch.zeros(8)), torch.nn.Parameter(torch.zeros(12))]
    for tensor, piece in zip(tensors, pieces, strict=True):
        tensor.grad = piece
    theirs_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    np.testing.assert_allclose(ours, np.concatenate([t.grad.numpy() for t in tensors]), rtol=1e-6)
    assert norm == pytest.approx(float(theirs_norm), rel=1e-6)


LOGITS = RNG.standard_normal((7, 4)) * 2
LABELS = np.array([0, 1, 1, 3, 2, 1, 1])
WEIGHTS = np.array([0.5, 2.0, 1.0, 3.0])
LOSS_CASES = {
    "plain": {},
    "smoothed": {"label_smoothing": 0.1},
    "weighted": {"class_weights": WEIGHTS},
    "smoothed_weighted": {"label_smoothing": 0.2, "class_weights": WEIGHTS},
}


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_the_loss_and_its_gradient_are_torchs(case):
    torch = pytest.importorskip("torch")
    settings = LOSS_CASES[case]
    loss, grad = softmax_cross_entropy(LOGITS.copy(), LABELS, **settings)
    logits = torch.tensor(LOGITS, requires_grad=True)
    weight = settings.get("class_weights")
    theirs = torch.nn.functional.cross_entropy(
        logits,
        torch.from_numpy(LABELS),
        weight=None if weight is None else torch.from_numpy(weight),
        label_smoothing=settings.get("label_smoothing", 0.0),
    )
    theirs.backward()
    assert loss == pytest.approx(float(theirs.detach()), rel=1e-12)
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_the_gradient_is_the_numerical_gradient(case):
    settings = LOSS_CASES[case]
    _, grad = softmax_cross_entropy(LOGITS.copy(), LABELS, **settings)
    numerical = np.zeros_like(LOGITS)
    h = 1e-6
    for index in np.ndindex(LOGITS.shape):
        up, down = LOGITS.copy(), LOGITS.copy()
        up[index] += h
        down[index] -= h
        numerical[index] = (
            softmax_cross_entropy(up, LABELS, **settings)[0] - softmax_cross_entropy(down, LABELS, **settings)[0]
        ) / (2 * h)
    np.testing.assert_allclose(grad, numerical, rtol=1e-6, atol=1e-9)


def test_the_weighted_smoothed_loss_as_written_out():
    """Without torch: Σ_n [(1 − ε)·w_y·(−log p_y) + ε/K·Σ_k w_k·(−log p_k)] / Σ_n w_y."""
    eps = 0.2
    log_p = LOGITS - np.log(np.exp(LOGITS).sum(axis=1, keepdims=True))
    rows = np.arange(len(LABELS))
    per_sample = (1 - eps) * WEIGHTS[LABELS] * -log_p[rows, LABELS] + eps / 4 * (-(log_p * WEIGHTS)).sum(axis=1)
    expected = per_sample.sum() / WEIGHTS[LABELS].sum()
    loss, _ = softmax_cross_entropy(LOGITS, LABELS, label_smoothing=eps, class_weights=WEIGHTS)
    assert loss == pytest.approx(expected, rel=1e-12)
    plain, _ = softmax_cross_entropy(LOGITS, LABELS)
    assert softmax_cross_entropy(LOGITS, LABELS, class_weights=np.ones(4))[0] == pytest.approx(plain, rel=1e-12)


def test_balanced_weights_are_sklearns():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 0, 1])
    np.testing.assert_allclose(balanced_class_weights(labels, 3), [9 / (3 * 5), 9 / (3 * 3), 9 / (3 * 1)])
    with pytest.raises(LayerwiseError, match=r"class_weights 'balanced' needs every class .* class 3 has no sample"):
        balanced_class_weights(labels, 4)
