"""The BatchNorm comparison as runs: a network and its BatchNorm variant, trained alike for a few epochs.

See inside compares how a layer's activations are distributed while the network trains,
without and with a BatchNorm after each convolution and dense layer
(:func:`core.graph.batchnorm_variant.with_batchnorm`). Both runs train on the same
samples with the same settings and measure activations four times per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.dataset import Dataset, stratified_take
from core.graph.batchnorm_variant import with_batchnorm
from core.graph.document import NetworkDocument
from core.graph.fileformat import network_to_dict
from core.session.engines import NUMPY, EngineChoice
from core.session.job import TrainingRequest
from core.training.trainer import TrainingConfig

COMPARE_SAMPLES = 2000
"""The comparison trains on at most this many samples, so it takes seconds, not minutes."""
COMPARE_VAL_SHARE = 0.2
COMPARE_CONFIG = {
    "batch_size": 32,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "probe_samples": 128,
    "probes_per_epoch": 4,
    "seed": 0,
}
VARIANTS = (("plain", "Without BatchNorm"), ("batchnorm", "With BatchNorm"))
"""The two runs, by key, with their titles."""


@dataclass(frozen=True)
class BatchNormComparison:
    """The comparison's two requests (by the keys of :data:`VARIANTS`), its data, and the variant's layer names."""

    requests: dict[str, TrainingRequest]
    train: Dataset
    val: Dataset
    variant_names: frozenset[str]


def batchnorm_comparison(
    document: NetworkDocument, dataset: Dataset, epochs: int, engine: EngineChoice = NUMPY
) -> BatchNormComparison:
    """Requests training ``document`` and its BatchNorm variant on ``dataset`` for ``epochs`` epochs with ``engine``."""
    train, val = dataset.split(COMPARE_VAL_SHARE, 0)
    if len(train) > COMPARE_SAMPLES:
        train = train.subset(stratified_take(train.y, COMPARE_SAMPLES, np.random.default_rng(0)))
    variant = with_batchnorm(document)
    config = TrainingConfig(epochs=epochs, **COMPARE_CONFIG)  # type: ignore[arg-type]
    networks = {"plain": network_to_dict(document), "batchnorm": network_to_dict(variant)}
    requests = {key: TrainingRequest(networks[key], train, val, config, engine=engine) for key, _ in VARIANTS}
    return BatchNormComparison(requests, train, val, frozenset(node.name for node in variant.nodes))
