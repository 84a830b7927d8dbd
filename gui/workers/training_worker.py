"""Hands a training session's news to Qt.

The runs, the worker thread or process and the controls live in
:class:`~core.session.session.TrainingSession`; this object only polls it about 30
times a second while a run is going and turns what it finds into signals, so the GUI
never receives one signal per batch.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from core.session.backends import WorkerMode
from core.session.job import RunOutcome, TrainingRequest
from core.session.session import SessionError, TrainingSession
from core.training.controls import Control
from core.training.history import RunHistory

POLL_INTERVAL_MS = 33


class TrainingWorker(QObject):
    """Starts one run at a time in its session and turns the session's news into signals.

    Signals
    -------
    events_arrived(list)
        Trainer events, in order, a few times a second (already filed into the run).
    outcome_arrived(RunOutcome)
        The run's weights and validation predictions, after its last events.
    start_failed(str)
        The run did not start, or its worker died; the message says why.
    idle()
        The worker has no run any more (after an outcome or a failure).
    """

    events_arrived = Signal(list)
    outcome_arrived = Signal(object)
    start_failed = Signal(str)
    idle = Signal()

    def __init__(
        self, mode: WorkerMode = "process", parent: QObject | None = None, session: TrainingSession | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session or TrainingSession(mode)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def mode(self) -> WorkerMode:
        return self.session.mode

    @property
    def running(self) -> bool:
        return self.session.running

    def start(self, request: TrainingRequest, name: str | None = None) -> RunHistory | None:
        """Start ``request`` as a new run of the session; ``None`` (and ``start_failed``) when it cannot start."""
        try:
            run = self.session.start(request, name)
        except SessionError as exc:
            self.start_failed.emit(str(exc))
            self.idle.emit()
            return None
        self._timer.start()
        return run

    def control(self, control: Control) -> None:
        """Send a typed control (:mod:`core.training.controls`) to the run; ignored when idle."""
        self.session.control(control)

    def poll(self) -> None:
        """Hand on what arrived; notice a worker that died without saying goodbye."""
        if not self.session.running:
            self._timer.stop()
            return
        news = self.session.poll()
        if news.events:
            self.events_arrived.emit(news.events)
        if news.ended:
            self._timer.stop()
            if news.outcome is not None:
                self.outcome_arrived.emit(news.outcome)
            if news.failure is not None:
                self.start_failed.emit(news.failure)
            self.idle.emit()

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Stop a run and wait for its worker at most about ``timeout`` seconds."""
        self._timer.stop()
        return self.session.shutdown(timeout)


__all__ = ["RunOutcome", "TrainingRequest", "TrainingWorker", "WorkerMode"]
