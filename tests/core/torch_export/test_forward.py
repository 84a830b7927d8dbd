"""The generated PyTorch module computes what the engine computes, for every layer case and example."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.model import Model
from core.examples import example_names, example_path
from core.graph.fileformat import load_network
from core.layers import layer_types
from tests.core.engine.test_gradients import CASES
from tests.core.onnx_io.helpers import randomize, relative_difference
from tests.core.torch_export.helpers import torch_twin

torch = pytest.importorskip("torch")


def test_every_layer_type_is_exported_by_some_case():
    exported = {node.type_name for doc in CASES.values() for node in doc.nodes}
    assert {cls.type_name for cls in layer_types()} <= exported


def engine_and_torch(model: Model, tmp_path, batch: int = 3, seed: int = 2):
    x = np.random.default_rng(seed).standard_normal((batch, *model.input_shape))
    module = torch_twin(model, tmp_path)
    with torch.no_grad():
        theirs = module(torch.from_numpy(x)).numpy()
    return model.forward(x), theirs


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_layer_case_matches_the_engine(case, tmp_path):
    model = Model(CASES[case], dtype=np.float64, seed=1)
    randomize(model)
    ours, theirs = engine_and_torch(model, tmp_path)
    assert ours.shape == theirs.shape
    assert relative_difference(ours, theirs) <= 1e-5


@pytest.mark.parametrize("name", example_names())
def test_every_example_matches_the_engine(name, tmp_path):
    model = Model(load_network(example_path(name)), dtype=np.float64, seed=1)
    randomize(model)
    ours, theirs = engine_and_torch(model, tmp_path, batch=2)
    assert ours.shape == theirs.shape
    assert relative_difference(ours, theirs) <= 1e-5
