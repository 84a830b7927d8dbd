"""Why this class? Grad-CAM, saliency, SmoothGrad and occlusion against references."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.explain import (
    ExplainError,
    default_gradcam_layer,
    explain,
    grad_cam,
    occlusion,
    resize_bilinear,
    saliency,
    smoothgrad,
    softmax,
    top_classes,
)
from core.engine.model import Model
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network


def example_model(name: str, seed: int = 1) -> Model:
    return Model(load_network(example_path(name)), dtype=np.float64, seed=seed)


def node_id(model: Model, name: str) -> str:
    return model.document.node_by_name(name).id  # type: ignore[union-attr]


def sample(model: Model, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(model.input_shape)


def with_random_batchnorm_statistics(model: Model, seed: int = 0) -> Model:
    """Running statistics away from 0 and 1, so that BatchNorm's inference map is not the identity."""
    rng = np.random.default_rng(seed)
    for op in model.ops.values():
        if "running_mean" in op.buffers:
            op.buffers["running_mean"][...] = rng.normal(0, 0.3, op.buffers["running_mean"].shape)
            op.buffers["running_var"][...] = rng.uniform(0.5, 2.0, op.buffers["running_var"].shape)
    return model


# --- occlusion --------------------------------------------------------------------------


def brute_force_occlusion(model: Model, x: np.ndarray, class_index: int, window: int, stride: int, fill: float):
    _, height, width = model.input_shape
    probability = softmax(model.forward_logits(x[None]))[0, class_index]
    total, covered = np.zeros((height, width)), np.zeros((height, width))
    for top in range(0, height - window + 1, stride):
        for left in range(0, width - window + 1, stride):
            hidden = x.copy()
            hidden[:, top : top + window, left : left + window] = fill
            drop = probability - softmax(model.forward_logits(hidden[None]))[0, class_index]
            total[top : top + window, left : left + window] += drop
            covered[top : top + window, left : left + window] += 1
    return np.divide(total, covered, out=np.zeros_like(total), where=covered > 0)


@pytest.mark.parametrize(
    ("name", "window", "stride", "fill"), [("digits_cnn", 3, 1, 0.0), ("lenet5", 8, 6, 0.5), ("lenet5", 5, 5, -1.0)]
)
def test_occlusion_equals_a_double_loop_over_windows(name, window, stride, fill):
    model = example_model(name)
    x = sample(model)
    for class_index in (0, 7):
        expected = brute_force_occlusion(model, x, class_index, window, stride, fill)
        got = occlusion(model, x, class_index, window=window, stride=stride, fill=fill)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        assert np.abs(got).max() > 0


def test_occlusion_leaves_uncovered_margins_at_zero():
    model = example_model("lenet5")
    heatmap = occlusion(model, sample(model), 3, window=8, stride=6)  # windows start at 0, 6, 12, 18
    assert np.all(heatmap[26:, :] == 0) and np.all(heatmap[:, 26:] == 0)
    assert np.all(heatmap[:26, :26] != 0)


# --- Grad-CAM against PyTorch autograd --------------------------------------------------


def torch_grad_cam(model: Model, x: np.ndarray, layer_id: str, class_index: int) -> np.ndarray:
    torch = pytest.importorskip("torch")
    from core.torch_engine.engine import build_module
    from core.torch_export.project import torch_layers, torch_state

    module = build_module(model).double().eval()
    # Reload in float64: build_module loaded the weights into float32 parameters.
    module.load_state_dict({key: torch.from_numpy(value) for key, value in torch_state(model).items()})
    attributes = {layer.node.id: layer.attribute for layer in torch_layers(model)[1]}
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_module, _inputs, output):
            if name == "layer":
                output.retain_grad()
            outputs[name] = output

        return hook

    getattr(module, attributes[layer_id]).register_forward_hook(keep("layer"))
    getattr(module, attributes[model.logits_node.id]).register_forward_hook(keep("logits"))
    module(torch.from_numpy(x[None].copy()))
    outputs["logits"][0, class_index].backward()
    activation, gradient = outputs["layer"].detach(), outputs["layer"].grad
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    coarse = torch.relu((weights * activation).sum(dim=1, keepdim=True))
    resized = torch.nn.functional.interpolate(coarse, size=x.shape[1:], mode="bilinear", align_corners=False)
    fine = torch.relu(resized)[0, 0].numpy()
    return fine / fine.max() if fine.max() > 0 else fine


