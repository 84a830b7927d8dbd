"""Write a network as a PyTorch project: ``model.py``, ``weights.safetensors``, ``requirements.txt``, ``README.md``.

Each layer class says how it is written in PyTorch (``Layer.export_torch``, through a
:class:`TorchProjectWriter`); this module names the attributes, writes the module class
with one attribute per layer and a ``forward`` in topological order, the helper classes
the network uses, and the weights in PyTorch's layouts. Nothing here imports torch.

Generated code is safe whatever the network file holds: identifiers are made here (from
ASCII letters, digits and underscores of the layer names, or from nothing), and names,
the description and every other string reach the code only as ``repr`` literals, in
string literals or in comments, where ``repr`` escapes quotes, newlines and every other
control or non-printable character.
"""

from __future__ import annotations

import keyword
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_files
from core.engine.model import Model
from core.graph.document import Node
from core.layers.preprocessing import InputPreprocessing
from core.layers.torch_helpers import TORCH_HELPERS
from core.layers.torch_writer import TorchExportError, TorchModule
from core.ops.op import Op
from core.shapes import Shape
from core.torch_export.train_script import DATA_FILE, TRAIN_FILE, TrainingSetup, check_supported, data_bytes, render

MODEL_FILE = "model.py"
WEIGHTS_FILE = "weights.safetensors"
REQUIREMENTS_FILE = "requirements.txt"
README_FILE = "README.md"
PROJECT_FILES = (MODEL_FILE, WEIGHTS_FILE, REQUIREMENTS_FILE, README_FILE, TRAIN_FILE)
"""The files every export writes, in the order it writes them (``data.npz`` follows when data is given)."""

REQUIREMENTS = "torch>=2.0\nsafetensors>=0.4\nnumpy>=1.26\n"
"""What ``model.py`` and ``train.py`` need (``torchrun`` comes with torch); a test holds it to these three lines."""

NN_MODULE_ATTRIBUTES = frozenset(
    [
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    ]
)
"""The public attributes of ``torch.nn.Module``: a layer attribute must not hide one (a test checks the list)."""

GENERATED_NAMES = frozenset(
    {
        "self",
        "torch",
        "nn",
        "F",
        "Path",
        "WEIGHTS",
        "INPUT_SHAPE",
        "NETWORK_NAME",
        "FROZEN",
        "FROZEN_BATCHNORM",
        "LR_MULTIPLIERS",
        "trainable_groups",
        "build_model",
    }
)
"""Names the generated ``model.py`` uses itself."""

PREPROCESSING_NAMES = ("PREPROCESSING", "CHANNEL_ORDER", "input_scale", "input_shift")
"""Names ``model.py`` uses for the Input's preprocessing, only where it normalises: no layer takes them there."""


def python_name(name: str, taken: set[str]) -> str:
    """An attribute name for a layer named ``name``, added to ``taken``.

    ``name`` itself when it is an ASCII identifier, no keyword, not private and not an
    attribute of ``nn.Module`` or a name the generated code uses; otherwise its letters and
    digits, lower-cased and joined by underscores (``/features/conv1/Conv`` →
    ``features_conv1_conv``), ``layer`` when none are left. ``_2``, ``_3`` … make it unique.
    """
    if not _usable(name):
        words = re.findall(r"[A-Za-z0-9]+", name)
        name = "_".join(words).lower() or "layer"
        if name[0].isdigit():
            name = f"layer_{name}"
        if not _usable(name):
            name = f"{name}_layer"
    candidate, index = name, 2
    while candidate in taken:
        candidate, index = f"{name}_{index}", index + 1
    taken.add(candidate)
    return candidate


def _usable(name: str) -> bool:
    return (
        name.isascii()
        and name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith("_")
        and name not in NN_MODULE_ATTRIBUTES
        and name not in GENERATED_NAMES
        and name not in TORCH_HELPERS
    )


