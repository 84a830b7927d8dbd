"""Sweep plans: lists and ranges per key, grid and random expansion, repeats, halving's rounds."""

from __future__ import annotations

import pytest

from core.examples import example_path
from core.experiments.plan import PlanError, halving_survivors, make_plan, parse_varied
from core.graph.fileformat import load_network


@pytest.fixture(scope="module")
def mlp():
    return load_network(example_path("mlp"))


def test_a_grid_is_every_combination_and_repeats_take_consecutive_seeds(mlp):
    plan = make_plan(["lr=0.001,0.01", "optimizer=adam,sgd,momentum"], mlp, repeats=2, seed=5, epochs=3)
    settings = plan.settings()
    assert len(settings) == 6
    assert settings[0] == {"lr": 0.001, "optimizer": "adam"} and settings[-1] == {"lr": 0.01, "optimizer": "momentum"}
    trials = plan.trials()
    assert len(trials) == 12
    assert [t.seed for t in trials[:2]] == [5, 6]
    assert [t.index for t in trials] == list(range(12))
    assert all(t.epochs == 3 for t in trials)


def test_ranges_are_linear_or_logarithmic_and_int_keys_stay_ints(mlp):
    assert parse_varied("l2=0:0.2:3", mlp).values == (0.0, 0.1, 0.2)
    lr = parse_varied("lr=1e-4:1e-2:3:log", mlp)
    assert lr.values == (0.0001, 0.001, 0.01) and lr.log
    batch = parse_varied("batch_size=16:64:4", mlp).values
    assert batch == (16, 32, 48, 64) and all(type(v) is int for v in batch)
    units = parse_varied("fc1.units=8:64:4:log", mlp).values
    assert units == (8, 16, 32, 64) and all(type(v) is int for v in units)
    assert parse_varied("dropout=on,off", mlp).values == (True, False)
    assert parse_varied("augment.shift=off,on", mlp).values == (False, True)
    assert parse_varied("batch-size=8,16", mlp).key == "batch_size"


def test_random_draws_are_seeded_and_lie_in_the_ranges(mlp):
    texts = ["lr=1e-4:1e-1:5:log", "optimizer=adam,sgd", "batch_size=8:128:3"]
    first = make_plan(texts, mlp, strategy="random:7", seed=3).settings()
    assert first == make_plan(texts, mlp, strategy="random:7", seed=3).settings()
    assert first != make_plan(texts, mlp, strategy="random:7", seed=4).settings()
    assert len(first) == 7
    for setting in first:
        assert 1e-4 <= setting["lr"] <= 1e-1
        assert setting["optimizer"] in ("adam", "sgd")
        assert type(setting["batch_size"]) is int and 8 <= setting["batch_size"] <= 128


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("learning_rate=0.1", "'learning_rate'"),
        ("lr=fast", "'fast'"),
        ("lr=-1", "lr"),
        ("optimizer=lbfgs", "'lbfgs'"),
        ("batch_size=1.5", "'1.5'"),
        ("dropout=maybe", "'maybe'"),
        ("lr=0:1:3:log", "log range"),
        ("optimizer=0:1:3", "optimizer"),
        ("conv9.filters=8", "'conv9'"),
        ("fc1.filters=8", "'filters'"),
        ("fc1_dropout.rate=1.5", "1.5"),
        ("lr", "KEY=V1"),
    ],
)
def test_bad_keys_and_values_are_named(mlp, text, named):
    with pytest.raises(PlanError, match=named.replace(".", r"\.").replace("(", r"\(")):
        parse_varied(text, mlp)


def test_an_unknown_layer_lists_the_layers_and_an_unknown_param_the_params(mlp):
    with pytest.raises(PlanError, match="fc1_dropout") as unknown_layer:
        parse_varied("conv9.filters=8", mlp)
    assert "conv9" in str(unknown_layer.value)
    with pytest.raises(PlanError, match="units") as unknown_param:
        parse_varied("fc1.filters=8", mlp)
    assert "fc1" in str(unknown_param.value)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"strategy": "bayes"}, "bayes"), ({"strategy": "random:0"}, "random:0"), ({"repeats": 0}, "repeats")],
)
def test_bad_strategies_and_counts_are_named(mlp, kwargs, named):
    with pytest.raises(PlanError, match=named):
        make_plan(["lr=0.1"], mlp, **kwargs)


def test_a_key_varied_twice_is_refused(mlp):
    with pytest.raises(PlanError, match="lr is varied twice"):
        make_plan(["lr=0.1", "lr=0.2"], mlp)


def test_halving_doubles_the_epochs_up_to_the_budget_and_keeps_the_better_half(mlp):
    plan = make_plan(["lr=1e-4:1e-1:8:log"], mlp, strategy="halving", epochs=16)
    assert plan.rung_epochs() == [2, 4, 8, 16]
    short = make_plan(["lr=1e-4:1e-1:8:log"], mlp, strategy="halving", epochs=3)
    assert short.rung_epochs() == [1, 3]
    settings = [{"lr": v} for v in (1, 2, 3, 4, 5)]
    kept = halving_survivors(settings, [0.5, 0.1, float("nan"), 0.3, 0.2])
    assert kept == [{"lr": 2}, {"lr": 4}, {"lr": 5}]
