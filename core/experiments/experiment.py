"""An experiment file: the network, the options, the plan and every finished trial.

The file is JSON, rewritten atomically after every finished trial, so a sweep that is
killed keeps its finished trials and :func:`resume` runs only the others.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text
from core.csv_cells import csv_row
from core.errors import LayerwiseError
from core.experiments.plan import Plan, Trial, halving_survivors, make_plan, setting_key
from core.experiments.runner import Finished, Progress, TrialRunner
from core.graph.document import NetworkDocument
from core.graph.fileformat import network_from_dict, network_to_dict

EXPERIMENT_FORMAT = "layerwise-experiment"
EXPERIMENT_VERSION = 1
METRICS = ("best_val_loss", "best_val_accuracy", "final_val_loss", "best_epoch", "epochs", "seconds")
"""The CSV's columns after the varied keys and ``seed`` (then ``parameters`` and ``macs``)."""
SUMMARISED = ("best_val_loss", "best_val_accuracy", "final_val_loss")
"""The metrics the summary gives as mean ± standard deviation over repeats."""


class ExperimentError(LayerwiseError):
    """An experiment file cannot be read (naming the file and what is wrong)."""


@dataclass
class Experiment:
    """The network (file dict), the ``train`` options every trial starts from, the plan and the finished trials."""

    network: dict[str, Any]
    options: dict[str, Any]
    plan: Plan
    trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return str(self.options.get("dataset"))

    def finished_keys(self) -> set[tuple[str, int, int]]:
        """(setting, seed, epochs) of every finished trial."""
        return {(setting_key(t["values"]), t["seed"], t["planned_epochs"]) for t in self.trials}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": EXPERIMENT_FORMAT,
            "version": EXPERIMENT_VERSION,
            "network": self.network,
            "dataset": self.dataset,
            "options": self.options,
            "plan": self.plan.to_json(),
            "trials": self.trials,
        }


def new_experiment(document: NetworkDocument, options: Mapping[str, Any], plan: Plan) -> Experiment:
    """An experiment with no trials run yet (``options`` as the ``train`` flags set them)."""
    return Experiment(network_to_dict(document), dict(options), plan)


def save_experiment(experiment: Experiment, path: str | os.PathLike[str]) -> None:
    """Write ``experiment`` to ``path`` atomically (a crash leaves the old file or the new)."""
    atomic_write_text(path, json.dumps(experiment.to_json(), indent=1, allow_nan=True) + "\n")


