"""Runs trials in parallel worker processes, each with single-threaded BLAS.

Workers are started with the ``spawn`` method and with ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to 1 in their environment, so each
NumPy loads single-threaded: J workers use J cores without oversubscribing them. Trials
wait in one queue; a free worker takes the next. :meth:`TrialRunner.cancel` (from any
thread or a callback) ends the workers at once; finished trials stay reported.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from core.errors import LayerwiseError
from core.experiments.plan import Trial

SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Set in each worker's environment before it loads NumPy."""
POLL_SECONDS = 0.1
_ENVIRONMENT_LOCK = threading.Lock()

Finished = Callable[[dict[str, Any]], None]
"""Called with each finished trial's result, in the order they finish."""
Progress = Callable[[int, int, float | None], None]
"""Called with (trial index, epoch, validation loss or ``None``) after each epoch of a trial."""


class TrialFailed(LayerwiseError):
    """A trial raised an error (its message names the trial and the cause)."""


class SweepCancelled(LayerwiseError):
    """The sweep was cancelled before every trial finished."""


def default_jobs(trials: int) -> int:
    """``min(cores, trials)``, at least 1."""
    return max(1, min(os.cpu_count() or 1, trials))


@contextlib.contextmanager
def _single_threaded_environment() -> Iterator[None]:
    """Set :data:`SINGLE_THREADED` in ``os.environ`` while workers start (they inherit it), then restore it."""
    with _ENVIRONMENT_LOCK:
        saved = {name: os.environ.get(name) for name in SINGLE_THREADED}
        os.environ.update(SINGLE_THREADED)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _work(tasks: Any, messages: Any, network: Mapping[str, Any], base: Mapping[str, Any]) -> None:
    """A worker's loop: take a trial, run it, report progress and the result; ``None`` ends it."""
    os.environ.update(SINGLE_THREADED)
    from core.experiments.trial import run_trial

    while True:
        trial = tasks.get()
        if trial is None:
            return
        try:
            result = run_trial(
                network, base, trial, lambda index, epoch, loss: messages.put(("epoch", index, epoch, loss))
            )
        except Exception as exc:  # noqa: BLE001 (reported to the parent, which raises it naming the trial)
            detail = str(exc) if isinstance(exc, LayerwiseError) else "".join(traceback.format_exception(exc))
            messages.put(("failed", trial.index, detail, None))
        else:
            messages.put(("done", trial.index, result, None))


class TrialRunner:
    """Runs trials of one network and base options in ``jobs`` worker processes.

    Parameters
    ----------
    network
        The network file dict (:func:`~core.graph.fileformat.network_to_dict`).
    base
        The ``train`` options every trial starts from.
    jobs
        Worker processes (``None``: :func:`default_jobs` of the first batch of trials).
    """

    def __init__(self, network: Mapping[str, Any], base: Mapping[str, Any], jobs: int | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise LayerwiseError(f"jobs must be ≥ 1, got {jobs}")
        self.network, self.base, self.jobs = dict(network), dict(base), jobs
        self._cancel = threading.Event()
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[Any] = []
        self._tasks: Any = None
        self._messages: Any = None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Stop: the workers are ended and :meth:`run` raises :class:`SweepCancelled` (finished trials stay reported)."""
        self._cancel.set()

    def _start(self, count: int) -> None:
        if self._workers:
            return
        self._tasks, self._messages = self._context.Queue(), self._context.Queue()
        jobs = self.jobs or default_jobs(count)
        with _single_threaded_environment():
            for _ in range(jobs):
                worker = self._context.Process(
                    target=_work, args=(self._tasks, self._messages, self.network, self.base), daemon=True
                )
                worker.start()
                self._workers.append(worker)

    def run(
        self, trials: Sequence[Trial], on_finished: Finished | None = None, on_progress: Progress | None = None
    ) -> list[dict[str, Any]]:
        """Run ``trials`` and return their results in trial order.

        Raises
        ------
        TrialFailed
            When a trial raises (the other workers are ended).
        SweepCancelled
            After :meth:`cancel`.
        """
        if not trials:
            return []
        self._start(len(trials))
        for trial in trials:
            self._tasks.put(trial)
        results: dict[int, dict[str, Any]] = {}
        while len(results) < len(trials):
            if self._cancel.is_set():
                self.close(force=True)
                raise SweepCancelled(f"cancelled after {len(results)} of {len(trials)} trials")
            try:
                kind, index, payload, extra = self._messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not any(worker.is_alive() for worker in self._workers):
                    self.close(force=True)
                    raise TrialFailed("every worker process ended unexpectedly") from None
                continue
            if kind == "epoch":
                if on_progress is not None:
                    on_progress(index, payload, extra)
            elif kind == "failed":
                self.close(force=True)
                values = next((t.values for t in trials if t.index == index), {})
                raise TrialFailed(f"run {index + 1} ({_describe(values)}) failed: {payload}")
            else:
                results[index] = payload
                if on_finished is not None:
                    on_finished(payload)
        return [results[trial.index] for trial in trials]

    def close(self, force: bool = False) -> None:
        """End the workers: at once with ``force``, else after the trials queued so far."""
        for worker in self._workers:
            if force:
                worker.terminate()
            else:
                self._tasks.put(None)
        for worker in self._workers:
            worker.join(timeout=None if not force else 5)
        self._workers = []

    def __enter__(self) -> TrialRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(force=exc[0] is not None)


def _describe(values: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in values.items()) or "no varied values"
