"""Runs too large for memory are refused up front, naming the estimate and the limit."""

from __future__ import annotations

import re

import numpy as np
import pytest

from core.analysis.summary import summarize
from core.data import Dataset
from core.examples import example_path
from core.graph.fileformat import load_network, network_to_dict
from core.session.job import TrainingJob, TrainingRequest
from core.training import memory_check
from core.training.memory_check import TrainingMemoryError, check_training_memory, estimate_training_bytes
from core.training.trainer import TrainingConfig


def test_estimate_grows_with_batch_and_optimizer_state():
    lenet = load_network(example_path("lenet5"))
    weights = summarize(lenet).param_bytes
    sgd, adam = (estimate_training_bytes(lenet, 64, name, 64) for name in ("sgd", "adam"))
    assert adam - sgd == 2 * weights  # Adam's two moment arrays
    assert estimate_training_bytes(lenet, 128, "sgd", 64) > sgd


def test_a_run_beyond_the_limit_is_refused_with_both_figures():
    vgg = load_network(example_path("vgg16"))
    with pytest.raises(TrainingMemoryError, match=r"needs about .* GiB .* but only 1\.0 GiB of memory is available"):
        check_training_memory(vgg, 64, "adam", 512, available=1024**3)


def test_the_job_refuses_before_building_the_model(monkeypatch):
    monkeypatch.setattr(memory_check, "available_memory_bytes", lambda: 10 * 1024**2)  # 10 MiB
    built = []
    monkeypatch.setattr("core.session.job.Model", lambda *a, **k: built.append(1))
    rng = np.random.default_rng(0)
    data = Dataset("d", rng.random((8, 1, 28, 28), dtype=np.float32), np.arange(8) % 4, list("abcd"))
    request = TrainingRequest(network_to_dict(load_network(example_path("lenet5"))), data, None, TrainingConfig())
    with pytest.raises(TrainingMemoryError, match=re.escape("10.0 MiB of memory is available")):
        TrainingJob(request)
    assert not built


def test_available_memory_is_known_here():
    available = memory_check.available_memory_bytes()
    assert available is None or available > 0
