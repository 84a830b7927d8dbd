"""`main.py export-pytorch`: the folder, refusal of existing files, --force."""

from __future__ import annotations

import re

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


def test_export_pytorch_takes_the_training_flags_of_train():
    parser = main.build_parser()
    commands = next(a for a in parser._actions if a.choices and "train" in a.choices).choices
    train = {s for a in commands["train"]._actions for s in a.option_strings}
    export = {s for a in commands["export-pytorch"]._actions for s in a.option_strings}
    # What this run writes, and where and how it runs: train.py takes its own --log, --name and --device
    # (and PyTorch sets its own threads).
    left_out = {"--save", "--log", "--name", "--engine", "--device", "--threads"}
    assert train - left_out <= export
    assert not left_out & export


def test_the_data_is_the_engines_split_and_the_settings_are_the_defaults(capsys, tmp_path):
    from cli import train as train_command

    folder = tmp_path / "p"
    flags = ["--val-split", "0.25", "--seed", "3", "--train-subset", "300", "--optimizer", "sgd", "--lr", "0.2"]
    status, out, err = cli(capsys, "export-pytorch", "digits_cnn", "--dataset", "digits", *flags, "-o", str(folder))
    assert (status, err) == (0, "")
    assert "model.py, weights.safetensors, requirements.txt, README.md, train.py, data.npz" in out
    args = main.build_parser().parse_args(["train", "digits_cnn", "--dataset", "digits", *flags])
    train, val, _test = train_command.training_datasets(args, Model(load_network(example_path("digits_cnn"))))
    with np.load(folder / "data.npz", allow_pickle=False) as data:
        assert np.array_equal(data["x_train"], train.x) and np.array_equal(data["y_train"], train.y)
        assert np.array_equal(data["x_val"], val.x) and np.array_equal(data["y_val"], val.y)
        assert list(data["class_names"]) == train.class_names
    source = (folder / "train.py").read_text(encoding="utf-8")
    for line in ["OPTIMIZER = 'sgd'", "LEARNING_RATE = 0.2", "SEED = 3", "VAL_SPLIT = 0.25", "TRAIN_SUBSET = 300"]:
        assert f"\n{line}\n" in source
    # Exporting again without data leaves no stale data.npz for train.py to read.
    status, _out, err = cli(capsys, "export-pytorch", "digits_cnn", "-o", str(folder), "--force")
    assert (status, err) == (0, "")
    assert not (folder / "data.npz").exists()


def test_data_or_settings_the_engine_refuses_are_refused(capsys, tmp_path):
    features = tmp_path / "features.npz"
    np.savez(features, x=np.zeros((20, 3), np.float32), y=np.arange(20) % 2)
    status, out, err = cli(capsys, "export-pytorch", "mlp", "--dataset", str(features), "-o", str(tmp_path / "a"))
    assert status == 2 and out == "" and re.search(r"expects 1.28.28", err)
    assert not (tmp_path / "a").exists()
    status, _out, err = cli(
        capsys, "export-pytorch", "mlp", "--early-stop", "2", "--val-split", "0", "-o", str(tmp_path / "b")
    )
    assert status == 2 and "early stopping needs validation data" in err
    assert not (tmp_path / "b").exists()
