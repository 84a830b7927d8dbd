"""An Input's preprocessing in ONNX: described in the metadata, baked into the graph on request, read back."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD, InputPreprocessing
from core.onnx_io.export import MIN_OPSET, PREPROCESSING_KEY, PREPROCESSING_TEXT_KEY, export_model, save_onnx
from core.onnx_io.importer import OnnxImportError, import_model, import_onnx
from tests.core.helpers import conv
from tests.core.onnx_io.helpers import build_model, randomize, relative_difference, run_onnx

IMAGENET = {"resize": 10, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
CAFFE = {"channel_order": "BGR", "value_range": "0..255", "mean": [103.939, 116.779, 123.68], "std": [57.4, 57.1, 58.4]}
SYMMETRIC = {"value_range": "-1..1"}
CASES = {"imagenet": IMAGENET, "caffe": CAFFE, "symmetric": SYMMETRIC}
OPSETS = sorted({MIN_OPSET, 8, 11, 17, onnx.defs.onnx_opset_version()})
FLATTEN = (("Flatten", None, "flat"),)
CNN = (
    conv(4, 3, padding="same", name="conv"),
    ("ReLU", None, "relu"),
    ("Flatten", None, "flat"),
    ("Dense", {"units": 5}, "dense"),
)


def network(settings: dict, layers=FLATTEN, shape=(3, 8, 8)) -> Model:
    """``image → layers``, the Input ``(3, 8, 8)`` with the preprocessing ``settings``; random weights."""
    doc = NetworkDocument("preprocessed")
    entry = doc.add_node("Input", {"shape": list(shape), **settings}, name="image")
    doc.chain(entry.id, list(layers))
    model = Model(doc, seed=0)
    randomize(model, seed=1)
    return model


def raw_images(count: int = 3) -> np.ndarray:
    """``(count, 3, 8, 8)`` float32 raw RGB pixels in ``[0, 1]``."""
    return np.random.default_rng(4).random((count, 3, 8, 8), dtype=np.float32)


def metadata(exported: onnx.ModelProto) -> dict[str, str]:
    return {entry.key: entry.value for entry in exported.metadata_props}


def preprocessing_of(imported) -> InputPreprocessing:
    return next(node for node in imported.document.nodes if node.type_name == "Input").layer.preprocessing


@pytest.mark.parametrize("baked", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_metadata_holds_the_settings_and_says_what_the_graph_reads(case, baked):
    model = network(CASES[case])
    preprocessing = model.input_node.layer.preprocessing
    props = metadata(export_model(model, bake_preprocessing=baked))
    assert set(props) == {PREPROCESSING_KEY, PREPROCESSING_TEXT_KEY}
    assert json.loads(props[PREPROCESSING_KEY]) == {**preprocessing.to_json(), "baked": baked}
    assert " " not in props[PREPROCESSING_KEY]  # compact
    assert props[PREPROCESSING_TEXT_KEY].startswith(preprocessing.describe() + ". ")
    if baked:
        assert "feed it raw RGB pixels in 0..1" in props[PREPROCESSING_TEXT_KEY]
    else:
        assert "expects input already normalised" in props[PREPROCESSING_TEXT_KEY]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_baked_graph_on_raw_pixels_computes_what_the_network_does(case, opset):
    raw = raw_images()
    # The preprocessing alone: the same float32 operations in the same order, bit for bit.
    model = network(CASES[case])
    exported = export_model(model, opset, bake_preprocessing=True)
    np.testing.assert_array_equal(run_onnx(exported, raw), model.forward(raw))
    names = [node.name for node in exported.graph.node]
    expected = ["image_preprocess_scale", "image_preprocess_shift", "flat"]
    assert names == (["image_preprocess_order", *expected] if CASES[case].get("channel_order") == "BGR" else expected)
    # Behind it, the network's layers as in every export.
    model = network(CASES[case], CNN)
    exported = export_model(model, opset, bake_preprocessing=True)
    assert relative_difference(run_onnx(exported, raw), model.forward(raw)) <= 1e-6


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_plain_graph_reads_the_normalised_tensor(case):
    raw = raw_images()
    model = network(CASES[case])
    preprocessing = model.input_node.layer.preprocessing
    exported = export_model(model)
    assert [node.op_type for node in exported.graph.node] == ["Flatten"]
    np.testing.assert_array_equal(run_onnx(exported, preprocessing.apply(raw)), model.forward(raw))
    model = network(CASES[case], CNN)
    exported = export_model(model)
    assert relative_difference(run_onnx(exported, preprocessing.apply(raw)), model.forward(raw)) <= 1e-6


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_import_takes_every_setting_back_from_a_plain_graph(case, tmp_path):
    model = network(CASES[case], CNN)
    save_onnx(model, tmp_path / "m.onnx")
    imported = import_onnx(tmp_path / "m.onnx")
    original = model.input_node.layer.preprocessing
    assert preprocessing_of(imported) == original
    assert imported.notes[0] == (
        f"input 'image': preprocessing taken from the model's metadata ({PREPROCESSING_KEY}): {original.describe()}"
    )
    again = Model(imported.document)
    again.load_state_dict(imported.weights)
    raw = raw_images()
    assert relative_difference(again.forward(raw), model.forward(raw)) <= 1e-6


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_import_of_a_baked_graph_takes_only_the_resize(case):
    model = network(CASES[case], CNN)
    imported = import_model(export_model(model, bake_preprocessing=True))
    resize = CASES[case].get("resize", 0)
    assert preprocessing_of(imported) == InputPreprocessing(resize=resize)
    assert imported.notes[0] == (
        f"input 'image': resize {resize} taken from the model's metadata ({PREPROCESSING_KEY}); "
        "the normalisation is part of the graph and imported as its layers"
    )
    types = [node.type_name for node in imported.document.nodes]
    assert types[:2] == (["Input", "Conv2D"] if CASES[case].get("channel_order") == "BGR" else ["Input", "Scale"])
    again = Model(imported.document)
    again.load_state_dict(imported.weights)
    raw = raw_images()
    assert relative_difference(again.forward(raw), model.forward(raw)) <= 1e-6


@pytest.mark.parametrize("bake", [False, True])
def test_the_default_preprocessing_writes_no_metadata_and_no_nodes(bake):
    model = network({}, CNN)
    exported = export_model(model, bake_preprocessing=bake)
    assert metadata(exported) == {}
    assert exported.graph.node[0].op_type == "Conv"
    assert exported == export_model(model)
    imported = import_model(exported)
    assert preprocessing_of(imported).is_default and imported.notes == []


def test_a_resize_alone_is_described_but_nothing_is_baked():
    model = network({"resize": 12})
    exported = export_model(model, bake_preprocessing=True)
    assert [node.op_type for node in exported.graph.node] == ["Flatten"]
    props = metadata(exported)
    assert json.loads(props[PREPROCESSING_KEY])["baked"] is False
    assert props[PREPROCESSING_TEXT_KEY].endswith("There is no normalisation: the graph reads raw RGB pixels in 0..1.")
    assert preprocessing_of(import_model(exported)) == InputPreprocessing(resize=12)


def test_positional_opset_still_works(tmp_path):
    model = network(IMAGENET)
    assert export_model(model, 11).opset_import[0].version == 11
    written = save_onnx(model, tmp_path / "m.onnx", 11, bake_preprocessing=True)
    assert written.opset_import[0].version == 11 and written.graph.node[0].op_type == "Mul"


def with_metadata(exported: onnx.ModelProto, value: str) -> onnx.ModelProto:
    onnx.helper.set_model_props(exported, {PREPROCESSING_KEY: value})
    return exported


BAD_METADATA = {
    "{not json": "is not JSON",
    "[1, 2]": "it holds a JSON list, not an object of settings",
    '{"resize": 0, "baked": false, "interpolation": "bicubic"}': "it has unknown field 'interpolation'",
    '{"resize": 0}': "its field 'baked' must be true or false, got none",
    '{"resize": 0, "baked": "yes"}': """its field 'baked' must be true or false, got "yes\"""",
    '{"resize": 4, "baked": false}': "the input refuses it: resize is 4, smaller than the input's 8×8",
    '{"mean": [1, 2], "baked": false}': "the input refuses it: mean holds 2 numbers; the input has 3 channels",
    '{"channel_order": "GBR", "baked": false}': "the input refuses it: channel_order must be one of 'RGB', 'BGR'",
    '{"std": [0], "baked": false}': "the input refuses it: std every number must be > 0",
}


