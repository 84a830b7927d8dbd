"""Regenerate the example networks in ``resources/examples/`` from code.

Run ``python tools/make_examples.py`` after changing a definition below; the JSON files
are what the app and the CLI load. Building them through the document API guarantees
that each file is one the loader accepts.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.graph.document import NetworkDocument, Node
from core.graph.fileformat import save_network
from core.graph.layout import apply_layered_layout
from core.graph.validation import validate

EXAMPLES = ROOT / "resources" / "examples"


def conv(filters: int, kernel: int, name: str, **params: object) -> tuple[str, dict, str]:
    return ("Conv2D", {"filters": filters, "kernel_size": kernel, **params}, name)


def relu(name: str) -> tuple[str, None, str]:
    return ("ReLU", None, name)


def classifier_head(doc: NetworkDocument, after: Node, hidden: list[int], classes: int, dropout: float | None) -> Node:
    layers: list[tuple[str, dict | None, str]] = [("Flatten", None, "flatten")]
    for index, units in enumerate(hidden, start=1):
        layers += [("Dense", {"units": units}, f"fc{index}"), relu(f"fc{index}_relu")]
        if dropout:
            layers.append(("Dropout", {"rate": dropout}, f"fc{index}_dropout"))
    layers += [("Dense", {"units": classes}, f"fc{len(hidden) + 1}"), ("Softmax", None, "probabilities")]
    return doc.chain(after.id, layers)


def lenet5() -> NetworkDocument:
    doc = NetworkDocument(
        "LeNet-5",
        "LeCun et al. 1998 with ReLU and max pooling: two 5×5 convolutions, three dense "
        "layers, 61,706 parameters. Input: one 28×28 grey image.",
    )
    x = doc.add_node("Input", {"shape": [1, 28, 28]}, name="input")
    x = doc.chain(
        x.id,
        [
            conv(6, 5, "conv1", padding=2),
            relu("relu1"),
            ("MaxPool2D", {"pool_size": 2, "stride": 2}, "pool1"),
            conv(16, 5, "conv2"),
            relu("relu2"),
            ("MaxPool2D", {"pool_size": 2, "stride": 2}, "pool2"),
        ],
    )
    classifier_head(doc, x, [120, 84], 10, dropout=None)
    return doc


def mlp() -> NetworkDocument:
    doc = NetworkDocument(
        "MLP",
        "A multi-layer perceptron for 28×28 digits: two hidden layers with dropout after each, "
        "the classic place for it.",
    )
    x = doc.add_node("Input", {"shape": [1, 28, 28]}, name="input")
    classifier_head(doc, x, [256, 128], 10, dropout=0.5)
    return doc


def vgg16() -> NetworkDocument:
    doc = NetworkDocument(
        "VGG-16",
        "Simonyan & Zisserman 2014, configuration D: thirteen 3×3 convolutions in five blocks, "
        "138,357,544 parameters. pool5 sees 212×212 pixels (stride 32, padding 90).",
    )
    x = doc.add_node("Input", {"shape": [3, 224, 224]}, name="input")
    for block, widths in enumerate([[64, 64], [128, 128], [256] * 3, [512] * 3, [512] * 3], start=1):
        for index, width in enumerate(widths, start=1):
            x = doc.chain(x.id, [conv(width, 3, f"conv{block}_{index}", padding=1), relu(f"relu{block}_{index}")])
        x = doc.chain(x.id, [("MaxPool2D", {"pool_size": 2, "stride": 2}, f"pool{block}")])
    x = doc.chain(x.id, [("Flatten", None, "flatten")])
    for index, units in ((6, 4096), (7, 4096)):
        x = doc.chain(
            x.id,
            [
                ("Dense", {"units": units}, f"fc{index}"),
                relu(f"relu{index}"),
                ("Dropout", {"rate": 0.5}, f"drop{index}"),
            ],
        )
    doc.chain(x.id, [("Dense", {"units": 1000}, "fc8"), ("Softmax", None, "probabilities")])
    return doc


def alexnet() -> NetworkDocument:
    doc = NetworkDocument(
        "AlexNet (v2)",
        "AlexNet in the single-tower alexnet_v2 geometry of TF-slim (Krizhevsky 2014): "
        "pool5 sees 195×195 pixels with stride 32 and padding 64.",
    )
    x = doc.add_node("Input", {"shape": [3, 224, 224]}, name="input")
    pool = {"pool_size": 3, "stride": 2}
    x = doc.chain(
        x.id,
        [
            conv(64, 11, "conv1", stride=4, padding="valid"),
            relu("relu1"),
            ("MaxPool2D", pool, "pool1"),
            conv(192, 5, "conv2", padding="same"),
            relu("relu2"),
            ("MaxPool2D", pool, "pool2"),
            conv(384, 3, "conv3", padding="same"),
            relu("relu3"),
            conv(384, 3, "conv4", padding="same"),
            relu("relu4"),
            conv(256, 3, "conv5", padding="same"),
            relu("relu5"),
            ("MaxPool2D", pool, "pool5"),
        ],
    )
    classifier_head(doc, x, [4096, 4096], 1000, dropout=0.5)
    return doc


def inception_block() -> NetworkDocument:
    doc = NetworkDocument(
        "Inception block",
        "GoogLeNet's inception (3a) module: four branches concatenated. The 1×1 reductions "
        "before the 3×3 and 5×5 convolutions cut their cost several-fold.",
    )
    x = doc.add_node("Input", {"shape": [192, 28, 28]}, name="input")
    branches = [
        [conv(64, 1, "b1_1x1"), relu("b1_relu")],
        [conv(96, 1, "b2_reduce"), relu("b2_reduce_relu"), conv(128, 3, "b2_3x3", padding=1), relu("b2_relu")],
        [conv(16, 1, "b3_reduce"), relu("b3_reduce_relu"), conv(32, 5, "b3_5x5", padding=2), relu("b3_relu")],
        [
            ("MaxPool2D", {"pool_size": 3, "stride": 1, "padding": 1}, "b4_pool"),
            conv(32, 1, "b4_proj"),
            relu("b4_relu"),
        ],
    ]
    doc.merge("Concat", [doc.chain(x.id, branch).id for branch in branches], name="concat")
    return doc


def resnet_block() -> NetworkDocument:
    doc = NetworkDocument(
        "ResNet basic block",
        "Two ResNet-18/34 basic blocks: one with an identity shortcut, one that halves the "
        "resolution and widens to 128 channels with a strided 1×1 projection shortcut.",
    )
    x = doc.add_node("Input", {"shape": [64, 56, 56]}, name="input")

    def block(prefix: str, entry: Node, width: int, stride: int) -> Node:
        body = doc.chain(
            entry.id,
            [
                conv(width, 3, f"{prefix}_conv1", stride=stride, padding=1, bias=False),
                ("BatchNorm", None, f"{prefix}_bn1"),
                relu(f"{prefix}_relu1"),
                conv(width, 3, f"{prefix}_conv2", padding=1, bias=False),
                ("BatchNorm", None, f"{prefix}_bn2"),
            ],
        )
        shortcut = entry
        if stride != 1:
            shortcut = doc.chain(
                entry.id,
                [
                    conv(width, 1, f"{prefix}_proj", stride=stride, bias=False),
                    ("BatchNorm", None, f"{prefix}_proj_bn"),
                ],
            )
        add = doc.merge("Add", [body.id, shortcut.id], name=f"{prefix}_add")
        return doc.chain(add.id, [relu(f"{prefix}_out")])

    block("block2", block("block1", x, 64, 1), 128, 2)
    return doc


def squeezenet_fire() -> NetworkDocument:
    doc = NetworkDocument(
        "SqueezeNet fire module",
        "SqueezeNet's fire2 module (Iandola et al. 2016): a 1×1 squeeze to 16 channels, then "
        "1×1 and 3×3 expands of 64 channels each, concatenated.",
    )
    x = doc.add_node("Input", {"shape": [96, 55, 55]}, name="input")
    squeeze = doc.chain(x.id, [conv(16, 1, "squeeze1x1"), relu("squeeze_relu")])
    left = doc.chain(squeeze.id, [conv(64, 1, "expand1x1"), relu("expand1x1_relu")])
    right = doc.chain(squeeze.id, [conv(64, 3, "expand3x3", padding=1), relu("expand3x3_relu")])
    doc.merge("Concat", [left.id, right.id], name="concat")
    return doc


def cifar_cnn() -> NetworkDocument:
    doc = NetworkDocument(
        "CIFAR CNN",
        "A small CNN for 32×32 colour images: conv–BatchNorm–ReLU blocks, a 1×1 bottleneck "
        "before the widest 3×3 convolution, and global average pooling instead of dense layers.",
    )
    x = doc.add_node("Input", {"shape": [3, 32, 32]}, name="input")

    def block(name: str, filters: int, kernel: int) -> list[tuple[str, dict | None, str]]:
        padding = kernel // 2
        return [
            conv(filters, kernel, name, padding=padding, bias=False),
            ("BatchNorm", None, f"{name}_bn"),
            relu(f"{name}_relu"),
        ]

    doc.chain(
        x.id,
        [
            *block("conv1", 32, 3),
            *block("conv2", 32, 3),
            ("MaxPool2D", {"pool_size": 2, "stride": 2}, "pool1"),
            *block("conv3", 64, 3),
            *block("bottleneck", 32, 1),
            *block("conv4", 64, 3),
            ("MaxPool2D", {"pool_size": 2, "stride": 2}, "pool2"),
            *block("conv5", 128, 3),
            ("GlobalAvgPool2D", None, "gap"),
            ("Dense", {"units": 10}, "fc"),
            ("Softmax", None, "probabilities"),
        ],
    )
    return doc


def digits_cnn() -> NetworkDocument:
    doc = NetworkDocument(
        "Digits CNN",
        "A small CNN for the built-in 8×8 handwritten digits: two 3×3 convolutions, one pooling, "
        "a dense layer with dropout.",
    )
    x = doc.add_node("Input", {"shape": [1, 8, 8]}, name="input")
    doc.chain(
        x.id,
        [
            conv(16, 3, "conv1", padding=1),
            relu("relu1"),
            conv(32, 3, "conv2", padding=1),
            relu("relu2"),
            ("MaxPool2D", {"pool_size": 2, "stride": 2}, "pool"),
            ("Flatten", None, "flatten"),
            ("Dense", {"units": 64}, "fc1"),
            relu("fc1_relu"),
            ("Dropout", {"rate": 0.3}, "dropout"),
            ("Dense", {"units": 10}, "fc2"),
            ("Softmax", None, "probabilities"),
        ],
    )
    return doc


# -- modern blocks ------------------------------------------------------------------------


def bn(name: str) -> tuple[str, None, str]:
    return ("BatchNorm", None, name)


def depthwise(kernel: int, name: str, stride: int = 1) -> tuple[str, dict, str]:
    padding: object = "same" if stride == 1 else kernel // 2
    return ("DepthwiseConv2D", {"kernel_size": kernel, "stride": stride, "padding": padding, "bias": False}, name)


def pointwise(filters: int, name: str) -> tuple[str, dict, str]:
    return conv(filters, 1, name, bias=False)


def separable_layers(prefix: str, filters: int, stride: int = 1, act: str = "ReLU") -> list:
    """MobileNet v1: depthwise 3×3 → BN → act → pointwise 1×1 → BN → act."""
    return [
        depthwise(3, f"{prefix}depthwise", stride),
        bn(f"{prefix}depthwise_bn"),
        (act, None, f"{prefix}depthwise_{act.lower()}"),
        pointwise(filters, f"{prefix}pointwise"),
        bn(f"{prefix}pointwise_bn"),
        (act, None, f"{prefix}pointwise_{act.lower()}"),
    ]


def squeeze_excite(doc: NetworkDocument, x: Node, channels: int, reduced: int, act: str, prefix: str = "") -> Node:
    """Squeeze-and-Excitation: a per-channel gate from global context, multiplied into ``x``."""
    gate = doc.chain(
        x.id,
        [
            ("GlobalAvgPool2D", {"keepdims": True}, f"{prefix}se_pool"),
            conv(reduced, 1, f"{prefix}se_reduce"),
            (act, None, f"{prefix}se_{act.lower()}"),
            conv(channels, 1, f"{prefix}se_expand"),
            ("Sigmoid", None, f"{prefix}se_gate"),
        ],
    )
    return doc.merge("Multiply", [x.id, gate.id], name=f"{prefix}se_scale")


def inverted_residual_layers(doc: NetworkDocument, x: Node, c_in: int, c_out: int, stride: int, prefix: str) -> Node:
    """MobileNetV2: expand 1×1 ×6 → BN → ReLU6 → depthwise 3×3 → BN → ReLU6 → project 1×1 → BN (+ input)."""
    y = doc.chain(
        x.id,
        [
            pointwise(6 * c_in, f"{prefix}expand"),
            bn(f"{prefix}expand_bn"),
            ("ReLU6", None, f"{prefix}expand_relu6"),
            depthwise(3, f"{prefix}depthwise", stride),
            bn(f"{prefix}depthwise_bn"),
            ("ReLU6", None, f"{prefix}depthwise_relu6"),
            pointwise(c_out, f"{prefix}project"),
            bn(f"{prefix}project_bn"),
        ],
    )
    if stride == 1 and c_in == c_out:
        y = doc.merge("Add", [y.id, x.id], name=f"{prefix}add")
    return y


def depthwise_separable() -> NetworkDocument:
    doc = NetworkDocument(
        "Depthwise-separable conv",
        "MobileNet v1's building block (Howard et al. 2017): a 3×3 depthwise convolution filters "
        "each channel alone, a 1×1 pointwise convolution mixes them — about 8× cheaper than a full "
        "3×3 convolution. Input: 32×16×16.",
    )
    x = doc.add_node("Input", {"shape": [32, 16, 16]}, name="input")
    doc.chain(x.id, separable_layers("", 64))
    return doc


def inverted_residual() -> NetworkDocument:
    doc = NetworkDocument(
        "MobileNetV2 inverted residual",
        "MobileNetV2's inverted residual with linear bottleneck (Sandler et al. 2018): a 1×1 "
        "expansion ×6 with ReLU6, a 3×3 depthwise convolution, a linear 1×1 projection back to "
        "24 channels, and a shortcut between the narrow ends. Input: 24×16×16.",
    )
    x = doc.add_node("Input", {"shape": [24, 16, 16]}, name="input")
    inverted_residual_layers(doc, x, 24, 24, 1, "")
    return doc


def se_block() -> NetworkDocument:
    doc = NetworkDocument(
        "Squeeze-and-Excitation",
        "Squeeze-and-Excitation (Hu et al. 2018): global average pooling squeezes each channel to "
        "one number, a 1×1 bottleneck (C/4) and a sigmoid turn them into per-channel gates that "
        "rescale the input. Input: 32×16×16.",
    )
    x = doc.add_node("Input", {"shape": [32, 16, 16]}, name="input")
    squeeze_excite(doc, x, 32, 8, "ReLU")
    return doc


def mbconv() -> NetworkDocument:
    doc = NetworkDocument(
        "EfficientNet MBConv",
        "EfficientNet's MBConv6 block (Tan & Le 2019): MobileNetV2's inverted residual with SiLU "
        "activations and a Squeeze-and-Excitation gate (reduced to a quarter of the input "
        "channels) before the linear projection. Input: 24×16×16.",
    )
    x = doc.add_node("Input", {"shape": [24, 16, 16]}, name="input")
    y = doc.chain(
        x.id,
        [
            pointwise(144, "expand"),
            bn("expand_bn"),
            ("SiLU", None, "expand_silu"),
            depthwise(3, "depthwise"),
            bn("depthwise_bn"),
            ("SiLU", None, "depthwise_silu"),
        ],
    )
    y = squeeze_excite(doc, y, 144, 6, "SiLU")
    y = doc.chain(y.id, [pointwise(24, "project"), bn("project_bn")])
    doc.merge("Add", [y.id, x.id], name="add")
    return doc


def convnext_block() -> NetworkDocument:
    doc = NetworkDocument(
        "ConvNeXt block",
        "ConvNeXt's block (Liu et al. 2022): a 7×7 depthwise convolution, LayerNorm over the "
        "channels, a 1×1 expansion ×4 with GELU and a 1×1 projection back, added to the input "
        "(layer scale and stochastic depth left out). Input: 32×16×16.",
    )
    x = doc.add_node("Input", {"shape": [32, 16, 16]}, name="input")
    y = doc.chain(
        x.id,
        [
            ("DepthwiseConv2D", {"kernel_size": 7, "padding": "same"}, "depthwise"),
            ("LayerNorm", {"over": "channels"}, "norm"),
            conv(128, 1, "expand"),
            ("GELU", None, "gelu"),
            conv(32, 1, "project"),
        ],
    )
    doc.merge("Add", [y.id, x.id], name="add")
    return doc


def shufflenet_branch_after_pointwise(stride: int) -> list[tuple[str, dict, str]]:
    """ShuffleNetV2's working branch after its first 1×1 convolution: BN, ReLU, depthwise 3×3, 1×1, BN, ReLU."""
    return [
        bn("b_pointwise1_bn"),
        relu("b_relu1"),
        depthwise(3, "b_depthwise", stride),
        bn("b_depthwise_bn"),
        pointwise(58, "b_pointwise2"),
        bn("b_pointwise2_bn"),
        relu("b_relu2"),
    ]


