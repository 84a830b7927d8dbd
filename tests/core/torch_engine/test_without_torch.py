"""Without PyTorch the NumPy engine is the only choice, and asking for PyTorch says how to add it."""

from __future__ import annotations

import sys

import pytest

import core.session.engines as engines
from core.engine.model import Model
from core.errors import LayerwiseError
from core.session.engines import NUMPY, EngineChoice, available_engines, make_engine
from core.training.trainer import TrainingConfig
from tests.core.training.test_trainer import mlp


def test_without_torch_only_numpy_is_offered_and_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    monkeypatch.setattr(engines, "torch_installed", lambda: False)
    with pytest.raises(LayerwiseError, match='pip install "layerwise\\[torch\\]"'):
        make_engine(EngineChoice("torch"), Model(mlp()), TrainingConfig())
    assert available_engines() == [NUMPY]