@pytest.mark.parametrize(
    ("name", "layer"),
    [("digits_cnn", None), ("digits_cnn", "relu1"), ("lenet5", None), ("lenet5", "conv2"), ("cifar_cnn", "conv5_bn")],
)
def test_grad_cam_equals_torch_autograd(name, layer):
    pytest.importorskip("torch")
    model = with_random_batchnorm_statistics(example_model(name))
    layer_id = default_gradcam_layer(model) if layer is None else node_id(model, layer)
    x = sample(model, 2)
    nonzero = 0
    for class_index in range(10):
        expected = torch_grad_cam(model, x, layer_id, class_index)
        got = grad_cam(model, x, layer_id, class_index)
        assert got.shape == x.shape[1:]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-12)
        nonzero += expected.max() > 0
    assert nonzero >= 3  # the comparison is not of zero maps only


def test_grad_cam_is_in_unit_range_and_explains_the_predicted_class_by_default():
    model = example_model("digits_cnn")
    x = sample(model)
    predicted = int(np.argmax(model.forward_logits(x[None])[0]))
    heatmap = grad_cam(model, x)
    np.testing.assert_array_equal(heatmap, grad_cam(model, x, class_index=predicted))
    assert heatmap.min() >= 0 and heatmap.max() in (0.0, 1.0)


def test_default_gradcam_layer_is_the_last_feature_map_before_flatten():
    digits, lenet = example_model("digits_cnn"), example_model("lenet5")
    assert digits.document.node(default_gradcam_layer(digits)).name == "pool"  # 32×4×4
    assert lenet.document.node(default_gradcam_layer(lenet)).name == "pool2"  # 16×5×5


def test_bilinear_resize_keeps_constants_and_sizes():
    np.testing.assert_allclose(resize_bilinear(np.full((3, 5), 2.5), 7, 4), np.full((7, 4), 2.5))
    image = np.random.default_rng(0).random((4, 6))
    np.testing.assert_array_equal(resize_bilinear(image, 4, 6), image)


# --- saliency and SmoothGrad -------------------------------------------------------------


def test_saliency_equals_finite_differences():
    model = example_model("digits_cnn")
    x, class_index, step = sample(model, 3), 4, 1e-6
    heatmap = saliency(model, x, class_index)
    rng = np.random.default_rng(1)
    for row, col in rng.integers(0, 8, size=(6, 2)):
        up, down = x.copy(), x.copy()
        up[0, row, col] += step
        down[0, row, col] -= step
        difference = model.forward_logits(up[None])[0, class_index] - model.forward_logits(down[None])[0, class_index]
        assert heatmap[row, col] == pytest.approx(abs(difference) / (2 * step), rel=1e-5, abs=1e-9)


def test_saliency_equals_torch_gradient_on_colour_input():
    torch = pytest.importorskip("torch")
    from core.torch_engine.engine import build_module
    from core.torch_export.project import torch_layers, torch_state

    model = with_random_batchnorm_statistics(example_model("cifar_cnn"))
    module = build_module(model).double().eval()
    module.load_state_dict({key: torch.from_numpy(value) for key, value in torch_state(model).items()})
    attributes = {layer.node.id: layer.attribute for layer in torch_layers(model)[1]}
    logits: list[torch.Tensor] = []
    getattr(module, attributes[model.logits_node.id]).register_forward_hook(lambda _m, _i, out: logits.append(out))
    x = sample(model)
    tensor = torch.from_numpy(x[None].copy()).requires_grad_(True)
    module(tensor)
    logits[0][0, 6].backward()
    expected = tensor.grad[0].abs().amax(dim=0).numpy()
    np.testing.assert_allclose(saliency(model, x, 6), expected, rtol=1e-7, atol=1e-14)


