"""Sweeps run in worker processes: results per run, equal to `layerwise train`, resumable after a kill."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import main
from cli.sweep import training_options
from core.examples import example_path
from core.experiments.experiment import load_experiment, new_experiment, resume, run_experiment, save_experiment
from core.experiments.plan import make_plan
from core.experiments.runner import SweepCancelled, TrialRunner
from core.graph.fileformat import load_network

FIXED = ["--samples", "200", "--epochs", "2", "--seed", "3", "--batch-size", "32"]
MAIN = Path(main.__file__)
VARY = ["lr=0.001,0.01", "fc1_dropout.rate=0.2,0.5"]


def base_options(*extra: str) -> dict:
    args = main.build_parser().parse_args(["sweep", "mlp", "--dataset", "digits", *FIXED, *extra])
    return training_options(args)


@pytest.fixture(scope="module")
def network():
    return load_network(example_path("mlp"))


@pytest.fixture(scope="module")
def swept(network, tmp_path_factory):
    """A 4-run grid on digits in 2 worker processes, kept in an experiment file."""
    path = tmp_path_factory.mktemp("sweep") / "experiment.json"
    progress = []
    experiment = new_experiment(network, base_options(), make_plan(VARY, network, seed=3, epochs=2))
    run_experiment(experiment, path, jobs=2, on_progress=lambda *args: progress.append(args))
    return experiment, path, progress


def test_every_run_reports_its_figures_and_history(swept):
    experiment, _path, progress = swept
    assert sorted(t["index"] for t in experiment.trials) == [0, 1, 2, 3]
    for trial in experiment.trials:
        assert trial["seed"] == 3 and trial["epochs"] == 2 and trial["finish"] == "completed"
        assert trial["best_val_loss"] == min(trial["history"]["val_loss"])
        assert trial["best_val_accuracy"] == max(trial["history"]["val_accuracy"])
        assert trial["final_val_loss"] == trial["history"]["val_loss"][-1]
        assert trial["parameters"] == 235_146 and trial["macs"] > 0 and trial["seconds"] > 0
        assert len(trial["history"]["train_loss"]) == 2
    assert sorted((index, epoch) for index, epoch, _loss in progress) == [(i, e) for i in range(4) for e in (1, 2)]
    assert {t["values"]["fc1_dropout.rate"] for t in experiment.trials} == {0.2, 0.5}


def test_a_run_equals_layerwise_train_with_the_same_options_and_seed_bit_for_bit(swept, tmp_path):
    """Bit for bit with the same BLAS threads: the workers' single thread, asked of ``train`` with ``--threads 1``."""
    experiment, _path, _progress = swept
    trial = next(t for t in experiment.trials if t["values"] == {"lr": 0.01, "fc1_dropout.rate": 0.5})
    log = tmp_path / "run.jsonl"
    command = [
        sys.executable,
        str(MAIN),
        "train",
        "mlp",
        "--dataset",
        "digits",
        *FIXED,
        "--lr",
        "0.01",
        "--log",
        str(log),
        "--threads",
        "1",
    ]
    subprocess.run(command, check=True, capture_output=True)
    epochs = [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == "EpochEnded"]
    assert [e["val_loss"] for e in epochs] == trial["history"]["val_loss"]
    assert [e["train_loss"] for e in epochs] == trial["history"]["train_loss"]
    assert [e["val_accuracy"] for e in epochs] == trial["history"]["val_accuracy"]
    assert [e["train_accuracy"] for e in epochs] == trial["history"]["train_accuracy"]


def test_a_killed_sweep_keeps_its_finished_runs_and_resume_runs_only_the_rest(swept, tmp_path):
    experiment, path, _progress = swept
    saved = load_experiment(path)
    assert len(saved.trials) == 4
    killed = tmp_path / "killed.json"
    kept = [t for t in saved.trials if t["index"] in (0, 3)]
    saved.trials = list(kept)
    save_experiment(saved, killed)
    ran = []
    resumed = resume(killed, jobs=1, on_finished=lambda result: ran.append(result["index"]))
    assert sorted(ran) == [1, 2]
    assert sorted(t["index"] for t in load_experiment(killed).trials) == [0, 1, 2, 3]
    by_index = {t["index"]: t["history"] for t in experiment.trials}
    assert all(t["history"] == by_index[t["index"]] for t in resumed.trials)
    assert resume(killed, jobs=1).trials == resumed.trials  # nothing left to run


def test_cancel_stops_the_sweep_and_keeps_what_finished(network):
    experiment = new_experiment(network, base_options(), make_plan(["lr=0.001,0.002,0.003"], network, epochs=2))
    runner = TrialRunner(experiment.network, experiment.options, jobs=1)
    with pytest.raises(SweepCancelled):
        run_experiment(experiment, runner=runner, on_finished=lambda _result: runner.cancel())
    assert len(experiment.trials) == 1
