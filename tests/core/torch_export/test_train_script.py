"""train.py: it compiles for every example, refuses what it does not reproduce, and trains as the engine does.

The generated code is checked without torch; running it needs torch (and torchrun for the
two-process run) and skips without them. Runs are tiny: the digits set, a few epochs.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from core.engine.model import Model
from core.examples import example_names, example_path
from core.graph.fileformat import load_network
from core.layers.torch_writer import TorchExportError
from core.torch_export import train_script
from core.torch_export.project import regularized_keys, torch_state, train_source, write_torch_project
from core.torch_export.train_script import (
    TRAIN_FILE,
    TrainingData,
    TrainingSetup,
)
from core.training.augment import Augmenter, AugmentSettings
from core.training.run_log import read_run_log
from core.training.trainer import TrainingConfig
from tests.core.torch_export.test_project import PAYLOAD, hostile_network

ROOT = Path(__file__).resolve().parents[3]
EPOCH_LINE = re.compile(
    r"^epoch\s+(\d+)/\d+\s+train loss ([0-9.]+) acc\s+([0-9.]+)%.*val loss ([0-9.]+) acc\s+([0-9.]+)%"
)


def export(tmp_path: Path, *flags: str, network: str = "digits_cnn") -> Path:
    folder = tmp_path / "project"
    assert main.main(["export-pytorch", network, "--dataset", "digits", "-o", str(folder), *flags]) == 0
    return folder


def run_script(folder: Path, *args: str, launcher: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny batches: one thread each is fastest, and fair to two processes
    command = [*(launcher or [sys.executable]), TRAIN_FILE, *args]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env, timeout=300)


def printed_epochs(stdout: str) -> list[tuple[int, float, float, float, float]]:
    """(epoch, train loss, train accuracy %, val loss, val accuracy %) of each epoch line."""
    matches = (EPOCH_LINE.match(line) for line in stdout.splitlines())
    return [(int(m[1]), float(m[2]), float(m[3]), float(m[4]), float(m[5])) for m in matches if m]


# -- without torch --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", example_names())
def test_train_py_compiles_for_every_example(name):
    source = train_source(Model(load_network(example_path(name))), TrainingSetup())
    compile(source, TRAIN_FILE, "exec")


def test_the_settings_are_written_as_defaults(tmp_path):
    config = TrainingConfig(
        epochs=7, batch_size=32, learning_rate=0.05, optimizer="momentum", nesterov=True, loss="mse", l1=1e-4,
        l2=2e-3, dropout=False, early_stopping=3, monitor="val_accuracy", min_delta=0.01, restore_best=False, seed=4,
        augment=AugmentSettings(kinds=frozenset({"noise", "rotate"}), noise_std=0.1, max_rotation=5.0),
    )  # fmt: skip
    source = train_source(Model(load_network(example_path("lenet5"))), TrainingSetup(config, 0.3))
    for line in [
        "EPOCHS = 7", "BATCH_SIZE = 32", "LEARNING_RATE = 0.05", "OPTIMIZER = 'momentum'", "NESTEROV = True",
        "LOSS = 'mse'", "L1 = 0.0001", "L2 = 0.002", "DROPOUT = False", "EARLY_STOPPING = 3",
        "MONITOR = 'val_accuracy'", "MIN_DELTA = 0.01", "RESTORE_BEST = False", "SEED = 4", "VAL_SPLIT = 0.3",
        "AUGMENT = ('noise', 'rotate')", "NOISE_STD = 0.1", "MAX_ROTATION = 5.0", "ADAM_BETAS = (0.9, 0.999)",
    ]:  # fmt: skip
        assert f"\n{line}\n" in source, line


def test_the_penalised_weights_are_the_engines_kernels():
    model = Model(load_network(example_path("lenet5")))
    keys = regularized_keys(model)
    assert keys and all(key.endswith(".weight") for key in keys)
    state = torch_state(model)
    assert sum(state[key].size for key in keys) == model.regularized_size
    assert not any(key.endswith(".bias") for key in keys)
    resnet = Model(load_network(example_path("resnet_block")))  # BatchNorm weights are not penalised
    assert not any("bn" in key for key in regularized_keys(resnet))


def test_a_setting_train_py_does_not_reproduce_is_refused_by_name(tmp_path, monkeypatch, capsys):
    model = Model(load_network(example_path("mlp")))
    with pytest.raises(TorchExportError, match=r"activation probes \(probe_samples\) are not written to train.py"):
        train_source(model, TrainingSetup(TrainingConfig(probe_samples=8)))
    monkeypatch.setattr(train_script, "SUPPORTED_AUGMENTATIONS", frozenset({"noise"}))
    folder = tmp_path / "out"
    status = main.main(["export-pytorch", "mlp", "--augment", "noise,sample", "-o", str(folder)])
    _out, err = capsys.readouterr()
    assert status == 2
    assert "augmentation 'sample' is not written to train.py yet; switch it off to export" in err
    assert not folder.exists() or list(folder.iterdir()) == []


def test_hostile_names_reach_train_py_only_as_literals_and_comments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = Model(hostile_network(), seed=0)
    data = TrainingData(f"'); {PAYLOAD} #\n{PAYLOAD}", np.zeros((2, 2, 5, 5), np.float32), np.zeros(2, np.int64),
                        None, None, [PAYLOAD])  # fmt: skip
    source = train_source(model, TrainingSetup(data=data))
    tree = ast.parse(source)
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "__import__"]
    for line in source.splitlines():
        if "__import__" in line:
            assert line.startswith(("# Network: ", "DATASET_NAME = ")), line
    write_torch_project(model, tmp_path / "project", setup=TrainingSetup(data=data))
    assert not (tmp_path / "PWNED").exists()
    pytest.importorskip("torch")
    result = run_script(tmp_path / "project", "--epochs", "1")
    assert result.returncode != 0 and "train.py trains classifiers" in result.stderr  # it ends in a 4×5×5 map
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "project" / "PWNED").exists()


# -- with torch ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """digits_cnn on digits, 3 epochs, seed 0, trained by the engine and by train.py (with a log and checkpoints)."""
    pytest.importorskip("torch")
    tmp_path = tmp_path_factory.mktemp("trained")
    flags = ["--epochs", "3", "--seed", "0"]
    engine_log = tmp_path / "engine.jsonl"
    assert main.main(["train", "digits_cnn", "--dataset", "digits", *flags, "--log", str(engine_log)]) == 0
    folder = export(tmp_path, *flags)
    result = run_script(folder, "--log", "run.jsonl", "--out", "checkpoints", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    return folder, result.stdout, read_run_log(engine_log)


def test_train_py_reaches_the_engines_validation_accuracy(trained):
    _folder, stdout, engine_events = trained
    engine = [e for e in engine_events if type(e).__name__ == "EpochEnded"]
    ours = printed_epochs(stdout)
    assert len(ours) == len(engine) == 3
    # Both start from the same weights (weights.safetensors is the engine's initial draw for the seed) and take the
    # same batches; only dropout masks come from different generators.
    assert abs(ours[-1][4] / 100 - engine[-1].val_accuracy) <= 0.01, (ours[-1], engine[-1])


def test_the_log_reads_as_a_run_log_with_the_printed_epochs(trained):
    folder, stdout, _ = trained
    events = read_run_log(folder / "run.jsonl")
    names = [type(event).__name__ for event in events]
    assert names[0] == "TrainingStarted" and names[-1] == "TrainingFinished"
    assert names.count("BatchEnded") == 3 * events[0].batches_per_epoch
    epochs = [e for e in events if type(e).__name__ == "EpochEnded"]
    printed = printed_epochs(stdout)
    assert [(e.epoch, round(e.train_loss, 4), round(e.val_loss, 4)) for e in epochs] == [
        (epoch, train_loss, val_loss) for epoch, train_loss, _acc, val_loss, _vacc in printed
    ]
    assert [round(100 * e.val_accuracy, 2) for e in epochs] == [p[4] for p in printed]
    assert events[-1].reason == "completed" and events[-1].epochs_run == 3
    assert events[0].settings["seed"] == 0 and events[0].dataset == "digits"
    assert {p.name for p in (folder / "checkpoints").iterdir()} == {"last.safetensors", "best.safetensors"}


def test_without_dropout_train_py_follows_the_engine_step_for_step(tmp_path):
    pytest.importorskip("torch")
    flags = ["--epochs", "2", "--no-dropout", "--optimizer", "momentum", "--nesterov", "--lr", "0.05", "--l1", "1e-4",
             "--l2", "1e-3", "--augment", "noise,shift,flip,rotate,resample,sample"]  # fmt: skip
    engine_log = tmp_path / "engine.jsonl"
    assert main.main(["train", "digits_cnn", "--dataset", "digits", *flags, "--log", str(engine_log)]) == 0
    folder = export(tmp_path, *flags)
    result = run_script(folder, "--log", "run.jsonl")
    assert result.returncode == 0, result.stderr
    engine = [e for e in read_run_log(engine_log) if type(e).__name__ == "EpochEnded"]
    ours = [e for e in read_run_log(folder / "run.jsonl") if type(e).__name__ == "EpochEnded"]
    for mine, theirs in zip(ours, engine, strict=True):
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-3)
        assert mine.train_penalty == pytest.approx(theirs.train_penalty, rel=1e-3)
        assert mine.val_loss == pytest.approx(theirs.val_loss, rel=1e-3)
        assert abs(mine.val_accuracy - theirs.val_accuracy) <= 0.01


def test_the_augmentation_is_the_engines_draw_for_draw(tmp_path):
    pytest.importorskip("torch")
    folder = tmp_path / "project"
    write_torch_project(Model(load_network(example_path("digits_cnn"))), folder)
    spec = importlib.util.spec_from_file_location("generated_train_script", folder / TRAIN_FILE)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    saved_model = sys.modules.pop("model", None)
    try:
        spec.loader.exec_module(script)
    finally:
        sys.modules.pop("model", None)
        if saved_model is not None:
            sys.modules["model"] = saved_model
        sys.path.remove(str(folder.resolve()))
    data = np.random.default_rng(1).random((40, 1, 8, 8), dtype=np.float32)
    labels = np.arange(40) % 4
    for kinds in ["noise", "shift", "flip", "rotate", "resample", "sample", "noise,shift,flip,rotate,resample,sample"]:
        settings = AugmentSettings(kinds=frozenset(kinds.split(",")))
        engine = Augmenter(settings)
        engine.fit(data, labels)
        script.AUGMENT = tuple(settings.kinds)
        ours = script.Augmenter(settings.kinds, data, labels)
        theirs_rng, ours_rng = np.random.default_rng(7), np.random.default_rng(7)
        assert np.array_equal(engine.epoch_order(40, theirs_rng), ours.order(40, ours_rng))
        for _ in range(2):
            x, y = engine.apply(data[:16], labels[:16], theirs_rng)
            x2, y2 = ours.apply(data[:16], labels[:16], ours_rng)
            assert np.array_equal(x, x2) and np.array_equal(y, y2), kinds


def test_torchrun_on_two_processes_follows_one_process(tmp_path):
    pytest.importorskip("torch")
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    if not Path(torchrun).exists():
        pytest.skip("torchrun not found")
    folder = export(tmp_path, "--epochs", "2", network="lenet5")  # lenet5: BatchNorm-free, dropout-free
    single = run_script(folder, "--device", "cpu", "--log", "single.jsonl")
    assert single.returncode == 0, single.stderr
    launcher = [torchrun, "--standalone", "--nproc_per_node=2"]
    double = run_script(folder, "--device", "cpu", "--run-log", "double.jsonl", "--out", "ddp", launcher=launcher)
    assert double.returncode == 0, double.stderr
    assert "2 process(es) on cpu" in double.stdout
    one = [e for e in read_run_log(folder / "single.jsonl") if type(e).__name__ == "EpochEnded"]
    two = [e for e in read_run_log(folder / "double.jsonl") if type(e).__name__ == "EpochEnded"]
    # "Follows": every epoch's mean training loss and validation loss within 10 % of the single process's. Each
    # step shares the same batch between the processes and averages their gradients, so only float rounding
    # (and dropout masks and BatchNorm's per-process statistics, where the network has them) tell the runs apart.
    assert len(one) == len(two) == 2
    for a, b in zip(one, two, strict=True):
        assert b.train_loss == pytest.approx(a.train_loss, rel=0.1)
        assert b.val_loss == pytest.approx(a.val_loss, rel=0.1)
    assert (folder / "ddp" / "last.safetensors").exists()