@pytest.mark.parametrize("value", sorted(BAD_METADATA))
def test_bad_metadata_is_a_note_and_the_import_goes_on(value):
    model = network({}, CNN)
    imported = import_model(with_metadata(export_model(model), value))
    assert preprocessing_of(imported).is_default
    [note] = imported.notes
    assert note.startswith(f"metadata {PREPROCESSING_KEY!r} is not used: ")
    assert BAD_METADATA[value] in note


def test_metadata_on_a_non_image_input_is_a_note():
    doc = NetworkDocument("features")
    entry = doc.add_node("Input", {"shape": [6]}, name="x")
    doc.chain(entry.id, [("Dense", {"units": 2}, "dense")])
    exported = with_metadata(
        export_model(Model(doc)), json.dumps({**InputPreprocessing(resize=8).to_json(), "baked": False})
    )
    imported = import_model(exported)
    assert imported.notes == [
        f"metadata {PREPROCESSING_KEY!r} is not used: it describes images, and input 'x' has shape 6"
    ]
    assert [node.type_name for node in imported.document.nodes] == ["Input", "Dense"]


def test_a_gather_of_channels_imports_as_a_1x1_convolution():
    n = onnx.helper.make_node
    nodes = [n("Relu", ["x"], ["h"], "relu"), n("Gather", ["h", "picked"], ["y"], "pick", axis=1)]
    picked = np.array([2, 0, -1], np.int64)
    model = build_model(nodes, (1, 3, 4, 5), "y", {"picked": picked})
    imported = import_model(model)
    assert [(node.type_name, node.name) for node in imported.document.nodes] == [
        ("Input", "x"),
        ("ReLU", "relu"),
        ("Conv2D", "pick"),
    ]
    again = Model(imported.document)
    again.load_state_dict(imported.weights)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(again.forward(x), run_onnx(model, x))
    rows = build_model([n("Gather", ["x", "picked"], ["y"], "rows", axis=2)], (1, 3, 4, 5), "y", {"picked": picked})
    with pytest.raises(OnnxImportError, match=r"Gather \(rows\): a Gather on axis 2 of an N×3×4×5 tensor has no layer"):
        import_model(rows)
