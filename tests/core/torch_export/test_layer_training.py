"""Frozen layers and learning-rate multipliers in the exported project: model.py and train.py."""

from __future__ import annotations

import ast
import contextlib

import numpy as np
import pytest

import main
from core.engine.model import Model
from core.graph.document import LayerTraining
from core.graph.fileformat import save_network
from core.torch_export.project import model_source, regularized_keys, training_facts
from core.training.run_log import read_run_log
from tests.core.torch_export.helpers import import_generated
from tests.core.torch_export.test_project import hostile_network
from tests.core.torch_export.test_train_script import run_script
from tests.core.training.frozen_networks import frozen_cnn


def constants(source: str) -> dict[str, object]:
    """The module-level constants of ``source`` that are plain literals."""
    found = {}
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            with contextlib.suppress(ValueError):  # not a literal
                found[statement.targets[0].id] = ast.literal_eval(statement.value)
    return found


def test_model_py_names_the_frozen_layers_and_the_multipliers():
    model = Model(frozen_cnn())
    values = constants(model_source(model))
    assert values["FROZEN"] == ("conv1", "bn1")
    assert values["FROZEN_BATCHNORM"] == ("bn1",)
    assert values["LR_MULTIPLIERS"] == {"conv2": 0.1}
    assert training_facts(model).frozen == ("conv1", "bn1")
    # Frozen kernels take no penalty: train.py's REGULARIZED leaves them out.
    assert regularized_keys(model) == ["conv2.weight", "fc.weight"]


def test_without_settings_model_py_trains_everything_at_the_rate():
    from tests.core.torch_engine.test_engine import digits_cnn

    values = constants(model_source(Model(digits_cnn())))
    assert (values["FROZEN"], values["FROZEN_BATCHNORM"], values["LR_MULTIPLIERS"]) == ((), (), {})


def test_hostile_names_of_frozen_layers_reach_model_py_only_as_identifiers(tmp_path, monkeypatch):
    document = hostile_network()
    convolutions = [node for node in document.nodes if node.type_name == "Conv2D"]
    document.set_training(convolutions[0].id, LayerTraining(trainable=False))
    for node in convolutions[1:]:
        document.set_training(node.id, LayerTraining(lr_multiplier=0.5))
    source = model_source(Model(document))
    values = constants(source)
    assert len(values["FROZEN"]) == 1 and list(values["LR_MULTIPLIERS"].values()) == [0.5, 0.5]
    for name in (*values["FROZEN"], *values["LR_MULTIPLIERS"]):
        assert name.isidentifier() and f"self.{name} = nn.Conv2d(" in source
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(source, encoding="utf-8")
    import_generated(tmp_path).build_model(pretrained=False).train()
    assert not (tmp_path / "PWNED").exists()


def test_model_py_leaves_gradients_off_exactly_on_the_frozen_layers(tmp_path):
    torch = pytest.importorskip("torch")
    (tmp_path / "model.py").write_text(model_source(Model(frozen_cnn())), encoding="utf-8")
    generated = import_generated(tmp_path)
    module = generated.build_model(pretrained=False)
    frozen = {name for name, parameter in module.named_parameters() if not parameter.requires_grad}
    assert frozen == {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias"}
    module.train()
    assert module.training and not module.bn1.training and module.bn2.training
    module.eval()
    assert not module.bn2.training
    groups = generated.trainable_groups(module, 0.2)
    assert [(group["lr"], group["lr_multiplier"], len(group["params"])) for group in groups] == [
        (0.2 * 0.1, 0.1, 1),
        (0.2, 1.0, 4),
    ]
    assert isinstance(groups[0]["params"][0], torch.nn.Parameter)


@pytest.mark.parametrize("optimizer", ["momentum", "adamw"])
def test_train_py_keeps_frozen_weights_and_follows_the_engine(tmp_path, optimizer):
    pytest.importorskip("torch")
    from safetensors.numpy import load_file

    network = tmp_path / "frozen.json"
    save_network(frozen_cnn(), network)
    flags = ["--epochs", "2", "--no-dropout", "--optimizer", optimizer, "--lr", "0.02", "--l2", "1e-3",
             "--clip-norm", "1.0", "--seed", "0"]  # fmt: skip
    engine_log = tmp_path / "engine.jsonl"
    assert main.main(["train", str(network), "--dataset", "digits", *flags, "--log", str(engine_log)]) == 0
    folder = tmp_path / "project"
    assert main.main(["export-pytorch", str(network), "--dataset", "digits", "-o", str(folder), *flags]) == 0
    result = run_script(folder, "--log", "run.jsonl", "--out", "checkpoints")
    assert result.returncode == 0, result.stderr
    start = load_file(str(folder / "weights.safetensors"))
    end = load_file(str(folder / "checkpoints" / "last.safetensors"))
    for key, value in start.items():
        if key.startswith(("conv1.", "bn1.")):
            np.testing.assert_array_equal(end[key], value, err_msg=key)
        elif not key.endswith("num_batches_tracked"):
            assert not np.array_equal(end[key], value), key
    engine_events, script_events = read_run_log(engine_log), read_run_log(folder / "run.jsonl")
    engine = [e for e in engine_events if type(e).__name__ == "EpochEnded"]
    ours = [e for e in script_events if type(e).__name__ == "EpochEnded"]
    assert len(ours) == len(engine) == 2
    for mine, theirs in zip(ours, engine, strict=True):
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-3)
        assert mine.train_penalty == pytest.approx(theirs.train_penalty, rel=1e-3)
        assert mine.val_loss == pytest.approx(theirs.val_loss, rel=1e-3)
        assert abs(mine.val_accuracy - theirs.val_accuracy) <= 0.01
    engine_batches = [e.loss for e in engine_events if type(e).__name__ == "BatchEnded"]
    script_batches = [e.loss for e in script_events if type(e).__name__ == "BatchEnded"]
    np.testing.assert_allclose(script_batches, engine_batches, rtol=1e-3)
