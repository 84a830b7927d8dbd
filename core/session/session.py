"""A training session: the runs of one network, the one in progress, and its worker.

Front ends (the Training dock, the activations view, a script) start runs with a
:class:`~core.session.job.TrainingRequest`, steer them with the typed controls of
:mod:`core.training.controls`, and call :meth:`TrainingSession.poll` now and then; the
session files each event into its run, names a finished run after what set it apart,
drops a run that never started, and tells the caller what happened in a
:class:`SessionNews`. Nothing here needs Qt: a widget only shows what the session holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.errors import LayerwiseError
from core.session.backends import ProcessBackend, ThreadBackend, WorkerMode, start_backend
from core.session.job import RunOutcome, TrainingRequest
from core.training.controls import Control, Stop
from core.training.events import TrainingEvent
from core.training.history import RunHistory, describe_difference


class SessionError(LayerwiseError):
    """A run cannot start: one is already going, or its worker cannot be made."""


@dataclass
class SessionNews:
    """What :meth:`TrainingSession.poll` found.

    Attributes
    ----------
    events
        The current run's new events, in order (already filed into it).
    outcome
        The run's weights and validation predictions, when it has just ended.
    failure
        Why the run did not start, or why its worker died.
    ended
        The worker has just gone idle (after an outcome or a failure).
    """

    events: list[TrainingEvent] = field(default_factory=list)
    outcome: RunOutcome | None = None
    failure: str | None = None
    ended: bool = False


class TrainingSession:
    """The runs of one network and the worker of the one in progress.

    Parameters
    ----------
    mode
        Where runs train: ``"process"`` (a process of their own) or ``"thread"``.
    """

    def __init__(self, mode: WorkerMode = "process") -> None:
        if mode not in ("process", "thread"):
            raise ValueError(f"worker mode must be 'process' or 'thread', got {mode!r}")
        self.mode: WorkerMode = mode
        self.runs: list[RunHistory] = []
        """Every run to show and compare: this session's and those read from run logs."""
        self.current: RunHistory | None = None
        """The run shown in full: the one in progress, else the last one started or opened."""
        self.request: TrainingRequest | None = None
        """The request of the run in progress (or of the last one)."""
        self.outcome: RunOutcome | None = None
        """The last finished run's weights and predictions."""
        self.counter = 0
        self._backend: ThreadBackend | ProcessBackend | None = None

    @property
    def running(self) -> bool:
        return self._backend is not None

    def start(self, request: TrainingRequest, name: str | None = None) -> RunHistory:
        """Start ``request`` as a new run (named ``"Run n"`` unless ``name`` is given) and make it current.

        Raises
        ------
        SessionError
            When a run is going already, or its worker cannot be started (nothing is added then).
        """
        if self._backend is not None:
            raise SessionError("a training run is going already; stop it first")
        try:
            backend = start_backend(self.mode, request)
        except (OSError, ValueError) as exc:
            raise SessionError(f"training could not start: {exc}") from None
        self.counter += 1
        run = RunHistory(name=name or f"Run {self.counter}")
        self.runs.append(run)
        self.current, self.request, self._backend = run, request, backend
        return run

    def control(self, control: Control) -> None:
        """Send ``control`` to the run in progress; nothing happens when none is."""
        if self._backend is not None:
            self._backend.control(control)

    def poll(self, limit: int | None = 200) -> SessionNews:
        """Take what the worker sent, file it into the current run, and say what happened."""
        news = SessionNews()
        backend = self._backend
        if backend is None:
            return news
        messages = backend.receive(limit)
        dead = not messages and not backend.alive()
        if dead:  # its last messages may have arrived after the first look
            messages = backend.receive(None)
        for kind, payload in messages:
            if kind == "events":
                self._file(payload)
                news.events.extend(payload)
            elif kind == "outcome":
                self._end()
                self._name_finished(payload)
                self.outcome = news.outcome = payload
                news.ended = True
                return news
            elif kind == "error":
                self._end()
                self._drop_unstarted()
                news.failure, news.ended = payload, True
                return news
        if dead:
            news.failure = backend.exit_description()
            self._end()
            self._drop_unstarted()
            news.ended = True
        return news

    def _file(self, events: list[TrainingEvent]) -> None:
        if self.current is not None:
            for event in events:
                self.current.add(event)

    def _end(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.shutdown(1.0)

    def _name_finished(self, outcome: RunOutcome) -> None:
        """Name the run after what sets its settings apart from the previous finished run's."""
        run = self.current
        if run is None:
            return
        finished = [r for r in self.runs if r is not run and r.finished is not None and not r.source]
        reference = finished[-1].settings if finished else None
        run.name = f"{run.name}: {describe_difference(run.settings, reference)}"
        live = [marker.label for marker in run.markers if marker.kind == "setting"]
        if live:
            run.name += f" (live: {', '.join(live)})"

    def _drop_unstarted(self) -> None:
        """A run that reported nothing leaves no trace."""
        run = self.current
        if run is not None and not run.epochs and not run.batch_x and not run.source:
            self.runs.remove(run)
            self.current = None

    def stop_and_wait(self, timeout: float = 2.0) -> SessionNews:
        """Stop the run in progress and keep what it reported; end its worker after ``timeout`` seconds."""
        news = SessionNews()
        if self._backend is None:
            return news
        self.control(Stop())
        deadline = time.perf_counter() + timeout
        while self._backend is not None and time.perf_counter() < deadline:
            step = self.poll()
            news.events += step.events
            news.outcome = news.outcome or step.outcome
            news.failure = news.failure or step.failure
            news.ended = news.ended or step.ended
            time.sleep(0.01)
        if self._backend is not None:
            self.shutdown(1.0)
            news.ended = True
        return news

    def shutdown(self, timeout: float = 1.0) -> bool:
        """End the run in progress at once, waiting for its worker at most about ``timeout`` seconds."""
        backend, self._backend = self._backend, None
        if backend is None:
            return True
        return backend.shutdown(timeout)

    def forget_network_runs(self) -> None:
        """Drop this network's runs (a new network is open); runs read from logs stay."""
        self.runs[:] = [run for run in self.runs if run.source]
        self.current = None
        self.counter = 0
