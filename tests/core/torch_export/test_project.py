"""The generated project: its files, names, safety, and how the folder is written (mostly without torch)."""

from __future__ import annotations

import ast
import keyword
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.engine.model import Model
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from core.layers.torch_helpers import TORCH_HELPERS
from core.layers.torch_writer import TorchExportError
from core.torch_export import project
from core.torch_export.project import (
    MODEL_FILE,
    PROJECT_FILES,
    class_name,
    model_source,
    python_name,
    torch_state,
    write_torch_project,
)
from tests.core.engine.test_gradients import CASES
from tests.core.onnx_io.helpers import randomize, relative_difference

PAYLOAD = "__import__('os').system('touch PWNED')"
HOSTILE_NAMES = [
    f"'); {PAYLOAD} #",
    f'"); {PAYLOAD} #',
    f'""" + {PAYLOAD} + """',
    f"''' + {PAYLOAD} + '''",
    f"\\ {PAYLOAD}",
    f"a {PAYLOAD} \\",
    f"{PAYLOAD} # -*- coding: latin-1 -*-",
    "class",
    "self",
    "forward",
    "_modules",
    "9lives",
    "ünïcode",
]


def hostile_network() -> NetworkDocument:
    """A small network whose name, description and layer names all try to inject code.

    Layer names are one line of visible text (the document refuses control characters in
    them); the network's name and description may hold anything.
    """
    doc = NetworkDocument(
        f'net"""\n{PAYLOAD}\n#\x0c\x0b\u2028\u2029\x85\\',
        description=f"'''\n{PAYLOAD}\n\"\"\"\r\n{PAYLOAD}",
    )
    entry = doc.add_node("Input", {"shape": [2, 5, 5]}, name=HOSTILE_NAMES[0])
    layers = [("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}, name) for name in HOSTILE_NAMES[1:4]]
    layers += [("ReLU", None, name) for name in HOSTILE_NAMES[4:]]
    doc.chain(entry.id, layers)
    return doc


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_layer_case_generates_code_that_compiles(case):
    source = model_source(Model(CASES[case]))
    compile(source, MODEL_FILE, "exec")


def test_helpers_are_written_only_when_used():
    source = model_source(Model(load_network(example_path("lenet5"))))
    assert not any(f"class {helper}(" in source for helper in TORCH_HELPERS)
    source = model_source(Model(load_network(example_path("resnet_block"))))
    assert "class Add(nn.Module)" in source
    assert "class Concat(" not in source


def test_every_helper_is_a_class_of_its_name():
    for name, source in TORCH_HELPERS.items():
        tree = ast.parse(source)
        assert [node.name for node in tree.body if isinstance(node, ast.ClassDef)] == [name]


def test_layer_names_are_kept_when_they_are_identifiers_and_sanitised_otherwise():
    taken: set[str] = set()
    assert python_name("conv1", taken) == "conv1"
    assert python_name("/features/conv1/Conv", taken) == "features_conv1_conv"
    assert python_name("features.conv1.conv", taken) == "features_conv1_conv_2"
    assert python_name("conv1", taken) == "conv1_2"
    assert python_name("class", taken) == "class_layer"
    assert python_name("forward", taken) == "forward_layer"
    assert python_name("_modules", taken) == "modules_layer"
    assert python_name("9lives", taken) == "layer_9lives"
    assert python_name("", taken) == "layer"
    assert python_name("ünïcode", taken) == "n_code"
    for name in taken:
        assert name.isidentifier() and not keyword.iskeyword(name)


def test_class_names_are_generated_from_the_network_name():
    assert class_name("LeNet-5") == "LeNet5"
    assert class_name("ResNet basic block") == "ResNetBasicBlock"
    assert class_name("5 layers") == "Network5Layers"
    assert class_name("") == "Network"
    assert class_name("add") == "AddNetwork"


def test_the_module_attribute_list_covers_torch_nn_module():
    torch = pytest.importorskip("torch")
    public = {name for name in dir(torch.nn.Module()) if not name.startswith("_")}
    assert public <= project.NN_MODULE_ATTRIBUTES


def test_hostile_names_reach_the_code_only_as_literals_and_comments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = Model(hostile_network(), seed=0)
    source = model_source(model)
    tree = ast.parse(source)  # it compiles
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "__import__"]
    assert calls == []
    strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert model.document.name in strings  # NETWORK_NAME, whole
    # Every line that mentions the payload is a comment or the NETWORK_NAME literal.
    for line in source.splitlines():
        if "__import__" in line:
            stripped = line.strip()
            assert stripped.startswith(("# ", "NETWORK_NAME = ")) or "  # " in line, line
    write_torch_project(model, tmp_path / "project")
    assert not (tmp_path / "PWNED").exists()


def test_hostile_names_import_and_run_without_executing_anything(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from tests.core.torch_export.helpers import import_generated

    monkeypatch.chdir(tmp_path)
    model = Model(hostile_network(), seed=0)
    write_torch_project(model, tmp_path / "project")
    generated = import_generated(tmp_path / "project")
    module = generated.build_model().eval()
    assert model.document.name == generated.NETWORK_NAME
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    with torch.no_grad():
        out = module(torch.from_numpy(x)).numpy()
    assert relative_difference(model.forward(x), out) <= 1e-5
    assert not (tmp_path / "PWNED").exists()


def test_the_project_holds_its_files_and_the_weights_load(tmp_path):
    torch = pytest.importorskip("torch")
    from tests.core.torch_export.helpers import import_generated

    model = Model(load_network(example_path("cifar_cnn")), seed=0)
    randomize(model)
    sizes = write_torch_project(model, tmp_path / "new" / "folder")
    assert sorted(sizes) == sorted(PROJECT_FILES)
    folder = tmp_path / "new" / "folder"
    assert sorted(p.name for p in folder.iterdir()) == sorted(PROJECT_FILES)
    assert (folder / "requirements.txt").read_text().split() == ["torch>=2.0", "safetensors>=0.4", "numpy>=1.26"]
    assert "build_model" in (folder / "README.md").read_text()
    module = import_generated(folder).build_model().eval()
    for key, value in module.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), torch_state(model)[key])
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape)).astype(np.float32)
    with torch.no_grad():
        out = module(torch.from_numpy(x)).numpy()
    assert relative_difference(model.forward(x), out) <= 1e-4
    fresh = import_generated(folder).build_model(pretrained=False)
    assert not torch.equal(
        fresh.state_dict()[next(iter(fresh.state_dict()))], module.state_dict()[next(iter(module.state_dict()))]
    )