def load_experiment(path: str | os.PathLike[str]) -> Experiment:
    """Read an experiment file; its plan is parsed again against its network.

    Raises
    ------
    ExperimentError
        Naming the file when it is missing, not JSON, or not an experiment.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such experiment file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExperimentError(f"{path}: not a readable experiment file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != EXPERIMENT_FORMAT:
        raise ExperimentError(f'{path}: not a Layerwise experiment file (no "format": {EXPERIMENT_FORMAT!r})')
    if data.get("version") != EXPERIMENT_VERSION:
        raise ExperimentError(
            f"{path}: experiment file version {data.get('version')!r}; this Layerwise reads version {EXPERIMENT_VERSION}"
        )
    try:
        network, options, plan_data, trials = data["network"], data["options"], data["plan"], data["trials"]
        document = network_from_dict(network)
        plan = make_plan(
            plan_data["vary"],
            document,
            plan_data["strategy"],
            plan_data["repeats"],
            plan_data["seed"],
            plan_data["epochs"],
        )
    except (KeyError, TypeError) as exc:
        raise ExperimentError(f"{path}: the experiment file lacks or mangles {exc}") from None
    return Experiment(network, options, plan, list(trials))


def run_experiment(
    experiment: Experiment,
    path: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    on_finished: Finished | None = None,
    on_progress: Progress | None = None,
    runner: TrialRunner | None = None,
) -> Experiment:
    """Run every trial of ``experiment``'s plan not finished yet, saving to ``path`` after each.

    Grid and random plans run all their trials. ``halving`` runs round by round
    (:meth:`~core.experiments.plan.Plan.rung_epochs`): every setting trains for the first
    round's epochs; the better half by mean best validation loss over repeats (rounded up)
    trains again, from scratch, for the next round's (doubled) epochs, until the budget.
    """
    plan = experiment.plan
    with runner or TrialRunner(experiment.network, experiment.options, jobs) as active:

        def finished(result: dict[str, Any]) -> None:
            experiment.trials.append(result)
            if path is not None:
                save_experiment(experiment, path)
            if on_finished is not None:
                on_finished(result)

        if plan.strategy != "halving":
            _run_missing(experiment, plan.trials(), active, finished, on_progress, 0)
            return experiment
        settings, offset = plan.settings(), 0
        rounds = plan.rung_epochs()
        for rung, epochs in enumerate(rounds):
            trials = plan.trials(settings, epochs, rung)
            results = _run_missing(experiment, trials, active, finished, on_progress, offset)
            offset += len(trials)
            if rung + 1 < len(rounds):
                settings = halving_survivors(settings, [_mean_score(results, s) for s in settings])
    return experiment


def resume(
    path: str | os.PathLike[str],
    jobs: int | None = None,
    on_finished: Finished | None = None,
    on_progress: Progress | None = None,
) -> Experiment:
    """Load the experiment at ``path`` and run only the trials it has not finished."""
    return run_experiment(load_experiment(path), path, jobs, on_finished, on_progress)


def _run_missing(
    experiment: Experiment,
    trials: Sequence[Trial],
    runner: TrialRunner,
    finished: Finished,
    on_progress: Progress | None,
    offset: int,
) -> list[dict[str, Any]]:
    """Run the trials not finished yet (numbered from ``offset``); return the results of all ``trials``."""
    numbered = [Trial(offset + t.index, t.values, t.seed, t.epochs, t.rung) for t in trials]
    done = experiment.finished_keys()
    runner.run([t for t in numbered if t.key() not in done], finished, on_progress)
    wanted = {t.key() for t in numbered}
    return [t for t in experiment.trials if (setting_key(t["values"]), t["seed"], t["planned_epochs"]) in wanted]


def _mean_score(results: Sequence[Mapping[str, Any]], setting: Mapping[str, Any]) -> float:
    key = setting_key(setting)
    scores = [r["best_val_loss"] for r in results if setting_key(r["values"]) == key]
    finite = [s for s in scores if s is not None and math.isfinite(s)]
    return sum(finite) / len(finite) if finite and len(finite) == len(scores) else math.inf


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return ""
    return value


def results_csv(experiment: Experiment) -> str:
    """The finished trials as CSV, in trial order.

    Columns: one per varied key, ``seed``, :data:`METRICS`, ``parameters``, ``macs``;
    text cells are made safe for spreadsheets (:func:`~core.csv_cells.csv_row`).
    """
    columns = [*experiment.plan.keys, "seed", *METRICS, "parameters", "macs"]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for trial in sorted(experiment.trials, key=lambda t: t["index"]):
        row = {key: _cell(trial["values"].get(key)) for key in experiment.plan.keys}
        row.update({name: _cell(trial.get(name)) for name in ("seed", *METRICS, "parameters", "macs")})
        writer.writerow(csv_row(row))
    return out.getvalue()


def summary(experiment: Experiment) -> tuple[list[dict[str, Any]], int | None]:
    """One row per setting (and epochs, for halving's rounds) with mean and std over its repeats.

    Returns
    -------
    rows, best
        Each row: ``values``, ``epochs`` (planned), ``runs``, and ``<metric>_mean`` /
        ``<metric>_std`` for each of :data:`SUMMARISED` (std with ``ddof=1``; 0 for one
        run; ``None`` without numbers). ``best`` is the index of the row with the lowest
        mean best validation loss among the rows with the most epochs (``None`` if none).
    """
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for trial in sorted(experiment.trials, key=lambda t: t["index"]):
        groups.setdefault((setting_key(trial["values"]), trial["planned_epochs"]), []).append(trial)
    rows = []
    for (_key, epochs), trials in groups.items():
        row: dict[str, Any] = {"values": trials[0]["values"], "epochs": epochs, "runs": len(trials)}
        for metric in SUMMARISED:
            row[f"{metric}_mean"], row[f"{metric}_std"] = _mean_std([t.get(metric) for t in trials])
        rows.append(row)
    most = max((row["epochs"] for row in rows), default=0)
    ranked = [
        (row["best_val_loss_mean"], i)
        for i, row in enumerate(rows)
        if row["epochs"] == most and row["best_val_loss_mean"] is not None and math.isfinite(row["best_val_loss_mean"])
    ]
    return rows, min(ranked)[1] if ranked else None


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    numbers = [v for v in values if v is not None]
    if not numbers or len(numbers) < len(values):
        return None, None
    mean = sum(numbers) / len(numbers)
    if len(numbers) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in numbers) / (len(numbers) - 1))
