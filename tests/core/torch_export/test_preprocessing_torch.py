"""The Input's preprocessing in PyTorch: model.py normalises raw pixels as the network does, train.py fits image files."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data.sample_images import fit_image
from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from core.torch_engine.engine import TorchEngine
from core.torch_export.project import (
    MODEL_FILE,
    PREPROCESSING_NAMES,
    model_source,
    torch_state,
    train_source,
    write_torch_project,
)
from core.torch_export.train_script import TrainingSetup
from core.torch_export.weights_back import layerwise_state
from core.training.step_engine import NumpyEngine
from tests.core.helpers import conv, network
from tests.core.onnx_io.helpers import randomize, relative_difference
from tests.core.torch_export.helpers import import_generated, torch_twin

torch = pytest.importorskip("torch")

CAFFE = {"channel_order": "BGR", "value_range": "0..255", "mean": [103.94, 116.78, 123.68], "std": [1.0]}
IMAGENET = {"resize": 10, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
SETTINGS = {"caffe": CAFFE, "imagenet": IMAGENET}


def small_cnn(settings: dict[str, object]) -> NetworkDocument:
    """Input 3×8×8 with ``settings`` → Conv2D → ReLU → Flatten → Dense(4)."""
    doc, _ = network(
        (3, 8, 8), conv(4, name="c1"), ("ReLU", None, "relu"), ("Flatten", None, "flat"), ("Dense", {"units": 4}, "fc")
    )
    input_id = doc.node_by_name("input").id
    for key, value in settings.items():
        doc.set_param(input_id, key, value)
    return doc


def generated(model: Model, directory: Path):
    """The generated module of ``model`` in float32 and eval mode, holding ``model``'s weights."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_text(model_source(model), encoding="utf-8")
    module = import_generated(directory).build_model(pretrained=False)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in torch_state(model).items()})
    return module.eval()


def raw_images(count: int = 5, seed: int = 0) -> np.ndarray:
    """``(count, 3, 8, 8)`` float32 raw pixels in ``[0, 1]``."""
    return np.random.default_rng(seed).random((count, 3, 8, 8), dtype=np.float32)


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_the_module_takes_raw_pixels_and_computes_what_the_network_computes(case, tmp_path):
    doc = small_cnn(SETTINGS[case])
    model = Model(doc, seed=1)
    randomize(model)
    module = generated(model, tmp_path / "float32")
    raw = raw_images()
    seen = []
    module.c1.register_forward_pre_hook(lambda _module, inputs: seen.append(inputs[0].numpy().copy()))
    with torch.no_grad():
        theirs = module(torch.from_numpy(raw)).numpy()
    # The tensor the first layer reads: InputOp's float32 operations in the same order, bit for bit.
    input_id = doc.node_by_name("input").id
    normalised = model.forward_to(raw, [input_id])[input_id]
    np.testing.assert_array_equal(seen[0], normalised)
    np.testing.assert_array_equal(seen[0], doc.node_by_name("input").layer.preprocessing.apply(raw))
    assert relative_difference(theirs, model.forward(raw)) <= 1e-6
    # In float64 (the buffers follow the module's dtype) the two agree to rounding.
    exact = Model(doc, dtype=np.float64, seed=1)
    randomize(exact)
    with torch.no_grad():
        theirs64 = torch_twin(exact, tmp_path / "float64")(torch.from_numpy(raw.astype(np.float64))).numpy()
    assert relative_difference(theirs64, exact.forward(raw.astype(np.float64))) <= 1e-12


