"""Load a generated PyTorch project and run it beside the engine (needs torch)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from core.engine.model import Model
from core.torch_export.project import MODEL_FILE, model_source, torch_state

_COUNTER = itertools.count()


def import_generated(directory: Path) -> ModuleType:
    """Import ``directory/model.py`` under a fresh module name."""
    name = f"generated_layerwise_model_{next(_COUNTER)}"
    spec = importlib.util.spec_from_file_location(name, directory / MODEL_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def torch_twin(model: Model, directory: Path):
    """The generated module of ``model``, in float64, holding ``model``'s weights (in eval mode).

    Only ``model.py`` is written; the weights go straight from ``model`` to the module.
    """
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_text(model_source(model), encoding="utf-8")
    module = import_generated(directory).build_model(pretrained=False).double()
    state = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in torch_state(model).items()}
    module.load_state_dict(state)
    return module.eval()
