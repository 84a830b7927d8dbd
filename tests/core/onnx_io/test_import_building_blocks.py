"""Import of depthwise and transposed convolutions, Resize/Upsample, Pad, global max pooling and
reductions over H and W, in the forms torch.onnx.export writes them; each checked against onnxruntime.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import pytest
from onnx import helper

from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.onnx_io.export import OnnxExportError, export_model
from core.onnx_io.importer import OnnxImportError, import_model
from tests.core.onnx_io.helpers import build_model, randomize, relative_difference, run_onnx

RNG = np.random.default_rng(0)
EMPTY = np.zeros(0, dtype=np.float32)


def w(*shape):
    return RNG.standard_normal(shape).astype(np.float32) * 0.3


def n(op, inputs, outputs, **attributes):
    return helper.make_node(op, inputs, outputs, name=outputs[0], **attributes)


def imported_types(onnx_model) -> list[str]:
    return [node.type_name for node in engine(onnx_model).order[1:]]


def engine(onnx_model) -> Model:
    imported = import_model(onnx_model)
    model = Model(imported.document)
    model.load_state_dict(imported.weights)
    return model


def assert_same_as_onnxruntime(onnx_model) -> Model:
    model = engine(onnx_model)
    x = np.random.default_rng(1).standard_normal((2, *model.input_shape)).astype(np.float32)
    assert relative_difference(model.forward(x), run_onnx(onnx_model, x)) <= 1e-5
    return model


def torch_resize(mode, opset, *, sizes=None, scales=(2.0, 3.0)):
    """Resize as torch.onnx.export writes ``F.interpolate``: an empty roi, then scales or sizes."""
    transform = "asymmetric" if mode == "nearest" else "half_pixel"
    attributes = {"coordinate_transformation_mode": transform, "cubic_coeff_a": -0.75, "mode": mode}
    attributes["nearest_mode"] = "floor"
    if sizes is None:
        inputs, constants = (
            ["x", "roi" if opset < 13 else "", "scales"],
            {"scales": np.array([1, 1, *scales], np.float32)},
        )
        if opset < 13:
            constants["roi"] = EMPTY
        return [n("Resize", inputs, ["y"], **attributes)], constants
    # sizes = Concat(Slice(Shape(x), 0, 2), size)
    nodes = [
        n("Shape", ["x"], ["shape"]),
        n("Slice", ["shape", "zero", "two", "zero"], ["leading"]),
        n("Concat", ["leading", "size"], ["sizes"], axis=0),
    ]
    constants = {"zero": np.array([0]), "two": np.array([2]), "size": np.array(sizes)}
    if opset < 13:
        constants.update(roi=EMPTY, no_scales=EMPTY)
        resize_inputs = ["x", "roi", "no_scales", "sizes"]
    else:
        resize_inputs = ["x", "", "", "sizes"]
    return [*nodes, n("Resize", resize_inputs, ["y"], **attributes)], constants


# -- convolutions ---------------------------------------------------------------------------


@pytest.mark.parametrize(("multiplier", "bias"), [(1, True), (3, False)])
def test_a_conv_with_one_group_per_channel_is_depthwise_and_computes_the_same(multiplier, bias):
    constants = {"W": w(4 * multiplier, 1, 3, 3), **({"B": w(4 * multiplier)} if bias else {})}
    node = n("Conv", ["x", "W", *(["B"] if bias else [])], ["y"], group=4, pads=[1, 0, 2, 1], strides=[2, 1])
    model = assert_same_as_onnxruntime(build_model([node], (1, 4, 9, 8), "y", constants))
    (layer,) = model.order[1:]
    assert layer.type_name == "DepthwiseConv2D"
    assert layer.layer.params["depth_multiplier"] == multiplier and layer.layer.params["bias"] is bias


@pytest.mark.parametrize(
    ("channels", "group", "expected"), [(4, 2, "Conv2D"), (1, 1, "Conv2D"), (3, 3, "DepthwiseConv2D")]
)
def test_other_groupings_stay_conv2d(channels, group, expected):
    node = n("Conv", ["x", "W"], ["y"], group=group)
    model = build_model([node], (1, channels, 6, 6), "y", {"W": w(6, channels // group, 3, 3)})
    assert imported_types(model) == [expected]
    assert_same_as_onnxruntime(model)


def test_a_grouped_conv_whose_weight_does_not_fit_is_refused():
    model = build_model([n("Conv", ["x", "W"], ["y"], group=4)], (1, 4, 6, 6), "y", {"W": w(4, 2, 3, 3)})
    with pytest.raises(
        OnnxImportError, match=r"its weight has shape \[4, 2, 3, 3\], where this input needs \[4, 1, 3, 3\]"
    ):
        import_model(model)


@pytest.mark.parametrize(
    "attributes",
    [
        {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},  # what torch writes
        {"strides": [2, 3], "pads": [0, 1, 2, 0], "dilations": [2, 1]},
        {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
        {"strides": [2, 2], "auto_pad": "SAME_LOWER", "output_padding": [1, 0]},
        {"strides": [3, 2], "output_shape": [14, 8]},
        {"strides": [2, 2], "auto_pad": "VALID", "group": 2},
    ],
    ids=["torch", "asymmetric dilated", "same upper", "same lower", "output shape", "valid grouped"],
)
def test_conv_transpose_imports(attributes):
    groups = attributes.get("group", 1)
    node = n("ConvTranspose", ["x", "W", "B"], ["y"], kernel_shape=[3, 3], **attributes)
    model = build_model([node], (1, 4, 5, 5), "y", {"W": w(4, 6 // groups, 3, 3), "B": w(6)})
    assert imported_types(model) == ["Conv2DTranspose"]
    assert_same_as_onnxruntime(model)


# -- up-sampling ------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [11, 13, 17, 18])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_with_scales_as_torch_writes_it(mode, opset):
    nodes, constants = torch_resize(mode, opset)
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 2, 4, 5), "y", constants, opset=opset))
    (layer,) = model.order[1:]
    assert layer.layer.params["scale"] == (2, 3)
    assert layer.layer.params["mode"] == ("nearest" if mode == "nearest" else "bilinear")


@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize(("mode", "size"), [("nearest", [7, 13]), ("linear", [9, 6]), ("linear", [8, 10])])
def test_resize_with_sizes_folded_from_the_input_shape(mode, size, opset):
    nodes, constants = torch_resize(mode, opset, sizes=size)
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 2, 4, 5), "y", constants, opset=opset))
    assert [node.type_name for node in model.order[1:]] == ["Upsample2D"]
    assert model.order[1].layer.params["size"] == tuple(size)


def test_resize_of_opset_18_with_axes():
    attributes = {"mode": "linear", "axes": [2, 3], "coordinate_transformation_mode": "half_pixel"}
    model = build_model(
        [n("Resize", ["x", "", "scales"], ["y"], **attributes)],
        (1, 2, 4, 5),
        "y",
        {"scales": np.array([2, 2], np.float32)},
        opset=18,
    )
    assert_same_as_onnxruntime(model)


@pytest.mark.parametrize(
    ("opset", "node", "constants"),
    [
        (10, n("Resize", ["x", "scales"], ["y"], mode="nearest"), {"scales": np.array([1, 1, 3, 2], np.float32)}),
        (9, n("Upsample", ["x", "scales"], ["y"], mode="nearest"), {"scales": np.array([1, 1, 2, 2], np.float32)}),
        (7, n("Upsample", ["x"], ["y"], mode="nearest", scales=[1.0, 1.0, 2.0, 3.0]), {}),
    ],
    ids=["Resize-10", "Upsample-9", "Upsample-7"],
)
def test_nearest_up_sampling_before_opset_11(opset, node, constants):
    model = build_model([node], (1, 2, 4, 5), "y", constants, opset=opset)
    assert imported_types(model) == ["Upsample2D"]
    assert_same_as_onnxruntime(model)


@pytest.mark.parametrize(
    ("opset", "node", "constants", "message"),
    [
        (
            9,
            n("Upsample", ["x", "scales"], ["y"], mode="linear"),
            {"scales": np.array([1, 1, 2, 2], np.float32)},
            "mode 'linear' before opset 11 uses asymmetric coordinates",
        ),
        (
            17,
            n("Resize", ["x", "", "scales"], ["y"], mode="nearest"),
            {"scales": np.array([1, 1, 1.5, 2], np.float32)},
            "must be whole factors",
        ),
        (
            17,
            n("Resize", ["x", "", "scales"], ["y"], mode="cubic"),
            {"scales": np.array([1, 1, 2, 2], np.float32)},
            "mode 'cubic'",
        ),
        (
            17,
            n("Resize", ["x", "", "scales"], ["y"], mode="linear", coordinate_transformation_mode="align_corners"),
            {"scales": np.array([1, 1, 2, 2], np.float32)},
            "'align_corners' coordinates",
        ),
        (
            17,
            n("Resize", ["x", "", "scales"], ["y"], mode="nearest"),
            {"scales": np.array([1, 2, 2, 2], np.float32)},
            "only H and W can be resized",
        ),
        (
            17,
            n(
                "Resize",
                ["x", "", "", "sizes"],
                ["y"],
                mode="nearest",
                coordinate_transformation_mode="asymmetric",
                nearest_mode="floor",
            ),
            {"sizes": np.array([1, 2, 3, 8])},
            "it only enlarges",
        ),
    ],
    ids=["bilinear before 11", "fractional scales", "cubic", "align corners", "channels", "shrinking"],
)
def test_resizes_no_layer_computes_are_refused(opset, node, constants, message):
    with pytest.raises(OnnxImportError, match=message):
        import_model(build_model([node], (1, 2, 4, 5), "y", constants, opset=opset))


# -- padding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [9, 11, 18])
@pytest.mark.parametrize(("mode", "value"), [("constant", 0.0), ("constant", 0.5), ("reflect", 0.0), ("edge", 0.0)])
def test_pad(mode, value, opset):
    full = [0, 0, 1, 2, 0, 0, 3, 0]
    if opset < 11:
        nodes, constants = [n("Pad", ["x"], ["y"], pads=full, mode=mode, value=value)], {}
    else:
        inputs = ["x", "pads", "value" if value else ""]
        constants = {"pads": np.array(full), **({"value": np.array(value, np.float32)} if value else {})}
        nodes = [n("Pad", inputs, ["y"], mode=mode)]
        if opset >= 18:  # only the padded axes
            nodes = [n("Pad", [*inputs, "axes"], ["y"], mode=mode)]
            constants.update(pads=np.array([1, 2, 3, 0]), axes=np.array([2, 3]))
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 2, 4, 5), "y", constants, opset=opset))
    (layer,) = model.order[1:]
    expected_mode = {"edge": "replicate"}.get(mode, mode)
    assert dict(layer.layer.params) == {"pads": (1, 2, 3, 0), "mode": expected_mode, "value": value}


def test_pad_of_the_channels_is_refused():
    model = build_model(
        [n("Pad", ["x", "pads"], ["y"])], (1, 2, 4, 5), "y", {"pads": np.array([0, 1, 0, 0, 0, 0, 0, 0])}
    )
    with pytest.raises(OnnxImportError, match="it pads the batch or channel axis"):
        import_model(model)


def test_reflect_padding_then_average_pooling_is_two_layers():
    nodes = [n("Pad", ["x", "pads"], ["p"], mode="reflect"), n("AveragePool", ["p"], ["y"], kernel_shape=[2, 2])]
    model = build_model(nodes, (1, 2, 6, 6), "y", {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1])})
    assert imported_types(model) == ["Pad2D", "AvgPool2D"]
    assert_same_as_onnxruntime(model)


# -- pooling -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tail", ["none", "Flatten", "Squeeze", "Reshape"])
def test_global_max_pool(tail):
    nodes = [n("GlobalMaxPool", ["x"], ["g" if tail != "none" else "y"])]
    constants = {}
    if tail == "Flatten":
        nodes.append(n("Flatten", ["g"], ["y"], axis=1))
    elif tail == "Squeeze":
        nodes.append(n("Squeeze", ["g", "axes"], ["y"]))
        constants["axes"] = np.array([2, 3])
    elif tail == "Reshape":
        nodes.append(n("Reshape", ["g", "target"], ["y"]))
        constants["target"] = np.array([0, -1])
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 5), "y", constants))
    (layer,) = model.order[1:]
    assert layer.type_name == "GlobalMaxPool2D" and layer.layer.params["keepdims"] is (tail == "none")


@pytest.mark.parametrize("opset", [11, 17, 18])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize(("op", "expected"), [("ReduceMean", "GlobalAvgPool2D"), ("ReduceMax", "GlobalMaxPool2D")])
def test_reductions_over_height_and_width_are_global_pooling(op, expected, keepdims, opset):
    if opset >= 18:  # axes became an input
        node, constants = n(op, ["x", "axes"], ["y"], keepdims=keepdims), {"axes": np.array([-1, 2])}
    else:
        node, constants = n(op, ["x"], ["y"], axes=[3, -2], keepdims=keepdims), {}
    model = assert_same_as_onnxruntime(build_model([node], (1, 3, 4, 5), "y", constants, opset=opset))
    (layer,) = model.order[1:]
    assert layer.type_name == expected and layer.layer.params["keepdims"] is bool(keepdims)


@pytest.mark.parametrize(
    ("op", "axes", "what", "shown", "pool"),
    [
        ("ReduceMean", [1], "averaging", [1], "GlobalAvgPool2D"),
        ("ReduceMax", [-2], "taking the maximum", [2], "GlobalMaxPool2D"),
    ],
)
def test_a_reduction_over_other_axes_is_refused_saying_which_is_a_layer(op, axes, what, shown, pool):
    model = build_model([n(op, ["x"], ["y"], axes=axes, keepdims=1)], (1, 3, 4, 5), "y")
    with pytest.raises(OnnxImportError) as info:
        import_model(model)
    assert str(info.value).endswith(
        f"{op} (y): {what} over axes {shown} of an N×3×4×5 tensor has no layer; over H and W (axes 2 and 3) of a "
        f"map it is a {pool}"
    )


@pytest.mark.parametrize(("keepdims", "axes"), [(1, [1, 2]), (0, [2, 1]), (1, [2, 3])])
def test_a_reduction_of_a_channels_last_view_over_its_height_and_width_is_global_pooling(keepdims, axes):
    nodes = [
        n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), n("ReduceMean", ["t"], ["m"], axes=axes, keepdims=keepdims),
        n("Relu", ["m"], ["r"]),
    ]  # fmt: skip
    if keepdims:
        nodes.append(n("Transpose", ["r"], ["y"], perm=[0, 3, 1, 2]))
    else:
        nodes[-1] = n("Relu", ["m"], ["y"])
    model = build_model(nodes, (1, 3, 4, 5), "y")
    if axes == [2, 3]:  # W and C of the view
        with pytest.raises(OnnxImportError, match=r"ReduceMean \(m\): averaging over axes \[2, 3\] of a channels-last"):
            import_model(model)
        return
    imported = assert_same_as_onnxruntime(model)
    pool = imported.order[1]
    assert (pool.type_name, pool.layer.params["keepdims"]) == ("GlobalAvgPool2D", bool(keepdims))


def test_dilated_max_pooling_imports():
    node = n("MaxPool", ["x"], ["y"], kernel_shape=[3, 2], strides=[2, 1], dilations=[2, 3], pads=[1, 0, 1, 1])
    model = assert_same_as_onnxruntime(build_model([node], (1, 2, 9, 8), "y"))
    assert model.order[1].layer.params["dilation"] == (2, 3)


def test_dilated_average_pooling_is_refused():
    node = n("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])
    with pytest.raises(OnnxImportError, match=r"AvgPool2D has no dilation \(dilations \[2, 2\]\)"):
        import_model(build_model([node], (1, 2, 9, 8), "y", opset=19))


# -- pixel shuffle ------------------------------------------------------------------------------------


def pixel_shuffle_written_out(channels, rows, columns, height, width, opset=9):
    """Reshape to N×C×r×r×H×W → Transpose(0, 1, 4, 2, 5, 3) → Reshape to N×C×rH×rW, as old exporters write it."""
    nodes = [
        n("Reshape", ["x", "split"], ["blocks"]),
        n("Transpose", ["blocks"], ["moved"], perm=[0, 1, 4, 2, 5, 3]),
        n("Reshape", ["moved", "merged"], ["y"]),
    ]
    constants = {
        "split": np.array([0, channels, rows, columns, height, width]),
        "merged": np.array([0, channels, height * rows, -1]),
    }
    return build_model(nodes, (1, channels * rows * columns, height, width), "y", constants, opset=opset)


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_depth_to_space_in_crd_mode_is_a_pixel_shuffle(opset):
    node = n("DepthToSpace", ["x"], ["y"], blocksize=3, mode="CRD")
    model = assert_same_as_onnxruntime(build_model([node], (1, 18, 3, 4), "y", opset=opset))
    assert [(layer.type_name, dict(layer.layer.params)) for layer in model.order[1:]] == [
        ("PixelShuffle", {"upscale_factor": 3})
    ]


def test_depth_to_space_of_channels_the_blocks_do_not_divide_says_what_to_change():
    node = n("DepthToSpace", ["x"], ["y"], blocksize=2, mode="CRD")
    with pytest.raises(
        OnnxImportError,
        match=r"DepthToSpace \(y\): PixelShuffle with factor 2 needs channels divisible by 4; the input has 6",
    ):
        import_model(build_model([node], (1, 6, 3, 3), "y"))


@pytest.mark.parametrize("opset", [9, 11])
def test_depth_to_space_in_dcr_mode_is_a_pixel_shuffle_only_with_one_channel_out(opset):
    one_out = build_model([n("DepthToSpace", ["x"], ["y"], blocksize=2)], (1, 4, 3, 3), "y", opset=opset)
    model = assert_same_as_onnxruntime(one_out)
    assert [layer.type_name for layer in model.order[1:]] == ["PixelShuffle"] and model.output_shape == (1, 6, 6)
    with pytest.raises(
        OnnxImportError,
        match=r"DepthToSpace \(y\): mode DCR \(depth, column, row: TensorFlow's channel order\) with blocksize 2 "
        r"on 8 channels has no layer; PixelShuffle orders the channels as CRD \(PyTorch's\)",
    ):
        import_model(build_model([n("DepthToSpace", ["x"], ["y"], blocksize=2)], (1, 8, 3, 3), "y", opset=opset))


@pytest.mark.parametrize("opset", [9, 11, 17])
def test_a_pixel_shuffle_written_out_is_one_layer(opset):
    model = assert_same_as_onnxruntime(pixel_shuffle_written_out(2, 3, 3, 4, 2, opset))
    assert [(layer.type_name, layer.name, dict(layer.layer.params)) for layer in model.order[1:]] == [
        ("PixelShuffle", "y", {"upscale_factor": 3})
    ]


def test_a_pixel_shuffle_by_different_row_and_column_factors_is_refused():
    with pytest.raises(
        OnnxImportError,
        match=r"Reshape \(y\): a pixel shuffle by 2 rows and 3 columns has no layer; PixelShuffle uses one factor",
    ):
        import_model(pixel_shuffle_written_out(2, 2, 3, 4, 2))


def test_pixel_shuffle_and_channel_shuffle_written_out_stay_apart():
    # Both patterns end at a Reshape; each leaves the other's sub-graph alone.
    nodes = [
        n("Reshape", ["x", "split"], ["blocks"]),
        n("Transpose", ["blocks"], ["moved"], perm=[0, 1, 4, 2, 5, 3]),
        n("Reshape", ["moved", "merged"], ["p"]),
        n("Reshape", ["p", "groups"], ["grouped"]),
        n("Transpose", ["grouped"], ["swapped"], perm=[0, 2, 1, 3, 4]),
        n("Reshape", ["swapped", "back"], ["y"]),
    ]
    constants = {
        "split": np.array([0, 4, 2, 2, 3, 3]),
        "merged": np.array([0, 4, 6, 6]),
        "groups": np.array([0, 2, 2, 6, 6]),
        "back": np.array([0, 4, 6, 6]),
    }
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 16, 3, 3), "y", constants, opset=11))
    assert [(layer.type_name, layer.name) for layer in model.order[1:]] == [
        ("PixelShuffle", "p"),
        ("ChannelShuffle", "y"),
    ]


@pytest.mark.parametrize(("opset", "ops"), [(9, ["Reshape", "Transpose", "Reshape"]), (11, ["DepthToSpace"])])
def test_pixel_shuffle_exports_as_depth_to_space_from_opset_11(opset, ops):
    document = NetworkDocument("pixel shuffle")
    entry = document.add_node("Input", {"shape": [8, 3, 2]}, name="input")
    document.chain(entry.id, [("PixelShuffle", {}, "shuffle")])
    exported = export_model(Model(document), opset)
    assert [node.op_type for node in exported.graph.node] == ops
    assert [node.type_name for node in import_model(exported).document.nodes] == ["Input", "PixelShuffle"]


# -- what torch.onnx.export writes ------------------------------------------------------------------


def torch_modules(torch):
    nn, F = torch.nn, torch.nn.functional

    class Lambda(nn.Module):
        def __init__(self, function):
            super().__init__()
            self.function = function

        def forward(self, x):
            return self.function(x)

    return {
        "depthwise": nn.Conv2d(4, 8, 3, padding=1, groups=4),
        "transposed": nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
        "nearest": nn.Upsample(scale_factor=2, mode="nearest"),
        "bilinear": nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        "bilinear to a size": Lambda(lambda x: F.interpolate(x, size=(10, 9), mode="bilinear", align_corners=False)),
        "reflection pad": nn.ReflectionPad2d((1, 2, 0, 3)),
        "constant pad": Lambda(lambda x: F.pad(x, (1, 2, 0, 3), value=0.5)),
        "replication pad": nn.ReplicationPad2d(1),
        "global max pool": Lambda(lambda x: F.adaptive_max_pool2d(x, 1).flatten(1)),
        "mean over H and W": Lambda(lambda x: x.mean(dim=(2, 3))),
        "max over H and W": Lambda(lambda x: x.amax(dim=(2, 3), keepdim=True)),
        "dilated max pool": nn.MaxPool2d(2, stride=1, dilation=2, padding=1),
    }


@pytest.mark.parametrize("opset", [9, 11, 13, 18])
def test_what_torch_onnx_export_writes_imports(opset):
    torch = pytest.importorskip("torch")
    for name, module in torch_modules(torch).items():
        if opset < 11 and name.startswith("bilinear"):
            continue  # torch writes asymmetric linear up-sampling there, which is not what it computes
        if opset < 10 and name == "dilated max pool":
            continue  # torch cannot export it
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(), torch.randn(1, 4, 5, 6), buffer, opset_version=opset, dynamo=False,
                input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
            )  # fmt: skip
        assert_same_as_onnxruntime(onnx.load_from_string(buffer.getvalue())), name


# -- what the export refuses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "params", "message"),
    [
        ("Upsample2D", {"mode": "bilinear"}, "bilinear up-sampling \\(half-pixel\\) needs opset 11 or later"),
        ("Upsample2D", {"size": [9, 12]}, "up-sampling by a factor that is not whole needs opset 11 or later"),
        ("MaxPool2D", {"dilation": 2, "stride": 1}, "dilated max pooling needs opset 10 or later"),
    ],
)
def test_forms_an_old_opset_lacks_are_refused_at_export(layer, params, message):
    document = NetworkDocument("old opset")
    entry = document.add_node("Input", {"shape": [2, 5, 6]}, name="input")
    document.chain(entry.id, [(layer, params, "under_test")])
    model = Model(document)
    randomize(model)
    with pytest.raises(OnnxExportError, match=message):
        export_model(model, 9)
