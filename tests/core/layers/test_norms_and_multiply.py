"""LayerNorm, GroupNorm and Multiply: shape rules, costs, per-sample behaviour, and PyTorch as a reference.

The PyTorch comparisons run only where a CPU build of torch is installed in the
virtual environment; they compare forward and backward in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.model import Model
from core.errors import ShapeError
from core.graph.document import NetworkDocument
from core.layers import create_layer
from core.layers.base import IDENTITY_GEOMETRY
from core.ops.kernels import to_batch_major, to_channel_major
from tests.core.layers.networks import gated

NORMS = [
    ("LayerNorm", {}, (4, 5, 6)),
    ("LayerNorm", {"over": "all"}, (4, 5, 6)),
    ("LayerNorm", {}, (7,)),
    ("GroupNorm", {"groups": 2}, (4, 5, 6)),
    ("GroupNorm", {"groups": 3}, (6,)),
]


def single(type_name: str, params: dict, input_shape: tuple[int, ...]) -> NetworkDocument:
    document = NetworkDocument("test")
    entry = document.add_node("Input", {"shape": list(input_shape)}, name="input")
    document.chain(entry.id, [(type_name, params, "under_test")])
    return document


# -- rules ---------------------------------------------------------------------------------


def test_group_norm_says_which_groups_would_divide_the_channels():
    with pytest.raises(ShapeError, match=r"GroupNorm's 5 groups do not divide the 24 channels .* use 4 or 6 groups"):
        create_layer("GroupNorm", {"groups": 5}).output_shape([(24, 8, 8)])
    with pytest.raises(ShapeError, match=r"32 groups do not divide the 24 channels .*; use 24 groups"):
        create_layer("GroupNorm", {"groups": 32}).output_shape([(24, 8, 8)])
    with pytest.raises(
        ShapeError, match=r"the 3 channels .* use 3 groups \(a divisor of 3; 3 groups is InstanceNorm\)"
    ):
        create_layer("GroupNorm").output_shape([(3, 8, 8)])
    with pytest.raises(ShapeError, match=r"the 10 features; use 2 or 5 groups"):
        create_layer("GroupNorm", {"groups": 4}).output_shape([(10,)])


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ((3,), (3, 5, 5), "takes the map as input 1 and the per-channel gate as input 2.*swap the inputs"),
        ((3, 1, 1), (3, 5, 5), "swap the inputs"),
        ((3, 5, 5), (4, 1, 1), "gate has 4 channels but the map 3×5×5 has 3; make the layer computing the gate give 3"),
        ((3, 5, 5), (4,), "gate has 4 channels"),
        ((3, 5, 5), (3, 5, 4), "needs inputs of equal shape, or a C×H×W map and a gate"),
        ((3,), (4,), "input 1 is 3 features and input 2 is 4 features"),
    ],
)
def test_multiply_says_what_to_change(first, second, message):
    with pytest.raises(ShapeError, match=message):
        create_layer("Multiply").output_shape([first, second])


@pytest.mark.parametrize(
    ("shapes", "output"),
    [([(3, 5, 5), (3, 5, 5)], (3, 5, 5)), ([(3, 5, 5), (3, 1, 1)], (3, 5, 5)), ([(3, 5, 5), (3,)], (3, 5, 5))],
)
def test_multiply_broadcasts_a_per_channel_gate(shapes, output):
    layer = create_layer("Multiply")
    assert layer.output_shape(shapes) == output
    assert layer.macs(shapes, output) == 75 and layer.param_count(shapes).total == 0
    assert layer.spatial_geometry(shapes) == IDENTITY_GEOMETRY


@pytest.mark.parametrize(
    ("type_name", "params", "shape", "count", "description"),
    [
        ("LayerNorm", {}, (8, 4, 4), 16, "over channels"),
        ("LayerNorm", {"over": "all"}, (8, 4, 4), 256, "over C×H×W"),
        ("LayerNorm", {"over": "all"}, (10,), 20, "over C×H×W"),
        ("GroupNorm", {}, (8, 4, 4), 16, "4 groups"),
        ("GroupNorm", {"groups": 8}, (8, 4, 4), 16, "8 groups"),
    ],
)
def test_normalisations_learn_a_scale_and_shift_of_the_normalised_shape(type_name, params, shape, count, description):
    layer = create_layer(type_name, params)
    assert layer.output_shape([shape]) == shape
    assert layer.param_count([shape]).trainable == count and layer.param_count([shape]).non_trainable == 0
    assert layer.macs([shape], shape) == 2 * int(np.prod(shape))
    assert layer.spatial_geometry([shape]) == IDENTITY_GEOMETRY
    assert layer.describe() == description
    assert layer.passes_values_through and not layer.normalises_batches


# -- per-sample behaviour ------------------------------------------------------------------------


@pytest.mark.parametrize(("type_name", "params", "shape"), NORMS)
def test_per_sample_normalisations_compute_the_same_in_training_and_inference(type_name, params, shape):
    model = Model(single(type_name, params, shape), dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    model.params[...] = rng.standard_normal(model.params.size)
    assert model.buffers == {}
    x = rng.standard_normal((5, *shape)) * 3 + 2
    inference = model.forward(x)
    np.testing.assert_allclose(model.forward(x, training=True), inference, rtol=1e-12)
    np.testing.assert_allclose(model.forward(x, training=True), inference, rtol=1e-12)  # nothing was updated
    # Each sample is normalised on its own: the others in the batch change nothing.
    np.testing.assert_allclose(model.forward(x[2:3]), inference[2:3], rtol=1e-12)
    assert model.state_dict().keys() == {"under_test/gamma", "under_test/beta"}


@pytest.mark.parametrize(("type_name", "params", "shape"), NORMS)
def test_with_unit_scale_each_group_has_zero_mean_and_unit_variance(type_name, params, shape):
    model = Model(single(type_name, params, shape), dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((3, *shape)) * 5 - 1
    y = model.forward(x)
    if type_name == "GroupNorm":
        groups = y.reshape(3, params["groups"], -1)
    elif params.get("over") == "all" or len(shape) == 1:
        groups = y.reshape(3, -1)
    else:
        groups = np.moveaxis(y, 1, -1)  # the channels of each pixel
    np.testing.assert_allclose(groups.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(groups.var(axis=-1), 1, rtol=1e-3)  # ε keeps it just below 1


# -- PyTorch as the reference -----------------------------------------------------------------


def run_op(layer_type: str, params: dict, shapes: list[tuple[int, ...]], inputs, weights, grad):
    """Forward (training) and backward of one layer's op on batch-major float64 arrays."""
    op = create_layer(layer_type, params).build(shapes)
    for name, init in op.param_inits().items():
        op.params[name] = np.asarray(weights[name], np.float64).reshape(init.shape)
        op.grads[name] = np.zeros(init.shape)
    out = op.forward([to_channel_major(x) for x in inputs], training=True)
    input_grads = op.backward(to_channel_major(grad))
    return to_batch_major(out), [to_batch_major(g) for g in input_grads], {k: v.copy() for k, v in op.grads.items()}