def shufflenet_unit() -> NetworkDocument:
    doc = NetworkDocument(
        "ShuffleNetV2 unit",
        "ShuffleNetV2's basic unit (Ma et al. 2018): a channel split sends one half of the channels "
        "straight on and the other through 1×1 → depthwise 3×3 → 1×1; the halves are concatenated "
        "and shuffled across two groups, so the next unit splits a mix of both. Input: 116×8×8.",
    )
    x = doc.add_node("Input", {"shape": [116, 8, 8]}, name="input")
    split = doc.chain(x.id, [("ChannelSplit", {"parts": 2}, "split")])
    right = doc.add_node("Conv2D", {"filters": 58, "kernel_size": 1, "bias": False}, name="b_pointwise1")
    doc.connect(split.id, right.id, source_port=1)
    right = doc.chain(right.id, shufflenet_branch_after_pointwise(stride=1))
    concat = doc.merge("Concat", [split.id, right.id], name="concat")
    doc.chain(concat.id, [("ChannelShuffle", {"groups": 2}, "shuffle")])
    return doc


def shufflenet_unit_down() -> NetworkDocument:
    doc = NetworkDocument(
        "ShuffleNetV2 down-sampling unit",
        "ShuffleNetV2's spatial down-sampling unit (Ma et al. 2018): both branches see the whole "
        "input and halve the resolution with a stride-2 depthwise convolution; their 58-channel "
        "outputs are concatenated and shuffled across two groups. Input: 24×16×16.",
    )
    x = doc.add_node("Input", {"shape": [24, 16, 16]}, name="input")
    left = doc.chain(
        x.id,
        [
            depthwise(3, "a_depthwise", 2),
            bn("a_depthwise_bn"),
            pointwise(58, "a_pointwise"),
            bn("a_pointwise_bn"),
            relu("a_relu"),
        ],
    )
    right = doc.chain(x.id, [pointwise(58, "b_pointwise1"), *shufflenet_branch_after_pointwise(stride=2)])
    concat = doc.merge("Concat", [left.id, right.id], name="concat")
    doc.chain(concat.id, [("ChannelShuffle", {"groups": 2}, "shuffle")])
    return doc


