"""train.py: it compiles for every example, refuses what it does not reproduce, and trains as the engine does.

The generated code is checked without torch; running it needs torch (and torchrun for the
two-process run) and skips without them. Runs are tiny: the digits set, a few epochs, and
datasets of a few dozen samples written in each format Layerwise imports.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import os
import re
import shutil
import subprocess
import symtable
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import main
from core.data import DatasetError, import_dataset
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
from tests.core.data.test_import_cifar import NAMES, RunsCommand, batch, dump
from tests.core.data.test_import_idx import sample_arrays, write_split
from tests.core.data.test_import_images import save_image
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


def import_train_py(folder: Path) -> ModuleType:
    """The project's train.py as a module (it imports torch and the project's model.py)."""
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
    return script


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


def test_the_recipe_is_written_as_constants():
    from core.training.schedules import ScheduleSettings

    config = TrainingConfig(
        optimizer="adamw", weight_decay=0.05, clip_norm=1.5, label_smoothing=0.1, class_weights=[1.0, 2.0],
        schedule=ScheduleSettings("cosine", warmup_epochs=2, min_lr=1e-4),
    )  # fmt: skip
    source = train_source(Model(load_network(example_path("mlp"))), TrainingSetup(config, 0.2))
    for line in [
        "OPTIMIZER = 'adamw'", "WEIGHT_DECAY = 0.05", "CLIP_NORM = 1.5", "LABEL_SMOOTHING = 0.1",
        "CLASS_WEIGHTS = (1.0, 2.0)", "SCHEDULE = 'cosine'", "SCHEDULE_PARAMETERS = ('warmup_epochs', 'min_lr')",
        "WARMUP_EPOCHS = 2", "MIN_LR = 0.0001", "RMSPROP_ALPHA = 0.99",
    ]:  # fmt: skip
        assert f"\n{line}\n" in source, line
    plain = train_source(
        Model(load_network(example_path("mlp"))), TrainingSetup(TrainingConfig(class_weights="balanced"))
    )
    assert "\nCLIP_NORM = None\n" in plain and "\nCLASS_WEIGHTS = 'balanced'\n" in plain
    assert "\ndef scheduled_rate(" in plain and "\nclass Plateau:" in plain


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


RECIPES = {
    "adamw_cosine_smoothed_balanced_clipped": [
        "--optimizer", "adamw", "--weight-decay", "0.05", "--schedule", "cosine", "--warmup-epochs", "1",
        "--label-smoothing", "0.1", "--class-weights", "balanced", "--clip-norm", "1.0",
    ],
    "rmsprop_plateau_weighted": [
        "--epochs", "5", "--lr", "0.01", "--optimizer", "rmsprop", "--schedule", "plateau", "--plateau-patience", "0", "--plateau-factor", "0.5",
        "--class-weights", "1,2,1,1,0.5,1,1,3,1,1",
    ],
}  # fmt: skip


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_train_py_follows_the_engine_with_a_recipe(tmp_path, recipe):
    pytest.importorskip("torch")
    flags = ["--epochs", "3", "--no-dropout", *RECIPES[recipe]]  # a later --epochs wins
    engine_log = tmp_path / "engine.jsonl"
    assert main.main(["train", "digits_cnn", "--dataset", "digits", *flags, "--log", str(engine_log)]) == 0
    folder = export(tmp_path, *flags)
    result = run_script(folder, "--log", "run.jsonl")
    assert result.returncode == 0, result.stderr
    engine_events, script_events = read_run_log(engine_log), read_run_log(folder / "run.jsonl")
    assert script_events[0].settings["schedule"] == engine_events[0].settings["schedule"]
    for name in ("optimizer", "weight_decay", "clip_norm", "label_smoothing", "class_weights"):
        assert script_events[0].settings[name] == engine_events[0].settings[name], name
    engine = [e for e in engine_events if type(e).__name__ == "EpochEnded"]
    ours = [e for e in script_events if type(e).__name__ == "EpochEnded"]
    assert len(ours) == len(engine) >= 3
    if "plateau" in recipe:  # the validation loss rises once: the rate halves after that epoch
        assert [e.learning_rate for e in engine] == [0.01, 0.01, 0.01, 0.01, 0.005]
    for mine, theirs in zip(ours, engine, strict=True):
        assert mine.learning_rate == pytest.approx(theirs.learning_rate, rel=1e-12)
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-3)
        assert mine.val_loss == pytest.approx(theirs.val_loss, rel=1e-3)
        assert abs(mine.val_accuracy - theirs.val_accuracy) <= 0.01
    engine_batches = [e.loss for e in engine_events if type(e).__name__ == "BatchEnded"]
    script_batches = [e.loss for e in script_events if type(e).__name__ == "BatchEnded"]
    np.testing.assert_allclose(script_batches, engine_batches, rtol=1e-3)


def test_train_py_schedules_every_batch_as_the_engine(tmp_path):
    pytest.importorskip("torch")
    from core.training.schedules import ScheduleSettings, preview

    folder = tmp_path / "project"
    write_torch_project(Model(load_network(example_path("digits_cnn"))), folder)
    script = import_train_py(folder)
    for settings in [
        ScheduleSettings("onecycle"),
        ScheduleSettings("cosine", warmup_epochs=2, min_lr=1e-4),
        ScheduleSettings("multistep", milestones=(1, 3), gamma=0.5),
    ]:
        config = TrainingConfig(epochs=5, learning_rate=0.01, schedule=settings)
        ours = [
            script.scheduled_rate(
                settings.kind, 0.01, epoch, batch, 5, 7, settings.step_size, settings.gamma, settings.milestones,
                settings.warmup_epochs, settings.min_lr,
            )
            for epoch in range(1, 6)
            for batch in range(1, 8)
        ]  # fmt: skip
        np.testing.assert_array_equal(ours, preview(config, 7))


def test_the_augmentation_is_the_engines_draw_for_draw(tmp_path):
    pytest.importorskip("torch")
    folder = tmp_path / "project"
    write_torch_project(Model(load_network(example_path("digits_cnn"))), folder)
    script = import_train_py(folder)
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


# -- --dataset: what Layerwise imports, read by Layerwise's readers -----------------------------------------------


def idx_folder(root: Path) -> Path:
    """An MNIST-style folder of 8×8 digits: gzipped training files and a plain t10k split."""
    folder = root / "mnist"
    folder.mkdir()
    write_split(folder, "train", *sample_arrays(count=40, size=(8, 8)), suffix=".gz")
    write_split(folder, "t10k", *sample_arrays(count=10, size=(8, 8), seed=1))
    return folder


def idx_file(root: Path) -> Path:
    return idx_folder(root) / "train-images-idx3-ubyte.gz"


def cifar_folder(root: Path) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    for seed, name in enumerate(["data_batch_2", "data_batch_1", "test_batch"]):
        dump(folder / name, batch(20, seed))
    dump(folder / "batches.meta", {b"label_names": [n.encode() for n in NAMES]})
    return folder


def cifar_file(root: Path) -> Path:
    return cifar_folder(root) / "data_batch_1"


def image_folder(root: Path) -> Path:
    """Ten classes of 8×8 greyscale images in three formats, two of other sizes (resized)."""
    folder = root / "images"
    for k in range(10):
        for i, suffix in enumerate([".png", ".bmp", ".png", ".jpg"]):
            save_image(folder / f"class_{k}" / f"{i}{suffix}", size=(8, 8), value=(25 * k + 7 * i) % 256)
    save_image(folder / "class_3" / "large.png", size=(12, 10), value=90)
    save_image(folder / "class_5" / "tiny.jpg", size=(4, 4), value=200)
    return folder


DATASETS: dict[str, Callable[[Path], Path]] = {
    "idx folder": idx_folder,
    "idx images file": idx_file,
    "cifar folder": cifar_folder,
    "cifar batch file": cifar_file,
    "image folder": image_folder,
}


def global_names(table: symtable.SymbolTable) -> Iterator[str]:
    """The module-level names every function and class inside ``table`` reads."""
    for child in table.get_children():
        yield from (symbol.get_name() for symbol in child.get_symbols() if symbol.is_global())
        yield from global_names(child)


def test_train_py_defines_every_name_its_dataset_readers_use_and_imports_nothing_of_layerwise():
    source = train_source(Model(load_network(example_path("digits_cnn"))), TrainingSetup())
    table = symtable.symtable(source, TRAIN_FILE, "exec")
    defined = {symbol.get_name() for symbol in table.get_symbols() if symbol.is_assigned() or symbol.is_imported()}
    assert {"dataset_kind", "read_dataset", "DatasetError", "_BatchUnpickler", "MAX_DATA_BYTES"} <= defined
    assert not set(global_names(table)) - defined - set(dir(builtins))
    tree = ast.parse(source)
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name.split(".")[0] in ("core", "gui", "cli", "main")}
    # Pillow is imported by the image-folder reader only, when it reads one.
    top_level = {
        alias.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names
    }
    assert "PIL" in imported and "Image" not in top_level and "PIL" not in top_level


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    """The train.py of a digits_cnn project without data, imported."""
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("script") / "project"
    write_torch_project(Model(load_network(example_path("digits_cnn"))), folder)
    return import_train_py(folder)


@pytest.mark.parametrize("layout", list(DATASETS))
def test_train_py_reads_the_arrays_layerwise_imports(tmp_path, script, layout):
    path = DATASETS[layout](tmp_path)
    expected = import_dataset(path)
    (x, y), test, class_names = script.read_dataset(path, script.dataset_kind(path))
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, expected.x)
    np.testing.assert_array_equal(y, expected.y)
    assert class_names == expected.class_names
    assert (test is None) == (expected.test is None)
    if test is not None:
        np.testing.assert_array_equal(test[0], expected.test.x)
        np.testing.assert_array_equal(test[1], expected.test.y)
    # Then split for validation as `layerwise train` splits the training part.
    (train_x, train_y), (val_x, val_y), classes = script.load_data(path, 3)
    engine_train, engine_val = expected.split(script.VAL_SPLIT, 3)
    for ours, theirs in [(train_x, engine_train.x), (train_y, engine_train.y), (val_x, engine_val.x), (val_y, engine_val.y)]:  # fmt: skip
        np.testing.assert_array_equal(ours, theirs)
    assert classes == len(expected.class_names) and train_x.flags.c_contiguous


@pytest.mark.parametrize(
    ("layout", "network"), [("idx folder", "digits_cnn"), ("cifar folder", "cifar_cnn"), ("image folder", "digits_cnn")]
)
def test_one_epoch_on_a_dataset_follows_layerwise_train(tmp_path, layout, network):
    pytest.importorskip("torch")
    path = DATASETS[layout](tmp_path)
    flags = ["--epochs", "1", "--batch-size", "16", "--no-dropout"]
    engine_log = tmp_path / "engine.jsonl"
    assert main.main(["train", network, "--dataset", str(path), *flags, "--log", str(engine_log)]) == 0
    folder = tmp_path / "project"
    assert main.main(["export-pytorch", network, "-o", str(folder), *flags]) == 0
    result = run_script(folder, "--dataset", str(path), "--device", "cpu", "--log", "run.jsonl")
    assert result.returncode == 0, result.stderr
    engine, ours = read_run_log(engine_log), read_run_log(folder / "run.jsonl")
    assert (ours[0].train_samples, ours[0].val_samples) == (engine[0].train_samples, engine[0].val_samples)
    assert ours[0].dataset == path.name and ours[-1].reason == "completed"
    # The same samples in the same batches from the same weights: the same losses, to float32 rounding.
    mine, theirs = (next(e for e in events if type(e).__name__ == "EpochEnded") for events in (ours, engine))
    assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-3)
    assert mine.val_loss == pytest.approx(theirs.val_loss, rel=1e-3)


def truncated_idx(root: Path) -> tuple[Path, Path]:
    """An IDX folder whose images file ends 10 bytes early: (the folder, the damaged file)."""
    folder = idx_folder(root)
    images = folder / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    return folder, images


def hostile_cifar(root: Path) -> tuple[Path, Path]:
    """A batch file whose pickle would run a command: (the file, the file)."""
    (root / "cifar").mkdir()
    content = batch(4, 0)
    content[b"labels"] = RunsCommand(root / "PWNED")
    path = dump(root / "cifar" / "data_batch_1", content)
    return path, path


def truncated_image(root: Path) -> tuple[Path, Path]:
    """An image folder with a PNG cut short: (the folder, the PNG)."""
    folder = image_folder(root)
    cut = save_image(folder / "class_2" / "0.png", size=(64, 64), value=3)
    cut.write_bytes(cut.read_bytes()[:60])
    return folder, cut


@pytest.mark.parametrize("damaged", [truncated_idx, hostile_cifar, truncated_image])
def test_a_damaged_file_ends_train_py_with_the_importers_message(tmp_path, damaged):
    pytest.importorskip("torch")
    path, bad_file = damaged(tmp_path)
    with pytest.raises(DatasetError) as info:
        import_dataset(path)
    assert str(info.value).startswith(f"{bad_file}: ")
    folder = tmp_path / "project"
    write_torch_project(Model(load_network(example_path("digits_cnn"))), folder)
    result = run_script(folder, "--dataset", str(path), "--epochs", "1", "--device", "cpu")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip() == str(info.value)
    assert not (tmp_path / "PWNED").exists()


def test_pillow_is_needed_for_image_folders_only(tmp_path):
    pytest.importorskip("torch")
    folder = tmp_path / "project"
    write_torch_project(Model(load_network(example_path("digits_cnn"))), folder)
    # A PIL package beside train.py that cannot be imported stands for a Python without Pillow.
    (folder / "PIL").mkdir()
    (folder / "PIL" / "__init__.py").write_text("raise ImportError('No module named PIL')\n")
    images = image_folder(tmp_path)
    result = run_script(folder, "--dataset", str(images), "--epochs", "1", "--device", "cpu")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"{images}: is an image folder; reading it needs Pillow: pip install pillow"
    result = run_script(folder, "--dataset", str(idx_folder(tmp_path)), "--epochs", "1", "--device", "cpu")
    assert result.returncode == 0, result.stderr
