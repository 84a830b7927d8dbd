"""Where a training job runs: a thread of this process, or a process of its own.

Two backends behind one interface (``control``, ``receive``, ``alive``, ``shutdown``):

:class:`ProcessBackend` (the app's default)
    The job runs in a child process started with ``spawn``; the data go through
    shared memory, messages and controls through pipes. The front end's thread never
    waits for the trainer's Python code, so a window stays responsive (see
    ``bench/ui_latency.py``), and a crash of an engine cannot take the app with it.
:class:`ThreadBackend`
    The job runs in a Python thread of this process: no start-up cost, but its
    Python code competes with the front end for the interpreter lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import queue
import threading
from typing import Any, Literal

from core.data.dataset import Dataset
from core.data.shared import SharedDataset
from core.errors import LayerwiseError
from core.session.job import TrainingJob, TrainingRequest, process_main
from core.training.controls import Control, Stop

log = logging.getLogger(__name__)

WorkerMode = Literal["process", "thread"]
MAX_MESSAGES_PER_POLL = 200


class ThreadBackend:
    """A job in a thread of this process; messages through a queue."""

    def __init__(self, request: TrainingRequest) -> None:
        self.messages: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._job: TrainingJob | None = None
        self._early_controls: list[Control] = []
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
            for control in self._early_controls:
                job.trainer.control(control)
        job.run(self.messages.put)

    def control(self, control: Control) -> None:
        with self._lock:
            if self._job is None:
                self._early_controls.append(control)
            elif self._job.trainer is not None:
                self._job.trainer.control(control)

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
        self.control(Stop())
        self._thread.join(timeout)
        return not self._thread.is_alive()


class ProcessBackend:
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

    def control(self, control: Control) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):  # the process has ended; its last messages say how
            self._controls.send(control)

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
        self.control(Stop())
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


def start_backend(mode: WorkerMode, request: TrainingRequest) -> ThreadBackend | ProcessBackend:
    """Start ``request`` in a backend of ``mode``.

    Raises
    ------
    ValueError
        For an unknown mode.
    OSError
        When the process or shared memory cannot be made.
    """
    if mode == "process":
        return ProcessBackend(request)
    if mode == "thread":
        return ThreadBackend(request)
    raise ValueError(f"worker mode must be 'process' or 'thread', got {mode!r}")