def unet_small() -> NetworkDocument:
    doc = NetworkDocument(
        "U-Net (small)",
        "A two-level U-Net (Ronneberger et al. 2015) for 1×32×32 images: 3×3 convolutions and max "
        "pooling down, 2×2 stride-2 transposed convolutions up, each concatenated with the encoder "
        "map of the same size, and a 1×1 convolution to two class scores per pixel.",
    )
    x = doc.add_node("Input", {"shape": [1, 32, 32]}, name="input")
    enc1 = doc.chain(x.id, [conv(16, 3, "enc1_conv", padding="same"), relu("enc1_relu")])
    enc2 = doc.chain(
        enc1.id,
        [
            ("MaxPool2D", {"pool_size": 2, "stride": 2}, "pool1"),
            conv(32, 3, "enc2_conv", padding="same"),
            relu("enc2_relu"),
        ],
    )
    mid = doc.chain(
        enc2.id,
        [
            ("MaxPool2D", {"pool_size": 2, "stride": 2}, "pool2"),
            conv(64, 3, "bottleneck_conv", padding="same"),
            relu("bottleneck_relu"),
            ("Conv2DTranspose", {"filters": 32, "kernel_size": 2, "stride": 2}, "up2"),
        ],
    )
    cat2 = doc.merge("Concat", [mid.id, enc2.id], name="skip2")
    dec2 = doc.chain(
        cat2.id,
        [
            conv(32, 3, "dec2_conv", padding="same"),
            relu("dec2_relu"),
            ("Conv2DTranspose", {"filters": 16, "kernel_size": 2, "stride": 2}, "up1"),
        ],
    )
    cat1 = doc.merge("Concat", [dec2.id, enc1.id], name="skip1")
    doc.chain(cat1.id, [conv(16, 3, "dec1_conv", padding="same"), relu("dec1_relu"), conv(2, 1, "classes")])
    return doc


