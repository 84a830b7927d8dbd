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
