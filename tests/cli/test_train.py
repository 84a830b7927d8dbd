"""`main.py train`: events to a log, weights to a file, clear refusals, the same run twice."""

from __future__ import annotations

import json

import numpy as np
import pytest

import main
from core.engine.model import Model
from core.examples import example_path
from core.graph.fileformat import load_network
from core.training.events import EpochEnded, TrainingFinished
from core.training.run_log import RUN_LOG_FORMAT, RunLogReader


def train(capsys, *argv):
    status = main.main(["train", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_train_logs_every_event_and_saves_loadable_weights(capsys, tmp_path):
    log, weights = tmp_path / "run.jsonl", tmp_path / "w.npz"
    status, out, err = train(
        capsys,
        "lenet5",
        "--dataset",
        "digits",
        "--samples",
        "300",
        "--epochs",
        "2",
        "--log",
        str(log),
        "--save",
        str(weights),
        "--l2",
        "1e-4",
        "--augment",
        "shift,noise",
        "--early-stop",
        "5",
    )
    assert status == 0, err
    assert "Training LeNet-5 on digits: 240 training / 60 validation samples" in out
    assert out.count("epoch ") >= 2 and "weights (best) saved to" in out
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "TrainingStarted" and kinds[-1] == "TrainingFinished"
    assert kinds.count("EpochEnded") == 2 and kinds.count("BatchEnded") == 2 * 4
    epoch = next(e for e in events if e["event"] == "EpochEnded")
    assert epoch["train_penalty"] > 0 and epoch["train_loss"] > epoch["train_data_loss"]
    model = Model(load_network(example_path("lenet5")))
    model.load_weights(weights)
    assert not np.array_equal(model.params, Model(load_network(example_path("lenet5"))).params)


def test_same_seed_gives_identical_weights(capsys, tmp_path):
    files = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.npz"
        status, _, err = train(
            capsys,
            "mlp",
            "--dataset",
            "digits",
            "--samples",
            "200",
            "--epochs",
            "1",
            "--seed",
            "5",
            "--save",
            str(path),
        )
        assert status == 0, err
        files.append(np.load(path))
    assert files[0].files == files[1].files
    assert all(np.array_equal(files[0][k], files[1][k]) for k in files[0].files)


def test_dataset_that_does_not_fit_names_both_shapes(capsys, tmp_path):
    data = tmp_path / "small.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x_train=rng.random((20, 8, 8), dtype=np.float32), y_train=np.arange(20) % 10)
    status, _out, err = train(capsys, "lenet5", "--dataset", str(data), "--epochs", "1")
    assert status == 2
    assert "has samples of shape 1×8×8, but the network's input 'input' expects 1×28×28" in err


def test_bad_options_are_refused_with_the_reason(capsys):
    status, _, err = train(capsys, "lenet5", "--dataset", "digits", "--augment", "noise,wobble")
    assert status == 2 and "wobble" in err and "noise" in err
    status, _, err = train(capsys, "lenet5", "--dataset", "digits", "--early-stop", "3", "--val-split", "0")
    assert status == 2 and "early stopping needs validation data" in err
    status, _, err = train(capsys, "lenet5", "--dataset", "no_such_data")
    assert status == 2 and "no_such_data" in err


def test_divergence_exits_1_with_the_reason(capsys):
    status, out, _ = train(
        capsys, "mlp", "--dataset", "digits", "--samples", "100", "--epochs", "2", "--optimizer", "sgd", "--lr", "1e30"
    )
    assert status == 1 and "Diverged: The loss became" in out


def test_the_log_names_the_run_in_its_first_line_and_reads_back(capsys, tmp_path):
    log = tmp_path / "run.jsonl"
    status, _, err = train(
        capsys, "mlp", "--dataset", "digits", "--samples", "200", "--epochs", "2", "--log", str(log), "--name", "first"
    )
    assert status == 0, err
    first = json.loads(log.read_text().splitlines()[0])
    assert first["event"] == "TrainingStarted" and first["format"] == RUN_LOG_FORMAT and first["run"] == "first"
    reader = RunLogReader(log)
    events = reader.read_all()
    assert reader.label == "first" and isinstance(reader.finished, TrainingFinished)
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [1, 2]


def epoch_lines(out: str) -> list[str]:
    """The epoch lines without their timings (the last field)."""
    return [line.rsplit("  ", 1)[0] for line in out.splitlines() if line.startswith("epoch ")]


def test_engine_torch_trains_the_same_run_as_the_numpy_engine(capsys, tmp_path):
    pytest.importorskip("torch")
    common = ["digits_cnn", "--dataset", "digits", "--samples", "300", "--epochs", "2", "--no-dropout"]
    status, numpy_out, err = train(capsys, *common)
    assert status == 0, err
    weights = tmp_path / "torch.npz"
    status, torch_out, err = train(capsys, *common, "--engine", "torch", "--device", "cpu", "--save", str(weights))
    assert status == 0, err
    assert "engine: PyTorch on cpu" in torch_out and "engine: NumPy" in numpy_out
    assert epoch_lines(torch_out) == epoch_lines(numpy_out)  # losses and accuracies to the printed digits
    model = Model(load_network(example_path("digits_cnn")))
    model.load_weights(weights)  # PyTorch's weights, back in Layerwise's layouts


def test_a_device_needs_the_torch_engine_and_one_that_is_missing_is_named(capsys):
    status, _out, err = train(capsys, "digits_cnn", "--dataset", "digits", "--epochs", "1", "--device", "cuda")
    assert status != 0 and "--device cuda needs --engine torch" in err
    pytest.importorskip("torch")
    status, _out, err = train(
        capsys, "digits_cnn", "--dataset", "digits", "--epochs", "1", "--engine", "torch", "--device", "cuda:7"
    )
    assert status != 0 and "device 'cuda:7' is not available to PyTorch here" in err


def recipe_config(*flags):
    import argparse

    from cli.train import add_training_arguments, training_config

    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    return training_config(parser.parse_args(list(flags)))


def test_recipe_flags_make_the_config():
    config = recipe_config(
        "--optimizer", "adamw", "--weight-decay", "0.05", "--clip-norm", "2", "--label-smoothing", "0.1",
        "--class-weights", "1,2.5", "--schedule", "multistep", "--milestones", "2,5", "--gamma", "0.5",
    )  # fmt: skip
    assert (config.optimizer, config.weight_decay, config.clip_norm, config.label_smoothing) == (
        "adamw",
        0.05,
        2.0,
        0.1,
    )
    assert config.class_weights == [1.0, 2.5]
    assert config.schedule.to_json() == {"kind": "multistep", "milestones": [2, 5], "gamma": 0.5}
    config.validate()
    assert recipe_config("--class-weights", "balanced").class_weights == "balanced"
    cosine = recipe_config("--schedule", "cosine", "--warmup-epochs", "2", "--min-lr", "1e-5").schedule
    assert cosine.to_json() == {"kind": "cosine", "warmup_epochs": 2, "min_lr": 1e-5}
    plateau = recipe_config("--schedule", "plateau", "--plateau-factor", "0.2", "--plateau-patience", "3").schedule
    assert plateau.to_json() == {"kind": "plateau", "factor": 0.2, "patience": 3}
    defaults = recipe_config()
    assert (defaults.schedule.kind, defaults.clip_norm, defaults.class_weights, defaults.weight_decay) == (
        "none",
        None,
        None,
        0.01,
    )


def test_bad_recipe_flags_are_refused_naming_them(capsys):
    base = ("mlp", "--dataset", "digits", "--samples", "100", "--epochs", "1")
    status, _, err = train(capsys, *base, "--class-weights", "1,heavy")
    assert status == 2 and "--class-weights takes 'balanced' or comma-separated numbers" in err and "1,heavy" in err
    status, _, err = train(capsys, *base, "--milestones", "2,x", "--schedule", "multistep")
    assert status == 2 and "--milestones takes comma-separated whole numbers, got '2,x'" in err
    status, _, err = train(capsys, *base, "--loss", "mse", "--label-smoothing", "0.1")
    assert status == 2 and "label_smoothing 0.1 needs loss cross_entropy, got loss 'mse'" in err
    status, _, err = train(capsys, *base, "--class-weights", "1,2")
    assert status == 2 and "class_weights must hold one weight per class (10), got 2" in err


def test_a_scheduled_run_logs_each_epochs_rate(capsys, tmp_path):
    log = tmp_path / "run.jsonl"
    status, _, _ = train(
        capsys, "mlp", "--dataset", "digits", "--samples", "100", "--epochs", "3", "--lr", "0.1",
        "--optimizer", "sgd", "--schedule", "step", "--step-size", "1", "--gamma", "0.5", "--log", str(log),
    )  # fmt: skip
    assert status == 0
    rates = [json.loads(line)["learning_rate"] for line in log.read_text().splitlines() if "EpochEnded" in line]
    assert rates == [0.1, 0.05, 0.025]
