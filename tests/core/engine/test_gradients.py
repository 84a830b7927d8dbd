"""Numerical gradient checks (float64) for every layer type and for whole networks."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.losses import mean_squared_error, softmax_cross_entropy
from core.engine.model import Model
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from core.layers import layer_types
from tests.core.layers.networks import gated

IMAGE = (4, 7, 6)
VECTOR = (5,)


def single(layer_type, params=None, input_shape=IMAGE):
    doc = NetworkDocument("check")
    entry = doc.add_node("Input", {"shape": list(input_shape)}, name="input")
    doc.chain(entry.id, [(layer_type, params, "under_test")])
    return doc


def merged(layer_type, shapes):
    """Input → one Conv2D/Dense per branch giving ``shapes`` → the merge layer."""
    image = len(shapes[0]) == 3
    doc = NetworkDocument("check")
    entry = doc.add_node("Input", {"shape": list(IMAGE if image else VECTOR)}, name="input")
    ends = []
    for index, shape in enumerate(shapes):
        params = {"filters": shape[0], "kernel_size": 3, "padding": 1} if image else {"units": shape[0]}
        ends.append(doc.chain(entry.id, [("Conv2D" if image else "Dense", params, f"branch{index}")]))
    doc.merge(layer_type, [e.id for e in ends], name="under_test")
    return doc


def split(parts, reads, input_shape=IMAGE):
    """Input → ChannelSplit into ``parts`` → Concat of its outputs ``reads`` (ports, in that order).

    A port read twice sums two gradients; a port not read gets none.
    """
    doc = NetworkDocument("check")
    entry = doc.add_node("Input", {"shape": list(input_shape)}, name="input")
    under_test = doc.chain(entry.id, [("ChannelSplit", {"parts": parts}, "under_test")])
    join = doc.add_node("Concat", name="join")
    for port in reads:
        doc.connect(under_test.id, join.id, source_port=port)
    return doc


CASES = {
    "conv_3x3_padded": single("Conv2D", {"filters": 3, "kernel_size": 3, "padding": 1}),
    "conv_strided_asymmetric": single(
        "Conv2D", {"filters": 2, "kernel_size": [3, 2], "stride": 2, "padding": [1, 0, 0, 1]}
    ),
    "conv_dilated": single("Conv2D", {"filters": 2, "kernel_size": 2, "dilation": 2, "padding": "same"}),
    "conv_grouped_no_bias": single("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 2, "bias": False}),
    "conv_depthwise": single("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 4, "padding": 1}),
    "conv_pointwise": single("Conv2D", {"filters": 3, "kernel_size": 1}),
    "conv_same_stride2": single("Conv2D", {"filters": 2, "kernel_size": 3, "stride": 2, "padding": "same"}),
    "depthwise_padded": single("DepthwiseConv2D", {"kernel_size": 3, "padding": 1}),
    "depthwise_multiplier_strided_dilated": single(
        "DepthwiseConv2D",
        {"kernel_size": [3, 2], "stride": 2, "dilation": [1, 2], "padding": [1, 0, 0, 1], "depth_multiplier": 2},
    ),
    "conv_transpose_stride2": single(
        "Conv2DTranspose", {"filters": 3, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}
    ),
    "conv_transpose_grouped_dilated_no_bias": single(
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": [2, 3], "stride": [1, 2], "dilation": 2, "groups": 2, "bias": False},
    ),
    "conv_transpose_same_stride1": single(
        "Conv2DTranspose", {"filters": 2, "kernel_size": 3, "stride": 1, "padding": "same"}
    ),
    "upsample_nearest": single("Upsample2D", {"scale": [2, 3]}),
    "upsample_nearest_size": single("Upsample2D", {"size": [14, 18]}),
    "pixel_shuffle_2": single("PixelShuffle"),
    "pixel_shuffle_3": single("PixelShuffle", {"upscale_factor": 3}, input_shape=(18, 3, 2)),
    "pad_constant": single("Pad2D", {"pads": [1, 2, 0, 3], "value": 0.5}),
    "pad_reflect": single("Pad2D", {"pads": [2, 1, 3, 2], "mode": "reflect"}),
    "pad_replicate": single("Pad2D", {"pads": [3, 0, 1, 4], "mode": "replicate"}),
    "maxpool_2x2": single("MaxPool2D", {"pool_size": 2, "stride": 2}),
    "maxpool_overlapping_padded": single("MaxPool2D", {"pool_size": 3, "stride": 2, "padding": 1}),
    "maxpool_ceil": single("MaxPool2D", {"pool_size": 2, "stride": 2, "ceil_mode": True}),
    "avgpool_padded": single("AvgPool2D", {"pool_size": 3, "stride": 2, "padding": 1}),
    "avgpool_count_pad_ceil": single(
        "AvgPool2D", {"pool_size": 2, "stride": 2, "padding": 1, "count_include_pad": True, "ceil_mode": True}
    ),
    "global_avgpool": single("GlobalAvgPool2D"),
    "global_avgpool_keepdims": single("GlobalAvgPool2D", {"keepdims": True}),
    "global_maxpool": single("GlobalMaxPool2D"),
    "global_maxpool_keepdims": single("GlobalMaxPool2D", {"keepdims": True}),
    "batchnorm_map": single("BatchNorm"),
    "batchnorm_vector": single("BatchNorm", input_shape=VECTOR),
    "layernorm_channels": single("LayerNorm"),
    "layernorm_all": single("LayerNorm", {"over": "all", "epsilon": 1e-3}),
    "layernorm_vector": single("LayerNorm", input_shape=VECTOR),
    "groupnorm_2_groups": single("GroupNorm", {"groups": 2}),
    "groupnorm_instance": single("GroupNorm", {"groups": 4}),
    "groupnorm_vector": single("GroupNorm", {"groups": 1}, input_shape=VECTOR),
    "scale_map": single("Scale"),
    "scale_vector": single("Scale", input_shape=VECTOR),
    "channel_shuffle": single("ChannelShuffle", {"groups": 2}),
    "channel_slice_map": single("ChannelSlice", {"start": 1, "stop": 3}),
    "channel_slice_vector": single("ChannelSlice", {"start": 2, "stop": 5}, input_shape=VECTOR),
    "channel_split_map_reordered_and_repeated": split(2, [1, 0, 1]),
    "channel_split_vector_one_part_unread": split(3, [2, 0], input_shape=(6,)),
    "lrn_odd": single("LRN", {"size": 3, "alpha": 0.5, "beta": 0.75, "bias": 1.5}),
    "lrn_even": single("LRN", {"size": 4, "alpha": 0.3, "beta": 0.6, "bias": 2.0}),
    "relu": single("ReLU"),
    "leaky_relu": single("LeakyReLU", {"alpha": 0.1}),
    "sigmoid": single("Sigmoid"),
    "tanh": single("Tanh"),
    "elu": single("ELU", {"alpha": 0.7}),
    "selu": single("SELU"),
    "selu_vector": single("SELU", {"alpha": 1.2, "gamma": 0.8}, input_shape=VECTOR),
    "hard_tanh": single("HardTanh", {"min_val": -0.5, "max_val": 1.2}),
    "relu6": single("ReLU6"),
    "prelu_map": single("PReLU"),
    "prelu_vector": single("PReLU", input_shape=VECTOR),
    # Flat below x = −0.8 and above 1.2, so both sides of both corners are sampled.
    "hard_sigmoid": single("HardSigmoid", {"alpha": 0.5, "beta": 0.4}),
    "hard_swish": single("HardSwish"),
    "silu": single("SiLU"),
    "gelu": single("GELU"),
    "gelu_tanh": single("GELU", {"approximate": "tanh"}),
    "softplus": single("Softplus"),
    "log_softmax_vector": single("LogSoftmax", input_shape=VECTOR),
    "log_softmax_map": single("LogSoftmax"),
    "softmax_vector": single("Softmax", input_shape=VECTOR),
    "softmax_map": single("Softmax"),
    "dropout": single("Dropout", {"rate": 0.3}),
    "add_three": merged("Add", [(3, 7, 6)] * 3),
    "concat_maps": merged("Concat", [(2, 7, 6), (3, 7, 6)]),
    "concat_vectors": merged("Concat", [(2,), (4,)]),
    "multiply_maps": merged("Multiply", [(3, 7, 6), (3, 7, 6)]),
    "multiply_vectors": merged("Multiply", [(4,), (4,)]),
    "multiply_channel_gate": gated(
        [("GlobalAvgPool2D", {"keepdims": True}), ("Conv2D", {"filters": 3, "kernel_size": 1})]
    ),
    "multiply_feature_gate": gated([("GlobalAvgPool2D", None), ("Dense", {"units": 3})]),
    "flatten": single("Flatten"),
    "dense": single("Dense", {"units": 3}, input_shape=VECTOR),
    "dense_no_bias": single("Dense", {"units": 3, "bias": False}, input_shape=VECTOR),
}


def test_every_layer_type_has_a_gradient_check():
    checked = {node.type_name for doc in CASES.values() for node in doc.nodes}
    assert {cls.type_name for cls in layer_types()} <= checked


def relative_error(a, b):
    # The floor keeps round-off (~1e-10 on an O(1) loss) from failing tiny gradients.
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-4)


def check_gradients(model, x, loss_and_grad, samples=25, seed=0):
    """Compare analytic parameter and input gradients with central differences."""
    rng = np.random.default_rng(seed)

    def loss():
        model.reseed(1)  # the same dropout mask in every evaluation
        return loss_and_grad(model)[0]

    model.reseed(1)
    _, grad_output, from_logits = loss_and_grad(model, with_grad=True)
    input_grad = model.backward(grad_output, from_logits=from_logits)
    analytic = model.grads.copy()
    eps = 1e-6
    for array, gradient in ((model.params, analytic), (x, input_grad)):
        count = min(samples, array.size)
        for index in rng.choice(array.size, size=count, replace=False):
            original = array.flat[index]
            array.flat[index] = original + eps
            up = loss()
            array.flat[index] = original - eps
            down = loss()
            array.flat[index] = original
            numeric = (up - down) / (2 * eps)
            assert relative_error(gradient.flat[index], numeric) < 1e-5, (index, gradient.flat[index], numeric)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_gradients(case):
    model = Model(CASES[case], dtype=np.float64, seed=3)
    rng = np.random.default_rng(4)
    # Layers whose parameters start at 1/0 (BatchNorm) get random ones, so every term matters.
    model.params[...] = rng.standard_normal(model.params.size)
    x = rng.standard_normal((3, *model.input_shape))
    weights = rng.standard_normal((3, *model.output_shape))

    def weighted_sum(m, with_grad=False):
        out = m.forward(x, training=True)
        value = float(np.sum(out * weights))
        return (value, weights, False) if with_grad else (value,)

    check_gradients(model, x, weighted_sum)


@pytest.mark.parametrize("example", ["lenet5", "resnet_block", "inception_block", "squeezenet_fire", "mlp"])
def test_whole_network_gradients_through_the_fused_loss(example):
    doc = load_network(example_path(example))
    # Shrink the inputs so float64 checks stay fast; the graph is unchanged.
    input_node = next(n for n in doc.nodes if n.type_name == "Input")
    shape = list(input_node.layer.params["shape"])
    if len(shape) == 3 and shape[1] > 16:
        doc.set_param(
            input_node.id, "shape", [shape[0], 16 if example != "lenet5" else 28, 16 if example != "lenet5" else 28]
        )
    tail = doc.node_by_name("concat") or doc.node_by_name("block2_out")
    if tail is not None:  # blocks end in a map: add a classifier head
        doc.chain(tail.id, [("GlobalAvgPool2D", None, "gap"), ("Dense", {"units": 4}, "head")])
    model = Model(doc, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, *model.input_shape))
    labels = rng.integers(0, model.output_shape[0], size=4)

    def cross_entropy(m, with_grad=False):
        loss, grad = softmax_cross_entropy(m.forward_logits(x, training=True), labels)
        return (loss, grad, True) if with_grad else (loss,)

    check_gradients(model, x, cross_entropy, samples=30)


def test_mse_gradient_through_a_final_softmax():
    model = Model(load_network(example_path("mlp")), dtype=np.float64, seed=0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, *model.input_shape))
    labels = np.array([1, 2, 3])

    def mse(m, with_grad=False):
        loss, grad = mean_squared_error(m.forward(x, training=True), labels)
        return (loss, grad, False) if with_grad else (loss,)

    check_gradients(model, x, mse)


def test_fused_cross_entropy_is_stable_and_correct():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    loss, grad = softmax_cross_entropy(logits, np.array([0, 2]))
    assert np.isfinite(loss) and loss == pytest.approx(np.log(3) / 2)
    assert np.allclose(grad.sum(axis=1), 0)


@pytest.mark.parametrize("params", [{"pool_size": 2, "stride": 2}, {"pool_size": 3, "stride": 2, "padding": 1}])
def test_max_pool_gives_a_tied_window_its_gradient_once(params):
    # After ReLU whole windows are often 0: each window must pass its gradient to one input only.
    model = Model(single("MaxPool2D", params), dtype=np.float64)
    x = np.zeros((2, *model.input_shape))
    out = model.forward(x, training=True)
    grad = np.ones_like(out)
    input_grad = model.backward(grad, from_logits=False)
    assert input_grad.sum() == grad.sum()
    assert set(np.unique(input_grad)) <= {0.0, 1.0, 2.0, 3.0, 4.0}
