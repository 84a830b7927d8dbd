"""ChannelSplit: one output per part, its shapes and messages, and the engine running several outputs."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.model import Model
from core.errors import LayerwiseError, ParamError, ShapeError
from core.graph.document import NetworkDocument
from core.layers import create_layer
from tests.core.engine.test_gradients import split


def split_network(input_shape, parts, reads):
    """Input → ChannelSplit(parts) → Concat of its outputs ``reads`` (ports, in that order)."""
    return split(parts, reads, input_shape)


def test_the_number_of_outputs_is_the_number_of_parts():
    assert create_layer("ChannelSplit", {"parts": 3}).output_count == 3
    assert create_layer("ChannelSlice", {"start": 0, "stop": 2}).output_count == 1
    assert create_layer("ChannelSplit").describe() == "2 parts"
    with pytest.raises(ParamError, match="parts"):
        create_layer("ChannelSplit", {"parts": 1})


def test_each_output_holds_one_equal_share_of_the_channels():
    layer = create_layer("ChannelSplit", {"parts": 3})
    assert layer.output_shapes([(12, 5, 4)]) == [(4, 5, 4)] * 3
    assert layer.output_shapes([(9,)]) == [(3,)] * 3
    assert layer.output_shape([(12, 5, 4)]) == (4, 5, 4)


def test_a_split_that_does_not_divide_says_which_parts_would():
    layer = create_layer("ChannelSplit", {"parts": 3})
    with pytest.raises(ShapeError) as caught:
        layer.output_shapes([(10, 4, 4)])
    assert str(caught.value) == (
        "ChannelSplit divides 10 channels into 3 parts; 10 is not a multiple of 3: set parts to 2 or 5"
    )
    with pytest.raises(ShapeError, match=r"7 features into 3 parts; .*set parts to 7$"):
        layer.output_shapes([(7,)])
    with pytest.raises(ShapeError, match="needs at least 2 channels to split, but its input has 1"):
        layer.output_shapes([(1, 4, 4)])


@pytest.mark.parametrize(("input_shape", "parts"), [((6, 3, 4), 2), ((6, 3, 4), 3), ((8,), 4)])
def test_forward_and_backward_match_torch_chunk(input_shape, parts):
    torch = pytest.importorskip("torch")
    reads = list(range(parts))[::-1]  # every part, the last first
    model = Model(split_network(input_shape, parts, reads), dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *input_shape))
    weights = rng.standard_normal((2, *model.output_shape))
    y = model.forward(x, training=True)
    grad = model.backward(weights, from_logits=False)

    tx = torch.tensor(x, requires_grad=True)
    chunks = torch.chunk(tx, parts, dim=1)
    expected = torch.cat([chunks[i] for i in reads], dim=1)
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12)


def test_an_unread_output_passes_no_gradient_and_a_repeated_one_passes_the_sum():
    model = Model(split_network((6, 2, 2), 3, [2, 2]), dtype=np.float64)
    x = np.arange(2 * 6 * 2 * 2, dtype=np.float64).reshape(2, 6, 2, 2)
    y = model.forward(x, training=True)
    np.testing.assert_array_equal(y, np.concatenate([x[:, 4:], x[:, 4:]], axis=1))
    grad = model.backward(np.ones_like(y), from_logits=False)
    assert np.all(grad[:, :4] == 0) and np.all(grad[:, 4:] == 2)


def test_any_output_can_be_read_by_itself():
    model = Model(split_network((6, 2, 2), 3, [0, 1, 2]), dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((2, 6, 2, 2))
    split_id = model.document.node_by_name("under_test").id
    np.testing.assert_array_equal(model.forward_output(x, split_id, 1), x[:, 2:4])
    np.testing.assert_array_equal(model.forward_to(x, [split_id])[split_id], x[:, 0:2])  # the first output
    with pytest.raises(LayerwiseError, match="has 3 output"):
        model.forward_output(x, split_id, 3)


def test_a_network_cannot_end_in_several_outputs():
    doc = NetworkDocument("open end")
    entry = doc.add_node("Input", {"shape": [4, 2, 2]}, name="input")
    doc.chain(entry.id, [("ChannelSplit", None, "split")])
    with pytest.raises(LayerwiseError, match="its output 'split' has 2: feed them into a layer that joins them"):
        Model(doc)