def test_existing_files_are_refused_unless_forced(tmp_path):
    model = Model(load_network(example_path("mlp")), seed=0)
    (tmp_path / "README.md").write_text("mine")
    (tmp_path / "model.py").write_text("mine")
    (tmp_path / "other.txt").write_text("kept")
    with pytest.raises(TorchExportError, match=r"already holds model\.py, README\.md"):
        write_torch_project(model, tmp_path)
    assert (tmp_path / "model.py").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "model.py", "other.txt"]
    write_torch_project(model, tmp_path, force=True)
    assert "class " in (tmp_path / "model.py").read_text()
    assert (tmp_path / "other.txt").read_text() == "kept"


def test_a_failure_midway_leaves_no_file(tmp_path, monkeypatch):
    model = Model(load_network(example_path("mlp")), seed=0)
    replaced = []

    def failing_fsync(fd):
        replaced.append(fd)
        if len(replaced) == 3:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(project.os, "fsync", failing_fsync)
    with pytest.raises(TorchExportError, match="No space left on device"):
        write_torch_project(model, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_layer_that_cannot_be_written_is_named(monkeypatch):
    from core.layers.activations import ReLU

    monkeypatch.setattr(ReLU, "torch_module", "")
    with pytest.raises(TorchExportError, match="layer 'relu1': ReLU has no PyTorch module"):
        model_source(Model(load_network(example_path("lenet5"))))


def test_writing_a_project_never_imports_torch(tmp_path):
    # torch blocked: any import of it fails, and the export must not notice.
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from core.engine.model import Model\n"
        "from core.examples import example_path\n"
        "from core.graph.fileformat import load_network\n"
        "from core.torch_export.project import write_torch_project\n"
        f"write_torch_project(Model(load_network(example_path('shufflenet_unit'))), {str(tmp_path)!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' and sys.modules[m] is not None))\n"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(PROJECT_FILES)
