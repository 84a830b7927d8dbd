"""`main.py export-pytorch`: the folder, refusal of existing files, --force."""

from __future__ import annotations

import numpy as np
import pytest

import main
from core.engine.model import Model
from core.examples import example_path
from core.graph.fileformat import load_network
from core.torch_export.project import PROJECT_FILES
from tests.core.onnx_io.helpers import relative_difference


def cli(capsys, *argv):
    status = main.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_export_pytorch_writes_the_folder_with_the_weights(capsys, tmp_path):
    weights, folder = tmp_path / "w.npz", tmp_path / "out" / "lenet"
    model = Model(load_network(example_path("lenet5")), seed=3)
    model.save_weights(weights)
    status, out, err = cli(capsys, "export-pytorch", "lenet5", "--weights", str(weights), "-o", str(folder))
    assert (status, err) == (0, "")
    assert f"wrote {folder}: model.py, weights.safetensors, requirements.txt, README.md" in out
    assert sorted(p.name for p in folder.iterdir()) == sorted(PROJECT_FILES)
    torch = pytest.importorskip("torch")
    from tests.core.torch_export.helpers import import_generated

    module = import_generated(folder).build_model().eval()
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        theirs = module(torch.from_numpy(x)).numpy()
    assert relative_difference(model.forward(x), theirs) <= 1e-4


def test_existing_files_are_refused_and_kept_unless_forced(capsys, tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"mine")
    status, out, err = cli(capsys, "export-pytorch", "mlp", "-o", str(tmp_path))
    assert status == 2 and out == ""
    assert "already holds weights.safetensors" in err and "--force" in err
    assert (tmp_path / "weights.safetensors").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.safetensors"]
    status, _out, err = cli(capsys, "export-pytorch", "mlp", "-o", str(tmp_path), "--force")
    assert (status, err) == (0, "")
    assert (tmp_path / "weights.safetensors").read_bytes() != b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(PROJECT_FILES)


def test_a_bad_network_exits_2_and_writes_nothing(capsys, tmp_path):
    status, _out, err = cli(capsys, "export-pytorch", "no_such_example", "-o", str(tmp_path / "out"))
    assert status == 2 and err.startswith("layerwise: ")
    assert not (tmp_path / "out").exists()
