"""The network file: round trips, atomic saves, and clear refusals of bad files."""

from __future__ import annotations

import json
import os

import pytest

from core.errors import NetworkFileError
from core.examples import example_names, example_path
from core.graph import fileformat
from core.graph.fileformat import FORMAT_VERSION, dumps_network, load_network, network_to_dict, save_network
from core.graph.validation import validate


@pytest.mark.parametrize("name", example_names())
def test_every_example_loads_validates_and_round_trips(name, tmp_path):
    path = example_path(name)
    doc = load_network(path)
    assert validate(doc) == []
    assert dumps_network(doc) == path.read_text(encoding="utf-8")
    copy = tmp_path / "copy.json"
    save_network(doc, copy)
    again = load_network(copy)
    assert network_to_dict(again) == network_to_dict(doc)
    assert [(n.name, n.layer, n.position) for n in again.nodes] == [(n.name, n.layer, n.position) for n in doc.nodes]


def test_shipped_examples_cover_the_required_networks():
    assert {"lenet5", "mlp", "vgg16", "alexnet", "inception_block", "resnet_block", "squeezenet_fire"} <= set(
        example_names()
    )


def write(tmp_path, data, name="net.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def minimal(**changes):
    data = {
        "format": "layerwise.network",
        "version": 1,
        "name": "tiny",
        "layers": [
            {"name": "input", "type": "Input", "params": {"shape": [1, 8, 8]}},
            {"name": "conv1", "type": "Conv2D", "params": {"filters": 4, "kernel_size": 3}, "inputs": ["input"]},
        ],
    }
    data.update(changes)
    return data


def refusal(tmp_path, data) -> str:
    path = write(tmp_path, data)
    with pytest.raises(NetworkFileError) as info:
        load_network(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message[len(f"{path}: ") :]


def test_minimal_file_with_defaults_loads(tmp_path):
    doc = load_network(write(tmp_path, minimal()))
    assert [n.name for n in doc.nodes] == ["input", "conv1"]
    assert doc.node_by_name("conv1").layer.params["padding"] == "valid"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["layers"][1]["params"].update(kernel_size=0),
            "layer 'conv1' (layers[1]): field \"params.kernel_size\": must be ≥ 1, got 0",
        ),
        (
            lambda d: d["layers"][1].update(type="Conv3D"),
            "layer 'conv1' (layers[1]): unknown layer type 'Conv3D'; did you mean 'Conv2D'?",
        ),
        (
            lambda d: d["layers"][1]["params"].update(kernal_size=3),
            "layer 'conv1' (layers[1]): field \"params.kernal_size\": is not a parameter of Conv2D (did you mean 'kernel_size'?)",
        ),
        (
            lambda d: d["layers"][1].update(inputs=["nowhere"]),
            "layer 'conv1' (layers[1]): field \"inputs\" names 'nowhere', but no layer has that name",
        ),
        (
            lambda d: d["layers"][1].update(inputs=["input", "input"]),
            "layer 'conv1' (layers[1]): field \"inputs\": Conv2D layer 'conv1' has 1 input(s); port 1 does not exist",
        ),
        (
            lambda d: d["layers"][1].update(position=[0, "x"]),
            "layer 'conv1' (layers[1]): field \"position\" must be [x, y] with two finite numbers",
        ),
        (lambda d: d["layers"][1].update(param={}), "layer 'conv1' (layers[1]): has unknown field(s) 'param'"),
        (
            lambda d: d["layers"][1].update(name="input"),
            "layer 'input' (layers[1]): another layer is already named 'input'",
        ),
        (lambda d: d["layers"].append(7), "layers[2]: must be an object, got int"),
        (
            lambda d: d["layers"][0]["params"].update(shape=[1, 8]),
            "layer 'input' (layers[0]): field \"params.shape\": must have 3 entries",
        ),
        (
            lambda d: d.update(version=FORMAT_VERSION + 1),
            f"was written by a newer Layerwise (file format version {FORMAT_VERSION + 1}",
        ),
        (lambda d: d.update(version="1"), 'field "version" must be a whole number'),
        (lambda d: d.update(format="keras"), "is not a Layerwise network file"),
        (lambda d: d.update(layers={}), 'field "layers" must be a list'),
        (lambda d: d.update(extra=1), "has unknown field(s) 'extra'"),
    ],
)
def test_bad_files_are_refused_naming_layer_and_field(tmp_path, change, expected):
    data = minimal()
    change(data)
    assert refusal(tmp_path, data).startswith(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"format": "layerwise.network",\n "version": 1,,}',
            "is not valid JSON: Expecting property name enclosed in double quotes at line 2, column 15",
        ),
        ("[]", "must contain a JSON object, found list"),
        ('{"a": NaN}', "is not valid JSON: NaN is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "is nested too deeply"),
        ("", "is not valid JSON"),
    ],
)
def test_malformed_json_is_refused(tmp_path, text, expected):
    assert refusal(tmp_path, text).startswith(expected)


def test_binary_and_missing_files(tmp_path):
    binary = tmp_path / "net.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(NetworkFileError, match="is not UTF-8 text"):
        load_network(binary)
    with pytest.raises(NetworkFileError, match="cannot be read"):
        load_network(tmp_path / "absent.json")


def test_oversized_file_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(fileformat, "MAX_FILE_BYTES", 100)
    with pytest.raises(NetworkFileError, match="network files are at most"):
        load_network(write(tmp_path, minimal()))


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "net.json"
    save_network(load_network(example_path("lenet5")), target)
    before = target.read_bytes()

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(NetworkFileError, match="cannot be written: No space left on device"):
        save_network(load_network(example_path("vgg16")), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json"]


def test_save_into_missing_folder_names_the_path(tmp_path):
    with pytest.raises(NetworkFileError, match="cannot be written"):
        save_network(load_network(example_path("mlp")), tmp_path / "no" / "such" / "net.json")


def test_the_documented_example_loads_and_every_type_is_documented():
    doc_text = (example_path("lenet5").parents[2] / "docs" / "network-file.md").read_text(encoding="utf-8")
    example = doc_text.split("```json\n", 1)[1].split("```", 1)[0]
    doc = fileformat.loads_network(example)
    assert validate(doc) == [] and len(doc) == 5
    from core.layers import layer_types

    for cls in layer_types():
        assert f"`{cls.type_name}`" in doc_text, f"{cls.type_name} is missing from docs/network-file.md"
