"""Whole-network figures against published ones, and the 1×1 bottleneck argument."""

from __future__ import annotations

import pytest

from core.analysis.bottleneck import bottleneck_for_node, compare_bottleneck
from core.analysis.summary import summarize
from core.errors import LayerwiseError
from core.examples import example_path
from core.graph.fileformat import load_network
from core.layers import create_layer


def summary_of(name):
    return summarize(load_network(example_path(name)))


def test_vgg16_totals_match_the_published_figures():
    summary = summary_of("vgg16")
    assert summary.total_params == 138_357_544
    # 15.47 GMACs: the figure ptflops and torchinfo report for torchvision's VGG-16.
    assert summary.total_macs == 15_470_264_320


def test_lenet5_and_resnet_block_parameters():
    assert summary_of("lenet5").total_params == 61_706
    resnet = summary_of("resnet_block")
    bn_channels = 64 + 64 + 128 + 128 + 128
    assert resnet.non_trainable_params == 2 * bn_channels
    assert resnet.total_params == resnet.trainable_params + 2 * bn_channels


def test_activation_memory_is_float32_output_size():
    layer = summary_of("vgg16").layer("conv1_1")
    assert layer.activation_bytes == 64 * 224 * 224 * 4
    assert layer.output_shape == (64, 224, 224)


def test_json_has_the_documented_fields():
    data = summary_of("squeezenet_fire").to_json()
    assert {"layers", "total_params", "total_macs"} <= set(data)
    concat = next(l for l in data["layers"] if l["name"] == "concat")
    assert concat["inputs"] == ["expand1x1_relu", "expand3x3_relu"]
    assert concat["output_shape"] == [128, 55, 55]
    assert concat["receptive_field"]["size"] == [3, 3]
    flat = next(l for l in summary_of("lenet5").to_json()["layers"] if l["name"] == "flatten")
    assert flat["receptive_field"] is None


def test_inception_bottleneck_argument():
    # 28×28×192 → 5×5 "same" conv with 32 filters: 120 M MACs; through 16 channels: 12.4 M.
    conv = create_layer("Conv2D", {"filters": 32, "kernel_size": 5, "padding": "same", "bias": False})
    comparison = compare_bottleneck(conv, (192, 28, 28), 16)
    assert comparison.direct.macs == 28 * 28 * 32 * 192 * 25 == 120_422_400
    assert comparison.reduction.macs == 28 * 28 * 16 * 192
    assert comparison.reduced_conv.macs == 28 * 28 * 32 * 16 * 25
    assert comparison.with_bottleneck.macs == 12_443_648
    assert comparison.direct.params == 32 * 192 * 25
    assert comparison.with_bottleneck.params == 16 * 192 + 32 * 16 * 25
    assert comparison.macs_ratio == pytest.approx(0.1033, abs=1e-4)


def test_bottleneck_for_a_node_and_its_refusals():
    doc = load_network(example_path("inception_block"))
    comparison = bottleneck_for_node(doc, doc.node_by_name("b2_3x3").id, 32)
    assert comparison.input_shape == (96, 28, 28)
    with pytest.raises(LayerwiseError, match="is a ReLU, not a Conv2D"):
        bottleneck_for_node(doc, doc.node_by_name("b2_relu").id, 16)
    with pytest.raises(LayerwiseError, match="≥ 1"):
        bottleneck_for_node(doc, doc.node_by_name("b2_3x3").id, 0)
    grouped = create_layer("Conv2D", {"filters": 8, "groups": 4})
    with pytest.raises(LayerwiseError, match="multiple of the convolution's groups"):
        compare_bottleneck(grouped, (16, 8, 8), 6)


def test_separable_comparison_is_mobilenets_ratio_and_keeps_the_output_shape():
    from core.analysis.bottleneck import compare_separable, separable_layers
    from core.layers.convolution import Conv2D

    conv = Conv2D(filters=64, kernel_size=3, stride=2, padding="same", bias=True)
    comparison = compare_separable(conv, (32, 16, 16))
    # Howard et al. 2017: depthwise + pointwise over standard = 1/N + 1/k² in multiply-adds.
    assert comparison.macs_ratio == pytest.approx(1 / 64 + 1 / 9)
    assert comparison.direct.params == 64 * 32 * 9 + 64
    assert comparison.separable.params == 32 * 9 + 64 * 32 + 64
    depthwise, pointwise = separable_layers(conv)
    assert pointwise.output_shape([depthwise.output_shape([(32, 16, 16)])]) == conv.output_shape([(32, 16, 16)])
    with pytest.raises(LayerwiseError, match="1×1 convolution has no spatial part"):
        separable_layers(Conv2D(filters=8, kernel_size=1))
    with pytest.raises(LayerwiseError, match="grouped convolution"):
        separable_layers(Conv2D(filters=8, kernel_size=3, groups=2))


def test_a_frozen_layers_weights_count_as_frozen_not_trainable():
    from core.graph.document import LayerTraining

    document = load_network(example_path("resnet_block"))
    plain = summarize(document)
    conv = next(layer for layer in plain.layers if layer.type == "Conv2D")
    bn = next(layer for layer in plain.layers if layer.type == "BatchNorm")
    assert plain.frozen_params == 0 and not plain.has_frozen_layers
    document.set_training(conv.node_id, LayerTraining(trainable=False))
    document.set_training(bn.node_id, LayerTraining(trainable=False))
    summary = summarize(document)
    assert summary.has_frozen_layers and summary.layer(conv.name).frozen
    assert summary.layer(conv.name).trainable_params == 0
    assert summary.layer(conv.name).frozen_params == conv.params
    assert summary.layer(bn.name).frozen_params == bn.trainable_params == bn.params // 2
    assert summary.frozen_params == conv.params + bn.params // 2
    assert summary.trainable_params == plain.trainable_params - summary.frozen_params
    assert summary.non_trainable_params == plain.non_trainable_params  # the running statistics
    assert summary.total_params == summary.trainable_params + summary.frozen_params + summary.non_trainable_params
    data = summary.to_json()
    assert data["frozen_params"] == summary.frozen_params
    assert next(layer for layer in data["layers"] if layer["name"] == conv.name)["frozen"] is True
