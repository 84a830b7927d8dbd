"""Shape, parameter and cost rules of individual layers, against independent formulas."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from core.errors import ParamError, ShapeError
from core.layers import create_layer


def reference_conv_size(size, kernel, stride, pad_begin, pad_end, dilation):
    """PyTorch's documented Conv2d output-size formula."""
    return math.floor((size + pad_begin + pad_end - dilation * (kernel - 1) - 1) / stride + 1)


def test_conv_output_size_matches_the_reference_formula():
    rng = random.Random(7)
    for _ in range(500):
        k, s, d = rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 3)
        pads = [rng.randint(0, 3) for _ in range(4)]
        h, w = rng.randint(1, 30), rng.randint(1, 30)
        conv = create_layer("Conv2D", {"filters": 4, "kernel_size": k, "stride": s, "dilation": d, "padding": pads})
        expected_h = reference_conv_size(h, k, s, pads[0], pads[2], d)
        expected_w = reference_conv_size(w, k, s, pads[1], pads[3], d)
        if expected_h < 1 or expected_w < 1:
            with pytest.raises(ShapeError, match="larger than its padded input"):
                conv.output_shape([(2, h, w)])
        else:
            assert conv.output_shape([(2, h, w)]) == (4, expected_h, expected_w)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation"), list(itertools.product([5, 8, 13], [1, 2, 3, 5], [1, 2, 3], [1, 2]))
)
def test_same_padding_keeps_ceil_of_size_over_stride(size, kernel, stride, dilation):
    conv = create_layer(
        "Conv2D", {"filters": 1, "kernel_size": kernel, "stride": stride, "dilation": dilation, "padding": "same"}
    )
    assert conv.output_shape([(1, size, size)])[1:] == (-(-size // stride),) * 2


def test_pool_ceil_mode_matches_pytorch_rule():
    # PyTorch MaxPool2d(3, 2, ceil_mode=True) on 112 gives 56; floor mode gives 55.
    floor = create_layer("MaxPool2D", {"pool_size": 3, "stride": 2})
    ceil = create_layer("MaxPool2D", {"pool_size": 3, "stride": 2, "ceil_mode": True})
    assert floor.output_shape([(8, 112, 112)]) == (8, 55, 55)
    assert ceil.output_shape([(8, 112, 112)]) == (8, 56, 56)
    # The last window may not start in the right padding: 5 with k2 s2 p1 gives 3, not 4.
    padded = create_layer("MaxPool2D", {"pool_size": 2, "stride": 2, "padding": 1, "ceil_mode": True})
    assert padded.output_shape([(1, 5, 5)]) == (1, 3, 3)


def test_pool_padding_must_be_smaller_than_the_window():
    pool = create_layer("MaxPool2D", {"pool_size": 2, "stride": 2, "padding": 2})
    with pytest.raises(ShapeError, match="smaller than its pool size"):
        pool.output_shape([(1, 8, 8)])


def test_conv_params_and_macs():
    conv = create_layer("Conv2D", {"filters": 64, "kernel_size": 3, "padding": 1})
    assert conv.param_count([(3, 224, 224)]).total == 64 * 3 * 9 + 64
    assert conv.macs([(3, 224, 224)], (64, 224, 224)) == 64 * 224 * 224 * 3 * 9
    no_bias = create_layer("Conv2D", {"filters": 64, "kernel_size": 3, "bias": False})
    assert no_bias.param_count([(3, 8, 8)]).total == 64 * 3 * 9


def test_grouped_and_depthwise_conv_weights_span_their_group_only():
    grouped = create_layer("Conv2D", {"filters": 8, "kernel_size": 3, "groups": 4})
    assert grouped.weight_shape((16, 9, 9)) == (8, 4, 3, 3)
    assert grouped.param_count([(16, 9, 9)]).total == 8 * 4 * 9 + 8
    depthwise = create_layer("Conv2D", {"filters": 32, "kernel_size": 3, "groups": 32, "bias": False})
    assert depthwise.param_count([(32, 9, 9)]).total == 32 * 9


def test_groups_must_divide_filters_and_channels():
    with pytest.raises(ParamError, match="groups must divide filters"):
        create_layer("Conv2D", {"filters": 6, "groups": 4})
    conv = create_layer("Conv2D", {"filters": 8, "groups": 4})
    with pytest.raises(ShapeError, match="must divide the 6 input channels"):
        conv.output_shape([(6, 8, 8)])


def test_one_by_one_conv_changes_channels_not_resolution():
    # The study notes' example: 100 channels through 20 1×1 filters.
    conv = create_layer("Conv2D", {"filters": 20, "kernel_size": 1})
    assert conv.output_shape([(100, 500, 500)]) == (20, 500, 500)
    assert conv.param_count([(100, 500, 500)]).total == 100 * 20 + 20


def test_dense_refuses_maps_and_says_what_to_add():
    dense = create_layer("Dense", {"units": 10})
    with pytest.raises(ShapeError, match="add a Flatten"):
        dense.output_shape([(16, 5, 5)])
    with pytest.raises(ShapeError, match="1×1 Conv2D"):
        dense.output_shape([(16, 1, 1)])
    assert dense.output_shape([(400,)]) == (10,)
    assert dense.param_count([(400,)]).total == 4010


def test_batchnorm_counts_running_statistics_as_non_trainable():
    count = create_layer("BatchNorm").param_count([(64, 8, 8)])
    assert (count.trainable, count.non_trainable) == (128, 128)


def test_merges():
    add, concat = create_layer("Add"), create_layer("Concat")
    assert add.output_shape([(8, 4, 4)] * 3) == (8, 4, 4)
    with pytest.raises(ShapeError, match="input 1 is 8×4×4 and input 2 is 4×4×4"):
        add.output_shape([(8, 4, 4), (4, 4, 4)])
    assert concat.output_shape([(8, 4, 4), (3, 4, 4), (5, 4, 4)]) == (16, 4, 4)
    assert concat.output_shape([(8,), (3,)]) == (11,)
    with pytest.raises(ShapeError, match="equal spatial size"):
        concat.output_shape([(8, 4, 4), (8, 2, 2)])


def test_global_pool_and_flatten():
    assert create_layer("GlobalAvgPool2D").output_shape([(64, 7, 7)]) == (64,)
    assert create_layer("GlobalAvgPool2D", {"keepdims": True}).output_shape([(64, 7, 7)]) == (64, 1, 1)
    assert create_layer("Flatten").output_shape([(16, 5, 5)]) == (400,)


def test_image_only_layers_refuse_vectors():
    for type_name in ("Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "LRN"):
        with pytest.raises(ShapeError, match="needs a C×H×W map"):
            create_layer(type_name).output_shape([(120,)])