def conv_autoencoder() -> NetworkDocument:
    doc = NetworkDocument(
        "Convolutional autoencoder",
        "A convolutional autoencoder for 1×28×28 images: two stride-2 convolutions encode to "
        "32×7×7, two 2×2 stride-2 transposed convolutions decode back to 1×28×28, and a sigmoid "
        "maps to pixel intensities (train it with the MSE loss against its input).",
    )
    x = doc.add_node("Input", {"shape": [1, 28, 28]}, name="input")
    doc.chain(
        x.id,
        [
            conv(16, 3, "enc1", stride=2, padding=1),
            relu("enc1_relu"),
            conv(32, 3, "enc2", stride=2, padding=1),
            relu("enc2_relu"),
            ("Conv2DTranspose", {"filters": 16, "kernel_size": 2, "stride": 2}, "dec1"),
            relu("dec1_relu"),
            ("Conv2DTranspose", {"filters": 1, "kernel_size": 2, "stride": 2}, "dec2"),
            ("Sigmoid", None, "reconstruction"),
        ],
    )
    return doc


def mobilenet_cifar() -> NetworkDocument:
    doc = NetworkDocument(
        "MobileNet CIFAR",
        "A small MobileNet-style classifier for 3×32×32 colour images: a 3×3 stem, a "
        "depthwise-separable stage and MobileNetV2 inverted residuals (Sandler et al. 2018) that "
        "halve the resolution three times, then global average pooling and one dense layer.",
    )
    x = doc.add_node("Input", {"shape": [3, 32, 32]}, name="input")
    x = doc.chain(x.id, [conv(16, 3, "stem", padding=1, bias=False), bn("stem_bn"), ("ReLU6", None, "stem_relu6")])
    x = doc.chain(x.id, separable_layers("s1_", 24, stride=2, act="ReLU6"))
    x = inverted_residual_layers(doc, x, 24, 32, 2, "s2a_")
    x = inverted_residual_layers(doc, x, 32, 32, 1, "s2b_")
    x = inverted_residual_layers(doc, x, 32, 64, 2, "s3_")
    doc.chain(
        x.id, [("GlobalAvgPool2D", None, "gap"), ("Dense", {"units": 10}, "fc"), ("Softmax", None, "probabilities")]
    )
    return doc


BUILDERS = {
    "lenet5": lenet5,
    "mlp": mlp,
    "vgg16": vgg16,
    "alexnet": alexnet,
    "inception_block": inception_block,
    "resnet_block": resnet_block,
    "squeezenet_fire": squeezenet_fire,
    "cifar_cnn": cifar_cnn,
    "digits_cnn": digits_cnn,
    "depthwise_separable": depthwise_separable,
    "inverted_residual": inverted_residual,
    "se_block": se_block,
    "mbconv": mbconv,
    "convnext_block": convnext_block,
    "shufflenet_unit": shufflenet_unit,
    "shufflenet_unit_down": shufflenet_unit_down,
    "unet_small": unet_small,
    "conv_autoencoder": conv_autoencoder,
    "mobilenet_cifar": mobilenet_cifar,
}


def main() -> None:
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for stem, build in BUILDERS.items():
        doc = build()
        problems = validate(doc)
        if problems:
            raise SystemExit(f"{stem}: " + "; ".join(map(str, problems)))
        apply_layered_layout(doc)
        save_network(doc, EXAMPLES / f"{stem}.json")
        print(f"wrote {stem}.json ({len(doc)} layers)")


if __name__ == "__main__":
    main()