def test_smoothgrad_without_noise_and_one_sample_is_saliency():
    model = example_model("lenet5")
    x = sample(model)
    np.testing.assert_allclose(smoothgrad(model, x, 2, samples=1, noise=0.0), saliency(model, x, 2), rtol=1e-12)


def test_smoothgrad_is_seeded_and_averages_noisy_gradients():
    model = example_model("digits_cnn")
    x = sample(model)
    first = smoothgrad(model, x, 1, samples=40, noise=0.2, seed=5)  # more than one batch of copies
    np.testing.assert_array_equal(first, smoothgrad(model, x, 1, samples=40, noise=0.2, seed=5))
    assert not np.allclose(first, smoothgrad(model, x, 1, samples=40, noise=0.2, seed=6))
    assert not np.allclose(first, saliency(model, x, 1))


# --- classes, the entry point, float32 ---------------------------------------------------


def test_top_classes_are_sorted_softmax_probabilities():
    model = example_model("digits_cnn")
    x = sample(model)
    probabilities = model.forward(x[None])[0]  # the network ends in Softmax
    top = top_classes(model, x, 3)
    assert [index for index, _ in top] == list(np.argsort(-probabilities)[:3])
    np.testing.assert_allclose([p for _, p in top], np.sort(probabilities)[::-1][:3], rtol=1e-12)
    assert len(top_classes(model, x, 50)) == 10


@pytest.mark.parametrize("method", ["gradcam", "saliency", "smoothgrad", "occlusion"])
def test_explain_runs_every_method_in_float32(method):
    model = Model(load_network(example_path("digits_cnn")), seed=1)
    x = sample(model).astype(np.float32)
    result = explain(model, x, method, class_index=3, window=4, stride=2)
    assert result.heatmap.shape == (8, 8) and result.heatmap.dtype == np.float64
    assert result.method == method and result.class_index == 3 and len(result.top) == 5
    assert (result.layer_id == default_gradcam_layer(model)) == (method == "gradcam")


# --- refusals name their cause ----------------------------------------------------------


def vector_input_model() -> Model:
    document = NetworkDocument("vector")
    entry = document.add_node("Input", {"shape": [6]}, name="features")
    document.chain(entry.id, [("Dense", {"units": 3}, "scores")])
    return Model(document)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda m, x: grad_cam(m, x, layer_id=node_id(m, "flatten")), ["'flatten'", "512"]),
        (lambda m, x: grad_cam(m, x, layer_id="n99"), ["'n99'"]),
        (lambda m, x: grad_cam(m, x, class_index=10), ["class 10", "0 … 9"]),
        (lambda m, x: saliency(m, x, class_index=-1), ["class -1"]),
        (lambda m, x: occlusion(m, x, window=9), ["window 9", "8×8"]),
        (lambda m, x: occlusion(m, x, stride=0), ["stride", "0"]),
        (lambda m, x: smoothgrad(m, x, samples=0), ["samples", "0"]),
        (lambda m, x: smoothgrad(m, x, noise=-1.0), ["noise", "-1"]),
        (lambda m, x: top_classes(m, x, k=0), ["k ", "0"]),
        (lambda m, x: saliency(m, x[:, :4]), ["1×8×8", "1×4×8"]),
        (lambda m, x: explain(m, x, "lime"), ["'lime'", "gradcam"]),
        (lambda m, x: explain(m, x, "saliency", layer_id="n2"), ["Grad-CAM", "saliency"]),
    ],
)
def test_refusals_name_their_cause(call, words):
    model = example_model("digits_cnn")
    with pytest.raises(ExplainError) as raised:
        call(model, sample(model))
    for word in words:
        assert word in str(raised.value)


def test_refuses_networks_that_are_not_image_classifiers():
    with pytest.raises(ExplainError, match=r"'features'.*6"):
        saliency(vector_input_model(), np.zeros(6))
    autoencoder = Model(load_network(example_path("conv_autoencoder")))
    with pytest.raises(ExplainError, match="vector of class scores"):
        occlusion(autoencoder, np.zeros(autoencoder.input_shape))
    mlp = Model(load_network(example_path("mlp")))
    with pytest.raises(ExplainError, match="feature map"):
        grad_cam(mlp, np.zeros(mlp.input_shape))
