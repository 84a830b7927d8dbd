"""``layerwise sweep``: train one network under many settings in parallel and compare them."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from cli.common import load_network_argument
from cli.train import add_training_arguments
from core.atomic import atomic_write_text
from core.errors import LayerwiseError
from core.experiments.experiment import (
    Experiment,
    load_experiment,
    new_experiment,
    results_csv,
    run_experiment,
    summary,
)
from core.experiments.plan import STRATEGIES, make_plan
from core.experiments.runner import default_jobs
from core.graph.fileformat import network_from_dict

EXIT_OK = 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="train a network under many settings, in parallel, and compare them",
        description="Train NETWORK on DATASET once per setting (and seed) the --vary options describe, in parallel "
        "worker processes, and write one CSV row per run. Every run equals `layerwise train` with the same options "
        "and --seed. The other training options are fixed settings shared by every run.",
    )
    sweep.add_argument("network", nargs="?", help="a network file or the name of a shipped example")
    sweep.add_argument("--dataset", help="a built-in dataset name, a downloaded one, or a path to import")
    sweep.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=VALUES",
        help="KEY=V1,V2,… or KEY=LO:HI:N[:log]; KEY is a train option (lr, batch_size, optimizer, l2, dropout, "
        "augment.shift …) or LAYER.PARAM; repeat for more keys",
    )
    sweep.add_argument(
        "--strategy",
        default="grid",
        help=f"{' | '.join(STRATEGIES)}: every combination, N seeded random draws, or successive halving",
    )
    sweep.add_argument("--repeats", type=int, default=1, help="runs per setting, with seeds SEED, SEED+1, …")
    sweep.add_argument("--jobs", type=int, help="worker processes (default: min(cores, runs))")
    sweep.add_argument("--experiment", metavar="FILE.json", help="keep the experiment here, saved after every run")
    sweep.add_argument("--resume", metavar="FILE.json", help="run the runs an experiment file has not finished")
    sweep.add_argument("-o", "--output", metavar="RESULTS.csv", help="write one row per run here")
    add_training_arguments(sweep)
    sweep.set_defaults(handler=run)


def training_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``train`` options among ``args`` (those :func:`add_training_arguments` defines) and the dataset."""
    names = argparse.ArgumentParser(add_help=False)
    add_training_arguments(names)
    options = {action.dest: getattr(args, action.dest) for action in names._actions}
    options["dataset"] = args.dataset
    return options


def _experiment(args: argparse.Namespace) -> tuple[Experiment, str | None]:
    if args.resume:
        if args.vary:
            raise LayerwiseError("--resume takes its plan from the experiment file; drop --vary")
        return load_experiment(args.resume), args.resume
    if not args.network or not args.dataset:
        raise LayerwiseError("sweep needs NETWORK and --dataset (or --resume FILE.json)")
    _path, document = load_network_argument(args.network)
    plan = make_plan(args.vary, document, args.strategy, args.repeats, args.seed, args.epochs)
    return new_experiment(document, training_options(args), plan), args.experiment


def run(args: argparse.Namespace) -> int:
    experiment, path = _experiment(args)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    plan = experiment.plan
    planned = len(plan.trials()) if plan.strategy != "halving" else len(plan.settings()) * plan.repeats
    remaining = planned - len(experiment.trials) if plan.strategy != "halving" else planned
    jobs = args.jobs or default_jobs(max(1, remaining))
    name = network_from_dict(experiment.network).name
    print(
        f"Sweep of {name} on {experiment.dataset}: {', '.join(plan.keys)} ({plan.strategy}, "
        f"{plan.repeats} repeat{'s' if plan.repeats != 1 else ''}), {jobs} job{'s' if jobs != 1 else ''}"
        + (f"; {len(experiment.trials)} runs already finished" if experiment.trials else "")
    )
    run_experiment(experiment, path, jobs, on_finished=lambda result: print(trial_line(result), flush=True))
    for line in summary_lines(experiment):
        print(line)
    if args.output:
        atomic_write_text(args.output, results_csv(experiment))
        print(f"results ({len(experiment.trials)} runs) written to {args.output}")
    return EXIT_OK


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _setting(values: dict[str, Any]) -> str:
    return "  ".join(f"{key}={_show(value)}" for key, value in values.items())


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None or not math.isfinite(value) else format(value, spec)


def trial_line(result: dict[str, Any]) -> str:
    """One line per finished run: its number, setting, seed, best validation loss and accuracy, time."""
    return (
        f"run {result['index'] + 1:>3}  {_setting(result['values'])}  seed {result['seed']}  "
        f"best val loss {_number(result['best_val_loss'], '.4f')} (epoch {result['best_epoch'] or '—'}/{result['epochs']})  "
        f"acc {_number(result['best_val_accuracy'], '.2%')}  {result['seconds']:.1f} s"
    )


def summary_lines(experiment: Experiment) -> list[str]:
    """The settings with mean ± std over their repeats; the best marked with ★."""
    rows, best = summary(experiment)
    width = max([len("setting"), *(len(_setting(row["values"])) for row in rows)]) + 2
    lines = ["", f"{'setting':<{width}}runs  epochs  best val loss       best val acc"]
    for i, row in enumerate(rows):
        loss = f"{_number(row['best_val_loss_mean'], '.4f')} ± {_number(row['best_val_loss_std'], '.4f')}"
        accuracy = f"{_number(row['best_val_accuracy_mean'], '.2%')} ± {_number(row['best_val_accuracy_std'], '.2%')}"
        mark = "  ★ best" if i == best else ""
        lines.append(
            f"{_setting(row['values']):<{width}}{row['runs']:>4}  {row['epochs']:>6}  {loss:<18}  {accuracy}{mark}"
        )
    return lines
