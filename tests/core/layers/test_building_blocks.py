"""Rules of the depthwise and transposed convolutions, up-sampling, padding, dilated and global max pooling.

Shapes against the published formulas, the errors that say what to change, and what the
registry-wide tables cannot hold: configurations that only opset 10 or 11 and later can
write (bilinear and fractional up-sampling, dilated max pooling), checked for gradients,
ONNX round trips and onnxruntime here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.engine.model import Model
from core.errors import LayerwiseError, ParamError, ShapeError
from core.graph.document import NetworkDocument
from core.layers import create_layer
from core.onnx_io.export import export_model
from core.onnx_io.importer import import_model
from core.ops.resampling import bilinear_taps, nearest_taps, pad_sources
from tests.core.engine.test_gradients import check_gradients
from tests.core.onnx_io.helpers import randomize, relative_difference, run_onnx
from tests.core.onnx_io.test_round_trip import chain, layers_of, layers_read_back


def single(layer_type, params, input_shape=(3, 7, 6)):
    document = NetworkDocument("building block")
    entry = document.add_node("Input", {"shape": list(input_shape)}, name="input")
    document.chain(entry.id, [(layer_type, params, "under_test")])
    return document


# -- shapes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad", "dilation", "extra"),
    [
        case
        for case in itertools.product([1, 4, 7], [1, 2, 3], [1, 2, 3], [0, 1], [1, 2], [0, 1])
        if case[5] < max(case[2], case[4])
    ],
)
def test_transposed_output_size_is_the_published_formula(size, kernel, stride, pad, dilation, extra):
    expected = (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + extra + 1
    params = {"filters": 2, "kernel_size": kernel, "stride": stride, "padding": pad, "dilation": dilation}
    layer = create_layer("Conv2DTranspose", {**params, "output_padding": extra})
    if expected < 1:
        with pytest.raises(ShapeError, match="leaves no output"):
            layer.output_shape([(3, size, size)])
        return
    assert layer.output_shape([(3, size, size)]) == (2, expected, expected)
    # It inverts the shape rule of the convolution with the same settings (output padding of a
    # stride or more, which dilation allows, makes room for one more convolution window).
    conv = create_layer("Conv2D", params)
    assert conv.output_shape([(2, expected, expected)])[1] == size + extra // stride


def test_transposed_same_padding_multiplies_the_size_by_the_stride():
    layer = create_layer("Conv2DTranspose", {"filters": 2, "kernel_size": 4, "stride": [2, 3], "padding": "same"})
    assert layer.output_shape([(3, 5, 7)]) == (2, 10, 21)
    assert layer.onnx_round_trip([(3, 5, 7)], 17).params["padding"] == (1, 0, 1, 1)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"stride": 2, "output_padding": 2},
            "output_padding 2 along the height must be smaller than its stride 2 or dilation 1",
        ),
        (
            {"kernel_size": 1, "stride": 2, "padding": "same"},
            "'same' padding needs a kernel span of at least the stride",
        ),
        ({"kernel_size": 2, "stride": 1, "padding": 1}, "padding 1\\+1 along the height leaves no output"),
        ({"groups": 2, "filters": 4}, "groups=2 must divide the 3 input channels"),
    ],
)
def test_transposed_shape_errors_say_what_to_change(params, message):
    with pytest.raises(ShapeError, match=message):
        create_layer("Conv2DTranspose", {"filters": 2, **params}).output_shape([(3, 1, 4)])


def test_transposed_weights_params_and_macs():
    layer = create_layer("Conv2DTranspose", {"filters": 6, "kernel_size": 3, "stride": 2, "groups": 2})
    assert layer.weight_shape((4, 5, 5)) == (4, 3, 3, 3)
    assert layer.param_count([(4, 5, 5)]).trainable == 4 * 3 * 9 + 6
    assert layer.macs([(4, 5, 5)], layer.output_shape([(4, 5, 5)])) == 4 * 25 * 3 * 9
    with pytest.raises(ParamError, match="must divide filters"):
        create_layer("Conv2DTranspose", {"filters": 5, "groups": 2})


def test_depthwise_shapes_params_and_macs():
    layer = create_layer("DepthwiseConv2D", {"kernel_size": 3, "stride": 2, "padding": "same", "depth_multiplier": 2})
    shape = layer.output_shape([(5, 9, 8)])
    assert shape == (10, 5, 4)
    assert layer.weight_shape((5, 9, 8)) == (10, 1, 3, 3)
    assert layer.param_count([(5, 9, 8)]).trainable == 10 * 9 + 10
    assert layer.macs([(5, 9, 8)], shape) == 10 * 5 * 4 * 9
    assert layer.inside_views() == ("filters",)
    assert layer.describe() == "3×3, stride 2, pad same, ×2 per channel"


@pytest.mark.parametrize(("stride", "multiplier"), [(1, 1), (1, 2), (2, 1)])  # taps on the grid, grouped GEMM
def test_depthwise_computes_what_a_conv2d_with_one_group_per_channel_computes(stride, multiplier):
    params = {"kernel_size": [3, 2], "stride": stride, "padding": [1, 0, 2, 1], "dilation": [1, 2]}
    depthwise = Model(single("DepthwiseConv2D", {**params, "depth_multiplier": multiplier}), dtype=np.float64, seed=1)
    grouped = Model(single("Conv2D", {**params, "filters": 3 * multiplier, "groups": 3}), dtype=np.float64, seed=1)
    randomize(depthwise)
    grouped.params[...] = depthwise.params
    x = np.random.default_rng(2).standard_normal((4, 3, 7, 6))
    np.testing.assert_allclose(depthwise.forward(x, training=True), grouped.forward(x, training=True), atol=1e-12)
    grad = np.random.default_rng(3).standard_normal((4, *depthwise.output_shape))
    np.testing.assert_allclose(depthwise.backward(grad, False), grouped.backward(grad, False), atol=1e-12)
    np.testing.assert_allclose(depthwise.grads, grouped.grads, atol=1e-12)


def test_upsample_shapes_and_errors():
    assert create_layer("Upsample2D", {"scale": [2, 3]}).output_shape([(4, 5, 6)]) == (4, 10, 18)
    assert create_layer("Upsample2D", {"size": [7, 6]}).output_shape([(4, 5, 6)]) == (4, 7, 6)
    assert create_layer("Upsample2D", {"mode": "bilinear"}).macs([(1, 2, 2)], (1, 4, 4)) == 64
    with pytest.raises(ShapeError, match="size 4 along the height is smaller than its input's 5; it only enlarges"):
        create_layer("Upsample2D", {"size": [4, 6]}).output_shape([(4, 5, 6)])
    with pytest.raises(ParamError, match="must give both height and width, or 0 to use scale"):
        create_layer("Upsample2D", {"size": [4, 0]})


def test_interpolation_taps():
    assert nearest_taps(3, 7).indices[0].tolist() == [0, 0, 0, 1, 1, 2, 2]
    taps = bilinear_taps(2, 4)  # x = -0.25, 0.25, 0.75, 1.25 → clamped to 0 and to the last row
    assert [t.tolist() for t in taps.indices] == [[0, 0, 0, 1], [1, 1, 1, 1]]
    assert [t.tolist() for t in taps.weights] == [[1.0, 0.75, 0.25, 0.75], [0.0, 0.25, 0.75, 0.25]]
    assert pad_sources(4, 2, 3, "reflect").tolist() == [2, 1, 0, 1, 2, 3, 2, 1, 0]
    assert pad_sources(4, 2, 1, "replicate").tolist() == [0, 0, 0, 1, 2, 3, 3]
    assert pad_sources(2, 1, 1, "constant").tolist() == [-1, 0, 1, -1]


def test_pixel_shuffle_shapes_and_errors():
    layer = create_layer("PixelShuffle", {"upscale_factor": 3})
    assert layer.output_shape([(18, 4, 5)]) == (2, 12, 15)
    assert layer.describe() == "×3" and layer.macs([(18, 4, 5)], (2, 12, 15)) == 0
    with pytest.raises(
        ShapeError,
        match=r"PixelShuffle with factor 3 needs channels divisible by 9; the input has 16: "
        r"give it a multiple of 9 \(such as 18\), or change the factor",
    ):
        layer.output_shape([(16, 4, 5)])
    with pytest.raises(ShapeError, match="PixelShuffle needs a C×H×W map as its input"):
        layer.output_shape([(18,)])


def test_pixel_shuffle_moves_each_channel_to_its_place_in_the_block():
    # Channel c·r² + i·r + j fills the pixels (h·r + i, w·r + j) of output channel c.
    model = Model(single("PixelShuffle", {}, input_shape=(8, 2, 3)), dtype=np.float64)
    x = np.arange(2 * 8 * 2 * 3, dtype=np.float64).reshape(2, 8, 2, 3)
    y = model.forward(x)
    for c, i, j, h, w in itertools.product(range(2), range(2), range(2), range(2), range(3)):
        assert y[1, c, 2 * h + i, 2 * w + j] == x[1, 4 * c + 2 * i + j, h, w]


def test_pad_shapes_and_errors():
    layer = create_layer("Pad2D", {"pads": [1, 2, 3, 4], "mode": "reflect"})
    assert layer.output_shape([(2, 5, 6)]) == (2, 9, 12)
    assert layer.describe() == "[1, 2, 3, 4], reflect"
    with pytest.raises(ShapeError, match="reflect padding 5 along the width needs more than 5 input columns"):
        create_layer("Pad2D", {"pads": [0, 5, 0, 0], "mode": "reflect"}).output_shape([(2, 5, 5)])
    with pytest.raises(ParamError, match="must be p, \\[ph, pw\\] or \\[top, left, bottom, right\\], got 'same'"):
        create_layer("Pad2D", {"pads": "same"})


def test_dilated_max_pooling_shapes():
    layer = create_layer("MaxPool2D", {"pool_size": 3, "stride": 1, "dilation": [2, 1], "padding": 1})
    assert layer.output_shape([(2, 9, 9)]) == (2, 7, 9)
    assert layer.describe() == "3×3, pad 1, dilation 2"
    with pytest.raises(LayerwiseError, match="padding \\[2, 0, 2, 0\\] must be smaller than its pool size 2×2"):
        create_layer("MaxPool2D", {"pool_size": 2, "dilation": 3, "padding": [2, 0]}).output_shape([(2, 9, 9)])


# -- what only newer opsets write --------------------------------------------------------------------

NEWER_OPSETS = {
    "bilinear ×2": (single("Upsample2D", {"mode": "bilinear"}), 11),
    "bilinear 3×2": (single("Upsample2D", {"mode": "bilinear", "scale": [3, 2]}), 11),
    "bilinear to a size": (single("Upsample2D", {"mode": "bilinear", "size": [11, 8]}), 11),
    "nearest to a size": (single("Upsample2D", {"size": [10, 9]}), 11),
    "nearest to a size after a convolution": (
        chain((3, 7, 6), ("Conv2D", {"filters": 2, "kernel_size": 3}), ("Upsample2D", {"size": [9, 13]})),
        11,
    ),
    "dilated max pooling": (single("MaxPool2D", {"pool_size": 2, "stride": 1, "dilation": 2, "padding": 1}), 10),
    "dilated max pooling, ceil": (
        single("MaxPool2D", {"pool_size": 2, "stride": 2, "dilation": [2, 3], "ceil_mode": True}),
        10,
    ),
}
"""Configurations and the first opset that writes them."""


@pytest.mark.parametrize("case", sorted(NEWER_OPSETS))
def test_gradients(case):
    model = Model(NEWER_OPSETS[case][0], dtype=np.float64, seed=3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, *model.input_shape))
    weights = rng.standard_normal((3, *model.output_shape))

    def weighted_sum(m, with_grad=False):
        value = float(np.sum(m.forward(x, training=True) * weights))
        return (value, weights, False) if with_grad else (value,)

    check_gradients(model, x, weighted_sum)


@pytest.mark.parametrize(
    ("case", "opset"),
    [
        (case, opset)
        for case, (_, first) in sorted(NEWER_OPSETS.items())
        for opset in (17, 13, 11, 10)
        if opset >= first
    ],
)
def test_export_then_import_gives_the_same_network(case, opset):
    document, _ = NEWER_OPSETS[case]
    original = Model(document, seed=1)
    randomize(original, seed=2)
    exported = export_model(original, opset)
    imported = import_model(exported)
    assert layers_of(imported.document) == layers_read_back(original, opset)
    x = np.random.default_rng(3).standard_normal((2, *original.input_shape))
    model = Model(imported.document, dtype=np.float64)
    model.load_state_dict(imported.weights)
    reference = Model(document, dtype=np.float64)
    reference.load_state_dict(original.state_dict())
    np.testing.assert_allclose(model.forward(x), reference.forward(x), rtol=1e-9, atol=1e-12)
    assert relative_difference(run_onnx(exported, x.astype(np.float32)), reference.forward(x)) <= 1e-5