def test_model_py_states_the_preprocessing_plainly():
    doc = small_cnn(CAFFE)
    source = model_source(Model(doc))
    tree = ast.parse(source)
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()
        and not isinstance(node.value, ast.Call)
    }  # fmt: skip
    assert constants["PREPROCESSING"] == doc.node_by_name("input").layer.preprocessing.to_json()
    assert constants["CHANNEL_ORDER"] == [2, 1, 0]
    assert "raw RGB pixels in 0..1" in source
    assert "        input = input[:, CHANNEL_ORDER] * self.input_scale + self.input_shift  # " in source
    assert source.count("persistent=False") == 2
    # RGB needs no reordering: no CHANNEL_ORDER, and the first line is one multiply-add.
    rgb = model_source(Model(small_cnn(IMAGENET)))
    assert "CHANNEL_ORDER" not in rgb
    assert "        input = input * self.input_scale + self.input_shift  # " in rgb
    assert "resized to 10 and the centre 8×8 cropped" in rgb


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_the_state_dict_holds_the_weights_only_and_they_come_back_unchanged(case, tmp_path):
    model = Model(small_cnn(SETTINGS[case]), seed=2)
    randomize(model, 3)
    folder = tmp_path / "project"
    write_torch_project(model, folder)
    module = import_generated(folder).build_model()  # loads weights.safetensors, strictly
    state = {key: value.numpy() for key, value in module.state_dict().items()}
    assert list(state) == list(torch_state(model))
    assert not any(name in key for key in state for name in PREPROCESSING_NAMES)
    assert {"input_scale", "input_shift"} <= {name for name, _ in module.named_buffers()}
    back = layerwise_state(model, state)
    expected = model.state_dict()
    assert list(back) == list(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(back[key], value, err_msg=key)


@pytest.mark.parametrize("settings", [{}, {"resize": 12}], ids=["default", "resize_only"])
def test_without_normalisation_model_py_is_as_before(settings, tmp_path):
    source = model_source(Model(small_cnn(settings)))
    plain = model_source(Model(small_cnn({})))
    assert source == plain
    assert "PREPROCESSING" not in source and "register_buffer" not in source and "input_scale" not in source
    module = generated(Model(small_cnn(settings)), tmp_path)
    assert not list(module.buffers())


def test_a_layer_named_like_the_preprocessing_is_renamed():
    doc, _ = network((3, 8, 8), conv(2, name="input_scale"), ("Flatten", None, "CHANNEL_ORDER"))
    input_id = doc.node_by_name("input").id
    for key, value in CAFFE.items():
        doc.set_param(input_id, key, value)
    source = model_source(Model(doc))
    assert "self.input_scale_2 = nn.Conv2d(" in source and "CHANNEL_ORDER_2 = self.CHANNEL_ORDER_2(" in source
    compile(source, MODEL_FILE, "exec")


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_the_pytorch_engine_trains_as_the_numpy_engine(case):
    doc = small_cnn(SETTINGS[case])
    rng = np.random.default_rng(4)
    batches = [(raw_images(8, seed), rng.integers(0, 4, 8)) for seed in range(3)]
    losses = []
    for engine in (NumpyEngine(Model(doc, seed=0), "sgd", "cross_entropy"), TorchEngine(Model(doc, seed=0), "sgd", "cross_entropy")):  # fmt: skip
        engine.begin(0, dropout=False)
        losses.append([engine.train_step(x, y, 0.0, 1e-3, learning_rate=0.01).loss for x, y in batches])
    ours, theirs = np.array(losses)
    np.testing.assert_allclose(theirs, ours, rtol=1e-4)
    assert len(set(ours)) == 3  # the steps changed the weights


# -- train.py: image files fitted as the Input says -------------------------------------------------


def photo_folder(root: Path) -> Path:
    """Two classes of colour images of several sizes and shapes (none 8×8)."""
    rng = np.random.default_rng(5)
    for index, size in enumerate([(12, 10), (10, 16), (23, 11), (10, 10), (40, 30), (17, 25)]):
        path = root / f"class_{index % 2}" / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return root


@pytest.fixture(scope="module")
def fitted_script(tmp_path_factory):
    """The train.py of a project whose Input resizes image files to 10 (ImageNet mean and std), imported."""
    from tests.core.torch_export.test_train_script import import_train_py

    folder = tmp_path_factory.mktemp("fitted") / "project"
    write_torch_project(Model(small_cnn(IMAGENET)), folder)
    return import_train_py(folder)


def test_train_py_holds_the_inputs_resize():
    assert "\nRESIZE = 10\n" in train_source(Model(small_cnn(IMAGENET)), TrainingSetup())
    assert "\nRESIZE = 0\n" in train_source(Model(small_cnn(CAFFE)), TrainingSetup())


def test_train_py_fits_image_files_as_layerwise_fits_a_photograph(tmp_path, fitted_script):
    folder = photo_folder(tmp_path / "photos")
    (x, y), test, class_names = fitted_script.read_fitted_image_folder(folder, (3, 8, 8), 10)
    files = sorted(folder.glob("class_*/*.png"))
    assert class_names == ["class_0", "class_1"] and test is None
    assert x.shape == (6, 3, 8, 8) and x.dtype == np.float32
    for sample, label, file in zip(x, y, files, strict=True):
        with Image.open(file) as image:
            expected = fit_image(image, (3, 8, 8), str(file), resize=10)
        np.testing.assert_array_equal(sample, expected, err_msg=file.name)  # raw: the model normalises
        assert label == int(file.parent.name[-1])
    # Training reads them so: split for validation from the fitted arrays.
    (train_x, _), (val_x, _), classes = fitted_script.load_data(folder, 0)
    assert classes == 2 and len(train_x) + len(val_x) == 6 and train_x.shape[1:] == (3, 8, 8)


def test_a_grey_image_fills_every_channel(tmp_path, fitted_script):
    folder = tmp_path / "grey"
    for label in range(2):
        (folder / f"k{label}").mkdir(parents=True)
        Image.new("L", (14, 9), 40 + 100 * label).save(folder / f"k{label}" / "a.png")
    (x, y), _, _ = fitted_script.read_fitted_image_folder(folder, (3, 8, 8), 10)
    assert y.tolist() == [0, 1] and x.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(x[:, :, 0, 0], [[40 / 255] * 3, [140 / 255] * 3], rtol=1e-6)
