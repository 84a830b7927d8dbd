"""The BatchNorm comparison's two requests: the same data and settings, the network and its variant."""

from __future__ import annotations

from core.data import load_builtin
from core.examples import example_path
from core.graph.fileformat import load_network, network_from_dict
from core.session.comparison import COMPARE_SAMPLES, VARIANTS, batchnorm_comparison
from core.session.engines import EngineChoice


def test_both_runs_train_alike_on_at_most_the_sample_cap():
    document = load_network(example_path("digits_cnn"))
    dataset = load_builtin("digits", input_shape=(1, 8, 8))
    engine = EngineChoice("torch", "cpu")
    comparison = batchnorm_comparison(document, dataset, 3, engine)
    plain, variant = (comparison.requests[key] for key, _ in VARIANTS)
    assert len(comparison.train) == min(COMPARE_SAMPLES, round(len(dataset) * 0.8))
    assert len(comparison.train) + len(comparison.val) <= len(dataset)
    for request in (plain, variant):
        assert request.train is comparison.train and request.val is comparison.val
        assert request.config == plain.config and request.config.epochs == 3 and request.config.probe_samples
        assert request.engine == engine and request.initial_weights is None
    assert [node.name for node in network_from_dict(plain.network).nodes] == [n.name for n in document.nodes]
    assert "conv1_bn" in comparison.variant_names
    assert "conv1_bn" in {node.name for node in network_from_dict(variant.network).nodes}
