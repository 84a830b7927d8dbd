"""The modern activations: formulas, gradients over their whole range, PReLU's slopes, the fused
LogSoftmax loss, and ONNX import of each op and of the multi-node forms exporters write."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.analysis.summary import summarize
from core.engine.losses import softmax_cross_entropy
from core.engine.model import Model
from core.errors import ParamError
from core.graph.document import NetworkDocument
from core.layers import layer_class
from core.onnx_io.export import MIN_OPSET, OnnxExportError, export_model
from core.onnx_io.importer import OnnxImportError, import_model
from tests.core.engine.test_gradients import check_gradients
from tests.core.onnx_io.helpers import build_model, run_onnx
from tests.core.onnx_io.test_import import assert_same_as_onnxruntime, n

erf = np.vectorize(math.erf)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


FORMULAS = {
    ("ReLU6", ()): lambda x: np.minimum(np.maximum(x, 0), 6),
    ("PReLU", ()): lambda x: np.where(x > 0, x, 0.25 * x),  # the initial slope
    ("HardSigmoid", ()): lambda x: np.clip(x / 6 + 0.5, 0, 1),
    ("HardSigmoid", (("alpha", 0.2), ("beta", 0.3))): lambda x: np.clip(0.2 * x + 0.3, 0, 1),
    ("HardSwish", ()): lambda x: x * np.clip(x + 3, 0, 6) / 6,
    ("SiLU", ()): lambda x: x * sigmoid(x),
    ("GELU", ()): lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))),
    ("GELU", (("approximate", "tanh"),)): lambda x: (
        0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    ),
    ("Softplus", ()): lambda x: np.log1p(np.exp(x)),
    ("SELU", ()): lambda x: np.where(
        x > 0, 1.0507009873554805 * x, 1.0507009873554805 * 1.6732632423543772 * np.expm1(np.minimum(x, 0))
    ),
    ("SELU", (("alpha", 0.5), ("gamma", 2.0))): lambda x: np.where(x > 0, 2 * x, np.expm1(np.minimum(x, 0))),
    ("HardTanh", ()): lambda x: np.clip(x, -1, 1),
    ("HardTanh", (("min_val", -0.5), ("max_val", 3.0))): lambda x: np.clip(x, -0.5, 3),
}
"""Each new elementwise activation (and a configuration) with its closed form."""
CURVES = [
    pytest.param(type_name, dict(params), formula, id="-".join([type_name, *(str(value) for _, value in params)]))
    for (type_name, params), formula in FORMULAS.items()
]


def single(type_name, params=None, shape=(3, 4, 5)):
    document = NetworkDocument("activation")
    entry = document.add_node("Input", {"shape": list(shape)}, name="input")
    document.chain(entry.id, [(type_name, params, "act")])
    return document


@pytest.mark.parametrize(("type_name", "params", "formula"), CURVES)
def test_forward_is_the_formula(type_name, params, formula):
    x = np.linspace(-10, 10, 2001)[None]
    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 2e-6)):
        model = Model(single(type_name, params, (x.shape[1],)), dtype=dtype)
        np.testing.assert_allclose(model.forward(x.astype(dtype)), formula(x), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("type_name", "params", "formula"), CURVES)
def test_derivative_over_the_whole_range(type_name, params, formula):
    # Inputs up to about ±12 reach every piece: ReLU6's cap, the flat ends of the hard functions.
    # Elementwise, so each f'(x) is checked against its own central difference.
    model = Model(single(type_name, params), dtype=np.float64, seed=0)
    x = np.random.default_rng(1).standard_normal((3, *model.input_shape)) * 4
    model.forward(x, training=True)
    analytic = model.backward(np.ones((3, *model.output_shape)), from_logits=False)
    step = 1e-6
    numeric = (model.forward(x + step) - model.forward(x - step)) / (2 * step)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_which_are_curves_and_which_want_he_initialisation():
    curves = {"ReLU6", "PReLU", "HardSigmoid", "HardSwish", "SiLU", "GELU", "Softplus", "SELU", "HardTanh"}
    relu_like = {"ReLU6", "PReLU", "HardSwish", "SiLU", "GELU"}
    for type_name in [*curves, "LogSoftmax"]:
        cls = layer_class(type_name)
        assert cls.category == "Activation" and cls.summary
        assert cls.is_activation_function == (type_name in curves), type_name
        assert cls.he_init_before == (type_name in relu_like), type_name


def test_prelu_learns_one_unregularised_slope_per_channel():
    document = NetworkDocument("prelu")
    entry = document.add_node("Input", {"shape": [3, 6, 6]}, name="input")
    document.chain(entry.id, [("Conv2D", {"filters": 4, "kernel_size": 3}, "conv"), ("PReLU", None, "act")])
    row = next(layer for layer in summarize(document).layers if layer.name == "act")
    assert row.params == 4
    model = Model(document, seed=0)
    np.testing.assert_array_equal(model.state_dict()["act/weight"], np.full(4, 0.25, np.float32))
    # L1/L2 cover the leading slice of regularised tensors: the convolution's kernel alone.
    assert model.regularized_size == 4 * 3 * 3 * 3
    # Before a PReLU the convolution is initialised He: N(0, 2 / fan_in).
    kernel = model.state_dict()["conv/weight"]
    assert kernel.std() == pytest.approx(math.sqrt(2 / 27), rel=0.25)


def test_a_final_log_softmax_is_fused_with_cross_entropy():
    document = single("Dense", {"units": 4}, (5,))
    document.chain(document.node_by_name("act").id, [("LogSoftmax", None, "log_probabilities")])
    model = Model(document, dtype=np.float64, seed=0)
    assert model.logits_node.name == "act"
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((6, 5)), rng.integers(0, 4, 6)
    log_probabilities = model.forward(x)
    fused, _ = softmax_cross_entropy(model.forward_logits(x), labels)
    assert fused == pytest.approx(-log_probabilities[np.arange(6), labels].mean(), rel=1e-12)

    def cross_entropy(m, with_grad=False):
        loss, grad = softmax_cross_entropy(m.forward_logits(x, training=True), labels)
        return (loss, grad, True) if with_grad else (loss,)

    check_gradients(model, x, cross_entropy)


def test_a_per_pixel_log_softmax_is_not_fused():
    model = Model(single("LogSoftmax"))
    assert model.logits_node is model.output_node
    out = model.forward(np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32))
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("opset", [MIN_OPSET, 8])
def test_the_exact_gelu_needs_erf_from_opset_9(opset):
    with pytest.raises(OnnxExportError, match=f"opset {opset} lacks \\(from opset 9\\).*approximate='tanh'"):
        export_model(Model(single("GELU")), opset)


@pytest.mark.parametrize(("type_name", "op", "opset"), [("SiLU", "Swish", 24), ("GELU", "Gelu", 20)])
def test_the_single_ops_of_newer_opsets_are_written_and_read(type_name, op, opset):
    for params in ({}, {"approximate": "tanh"}) if type_name == "GELU" else ({},):
        model = Model(single(type_name, params), seed=0)
        exported = export_model(model, opset)
        assert [node.op_type for node in exported.graph.node] == [op]
        imported = import_model(exported)
        assert [(node.type_name, dict(node.layer.params)) for node in imported.document.nodes][1:] == [
            (type_name, dict(model.document.node_by_name("act").layer.params))
        ]
        x = np.random.default_rng(0).standard_normal((2, *model.input_shape)).astype(np.float32) * 4
        np.testing.assert_allclose(run_onnx(exported, x), model.forward(x), rtol=1e-5, atol=1e-6)


def imported_layers(model):
    return [(node.type_name, dict(node.layer.params)) for node in model.order][1:]


# -- ONNX ops ----------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [9, 11, 13])
def test_clip_to_0_and_6_is_relu6_and_to_0_is_relu(opset):
    def clip(low, high):
        if opset < 11:
            bounds = {key: value for key, value in (("min", low), ("max", high)) if value is not None}
            return build_model([n("Clip", ["x"], ["y"], **bounds)], (1, 3, 4, 4), "y", opset=opset)
        names = ["lo" if low is not None else "", "hi" if high is not None else ""]
        constants = {k: np.array(v, np.float32) for k, v in (("lo", low), ("hi", high)) if v is not None}
        return build_model([n("Clip", ["x", *names], ["y"])], (1, 3, 4, 4), "y", constants, opset=opset)

    assert imported_layers(assert_same_as_onnxruntime(clip(0.0, 6.0))) == [("ReLU6", {})]
    assert imported_layers(assert_same_as_onnxruntime(clip(0.0, None))) == [("ReLU", {})]
    assert imported_layers(assert_same_as_onnxruntime(clip(-1.0, 1.0))) == [
        ("HardTanh", {"min_val": -1.0, "max_val": 1.0})
    ]
    # Bounds read as the shortest decimal of their single-precision value.
    assert imported_layers(assert_same_as_onnxruntime(clip(-0.1, 0.7))) == [
        ("HardTanh", {"min_val": -0.1, "max_val": 0.7})
    ]
    with pytest.raises(
        OnnxImportError, match=r"Clip \(y\): clipping to \[−∞, 6\] has no layer: HardTanh needs two finite bounds"
    ):
        import_model(clip(None, 6.0))
    with pytest.raises(OnnxImportError, match=r"Clip \(y\): clipping to \[2, ∞\] has no layer"):
        import_model(clip(2.0, None))
    with pytest.raises(
        OnnxImportError, match=r"clipping to \[1, 1\] has no layer: HardTanh needs its lower bound below"
    ):
        import_model(clip(1.0, 1.0))


def test_clip_with_a_computed_bound_is_refused():
    nodes = [n("Relu", ["x"], ["m"]), n("Clip", ["x", "lo", "m"], ["y"])]
    model = build_model(nodes, (1, 3), "y", {"lo": np.array(0, np.float32)}, opset=13)
    with pytest.raises(OnnxImportError, match=r"Clip \(y\): its bounds must be constant numbers"):
        import_model(model)


@pytest.mark.parametrize(
    ("shape", "slope"),
    [((1, 3, 4, 4), np.array([[[0.1]], [[0.2]], [[-0.3]]])), ((1, 3, 4, 4), np.array([0.2])), ((1, 5), np.arange(5.0))],
    ids=["per channel", "shared", "features"],
)
def test_prelu_reads_its_slopes(shape, slope):
    model = build_model([n("PRelu", ["x", "slope"], ["y"])], shape, "y", {"slope": slope.astype(np.float32)})
    imported = import_model(model)
    assert [node.type_name for node in imported.document.nodes] == ["Input", "PReLU"]
    expected = np.broadcast_to(slope.reshape(-1), (shape[1],))
    np.testing.assert_array_equal(imported.weights["y/weight"], expected.astype(np.float32))
    assert_same_as_onnxruntime(model)


def test_before_opset_7_a_slope_of_c_values_is_per_channel_whatever_the_rank():
    # PRelu-6 matched a 1-D slope to axis 1; from opset 7 it broadcasts along the last axis.
    slope = np.array([0.1, -0.2, 0.3], np.float32)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    imported = import_model(build_model([n("PRelu", ["x", "slope"], ["y"])], (1, 3, 4, 5), "y", {"slope": slope}, 6))
    np.testing.assert_array_equal(imported.weights["y/weight"], slope)
    model = Model(imported.document)
    model.load_state_dict(imported.weights)
    np.testing.assert_allclose(model.forward(x), np.where(x > 0, x, x * slope[:, None, None]), rtol=1e-6)
    later = build_model([n("PRelu", ["x", "slope"], ["y"])], (1, 3, 4, 5), "y", {"slope": slope}, 7)
    with pytest.raises(OnnxImportError, match=r"PRelu \(y\): a slope of shape \[3\] is not per channel"):
        import_model(later)


def test_prelu_with_a_slope_per_pixel_is_refused():
    model = build_model(
        [n("PRelu", ["x", "slope"], ["y"])], (1, 2, 3, 3), "y", {"slope": np.ones((2, 3, 3), np.float32)}
    )
    with pytest.raises(OnnxImportError, match=r"PRelu \(y\): a slope of shape \[2, 3, 3\] is not per channel"):
        import_model(model)


def test_hard_sigmoid_reads_onnx_defaults_and_pytorch_slope():
    plain = build_model([n("HardSigmoid", ["x"], ["y"])], (1, 3), "y")
    assert imported_layers(assert_same_as_onnxruntime(plain)) == [("HardSigmoid", {"alpha": 0.2, "beta": 0.5})]
    pytorch = build_model([n("HardSigmoid", ["x"], ["y"], alpha=1 / 6)], (1, 3), "y")
    assert imported_layers(assert_same_as_onnxruntime(pytorch)) == [("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5})]


def test_selu_reads_onnx_defaults_as_pytorch_constants():
    # ONNX's defaults are the single-precision values of PyTorch's constants.
    plain = build_model([n("Selu", ["x"], ["y"])], (1, 3, 4, 4), "y")
    assert imported_layers(assert_same_as_onnxruntime(plain)) == [
        ("SELU", {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805})
    ]
    written = build_model([n("Selu", ["x"], ["y"], alpha=1.6732632423543772, gamma=1.0507009873554805)], (1, 3), "y")
    assert imported_layers(assert_same_as_onnxruntime(written)) == [
        ("SELU", {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805})
    ]
    other = build_model([n("Selu", ["x"], ["y"], alpha=1.2, gamma=0.3)], (1, 3), "y")
    assert imported_layers(assert_same_as_onnxruntime(other)) == [("SELU", {"alpha": 1.2, "gamma": 0.3})]


def test_selu_without_a_positive_scale_is_refused():
    with pytest.raises(OnnxImportError, match=r"Selu \(y\): gamma must be > 0, got 0$"):
        import_model(build_model([n("Selu", ["x"], ["y"], gamma=0.0)], (1, 3), "y"))


def test_hard_tanh_needs_its_lower_bound_below_the_upper():
    with pytest.raises(ParamError, match=r"max_val.*must be greater than min_val \(1\), got 1"):
        layer_class("HardTanh")(min_val=1.0, max_val=1.0)
    with pytest.raises(ParamError, match=r"must be a finite number"):
        layer_class("HardTanh")(max_val=math.inf)


def test_swish_with_another_alpha_is_refused():
    model = build_model([n("Swish", ["x"], ["y"], alpha=2.0)], (1, 3), "y", opset=24)
    with pytest.raises(OnnxImportError, match=r"Swish \(y\): Swish with alpha 2.*has no layer \(SiLU is alpha 1\)"):
        import_model(model)


# -- multi-node forms --------------------------------------------------------------------------

SQRT2 = np.array(math.sqrt(2), np.float32)
CONSTANTS = {
    "sqrt2": SQRT2,
    "inv_sqrt2": np.array(1 / math.sqrt(2), np.float32),
    "one": np.array(1, np.float32),
    "half": np.array(0.5, np.float32),
    "two": np.array(2, np.float32),
    "three": np.array(3, np.float32),
    "six": np.array(6, np.float32),
    "sixth": np.array(1 / 6, np.float32),
    "zero": np.array(0, np.float32),
    "kappa": np.array(0.044715, np.float32),
    "beta": np.array(math.sqrt(2 / math.pi), np.float32),
}
ERF = [n("Div", ["x", "sqrt2"], ["s"]), n("Erf", ["s"], ["e"]), n("Add", ["e", "one"], ["a"])]
"""``a = 1 + erf(x/√2)``, as torch.onnx.export writes it."""
TANH = [
    n("Mul", ["x", "x"], ["x2"]), n("Mul", ["x", "x2"], ["x3"]), n("Mul", ["x3", "kappa"], ["k"]),
    n("Add", ["x", "k"], ["i"]), n("Mul", ["i", "beta"], ["s"]), n("Tanh", ["s"], ["t"]),
    n("Add", ["t", "one"], ["a"]),
]  # fmt: skip
"""``a = 1 + tanh(√(2/π)·(x + 0.044715·x³))``, as torch.onnx.export writes it."""
PATTERNS = {
    "GELU, PyTorch": ([*ERF, n("Mul", ["x", "a"], ["p"]), n("Mul", ["p", "half"], ["y"])], ("GELU", "none")),
    "GELU, Keras": (
        [
            n("Mul", ["x", "inv_sqrt2"], ["s"]),
            n("Erf", ["s"], ["e"]),
            n("Add", ["one", "e"], ["a"]),
            n("Mul", ["half", "x"], ["h"]),
            n("Mul", ["h", "a"], ["y"]),
        ],
        ("GELU", "none"),
    ),
    "GELU, halved by a Div": ([*ERF, n("Mul", ["a", "x"], ["p"]), n("Div", ["p", "two"], ["y"])], ("GELU", "none")),
    "GELU tanh, PyTorch": ([*TANH, n("Mul", ["x", "a"], ["p"]), n("Mul", ["p", "half"], ["y"])], ("GELU", "tanh")),
    "GELU tanh, Pow": (
        [
            n("Pow", ["x", "three"], ["x3"]),
            n("Mul", ["kappa", "x3"], ["k"]),
            n("Add", ["k", "x"], ["i"]),
            n("Mul", ["beta", "i"], ["s"]),
            n("Tanh", ["s"], ["t"]),
            n("Add", ["one", "t"], ["a"]),
            n("Mul", ["half", "x"], ["h"]),
            n("Mul", ["a", "h"], ["y"]),
        ],
        ("GELU", "tanh"),
    ),
    "SiLU": ([n("Sigmoid", ["x"], ["g"]), n("Mul", ["x", "g"], ["y"])], ("SiLU", None)),
    "SiLU, swapped": ([n("Sigmoid", ["x"], ["g"]), n("Mul", ["g", "x"], ["y"])], ("SiLU", None)),
    "HardSwish, PyTorch": (
        [n("HardSigmoid", ["x"], ["g"], alpha=1 / 6, beta=0.5), n("Mul", ["x", "g"], ["y"])],
        ("HardSwish", None),
    ),
    "HardSwish, swapped": (
        [n("HardSigmoid", ["x"], ["g"], alpha=1 / 6, beta=0.5), n("Mul", ["g", "x"], ["y"])],
        ("HardSwish", None),
    ),
    "HardSwish, Keras": (
        [
            n("Add", ["x", "three"], ["a"]),
            n("Clip", ["a", "zero", "six"], ["r"]),
            n("Mul", ["r", "sixth"], ["g"]),
            n("Mul", ["x", "g"], ["y"]),
        ],
        ("HardSwish", None),
    ),
    "HardSwish, divided": (
        [
            n("Add", ["three", "x"], ["a"]),
            n("Clip", ["a", "zero", "six"], ["r"]),
            n("Mul", ["x", "r"], ["g"]),
            n("Div", ["g", "six"], ["y"]),
        ],
        ("HardSwish", None),
    ),
}


def pattern_model(nodes, before_conv):
    """``nodes`` reading ``x``: the input itself, or (so that its producer is seen to stay as it was) a Conv without bias."""
    constants = dict(CONSTANTS)
    if before_conv:
        constants["W"] = np.random.default_rng(0).standard_normal((3, 2, 3, 3)).astype(np.float32) * 0.5
        nodes = [n("Conv", ["input", "W"], ["x"], pads=[1, 1, 1, 1]), *nodes]
    model = build_model(nodes, (1, 2, 5, 5), "y", constants, opset=13)
    if before_conv:  # build_model names the graph input `x`
        model.graph.input[0].name = "input"
    return model


@pytest.mark.parametrize("label", list(PATTERNS))
@pytest.mark.parametrize("before_conv", [False, True], ids=["on the input", "after a convolution"])
def test_multi_node_forms_are_one_layer(label, before_conv):
    nodes, (type_name, approximate) = PATTERNS[label]
    model = assert_same_as_onnxruntime(pattern_model(nodes, before_conv))
    expected = {"approximate": approximate} if approximate else {}
    layers = [(node.type_name, node.name, dict(node.layer.params)) for node in model.order][1:]
    assert layers == [*([("Conv2D", "x", layers[0][2])] if before_conv else []), (type_name, "y", expected)]
    if before_conv:
        assert layers[0][2]["bias"] is False  # no constant of the pattern became its bias


NEAR_MISSES = {
    "GELU with x/2 inside erf": ("GELU", [
        n("Div", ["x", "two"], ["s"]), n("Erf", ["s"], ["e"]), n("Add", ["e", "one"], ["a"]),
        n("Mul", ["x", "a"], ["p"]), n("Mul", ["p", "half"], ["y"]),
    ]),
    "GELU without the half": ("GELU", [*ERF, n("Mul", ["x", "a"], ["y"])]),
    "x·sigmoid(2x)": ("SiLU", [n("Mul", ["x", "two"], ["d"]), n("Sigmoid", ["d"], ["g"]), n("Mul", ["x", "g"], ["y"])]),
    "x·sigmoid(x), the sigmoid read twice": ("SiLU", [
        n("Sigmoid", ["x"], ["g"]), n("Mul", ["x", "g"], ["m"]), n("Add", ["m", "g"], ["y"]),
    ]),
    "x·HardSigmoid(x) with ONNX's default alpha": (
        "HardSwish", [n("HardSigmoid", ["x"], ["g"]), n("Mul", ["x", "g"], ["y"])]
    ),
}  # fmt: skip


@pytest.mark.parametrize("label", list(NEAR_MISSES))
def test_near_misses_are_not_claimed(label):
    # What else the import makes of them (a refusal, or a Mul of two tensors as a layer of its
    # own) is up to the converters; the pattern's layer must not appear.
    type_name, nodes = NEAR_MISSES[label]
    try:
        imported = [node.type_name for node in import_model(pattern_model(nodes, before_conv=False)).document.nodes]
    except OnnxImportError as exc:
        assert type_name == "GELU" and str(exc).endswith("Erf (e)")
    else:
        assert type_name not in imported
