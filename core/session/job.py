"""A training run packaged for a worker thread or a worker process.

A :class:`TrainingRequest` is picklable: the network as its file dictionary, the data
either as :class:`~core.data.dataset.Dataset` objects (same process) or as shared-memory
handles (another process), the settings, the engine and optional starting weights. A
:class:`TrainingJob` builds the engine and the trainer from it, runs it and hands the
events on in small lists, so a GUI receives a few messages a second rather than one per
batch. Controls reach the trainer as the typed objects of :mod:`core.training.controls`.

Messages a job sends, as ``(kind, payload)`` tuples:

``("events", list[TrainingEvent])``
    Trainer events in order.
``("outcome", RunOutcome)``
    Last message of a run that started: trained weights and validation predictions.
``("error", str)``
    The run could not start (bad settings, data that do not fit the network).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from core.data.dataset import Dataset
from core.data.shared import AttachedDataset, SharedDatasetHandle
from core.engine.model import Model
from core.engine.network_weights import merge_fitting
from core.errors import LayerwiseError
from core.graph.fileformat import network_from_dict
from core.session.engines import NUMPY, EngineChoice, make_engine
from core.torch_export.train_script import TrainingData, TrainingSetup
from core.training.controls import Control, Stop
from core.training.events import BatchEnded, TrainingEvent, TrainingFinished
from core.training.memory_check import check_training_memory
from core.training.trainer import EVAL_BATCH, Trainer, TrainingConfig

FLUSH_SECONDS = 0.03
"""Longest time batch events wait before they are sent on (about 30 messages a second)."""

WORKER_NICENESS = 5

DataSource = Dataset | SharedDatasetHandle


@dataclass
class TrainingRequest:
    """Everything a worker needs to train, picklable.

    Attributes
    ----------
    network
        The network in the file format's dictionary (``network_to_dict``).
    train, val
        Datasets, or shared-memory handles when the job runs in another process.
    config
        The run's settings.
    initial_weights
        Tensors to start from (``"layer/param"`` keys); layers without a fitting
        tensor start from a fresh initialisation drawn from ``config.seed``.
    engine
        The engine that trains (NumPy unless told otherwise).
    """

    network: dict[str, Any]
    train: DataSource
    val: DataSource | None
    config: TrainingConfig
    initial_weights: dict[str, np.ndarray] | None = None
    engine: EngineChoice = NUMPY

    def torch_setup(self, val_split: float) -> TrainingSetup:
        """What an exported ``train.py`` reproduces of this run: its settings and its data.

        The activation probes are the app's display, not part of training, and are left out.
        """
        train, val = self.train, self.val
        if not isinstance(train, Dataset) or not (val is None or isinstance(val, Dataset)):
            raise TypeError("this request's data live in shared memory, for a training process; export the front end's")
        config = dataclasses.replace(self.config, probe_samples=0)
        return TrainingSetup(config, val_split, TrainingData.from_split(train, val))


@dataclass
class RunOutcome:
    """What a finished run leaves behind besides its events.

    Attributes
    ----------
    finished
        The run's last event.
    weights
        The model's state dict after the run (best epoch's when restored).
    val_predicted, val_confidence
        ``(N_val,)`` predicted class and its softmax probability for every validation
        sample, in inference mode; ``None`` without validation data.
    """

    finished: TrainingFinished
    weights: dict[str, np.ndarray]
    val_predicted: np.ndarray | None
    val_confidence: np.ndarray | None


class TrainingJob:
    """Builds a :class:`Trainer` from a request and runs it, sending messages on.

    Raises
    ------
    LayerwiseError
        From the constructor, when the network, the data or the settings do not allow
        a run (the message names the cause).
    """

    def __init__(self, request: TrainingRequest) -> None:
        self._attached: list[AttachedDataset] = []
        document = network_from_dict(request.network)
        train = self._dataset(request.train)
        val = self._dataset(request.val) if request.val is not None else None
        request.config.validate()
        # Before the model exists: a network too large for memory must not get that far.
        check_training_memory(document, request.config.batch_size, request.config.optimizer, EVAL_BATCH)
        model = Model(document, seed=request.config.seed)
        self.fresh_keys: list[str] = []
        if request.initial_weights:
            state, self.fresh_keys = merge_fitting(model.state_dict(), request.initial_weights)
            model.load_state_dict(state, source="the network's weights")
        # The trainer reseeds only the dropout streams: starting weights stay as loaded.
        engine = make_engine(request.engine, model, request.config)
        self.trainer = Trainer(document, train, val, request.config, engine=engine)

    def _dataset(self, source: DataSource) -> Dataset:
        if isinstance(source, SharedDatasetHandle):
            attached = AttachedDataset(source)
            self._attached.append(attached)
            return attached.dataset
        return source

    def run(self, send: Callable[[tuple[str, Any]], None], flush_seconds: float = FLUSH_SECONDS) -> None:
        """Train, sending ``("events", …)`` lists and finally ``("outcome", RunOutcome)``."""
        pending: list[TrainingEvent] = []
        last_flush = time.perf_counter()
        finished: TrainingFinished | None = None
        for event in self.trainer.run():
            pending.append(event)
            now = time.perf_counter()
            if not isinstance(event, BatchEnded) or now - last_flush >= flush_seconds:
                send(("events", pending))
                pending, last_flush = [], now
            if isinstance(event, TrainingFinished):
                finished = event
        if pending:
            send(("events", pending))
        assert finished is not None, "Trainer.run always ends with TrainingFinished"
        send(("outcome", self._outcome(finished)))

    def _outcome(self, finished: TrainingFinished) -> RunOutcome:
        trainer = self.trainer
        predicted = confidence = None
        if trainer.val is not None and len(trainer.val) and finished.reason != "failed":
            try:
                predicted, confidence = trainer.engine.predict_with_confidence(trainer.val.x)
            except (LayerwiseError, FloatingPointError, ValueError):
                predicted = confidence = None  # the run's message already says what went wrong
        return RunOutcome(finished, trainer.model.state_dict(), predicted, confidence)

    def close(self) -> None:
        """Unmap shared data (the trainer must not be used afterwards)."""
        self.trainer = None  # type: ignore[assignment]
        for attached in self._attached:
            attached.close()
        self._attached.clear()


def _read_controls(connection: Connection, trainer: Trainer) -> None:
    """Forward controls from the front end until it closes the pipe."""
    while True:
        try:
            control: Control = connection.recv()
        except (EOFError, OSError):
            trainer.control(Stop())  # the front end went away: stop rather than train for nobody
            return
        except Exception:  # noqa: BLE001 — something that does not unpickle is no control
            continue
        try:
            trainer.control(control)
        except TypeError:
            continue


def process_main(request: TrainingRequest, messages: Connection, controls: Connection) -> None:
    """Entry point of a training process (started with the ``spawn`` method)."""
    if hasattr(os, "nice"):
        # Below the app's priority: when both want the CPU, the window's redraws go first.
        os.nice(WORKER_NICENESS)
    try:
        job = TrainingJob(request)
    except LayerwiseError as exc:
        messages.send(("error", str(exc)))
        return
    except Exception as exc:  # noqa: BLE001 — whatever breaks must reach the user as a message
        messages.send(("error", f"training could not start: {type(exc).__name__}: {exc}"))
        return
    threading.Thread(target=_read_controls, args=(controls, job.trainer), daemon=True).start()
    try:
        job.run(messages.send)
    except (BrokenPipeError, EOFError, OSError):
        pass  # the app closed its end: nobody is listening any more
    finally:
        job.close()
