"""A 12-run sweep on digits in 2 worker processes against the same 12 runs one after another.

The sweep is ``lr`` × ``l2`` × ``dropout`` (3 × 2 × 2 = 12 runs) of the digits CNN on the
built-in digits dataset. Both passes go through the sweep runner (``--jobs 2`` and
``--jobs 1``), alternating, ``--rounds`` times each, in the same run; the figures are the
speed-up (the fastest sequential pass's seconds ÷ the fastest parallel pass's, worker
start-up included) and whether every run's per-epoch numbers are identical in every
pass, bit for bit.

    python bench/sweep.py [--epochs 4] [--samples 1000] [--network digits_cnn] [--rounds 2]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy: see main.py

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import main as layerwise
from cli.sweep import training_options
from core.examples import example_path
from core.experiments.experiment import Experiment, new_experiment, run_experiment
from core.experiments.plan import make_plan
from core.graph.fileformat import load_network

VARY = ("lr=0.001,0.003,0.01", "l2=0,0.0001", "dropout=on,off")


def sweep(network: str, epochs: int, samples: int, jobs: int) -> tuple[Experiment, float]:
    """Run the 12-run sweep with ``jobs`` workers; return it and its wall-clock seconds."""
    document = load_network(example_path(network))
    argv = ["sweep", network, "--dataset", "digits", "--samples", str(samples), "--epochs", str(epochs)]
    options = training_options(layerwise.build_parser().parse_args(argv))
    experiment = new_experiment(document, options, make_plan(list(VARY), document, epochs=epochs))
    started = time.perf_counter()
    run_experiment(experiment, jobs=jobs)
    return experiment, time.perf_counter() - started


def histories(experiment: Experiment) -> dict[int, dict]:
    return {trial["index"]: trial["history"] for trial in experiment.trials}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--network", default="digits_cnn")
    parser.add_argument("--rounds", type=int, default=2, help="passes of each kind, alternating")
    args = parser.parse_args()
    passes: dict[int, list[tuple[Experiment, float]]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for jobs in (2, 1):
            passes[jobs].append(sweep(args.network, args.epochs, args.samples, jobs))
    parallel, parallel_seconds = min(passes[2], key=lambda run: run[1])
    sequential, sequential_seconds = min(passes[1], key=lambda run: run[1])
    reference = histories(sequential)
    identical = all(histories(run) == reference for runs in passes.values() for run, _seconds in runs)
    speedup = sequential_seconds / parallel_seconds
    print(f"12 runs of {args.network} on digits ({args.samples} samples, {args.epochs} epochs)")
    print(f"one after another: {sequential_seconds:6.1f} s")
    print(f"2 jobs:            {parallel_seconds:6.1f} s   speed-up ×{speedup:.2f}")
    print(f"every run identical in every pass: {'yes' if identical else 'NO'}")
    figures = {
        "runs": len(parallel.trials),
        "sequential_s": round(sequential_seconds, 2),
        "parallel_s": round(parallel_seconds, 2),
        "speedup": round(speedup, 3),
        "identical": identical,
        "cores": os.cpu_count(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