def class_name(network_name: str) -> str:
    """The module class's name: the network's name in CamelCase (``LeNet-5`` → ``LeNet5``), else ``Network``."""
    words = re.findall(r"[A-Za-z0-9]+", network_name)
    name = "".join(word[0].upper() + word[1:] for word in words)
    if not name or name[0].isdigit():
        name = f"Network{name}"
    if name in TORCH_HELPERS or name in GENERATED_NAMES or keyword.iskeyword(name):
        name = f"{name}Network"
    return name


def literal(value: object) -> str:
    """``value`` (a number, boolean, string, ``None``, or a tuple or list of them) as a Python literal."""
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not np.isfinite(number):
            return f"float({str(number)!r})"
        return repr(number)
    if isinstance(value, str) or value is None:
        return repr(value)
    if isinstance(value, (tuple, list)):
        items = [literal(item) for item in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    raise TorchExportError(f"a value of type {type(value).__name__} cannot be written into the code")


def comment(text: str) -> str:
    """``text`` for a single-line comment: its ``repr``, with every newline and control character escaped."""
    return repr(text)


class TorchProjectWriter:
    """Collects the helper classes the layers ask for (a :class:`~core.layers.torch_writer.TorchWriter`)."""

    def __init__(self) -> None:
        self.helpers: list[str] = []

    def helper(self, name: str) -> str:
        """Include the helper class ``name``; return its name."""
        if name not in TORCH_HELPERS:
            raise TorchExportError(f"there is no helper module {name!r}")
        if name not in self.helpers:
            self.helpers.append(name)
        return name

    def call(self, callee: str, *args: object, **kwargs: object) -> str:
        """``callee(args…, key=value…)`` with every value a literal."""
        parts = [literal(arg) for arg in args]
        for key, value in kwargs.items():
            if not key.isidentifier():
                raise TorchExportError(f"{key!r} is not a keyword argument")
            parts.append(f"{key}={literal(value)}")
        return f"{callee}({', '.join(parts)})"


class _Gradients:
    """An op seen through its gradients: what ``export_torch`` reads as weights are the gradients."""

    def __init__(self, op: Op) -> None:
        self.params = op.grads
        self.buffers = op.buffers


class _Markers:
    """An op seen through markers: the weights L1/L2 penalise read as ones, every other weight and buffer as zeros."""

    def __init__(self, op: Op) -> None:
        inits = op.param_inits()
        self.params = {
            name: np.full(value.shape, 1.0 if inits[name].regularized else 0.0, dtype=np.float32)
            for name, value in op.params.items()
        }
        self.buffers = {name: np.zeros_like(value) for name, value in op.buffers.items()}


@dataclass(frozen=True)
class TorchLayer:
    """One layer of the generated module: its node, attribute name and module."""

    node: Node
    attribute: str
    module: TorchModule


def torch_layers(
    model: Model, gradients: bool = False, markers: bool = False
) -> tuple[str, list[TorchLayer], TorchProjectWriter]:
    """The forward argument's name, every layer but the Input as written in PyTorch, and the helpers they use.

    With ``gradients``, each module's state holds the gradients of its weights (in the
    same layout) instead of the weights; with ``markers``, ones where a weight is one the
    engine penalises with L1/L2 and zeros elsewhere.

    Raises
    ------
    TorchExportError
        When a layer cannot be written (named in the message).
    """
    writer = TorchProjectWriter()
    taken: set[str] = set(PREPROCESSING_NAMES) if input_preprocessing(model).normalises else set()
    argument = python_name(model.input_node.name, taken)
    layers = []
    for node in model.order:
        if node is model.input_node:
            continue
        attribute = python_name(node.name, taken)
        op = model.ops[node.id]
        try:
            view = _Gradients(op) if gradients else _Markers(op) if markers else op
            module = node.layer.export_torch(writer, model.input_shapes(node.id), view)  # type: ignore[arg-type]
        except TorchExportError as exc:
            raise TorchExportError(f"layer {node.name!r}: {exc}") from None
        layers.append(TorchLayer(node, attribute, module))
    return argument, layers, writer


def input_preprocessing(model: Model) -> InputPreprocessing:
    """The preprocessing of ``model``'s Input (the default for any other kind of network input)."""
    layer = model.input_node.layer
    return layer.preprocessing or InputPreprocessing()


def _json_literal(value: object) -> str:
    """A value of :meth:`~core.layers.preprocessing.InputPreprocessing.to_json` as a literal, its lists as lists."""
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    return literal(value)


def _float32_list(values: np.ndarray) -> str:
    """``(C,)`` float32 values as a list literal that PyTorch reads back as the very same float32 numbers.

    Each number is written in the fewest digits that give it back (``4.366812`` rather than
    ``4.366812229156494``), and in full where going through a Python float would round it otherwise.
    """
    items = []
    for value in values.astype(np.float32):
        short = str(value)
        exact = np.isfinite(value) and np.float32(float(short)) == value
        items.append(short if exact else literal(float(value)))
    return "[" + ", ".join(items) + "]"


@dataclass(frozen=True)
class _PreprocessingCode:
    """The lines of ``model.py`` that apply the Input's preprocessing (each list empty when it does not normalise)."""

    constants: list[str]
    init: list[str]
    forward: list[str]


def _preprocessing_code(model: Model, argument: str) -> _PreprocessingCode:
    """``model.py``'s lines for the Input's preprocessing: constants, buffers and the first line of ``forward``.

    The arithmetic is :class:`~core.ops.basic.InputOp`'s, operation for operation: the
    channels picked in order, then ``x * scale + shift`` in float32, so that both give the
    same numbers. Scale and shift are buffers that the module does not save
    (``persistent=False``): ``state_dict`` and the weights file hold the weights only.
    """
    preprocessing = input_preprocessing(model)
    if not preprocessing.normalises:
        return _PreprocessingCode([], [], [])
    channels, height, width = model.input_shape
    order, scale, shift = preprocessing.affine(channels)
    fitting = (
        f"the shorter side resized to {int(preprocessing.resize)} and the centre {height}×{width} cropped"
        if preprocessing.resize
        else f"the centre cropped to the input's aspect ratio and resized to {height}×{width}"
    )
    settings = ", ".join(f"{literal(key)}: {_json_literal(value)}" for key, value in preprocessing.to_json().items())
    constants = [
        f"PREPROCESSING = {{{settings}}}",
        '"""The Input\'s preprocessing: the module takes raw RGB pixels in 0..1 and its forward applies the rest',
        "(the channel order, the value range, then (value - mean) / std per channel). Image files are fitted to",
        f'the input first: {fitting}."""',
    ]
    if order is not None:
        constants += [
            f"CHANNEL_ORDER = {[int(index) for index in order]!r}",
            '"""The raw channel each channel the layers read comes from (BGR: blue, green, red)."""',
        ]
    shape = f"(1, {channels}, 1, 1)"
    init = [
        "        # PREPROCESSING as one multiply-add per channel, in float32: scale (high - low) / std and shift",
        "        # (low - mean) / std, low..high the value range. Constants, not weights: state_dict leaves them out.",
    ]
    for name, values in (("input_scale", scale), ("input_shift", shift)):
        init += [
            "        self.register_buffer(",
            f"            {name!r},",
            f"            torch.tensor({_float32_list(values)}, dtype=torch.float32).reshape{shape},",
            "            persistent=False,",
            "        )",
        ]
    picked = f"{argument}[:, CHANNEL_ORDER]" if order is not None else argument
    note = f"{_shape(model.input_shape)}, normalised (PREPROCESSING)"
    forward = [f"        {argument} = {picked} * self.input_scale + self.input_shift  # {note}"]
    return _PreprocessingCode(constants, init, forward)


def torch_state(model: Model, gradients: bool = False) -> dict[str, np.ndarray]:
    """The generated module's ``state_dict`` (``attribute.key`` → array), or with ``gradients`` its weights' gradients."""
    _, layers, _ = torch_layers(model, gradients)
    state = {}
    for layer in layers:
        for key, value in layer.module.state.items():
            state[f"{layer.attribute}.{key}"] = np.ascontiguousarray(value)
    return state


def _shape(shape: Shape) -> str:
    return "×".join(["N", *(str(size) for size in shape)])


@dataclass(frozen=True)
class LayerTrainingFacts:
    """The layers' training settings as the generated module names them (attribute names).

    Attributes
    ----------
    frozen
        Layers with weights that training leaves as they are (``requires_grad_(False)``).
    frozen_batchnorm
        Frozen BatchNorm layers: they stay in inference mode while the module trains.
    multipliers
        Attribute → learning-rate multiplier, for the layers with weights that train at
        another rate than the run's.
    """

    frozen: tuple[str, ...]
    frozen_batchnorm: tuple[str, ...]
    multipliers: dict[str, float]


def training_facts(model: Model, layers: list[TorchLayer] | None = None) -> LayerTrainingFacts:
    """Which of the generated module's attributes are frozen, and their learning-rate multipliers."""
    if layers is None:
        layers = torch_layers(model)[1]
    frozen, norms, multipliers = [], [], {}
    for layer in layers:
        node = layer.node
        weighted = bool(model.ops[node.id].params)
        if node.id in model.frozen_node_ids:
            if weighted:
                frozen.append(layer.attribute)
            if node.layer.normalises_batches:
                norms.append(layer.attribute)
        elif weighted and node.training.lr_multiplier != 1.0:
            multipliers[layer.attribute] = node.training.lr_multiplier
    return LayerTrainingFacts(tuple(frozen), tuple(norms), multipliers)


def _dict_literal(values: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{literal(key)}: {literal(value)}" for key, value in values.items()) + "}"


TRAINABLE_GROUPS = '''
def trainable_groups(model: nn.Module, lr: float) -> list[dict]:
    """The optimiser's parameter groups: the parameters that train, one group per learning-rate multiplier.

    Frozen layers' parameters (``requires_grad`` off) are left out. Each group's ``lr`` is
    ``lr`` times its ``lr_multiplier``, which the group keeps so that a new rate can be set
    as ``group["lr"] = rate * group["lr_multiplier"]``.
    """
    groups: dict[float, list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            groups.setdefault(LR_MULTIPLIERS.get(name.split(".")[0], 1.0), []).append(parameter)
    return [{"params": params, "lr": lr * scale, "lr_multiplier": scale} for scale, params in groups.items()]
'''.strip("\n")
"""``trainable_groups`` of ``model.py``: ``train.py`` and the PyTorch engine make their optimisers from it."""


def model_source(model: Model) -> str:
    """The text of ``model.py``."""
    argument, layers, writer = torch_layers(model)
    document = model.document
    name = class_name(document.name)
    variables: dict[str, str] = {model.input_node.id: argument}
    counts = model.output_counts
    init_lines, forward_lines = [], []
    for layer in layers:
        node = layer.node
        variables[node.id] = layer.attribute
        note = node.type_name if layer.attribute == node.name else f"{node.type_name} {comment(node.name)}"
        init_lines.append(f"        self.{layer.attribute} = {layer.module.constructor}  # {note}")
        inputs = [
            variables[source] if counts[source] == 1 else f"{variables[source]}[{port}]"
            for source, port in model.inputs_of(node.id)
        ]
        shapes = ", ".join(_shape(shape) for shape in model.output_shapes[node.id])
        forward_lines.append(f"        {layer.attribute} = self.{layer.attribute}({', '.join(inputs)})  # {shapes}")
    preprocessing = _preprocessing_code(model, argument)
    facts = training_facts(model, layers)
    if facts.frozen:
        # Frozen layers keep their weights: PyTorch computes no gradient for them.
        init_lines += ["        for name in FROZEN:", "            getattr(self, name).requires_grad_(False)"]
    train_lines = []
    if facts.frozen_batchnorm:
        train_lines = [
            "",
            f'    def train(self, mode: bool = True) -> "{name}":',
            '        """Set training mode; frozen BatchNorm layers stay in inference mode (their running statistics)."""',
            "        super().train(mode)",
            "        for name in FROZEN_BATCHNORM:",
            "            getattr(self, name).eval()",
            "        return self",
        ]
    helpers = [TORCH_HELPERS[helper].strip("\n") for helper in writer.helpers]
    uses_functional = any("F." in source for source in helpers)
    output = variables[model.output_node.id]
    input_name = model.input_node.name
    input_note = "" if argument == input_name else f", the Input {comment(input_name)}"
    if preprocessing.forward:
        input_note += ", raw RGB pixels in 0..1"
    lines = [
        '"""A Layerwise network as a PyTorch module: ``build_model()`` returns it, with the weights beside this file."""',
        "",
        "# Written by Layerwise (layerwise export-pytorch).",
        f"# Network: {comment(document.name)}",
    ]
    if document.description:
        lines.append(f"# Description: {comment(document.description)}")
    lines += [
        "",
        "from __future__ import annotations",
        "",
        "from pathlib import Path",
        "",
        "import torch",
        "from torch import nn",
        *(["from torch.nn import functional as F"] if uses_functional else []),
        "",
        f"NETWORK_NAME = {literal(document.name)}",
        f"INPUT_SHAPE = {literal(tuple(model.input_shape))}",
        '"""The shape of one sample (C×H×W or features); the model takes a batch of them."""',
        f"WEIGHTS = Path(__file__).with_name({WEIGHTS_FILE!r})",
        f"FROZEN = {literal(facts.frozen) if facts.frozen else '()'}",
        '"""Layers whose weights training leaves as they are (``requires_grad`` off)."""',
        f"FROZEN_BATCHNORM = {literal(facts.frozen_batchnorm) if facts.frozen_batchnorm else '()'}",
        '"""Frozen BatchNorm layers: in training mode too they normalise with their running statistics and keep them."""',
        f"LR_MULTIPLIERS = {_dict_literal(facts.multipliers)}",
        '"""Layers that train at the learning rate times this; every other layer at the rate itself."""',
        *preprocessing.constants,
        "",
    ]
    if helpers:
        lines += ["", "# -- layers PyTorch has no module for " + "-" * 60, ""]
        for source in helpers:
            lines += ["", source, ""]
    lines += [
        "",
        f"class {name}(nn.Module):",
        f'    """The network, one attribute per layer: {_shape(model.input_shape)} in, {_shape(model.output_shape)} out."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *preprocessing.init,
        *init_lines,
        "",
        f"    def forward(self, {argument}: torch.Tensor) -> torch.Tensor:",
        f"        # {argument}: {_shape(model.input_shape)}{input_note}",
        *preprocessing.forward,
        *forward_lines,
        f"        return {output}",
        *train_lines,
        "",
        "",
        TRAINABLE_GROUPS,
        "",
        "",
        "def build_model(pretrained: bool = True) -> nn.Module:",
        '    """The network; with ``pretrained``, its weights are loaded from weights.safetensors when that file exists."""',
        f"    model = {name}()",
        "    if pretrained and WEIGHTS.exists():",
        "        from safetensors.torch import load_file",
        "",
        "        model.load_state_dict(load_file(str(WEIGHTS)))",
        "    return model",
        "",
    ]
    return "\n".join(lines)


def readme_source(model: Model, setup: TrainingSetup | None = None) -> str:
    """The text of the folder's ``README.md``."""
    setup = setup or TrainingSetup()
    name = class_name(model.document.name)
    sample = ", ".join(str(size) for size in model.input_shape)
    preprocessing = input_preprocessing(model)
    raw_note = (
        "\nThe model takes raw RGB pixels in 0..1 and applies the network's input preprocessing itself\n"
        f"(`PREPROCESSING` in `model.py`: {preprocessing.describe()}): give it images as they are, not normalised.\n"
        if preprocessing.normalises
        else ""
    )
    data_row = (
        f"| `{DATA_FILE}` | the training and validation samples of `{setup.data.name}` exactly as Layerwise split them "
        "(`x_train`, `y_train`, `x_val`, `y_val`, `class_names`) |\n"
        if setup.data is not None
        else ""
    )
    data_note = (
        f"`python train.py` trains on `{DATA_FILE}`"
        if setup.data is not None
        else f"This project was exported without data: give `--dataset PATH` (a .npz file, an MNIST IDX folder, CIFAR-10 batches or an image folder), or export again with `--dataset`, which writes `{DATA_FILE}`"
    )
    return f"""# A Layerwise network in PyTorch

Written by `layerwise export-pytorch`. The files:

| file | what it holds |
| --- | --- |
| `model.py` | `{name}`, a `torch.nn.Module` with one attribute per layer of the network and a `forward` that follows the graph layer by layer (the tensor shape of each step in a comment), the small modules for layers PyTorch has no module for, and `build_model()` |
| `weights.safetensors` | the weights, in PyTorch's layouts (BatchNorm's running statistics included) |
| `train.py` | trains the model as `layerwise train` does, with the settings it was exported with as defaults |
{data_row}| `requirements.txt` | what `model.py` and `train.py` need: torch, safetensors, numpy |

```sh
pip install -r requirements.txt
```

```python
import torch
from model import build_model

model = build_model()  # loads weights.safetensors; build_model(pretrained=False) leaves PyTorch's initial weights
model.eval()  # BatchNorm uses its running statistics, Dropout does nothing
with torch.no_grad():
    scores = model(torch.{"rand" if preprocessing.normalises else "randn"}(8, {sample}))  # a batch of 8 samples of {_shape(model.input_shape)[2:]}
```
{raw_note}
In training mode (`model.train()`) the module computes what Layerwise computes in training:
BatchNorm normalises with the batch's statistics and updates its running ones (PyTorch's
`momentum` is one minus Layerwise's), Dropout drops. When the network ends in Softmax or
LogSoftmax, train on the scores before it (`torch.nn.functional.cross_entropy` on them), as
Layerwise fuses the two.

## Training: `train.py`

{data_note}. It starts from `weights.safetensors`, draws the batch order from NumPy's generator
seeded as Layerwise's trainer, and reproduces its optimiser, loss, L1/L2 penalties, dropout switch,
validation and early stopping.

```sh
python train.py [--dataset PATH] [--epochs N] [--batch-size B] [--lr RATE] [--seed S]
                [--device cpu|cuda|mps] [--log RUN.jsonl] [--name NAME] [--out DIR]
```

- `--dataset PATH`: what Layerwise imports, read by Layerwise's own readers (copied into `train.py`):
  a `.npz` file with arrays `x_train`, `y_train` (optionally `x_test`, `y_test`) or `x`, `y`; an MNIST
  IDX folder (`train-images-idx3-ubyte` and `train-labels-idx1-ubyte`, each optionally `.gz`) or one
  IDX images file; a CIFAR-10 python folder (`data_batch_1` …) or one batch file; a folder with one
  sub-folder of images per class (needs Pillow: `pip install pillow`). Its training part is split for
  validation as Layerwise splits (the share and seed the project was exported with; the seed from
  `--seed`); a test part is left unused.
- `--log RUN.jsonl`: a Layerwise run log; File → Open Run Log… in Layerwise shows its curves, live.
- `--out DIR`: `last.safetensors` (after every epoch) and `best.safetensors` (the best epoch by the
  monitored validation metric), `state_dict`s that `model.load_state_dict` takes.

On several processes (DistributedDataParallel; NCCL on CUDA, Gloo on CPU):

```sh
torchrun --standalone --nproc_per_node=4 train.py --device cuda --run-log run.jsonl
# several machines: the same command on each, with its own --node_rank
torchrun --nnodes=2 --node_rank=0 --nproc_per_node=4 --master_addr=HOST0 --master_port=29500 train.py --device cuda
```

Under torchrun spell `--log` as `--run-log` (torchrun would take `--log` for its own `--log-dir`).
Each batch of `--batch-size` is shared among the processes, so the run takes the same steps as on
one process; process 0 writes the log and the checkpoints and decides early stopping. With
BatchNorm, each process normalises its share with that share's statistics.
"""


def regularized_keys(model: Model) -> list[str]:
    """The ``state_dict`` keys of the weights the engine penalises with L1/L2 (kernels, not biases).

    Frozen layers' kernels are left out: they take no penalty (``Model.penalized_size``).

    Raises
    ------
    TorchExportError
        When they cannot be told apart (their sizes do not add up to the engine's).
    """
    _, layers, _ = torch_layers(model, markers=True)
    keys, size = [], 0
    for layer in layers:
        if layer.node.id in model.frozen_node_ids:
            continue
        for key, value in layer.module.state.items():
            if value.size and np.all(value == 1):
                keys.append(f"{layer.attribute}.{key}")
                size += value.size
    if size != model.penalized_size:
        raise TorchExportError(
            f"the penalised weights ({model.penalized_size:,} values) cannot be told apart in PyTorch's layout"
        )
    return keys


def train_source(model: Model, setup: TrainingSetup) -> str:
    """The text of ``train.py``.

    Raises
    ------
    TorchExportError
        When a setting is not reproduced (:func:`check_supported`).
    """
    config = setup.config
    check_supported(config)
    _, layers, _ = torch_layers(model)
    fused = None
    if model.logits_node is not model.output_node:
        fused = next(layer.attribute for layer in layers if layer.node is model.output_node)
    constants = {
        "EPOCHS": config.epochs,
        "BATCH_SIZE": config.batch_size,
        "LEARNING_RATE": float(config.learning_rate),
        "OPTIMIZER": config.optimizer,
        "MOMENTUM": float(config.momentum),
        "NESTEROV": bool(config.nesterov),
        "ADAM_BETAS": (0.9, 0.999),
        "ADAM_EPS": 1e-8,
        "LOSS": config.loss,
        "L1": float(config.l1),
        "L2": float(config.l2),
        "DROPOUT": bool(config.dropout),
        "AUGMENT": tuple(sorted(config.augment.kinds)),
        "NOISE_STD": float(config.augment.noise_std),
        "MAX_SHIFT": int(config.augment.max_shift),
        "MAX_ROTATION": float(config.augment.max_rotation),
        "SYNTHETIC_FRACTION": float(config.augment.synthetic_fraction),
        "EARLY_STOPPING": config.early_stopping,
        "MONITOR": config.monitor,
        "MIN_DELTA": float(config.min_delta),
        "RESTORE_BEST": bool(config.restore_best),
        "SEED": config.seed,
        "SCHEDULE": config.schedule.kind,
        "SCHEDULE_PARAMETERS": tuple(name for name in config.schedule.to_json() if name != "kind"),
        "STEP_SIZE": int(config.schedule.step_size),
        "GAMMA": float(config.schedule.gamma),
        "MILESTONES": tuple(int(m) for m in config.schedule.milestones),
        "WARMUP_EPOCHS": int(config.schedule.warmup_epochs),
        "MIN_LR": float(config.schedule.min_lr),
        "PLATEAU_FACTOR": float(config.schedule.factor),
        "PLATEAU_PATIENCE": int(config.schedule.patience),
        "WEIGHT_DECAY": float(config.weight_decay),
        "RMSPROP_ALPHA": 0.99,
        "RMSPROP_EPS": 1e-8,
        "CLIP_NORM": None if config.clip_norm is None else float(config.clip_norm),
        "LABEL_SMOOTHING": float(config.label_smoothing),
        "CLASS_WEIGHTS": (
            config.class_weights
            if config.class_weights is None or isinstance(config.class_weights, str)
            else tuple(float(w) for w in config.class_weights)
        ),
        "VAL_SPLIT": float(setup.val_split),
        "TRAIN_SUBSET": setup.train_subset,
        "DATASET_NAME": setup.data.name if setup.data is not None else None,
        "RESIZE": int(input_preprocessing(model).resize),
        "OUTPUT_SHAPE": tuple(model.output_shape),
        "PARAMETERS": model.parameter_count,
        "REGULARIZED": tuple(regularized_keys(model)),
        "FUSED_SOFTMAX": fused,
    }
    return render([f"{name} = {literal(value)}" for name, value in constants.items()], comment(model.document.name))


def torch_project(model: Model, setup: TrainingSetup | None = None) -> dict[str, bytes]:
    """Every file of the project (name → content), in memory.

    ``setup`` holds the training settings ``train.py`` reproduces (default: ``TrainingConfig()``'s)
    and, when it has data, ``data.npz`` is written too.

    Raises
    ------
    TorchExportError
        When a layer cannot be written, or ``train.py`` does not reproduce a setting.
    """
    setup = setup or TrainingSetup()
    from safetensors.numpy import save as safetensors_bytes  # only when a project is written

    source = model_source(model)
    state = torch_state(model)
    files = {
        MODEL_FILE: source.encode("utf-8"),
        WEIGHTS_FILE: safetensors_bytes(state, metadata={"format": "pt"}),
        REQUIREMENTS_FILE: REQUIREMENTS.encode("utf-8"),
        README_FILE: readme_source(model, setup).encode("utf-8"),
        TRAIN_FILE: train_source(model, setup).encode("utf-8"),
    }
    if setup.data is not None:
        files[DATA_FILE] = data_bytes(setup.data)
    return files


def existing_files(directory: str | os.PathLike[str]) -> list[str]:
    """The project files ``directory`` already holds."""
    return [name for name in (*PROJECT_FILES, DATA_FILE) if os.path.lexists(Path(directory) / name)]


def write_torch_project(
    model: Model, directory: str | os.PathLike[str], force: bool = False, setup: TrainingSetup | None = None
) -> dict[str, int]:
    """Write the project into ``directory`` (created if missing); return each file's size in bytes.

    Every file is generated first, then written beside its target under a temporary name
    and renamed over it only when all are written: a failure leaves no file half-written
    and no new file written.

    Raises
    ------
    TorchExportError
        When ``directory`` already holds one of the files (unless ``force``), is not a
        folder, cannot be written, or a layer cannot be written.
    """
    target = Path(directory)
    files = torch_project(model, setup)
    if target.exists() and not target.is_dir():
        raise TorchExportError(f"{target}: is not a folder")
    clashes = existing_files(target)
    if clashes and not force:
        raise TorchExportError(
            f"{target}: already holds {', '.join(clashes)}; choose another folder or overwrite them (--force)"
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TorchExportError(f"{target}: cannot be created: {exc.strerror or exc}") from None
    _write_all(target, files)
    stale = target / DATA_FILE
    if DATA_FILE not in files and os.path.lexists(stale):  # only with force: train.py must not read old data
        try:
            stale.unlink()
        except OSError as exc:
            raise TorchExportError(f"{stale}: cannot be removed: {exc.strerror or exc}") from None
    return {name: len(data) for name, data in files.items()}


def _write_all(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into ``directory``, all or none (:func:`core.atomic.atomic_write_files`)."""
    try:
        atomic_write_files(directory, files)
    except OSError as exc:
        raise TorchExportError(f"{directory}: cannot be written: {exc.strerror or exc}") from None