def torch_reference(function, inputs, weights, grad):
    """``function(*inputs, **weights)`` in torch float64: output, input gradients, weight gradients."""
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    named = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in weights.items()}
    out = function(*tensors, **named)
    out.backward(torch.tensor(grad, dtype=torch.float64))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors], {k: t.grad.numpy() for k, t in named.items()}


def assert_same(ours, theirs):
    (out, input_grads, weight_grads), (ref_out, ref_input_grads, ref_weight_grads) = ours, theirs
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    for mine, reference in zip(input_grads, ref_input_grads, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-9, atol=1e-11)
    for key, reference in ref_weight_grads.items():
        np.testing.assert_allclose(weight_grads[key].reshape(reference.shape), reference, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(("over", "shape"), [("channels", (4, 5, 6)), ("all", (4, 5, 6)), ("channels", (7,))])
def test_layer_norm_matches_torch(over, shape):
    functional = pytest.importorskip("torch.nn.functional")
    rng = np.random.default_rng(3)
    x, grad = rng.standard_normal((3, *shape)) * 2 + 1, rng.standard_normal((3, *shape))
    normalised = shape[:1] if over == "channels" else shape
    weights = {"gamma": rng.standard_normal(normalised), "beta": rng.standard_normal(normalised)}

    def reference(x, gamma, beta):
        if over == "channels" and len(shape) == 3:  # ConvNeXt's: channels last
            return functional.layer_norm(x.permute(0, 2, 3, 1), normalised, gamma, beta, 1e-3).permute(0, 3, 1, 2)
        return functional.layer_norm(x, normalised, gamma, beta, 1e-3)

    ours = run_op("LayerNorm", {"over": over, "epsilon": 1e-3}, [shape], [x], weights, grad)
    assert_same(ours, torch_reference(reference, [x], weights, grad))


@pytest.mark.parametrize(("groups", "shape"), [(2, (4, 5, 6)), (4, (4, 3, 3)), (1, (4, 2, 3)), (3, (6,))])
def test_group_norm_matches_torch(groups, shape):
    functional = pytest.importorskip("torch.nn.functional")
    rng = np.random.default_rng(4)
    x, grad = rng.standard_normal((3, *shape)) * 2 - 1, rng.standard_normal((3, *shape))
    weights = {"gamma": rng.standard_normal(shape[0]), "beta": rng.standard_normal(shape[0])}

    def reference(x, gamma, beta):
        return functional.group_norm(x, groups, gamma, beta, 1e-4)

    ours = run_op("GroupNorm", {"groups": groups, "epsilon": 1e-4}, [shape], [x], weights, grad)
    assert_same(ours, torch_reference(reference, [x], weights, grad))


@pytest.mark.parametrize("gate", [(3, 4, 5), (3, 1, 1), (3,)])
def test_multiply_matches_torch(gate):
    pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, g, grad = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, *gate)), rng.standard_normal((2, 3, 4, 5))

    def reference(x, g):
        return x * (g[:, :, None, None] if g.ndim == 2 else g)

    ours = run_op("Multiply", {}, [(3, 4, 5), gate], [x, g], {}, grad)
    assert_same(ours, torch_reference(reference, [x, g], {}, grad))


def test_a_gated_network_trains_its_gate():
    model = Model(gated([("GlobalAvgPool2D", None), ("Dense", {"units": 3}), ("Sigmoid", None)]), dtype=np.float64)
    x = np.random.default_rng(6).standard_normal((2, *model.input_shape))
    out = model.forward(x, training=True)
    model.backward(np.ones_like(out), from_logits=False)
    gate = next(e for e in model.entries if e.layer == "gate1" and e.name == "weight")
    assert np.abs(model.grads[gate.start : gate.stop]).sum() > 0
