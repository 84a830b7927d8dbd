"""The Input's preprocessing: its rules, its arithmetic, its gradient, and its place in the network file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from core.data.sample_images import fit_image
from core.engine.model import Model
from core.errors import ParamError
from core.graph.fileformat import FORMAT_VERSION, dumps_network, loads_network
from core.layers.io import Input
from core.layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD, InputPreprocessing, imagenet_preprocessing
from tests.core.engine.test_gradients import check_gradients
from tests.core.helpers import conv, network

CAFFE = {"channel_order": "BGR", "value_range": "0..255", "mean": [103.94, 116.78, 123.68], "std": [1.0]}


def textbook(raw: np.ndarray, order: str, value_range: tuple[float, float], mean, std) -> np.ndarray:
    """The preprocessing as people write it: reorder, stretch, subtract the mean, divide by the std."""
    x = raw[:, ::-1] if order == "BGR" else raw
    low, high = value_range
    x = x.astype(np.float64) * (high - low) + low
    mean = np.broadcast_to(np.asarray(mean or [0.0], np.float64), (raw.shape[1],))
    std = np.broadcast_to(np.asarray(std or [1.0], np.float64), (raw.shape[1],))
    return (x - mean[None, :, None, None]) / std[None, :, None, None]


@pytest.mark.parametrize(
    ("settings", "value_range"),
    [
        ({"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}, (0.0, 1.0)),
        (CAFFE, (0.0, 255.0)),
        ({"value_range": "-1..1"}, (-1.0, 1.0)),
        ({"mean": [0.5], "std": [0.25]}, (0.0, 1.0)),
    ],
)
def test_the_input_computes_the_textbook_formula(settings, value_range):
    doc, _ = network((3, 5, 6), ("Flatten", None, "flat"))
    for key, value in settings.items():
        doc.set_param(doc.node_by_name("input").id, key, value)
    model = Model(doc)
    raw = np.random.default_rng(0).random((4, 3, 5, 6), dtype=np.float32)
    expected = textbook(
        raw, settings.get("channel_order", "RGB"), value_range, settings.get("mean"), settings.get("std")
    )
    seen = model.forward_to(raw, [doc.node_by_name("input").id])[doc.node_by_name("input").id]
    np.testing.assert_allclose(seen, expected, rtol=1e-5, atol=1e-4)
    # The value the network computes and InputPreprocessing.apply are the same numbers, bit for bit.
    preprocessing = doc.node_by_name("input").layer.preprocessing
    np.testing.assert_array_equal(preprocessing.apply(raw), seen)
    np.testing.assert_array_equal(model.forward(raw), seen.reshape(4, -1))


def test_training_passes_see_the_same_tensor_as_inference():
    doc, _ = network((3, 4, 4), ("Flatten", None, "flat"))
    input_id = doc.node_by_name("input").id
    for key, value in CAFFE.items():
        doc.set_param(input_id, key, value)
    model = Model(doc)
    raw = np.random.default_rng(1).random((2, 3, 4, 4), dtype=np.float32)
    training = model.forward_to(raw, [input_id], training=True)[input_id]
    inference = model.forward_to(raw, [input_id])[input_id]
    np.testing.assert_array_equal(training, inference)


def test_gradients_reach_the_raw_pixels_through_the_preprocessing():
    doc, _ = network((3, 6, 6), conv(2, name="c1"), ("Flatten", None, "flat"), ("Dense", {"units": 3}, "d"))
    input_id = doc.node_by_name("input").id
    for key, value in CAFFE.items():
        doc.set_param(input_id, key, value)
    doc.set_param(input_id, "std", [2.0, 0.5, 4.0])
    model = Model(doc, dtype=np.float64, seed=2)
    rng = np.random.default_rng(3)
    x = rng.random((2, 3, 6, 6))
    weights = rng.standard_normal((2, 3))

    def weighted_sum(m, with_grad=False):
        value = float(np.sum(m.forward(x, training=True) * weights))
        return (value, weights, False) if with_grad else (value,)

    check_gradients(model, x, weighted_sum)


def test_default_preprocessing_leaves_the_tensor_and_the_file_alone():
    doc, _ = network((3, 4, 4), ("Flatten", None, "flat"))
    raw = np.random.default_rng(2).random((2, 3, 4, 4), dtype=np.float32)
    np.testing.assert_array_equal(Model(doc).forward(raw), raw.reshape(2, -1))
    data = json.loads(dumps_network(doc))
    assert data["version"] == 1
    assert data["layers"][0]["params"] == {"shape": [3, 4, 4]}


def test_the_file_keeps_the_preprocessing_and_says_version_3():
    doc, _ = network((3, 224, 224), ("Flatten", None, "flat"))
    input_id = doc.node_by_name("input").id
    for key, value in imagenet_preprocessing((3, 224, 224)).to_json().items():
        doc.set_param(input_id, key, value)
    text = dumps_network(doc)
    data = json.loads(text)
    assert data["version"] == 3 == FORMAT_VERSION
    assert data["layers"][0]["params"] == {
        "shape": [3, 224, 224],
        "resize": 256,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
    }
    again = loads_network(text)
    assert again.node_by_name("input").layer.preprocessing == doc.node_by_name("input").layer.preprocessing


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"shape": [3, 8, 8], "mean": [0.1, 0.2]}, "mean", "holds 2 numbers; the input has 3 channels"),
        ({"shape": [3, 8, 8], "std": [0.5, 0.0, 1.0]}, "std", "> 0"),
        ({"shape": [1, 8, 8], "channel_order": "BGR"}, "channel_order", "BGR needs a 3-channel input"),
        ({"shape": [3, 224, 224], "resize": 200}, "resize", "smaller than the input's 224×224"),
        ({"shape": [10], "mean": [0.5]}, "mean", "applies to image inputs"),
        ({"shape": [3, 8, 8], "value_range": "0..100"}, "value_range", "must be one of"),
        ({"shape": [3, 8, 8], "mean": [float("nan")]}, "mean", "finite"),
    ],
)
def test_bad_preprocessing_is_refused_naming_the_field(params, field, words):
    with pytest.raises(ParamError) as caught:
        Input(**params)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_imagenet_defaults_scale_the_resize_with_the_input():
    assert imagenet_preprocessing((3, 224, 224)).resize == 256
    assert imagenet_preprocessing((3, 112, 112)).resize == 128
    assert imagenet_preprocessing((3, 224, 224)).normalises
    assert not InputPreprocessing(resize=256).normalises


def test_resize_then_centre_crop_follows_torchvision():
    # A 40×20 picture whose columns count up: Resize(16) gives 32×16, the centre 16 columns start at 8.
    columns = np.tile(np.arange(40, dtype=np.uint8) * 6, (20, 1))
    image = Image.fromarray(np.stack([columns] * 3, axis=-1))
    fitted = fit_image(image, (3, 16, 16), resize=16)
    reference = np.asarray(image.resize((32, 16), Image.Resampling.BILINEAR), np.float32)[:, 8:24] / 255
    np.testing.assert_array_equal(fitted, reference.transpose(2, 0, 1))


def test_resize_against_torchvision_where_installed():
    transforms = pytest.importorskip("torchvision.transforms")
    rng = np.random.default_rng(5)
    image = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    pipeline = transforms.Compose([transforms.Resize(24), transforms.CenterCrop(20)])
    expected = np.asarray(pipeline(image), np.float32).transpose(2, 0, 1) / 255
    np.testing.assert_array_equal(fit_image(image, (3, 20, 20), resize=24), expected)
