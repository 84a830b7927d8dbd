"""Runs a training job away from the GUI thread and hands its messages to Qt.

Two backends behind one interface:

``"process"`` (default)
    The job runs in a child process started with ``spawn``; the data go through
    shared memory, events and controls through pipes. The GUI thread never waits for
    the trainer's Python code, so the window stays responsive (see
    ``bench/ui_latency.py``), and a crash of the engine cannot take the app with it.
``"thread"``
    The job runs in a Python thread of this process: no start-up cost, but its
    Python code competes with the GUI for the interpreter lock.

A timer drains the messages about 30 times a second and emits them as signals; the
GUI never receives one signal per batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import queue
import threading
from typing import Any, Literal

from PySide6.QtCore import QObject, QTimer, Signal

from core.data.dataset import Dataset
from core.data.shared import SharedDataset
from core.errors import LayerwiseError
from core.training.remote import RunOutcome, TrainingJob, TrainingRequest, apply_control, process_main

log = logging.getLogger(__name__)

WorkerMode = Literal["process", "thread"]
POLL_INTERVAL_MS = 33
MAX_MESSAGES_PER_POLL = 200


class _ThreadBackend:
    """A job in a thread of this process; messages through a queue."""

    def __init__(self, request: TrainingRequest) -> None:
        self.messages: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._job: TrainingJob | None = None
        self._early_controls: list[tuple[Any, ...]] = []
        self._thread = threading.Thread(target=self._main, args=(request,), name="layerwise-training", daemon=True)
        self._thread.start()

    def _main(self, request: TrainingRequest) -> None:
        try:
            job = TrainingJob(request)
        except LayerwiseError as exc:
            self.messages.put(("error", str(exc)))
            return
        except Exception as exc:
            log.exception("training could not start")
            self.messages.put(("error", f"training could not start: {type(exc).__name__}: {exc}"))
            return
        with self._lock:
            self._job = job
            for command in self._early_controls:
                apply_control(job.trainer, command)
        job.run(self.messages.put)

    def control(self, command: tuple[Any, ...]) -> None:
        with self._lock:
            if self._job is None:
                self._early_controls.append(command)
            elif self._job.trainer is not None:
                apply_control(self._job.trainer, command)

    def receive(self, limit: int | None = MAX_MESSAGES_PER_POLL) -> list[tuple[str, Any]]:
        received: list[tuple[str, Any]] = []
        while limit is None or len(received) < limit:
            try:
                received.append(self.messages.get_nowait())
            except queue.Empty:
                break
        return received

    def alive(self) -> bool:
        return self._thread.is_alive()

    def exit_description(self) -> str:
        return "the training thread ended without a result"

    def shutdown(self, timeout: float) -> bool:
        self.control(("stop",))
        self._thread.join(timeout)
        return not self._thread.is_alive()


class _ProcessBackend:
    """A job in a spawned process; data in shared memory, messages through pipes."""

    def __init__(self, request: TrainingRequest) -> None:
        context = multiprocessing.get_context("spawn")
        self._shared: list[SharedDataset] = []
        shared_request = dataclasses.replace(
            request, train=self._share(request.train), val=self._share(request.val) if request.val is not None else None
        )
        self._messages, child_messages = context.Pipe(duplex=False)
        child_controls, self._controls = context.Pipe(duplex=False)
        self._process = context.Process(
            target=process_main,
            args=(shared_request, child_messages, child_controls),
            name="layerwise-training",
            daemon=True,
        )
        try:
            self._process.start()
        except Exception:
            self._release()
            raise
        finally:
            child_messages.close()  # the child holds its own ends now
            child_controls.close()
        self._closed = False

    def _share(self, data: Any) -> Any:
        if not isinstance(data, Dataset):
            return data
        shared = SharedDataset(data)
        self._shared.append(shared)
        return shared.handle

    def control(self, command: tuple[Any, ...]) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):  # the process has ended; its last messages say how
            self._controls.send(command)

    def receive(self, limit: int | None = MAX_MESSAGES_PER_POLL) -> list[tuple[str, Any]]:
        received: list[tuple[str, Any]] = []
        try:
            while (limit is None or len(received) < limit) and self._messages.poll():
                received.append(self._messages.recv())
        except (EOFError, OSError):
            pass  # the child closed its end; alive() tells the rest
        return received

    def alive(self) -> bool:
        return self._process.is_alive()

    def exit_description(self) -> str:
        code = self._process.exitcode
        return f"the training process ended unexpectedly (exit code {code})"

    def shutdown(self, timeout: float) -> bool:
        self.control(("stop",))
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(0.5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(0.5)
        self._release()
        return not self._process.is_alive()

    def _release(self) -> None:
        for shared in self._shared:
            shared.close()
        self._shared.clear()
        for connection in (getattr(self, "_messages", None), getattr(self, "_controls", None)):
            if connection is not None:
                connection.close()


class TrainingWorker(QObject):
    """Starts one run at a time and turns its messages into signals.

    Signals
    -------
    events_arrived(list)
        Trainer events, in order, a few times a second.
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

    def __init__(self, mode: WorkerMode = "process", parent: QObject | None = None) -> None:
        super().__init__(parent)
        if mode not in ("process", "thread"):
            raise ValueError(f"worker mode must be 'process' or 'thread', got {mode!r}")
        self.mode: WorkerMode = mode
        self._backend: _ThreadBackend | _ProcessBackend | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def running(self) -> bool:
        return self._backend is not None

    def start(self, request: TrainingRequest) -> None:
        """Start ``request`` (a run already going raises ``RuntimeError``)."""
        if self._backend is not None:
            raise RuntimeError("a training run is already going")
        backend_type = _ProcessBackend if self.mode == "process" else _ThreadBackend
        try:
            self._backend = backend_type(request)
        except (OSError, ValueError) as exc:
            self.start_failed.emit(f"training could not start: {exc}")
            self.idle.emit()
            return
        self._timer.start()

    def control(self, *command: Any) -> None:
        """Send a trainer control, e.g. ``control("set_l2", 1e-3)``; ignored when idle."""
        if self._backend is not None:
            self._backend.control(command)

    def poll(self) -> None:
        """Hand on what arrived; notice a worker that died without saying goodbye."""
        backend = self._backend
        if backend is None:
            return
        messages = backend.receive()
        ended = not messages and not backend.alive()
        if ended:  # its last messages may have arrived after the first look
            messages = backend.receive(limit=None)
        for kind, payload in messages:
            if kind == "events":
                self.events_arrived.emit(payload)
            elif kind in ("outcome", "error"):
                self._finish()
                if kind == "outcome":
                    self.outcome_arrived.emit(payload)
                else:
                    self.start_failed.emit(payload)
                self.idle.emit()
                return
        if ended:
            message = backend.exit_description()
            self._finish()
            self.start_failed.emit(message)
            self.idle.emit()

    def _finish(self) -> None:
        self._timer.stop()
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.shutdown(1.0)

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Stop a run and wait for its worker at most about ``timeout`` seconds."""
        self._timer.stop()
        backend, self._backend = self._backend, None
        if backend is None:
            return True
        return backend.shutdown(timeout)


__all__ = ["RunOutcome", "TrainingRequest", "TrainingWorker", "WorkerMode"]
