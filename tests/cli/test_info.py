"""`main.py info`: the table, the JSON contract, and exit status 2 with one clear line on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import main
from core.examples import example_path

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    status = main.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_json_contract_from_a_real_process():
    result = subprocess.run(
        [sys.executable, "main.py", "info", str(example_path("vgg16")), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout)
    assert data["total_params"] == 138_357_544 and data["total_macs"] == 15_470_264_320
    pool5 = next(layer for layer in data["layers"] if layer["name"] == "pool5")
    assert pool5 == {
        **pool5,
        "type": "MaxPool2D",
        "inputs": ["relu5_3"],
        "output_shape": [512, 7, 7],
        "params": 0,
        "macs": 0,
        "receptive_field": {"size": [212, 212], "stride": [32, 32], "padding": [90, 90], "aligned": True},
    }
    for layer in data["layers"]:
        assert {"name", "type", "inputs", "output_shape", "params", "macs", "receptive_field"} <= set(layer)


def test_table_lists_every_layer_with_totals(capsys):
    status, out, err = run(capsys, "info", "lenet5")
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert any(
        line.startswith("conv1 (Conv2D)") and "6×28×28" in line and "156" in line and "117,600" in line
        for line in lines
    )
    assert any(line.startswith("pool2 (MaxPool2D)") and line.split()[-3:] == ["16", "4", "2"] for line in lines)
    assert "Total params:        61,706" in out
    assert sum(1 for line in lines if "(" in line and ")" in line and line.split()[0].isidentifier()) >= 14


def test_example_name_and_path_both_work(capsys):
    by_name = run(capsys, "info", "mlp", "--json")
    by_path = run(capsys, "info", str(example_path("mlp")), "--json")
    assert by_name[0] == by_path[0] == 0
    assert json.loads(by_name[1]) == json.loads(by_path[1])


def test_bad_file_exits_2_with_one_line_naming_file_layer_and_field(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    text = example_path("lenet5").read_text().replace('"kernel_size": 5', '"kernel_size": 0', 1)
    bad.write_text(text)
    status, out, err = run(capsys, "info", str(bad))
    assert status == 2 and out == ""
    assert err == f"layerwise: {bad}: layer 'conv1' (layers[1]): field \"params.kernel_size\": must be ≥ 1, got 0\n"
    assert bad.read_text() == text  # nothing overwritten


def test_invalid_graph_lists_problems_and_exits_2(capsys, tmp_path):
    data = json.loads(example_path("lenet5").read_text())
    flatten = next(layer for layer in data["layers"] if layer["name"] == "fc1")
    flatten["inputs"] = ["pool2"]
    bad = tmp_path / "no_flatten.json"
    bad.write_text(json.dumps(data))
    status, out, err = run(capsys, "info", str(bad))
    assert status == 2 and out == ""
    assert "the network does not compute" in err
    assert "layer 'fc1': Dense needs a feature vector, but gets a 16×5×5 (C×H×W) map" in err
    assert "Traceback" not in err


def test_missing_file_and_unknown_command(capsys):
    status, _, err = run(capsys, "info", "no_such_network")
    assert status == 2 and "no such file (shipped examples: alexnet" in err
    with pytest.raises(SystemExit) as info:
        main.main(["info"])
    assert info.value.code == 2


def test_json_of_names_in_any_script_reaches_a_console_that_is_not_utf8(tmp_path):
    network = {
        "format": "layerwise.network",
        "version": 1,
        "layers": [
            {"name": "/输入", "type": "Input", "params": {"shape": [3]}},
            {"name": "طبقة 🔥", "type": "Dense", "params": {"units": 2}, "inputs": ["/输入"]},
        ],
    }
    (tmp_path / "net.json").write_text(json.dumps(network), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "main.py", "info", str(tmp_path / "net.json"), "--json"],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "cp1252"},
        check=True,
    )
    assert [layer["name"] for layer in json.loads(result.stdout.decode("cp1252"))["layers"]] == ["/输入", "طبقة 🔥"]


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_the_table_reaches_a_console_that_lacks_its_characters(tmp_path, encoding):
    network = {
        "format": "layerwise.network",
        "version": 1,
        "layers": [
            {"name": "input", "type": "Input", "params": {"shape": [1, 28, 28]}},
            {"name": "卷积", "type": "Conv2D", "params": {"filters": 2, "kernel_size": 3}, "inputs": ["input"]},
        ],
    }
    (tmp_path / "net.json").write_text(json.dumps(network), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "main.py", "info", str(tmp_path / "net.json")],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": encoding},
    )
    assert result.returncode == 0, result.stderr.decode(encoding)
    text = result.stdout.decode(encoding)
    times = "×" if encoding == "cp1252" else "x"  # cp1252 has ×, ASCII does not
    assert f"1{times}28{times}28" in text and f"2{times}26{times}26" in text
    assert "\\u5377\\u79ef (Conv2D)" in text  # a name the console cannot show, escaped exactly
    assert "-" * 40 in text and "─" not in text


def test_errors_reach_a_console_that_lacks_their_characters():
    result = subprocess.run(
        [sys.executable, "main.py", "info", "no_such_network_×"],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert result.returncode == 2
    assert result.stderr.decode("ascii").startswith("layerwise: no_such_network_x: no such file")


def test_frozen_layers_and_multipliers_are_shown_with_their_counts(capsys, tmp_path):
    from core.graph.document import LayerTraining
    from core.graph.fileformat import load_network, save_network

    document = load_network(example_path("lenet5"))
    nodes = {node.name: node for node in document.nodes}
    document.set_training(nodes["conv1"].id, LayerTraining(trainable=False))
    document.set_training(nodes["conv2"].id, LayerTraining(lr_multiplier=0.1))
    path = tmp_path / "frozen.json"
    save_network(document, path)
    status, out, err = run(capsys, "info", str(path))
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert any(line.startswith("conv1 (Conv2D) [frozen]") and "156" in line for line in lines)
    assert any(line.startswith("conv2 (Conv2D) [lr ×0.1]") for line in lines)
    assert "Total params:        61,706" in out
    assert "  trainable:         61,550" in out
    assert "  frozen:            156 (1 frozen layer(s): conv1)" in out
    status, out, _ = run(capsys, "info", str(path), "--json")
    data = json.loads(out)
    assert (data["trainable_params"], data["frozen_params"], data["non_trainable_params"]) == (61_550, 156, 0)
    conv1 = next(layer for layer in data["layers"] if layer["name"] == "conv1")
    assert conv1["frozen"] is True and conv1["frozen_params"] == 156 and conv1["trainable_params"] == 0


def test_without_frozen_layers_the_totals_have_no_frozen_line(capsys):
    _, out, _ = run(capsys, "info", "lenet5")
    assert "frozen" not in out


def test_preprocessing_is_printed_under_the_table_and_in_json(capsys, tmp_path):
    from core.graph.fileformat import load_network, save_network
    from core.layers.preprocessing import imagenet_preprocessing

    document = load_network(example_path("cifar_cnn"))
    source = next(node for node in document.nodes if node.layer.is_network_input)
    for key, value in {**imagenet_preprocessing((3, 32, 32)).to_json(), "channel_order": "BGR"}.items():
        document.set_param(source.id, key, value)
    save_network(document, tmp_path / "net.json")
    status, out, _ = run(capsys, "info", str(tmp_path / "net.json"))
    assert status == 0
    assert f"Preprocessing of {source.name!r}: resize 37, centre crop; BGR 0..1; mean 0.485, 0.456, 0.406" in out
    status, out, _ = run(capsys, "info", str(tmp_path / "net.json"), "--json")
    assert json.loads(out)["preprocessing"][source.name]["channel_order"] == "BGR"
    _, plain, _ = run(capsys, "info", "cifar_cnn")
    assert "Preprocessing" not in plain
