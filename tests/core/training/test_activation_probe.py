"""Activation percentiles measured during a run: when, for which layers, and what they are."""

from __future__ import annotations

import numpy as np

from core.analysis.introspection import activation_percentiles
from core.data import load_builtin
from core.training.events import ActivationsMeasured, BatchEnded
from core.training.history import RunHistory
from core.training.trainer import PROBE_PERCENTILES, Trainer, TrainingConfig
from tests.core.session.test_job import small_network


def run(config: TrainingConfig):
    train, val = load_builtin("shapes", input_shape=(1, 12, 12), n_samples=160).split(0.25, 0)
    trainer = Trainer(small_network(), train, val, config)
    return trainer, val, list(trainer.run())


def test_no_probe_no_measurements():
    _, _, events = run(TrainingConfig(epochs=1, batch_size=30))
    assert not any(isinstance(e, ActivationsMeasured) for e in events)


def test_measured_before_training_and_a_few_times_per_epoch():
    trainer, val, events = run(TrainingConfig(epochs=2, batch_size=30, probe_samples=16, probes_per_epoch=2))
    probes = [e for e in events if isinstance(e, ActivationsMeasured)]
    assert [p.position for p in probes] == [0.0, 0.5, 1.0, 1.5, 2.0]  # 4 batches per epoch
    assert list(probes[0].layers) == ["conv", "relu", "flat", "fc", "probabilities"]
    assert probes[0].percentiles == PROBE_PERCENTILES
    for values in probes[-1].layers.values():
        assert values == sorted(values)
    assert min(probes[-1].layers["relu"]) >= 0  # after a ReLU nothing is negative
    # The last probe follows the last step: it describes the final weights.
    last = activation_percentiles(trainer.model, val.x[:16], [n.id for n in trainer.model.order[1:]], PROBE_PERCENTILES)
    fc = next(n.id for n in trainer.model.order if n.name == "fc")
    np.testing.assert_allclose(probes[-1].layers["fc"], last[fc], rtol=1e-6)
    # Every probe comes after the batch it follows.
    order = [type(e) for e in events]
    assert order.index(ActivationsMeasured, 3) > order.index(BatchEnded)


def test_history_keeps_the_measurements():
    _, _, events = run(TrainingConfig(epochs=1, batch_size=30, probe_samples=8))
    history = RunHistory()
    for event in events:
        history.add(event)
    assert len(history.activations) == 1 + 4
