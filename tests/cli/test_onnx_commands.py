"""`main.py export / import / predict`: files written only when everything worked."""

from __future__ import annotations

import numpy as np
import onnx

import main
from core.engine.model import Model
from core.examples import example_path
from core.graph.fileformat import load_network
from tests.core.onnx_io.helpers import relative_difference, run_onnx


def cli(capsys, *argv):
    status = main.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_export_import_predict_agree(capsys, tmp_path):
    weights, exported, imported = tmp_path / "w.npz", tmp_path / "m.onnx", tmp_path / "net.json"
    model = Model(load_network(example_path("cifar_cnn")), seed=3)
    model.save_weights(weights)
    assert cli(capsys, "export", "cifar_cnn", "--weights", str(weights), "-o", str(exported))[0] == 0
    onnx.checker.check_model(str(exported), full_check=True)
    status, _out, _ = cli(capsys, "import", str(exported), "-o", str(imported))
    assert status == 0 and imported.exists() and imported.with_suffix(".npz").exists()
    x = np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    assert (
        cli(capsys, "predict", str(imported), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"))[0] == 0
    )
    predicted = np.load(tmp_path / "y.npy")
    assert relative_difference(predicted, run_onnx(onnx.load(str(exported)), x)) <= 1e-4
    assert relative_difference(predicted, model.forward(x)) <= 1e-4


def test_bad_inputs_exit_2_and_write_nothing(capsys, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    status, _, err = cli(capsys, "import", str(bad), "-o", str(tmp_path / "out.json"))
    assert status == 2 and f"{bad}: is not a valid ONNX model" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]
    wrong = tmp_path / "wrong.npz"
    Model(load_network(example_path("mlp"))).save_weights(wrong)
    status, _, err = cli(capsys, "export", "lenet5", "--weights", str(wrong), "-o", str(tmp_path / "m.onnx"))
    assert status == 2 and "does not fit the network" in err and not (tmp_path / "m.onnx").exists()
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 8, 8), np.float32))
    status, _, err = cli(capsys, "predict", "lenet5", "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"))
    assert status == 2 and "samples of shape 3×8×8 do not fit the network's input 'input' of shape 1×28×28" in err
    status, _, err = cli(capsys, "export", "lenet5", "-o", str(tmp_path / "m.onnx"), "--opset", "99")
    assert status == 2 and "opset must be between 7 and" in err
