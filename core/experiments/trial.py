"""One trial, run exactly as ``layerwise train`` runs the same options and seed.

The config and the data come from :mod:`core.training.options`, the code ``train``
itself uses; the varied layer parameters are set on a copy of the network first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from core.analysis.summary import summarize
from core.engine.model import Model
from core.experiments.plan import TRAIN_KEYS, Trial
from core.graph.document import NetworkDocument
from core.graph.fileformat import network_from_dict
from core.session.engines import NUMPY, make_engine
from core.training.augment import parse_kinds
from core.training.events import EpochEnded, TrainingFinished
from core.training.options import config_from_options, datasets_from_options
from core.training.trainer import Trainer

Progress = Callable[[int, int, float | None], None]
"""Called with (trial index, epoch, validation loss or ``None``) after each epoch."""


def trial_options(base: Mapping[str, Any], values: Mapping[str, Any], seed: int, epochs: int) -> dict[str, Any]:
    """The ``train`` options of a trial: ``base`` with the varied train keys, ``seed`` and ``epochs`` set.

    ``dropout`` on/off sets ``no_dropout``; ``augment.KIND`` adds or removes KIND from
    ``augment``; layer keys (``LAYER.PARAM``) are left to :func:`trial_network`.
    """
    options = dict(base)
    options["seed"], options["epochs"] = seed, epochs
    for key, value in values.items():
        if key not in TRAIN_KEYS:
            continue
        if key == "dropout":
            options["no_dropout"] = not value
        elif key.startswith("augment."):
            kinds = set(parse_kinds(options.get("augment") or ""))
            kind = key.partition(".")[2]
            kinds = kinds | {kind} if value else kinds - {kind}
            options["augment"] = ",".join(sorted(kinds))
        else:
            options[key] = value
    return options


def trial_network(network: Mapping[str, Any], values: Mapping[str, Any]) -> NetworkDocument:
    """The network file dict ``network`` with each varied ``LAYER.PARAM`` set."""
    document = network_from_dict(dict(network))
    for key, value in values.items():
        if key in TRAIN_KEYS:
            continue
        name, _, param = key.partition(".")
        node = document.node_by_name(name)
        assert node is not None, f"{key}: checked when the plan was made"
        document.set_param(node.id, param, value)
    return document


def run_trial(
    network: Mapping[str, Any],
    base: Mapping[str, Any],
    trial: Trial,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train ``trial`` and return its result (see :func:`result_of`)."""
    started = time.perf_counter()
    options = SimpleNamespace(**trial_options(base, trial.values, trial.seed, trial.epochs))
    document = trial_network(network, trial.values)
    config = config_from_options(options)
    model = Model(document, seed=options.seed)
    train, val, _test = datasets_from_options(options, tuple(model.input_shape), say=lambda _line: None)
    trainer = Trainer(document, train, val, config, engine=make_engine(NUMPY, model, config))
    epochs: list[EpochEnded] = []
    finished: TrainingFinished | None = None
    for event in trainer.run():
        if isinstance(event, EpochEnded):
            epochs.append(event)
            if progress is not None:
                progress(trial.index, event.epoch, event.val_loss)
        elif isinstance(event, TrainingFinished):
            finished = event
    summary = summarize(document)
    return result_of(trial, epochs, finished, time.perf_counter() - started, summary.total_params, summary.total_macs)


def result_of(
    trial: Trial,
    epochs: list[EpochEnded],
    finished: TrainingFinished | None,
    seconds: float,
    parameters: int,
    macs: int,
) -> dict[str, Any]:
    """A trial's result as plain JSON data.

    ``best_val_loss`` is the lowest validation loss of any epoch and ``best_epoch`` that
    epoch (from 1); ``best_val_accuracy`` the highest validation accuracy of any epoch;
    ``final_val_*`` the last epoch's; ``epochs`` the epochs actually run (fewer after
    early stopping); ``seconds`` the wall-clock time of the whole trial, loading the data
    included. Without validation data the validation figures are ``None``.
    """
    val = [(e.val_loss, e.epoch) for e in epochs if e.val_loss is not None and math.isfinite(e.val_loss)]
    best_loss, best_epoch = min(val) if val else (None, None)
    accuracies = [e.val_accuracy for e in epochs if e.val_accuracy is not None]
    return {
        "index": trial.index,
        "values": dict(trial.values),
        "seed": trial.seed,
        "planned_epochs": trial.epochs,
        "rung": trial.rung,
        "best_val_loss": best_loss,
        "best_val_accuracy": max(accuracies) if accuracies else None,
        "final_val_loss": epochs[-1].val_loss if epochs else None,
        "final_val_accuracy": epochs[-1].val_accuracy if epochs else None,
        "best_epoch": best_epoch,
        "epochs": len(epochs),
        "seconds": seconds,
        "parameters": parameters,
        "macs": macs,
        "finish": finished.reason if finished else "failed",
        "history": {
            "train_loss": [e.train_loss for e in epochs],
            "train_accuracy": [e.train_accuracy for e in epochs],
            "val_loss": [e.val_loss for e in epochs],
            "val_accuracy": [e.val_accuracy for e in epochs],
        },
    }
