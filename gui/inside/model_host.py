"""The compiled network the "See inside" views compute with, and where they compute.

Small networks (digits, LeNet) are compiled and run in the GUI thread: a feature map or
an effective receptive field takes a few milliseconds there. Large ones (VGG16 on
224×224 takes seconds to compile and seconds per backward pass) run on one background
thread through :mod:`concurrent.futures`, polled by a timer, so the window never
freezes. Either way a view hands over ``fn(model)`` and gets the result, or an error
message, back in the GUI thread.

Requests have a *kind* ("rf.erf", "maps" …); a new request of a kind replaces one of
the same kind that has not started yet, and results of replaced requests are dropped,
so hovering across a feature map never builds a queue of stale work.

The model is compiled from a copy of the document that keeps the layer ids, taken in
the GUI thread; the background thread never reads the document the user is editing.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from core.analysis.summary import summarize
from core.engine.model import Model
from core.engine.network_weights import merge_fitting
from core.errors import LayerwiseError
from core.graph.copying import copy_network
from core.graph.document import NetworkDocument

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 30
INLINE_MACS = 8_000_000
"""Networks with fewer multiply-accumulates per sample (and few parameters) run in the GUI thread."""
INLINE_PARAMS = 2_000_000

WeightsProvider = Callable[[], "dict[str, np.ndarray] | None"]
F = TypeVar("F", bound=Callable[..., Any])


def shielded(method: F) -> F:
    """Let no exception of a slot reach Qt: log it and show it through the widget's ``show_error(str)``."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if not isinstance(exc, LayerwiseError):
                log.exception("see-inside view failed")
            report = getattr(self, "show_error", None)
            if report is not None:
                report(_message(exc))
            return None

    return wrapper  # type: ignore[return-value]


@dataclass
class Snapshot:
    """The network and weights a model is compiled from, fixed when they were taken."""

    key: tuple[int, int]
    document: NetworkDocument
    weights: dict[str, np.ndarray] | None
    inline: bool
    macs: int = 0
    """Multiply-adds of one forward pass of one sample."""


@dataclass
class CompiledModel:
    """A model and how its weights were found."""

    key: tuple[int, int]
    model: Model
    fresh: list[str] = field(default_factory=list)
    """``"layer/param"`` keys that kept their seeded initial values (no trained tensor fitted)."""
    trained: bool = False
    """Whether any trained tensor was loaded."""

    def weights_note(self) -> str:
        """A short note on the weights in use, for the views' captions."""
        if not self.trained:
            return "untrained weights (seeded initialisation)"
        if self.fresh:
            layers = sorted({key.rpartition("/")[0] for key in self.fresh})
            return f"trained weights; {len(layers)} changed layer(s) freshly initialised"
        return "trained weights"


def compile_snapshot(snapshot: Snapshot) -> CompiledModel:
    """Compile ``snapshot`` and load the trained tensors that fit (any thread)."""
    model = Model(snapshot.document, seed=0)
    if not snapshot.weights:
        return CompiledModel(snapshot.key, model, [], False)
    state, fresh = merge_fitting(model.state_dict(), snapshot.weights)
    model.load_state_dict(state)
    loaded = len(state) - len(fresh)
    return CompiledModel(snapshot.key, model, fresh, loaded > 0)


@dataclass
class _Request:
    kind: str
    fn: Callable[[CompiledModel], Any]
    done: Callable[[Any], None]
    failed: Callable[[str], None]
    description: str
    snapshot: Snapshot
    generation: int


def _message(exc: BaseException) -> str:
    if isinstance(exc, LayerwiseError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _deliver(request: _Request, result: Any) -> None:
    """Hand ``result`` to the view; a view that fails on it shows the error rather than raising into Qt."""
    try:
        request.done(result)
    except Exception as exc:
        log.exception("see-inside view failed to show a result")
        request.failed(_message(exc))


class ModelHost(QObject):
    """Compiles the network on demand and runs computations on it, inline or in the background.

    Signals
    -------
    busy_changed(bool, str)
        Background work started (``True`` and what it is) or everything finished.
    """

    busy_changed = Signal(bool, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._document: NetworkDocument | None = None
        self._weights_provider: WeightsProvider = lambda: None
        self._network_version = 0
        self._weights_version = 0
        self._state_token: object | None = None
        self._snapshot: Snapshot | None = None
        self._inline_model: CompiledModel | None = None
        self._worker_model: CompiledModel | None = None  # touched only by the worker thread
        self._executor: ThreadPoolExecutor | None = None
        self._running: tuple[_Request, Future] | None = None
        self._pending: dict[str, _Request] = {}
        self._latest: dict[str, int] = {}
        self._generation = 0
        self.started_at = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self.poll)

    # -- context ---------------------------------------------------------------------

    def set_context(self, document: NetworkDocument | None, weights_provider: WeightsProvider) -> None:
        self._document, self._weights_provider = document, weights_provider
        self.network_changed()

    def network_changed(self) -> None:
        self._network_version += 1
        self._snapshot = None

    def weights_changed(self) -> None:
        self._weights_version += 1
        self._snapshot = None

    @property
    def document(self) -> NetworkDocument | None:
        return self._document

    def _current_snapshot(self) -> Snapshot:
        document = self._document
        if document is None:
            raise LayerwiseError("no network")
        # The document's memo forgets everything on any edit, so a token kept there is new per state:
        # edits the app did not announce are noticed too.
        token = document.memo("inside.state_token", object)
        if token is not self._state_token:
            self._state_token = token
            self._network_version += 1
            self._snapshot = None
        key = (self._network_version, self._weights_version)
        if self._snapshot is None or self._snapshot.key != key:
            summary = summarize(document)
            inline = summary.total_macs <= INLINE_MACS and summary.total_params <= INLINE_PARAMS
            weights = self._weights_provider()
            copy = copy_network(document, keep_ids=True)
            self._snapshot = Snapshot(key, copy, dict(weights) if weights else None, inline, summary.total_macs)
        return self._snapshot

    def state_key(self) -> tuple:
        """Identifies the network and weights computations run on now; ``()`` without a network."""
        try:
            return self._current_snapshot().key
        except LayerwiseError:
            return ()

    def is_inline(self) -> bool:
        """Whether computations run in the GUI thread (a small network)."""
        try:
            return self._current_snapshot().inline
        except LayerwiseError:
            return True

    # -- requests --------------------------------------------------------------------

    def request(
        self,
        kind: str,
        fn: Callable[[CompiledModel], Any],
        done: Callable[[Any], None],
        failed: Callable[[str], None],
        description: str = "Computing",
        passes: int = 1,
    ) -> None:
        """Run ``fn(compiled)`` and hand its result to ``done`` (or a message to ``failed``) in the GUI thread.

        Small networks run at once, before this returns; large ones in the background,
        replacing a pending request of the same ``kind``. ``passes`` says how many
        single-sample forward passes ``fn`` makes: work a small network does once inline
        may be too much fifty times over.
        """
        try:
            snapshot = self._current_snapshot()
        except LayerwiseError as exc:
            failed(str(exc))
            return
        self._generation += 1
        self._latest[kind] = self._generation
        request = _Request(kind, fn, done, failed, description, snapshot, self._generation)
        if snapshot.inline and snapshot.macs * passes <= INLINE_MACS:
            self._pending.pop(kind, None)
            self._run_inline(request)
            return
        self._pending[kind] = request
        self._start_next()

    def cancel(self, kind: str) -> None:
        """Forget a request of ``kind`` that has not started, and drop the result of one that has."""
        self._pending.pop(kind, None)
        self._generation += 1
        self._latest[kind] = self._generation
        if self._running is None and not self._pending:
            self.busy_changed.emit(False, "")

    def _run_inline(self, request: _Request) -> None:
        try:
            compiled = self._inline_model
            if compiled is None or compiled.key != request.snapshot.key:
                compiled = self._inline_model = compile_snapshot(request.snapshot)
            result = request.fn(compiled)
        except Exception as exc:
            if not isinstance(exc, LayerwiseError):
                log.exception("see-inside computation failed")
            request.failed(_message(exc))
            return
        _deliver(request, result)

    def _work(self, request: _Request) -> Any:
        """Runs in the worker thread."""
        compiled = self._worker_model
        if compiled is None or compiled.key != request.snapshot.key:
            self._worker_model = None  # let the old model's memory go before the new one is built
            compiled = self._worker_model = compile_snapshot(request.snapshot)
        return request.fn(compiled)

    def _start_next(self) -> None:
        if self._running is not None or not self._pending:
            return
        kind = next(iter(self._pending))
        request = self._pending.pop(kind)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerwise-inside")
        self._running = (request, self._executor.submit(self._work, request))
        self.started_at = time.perf_counter()
        self.busy_changed.emit(True, request.description)
        self._timer.start()

    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._pending)

    def poll(self) -> None:
        """Hand over a finished background result and start the next request."""
        if self._running is None:
            self._timer.stop()
            return
        request, future = self._running
        if not future.done():
            return
        self._running = None
        current = self._latest.get(request.kind) == request.generation
        error = future.exception()
        if current:
            if error is not None:
                if not isinstance(error, LayerwiseError):
                    log.error("see-inside computation failed", exc_info=error)
                request.failed(_message(error))
            else:
                _deliver(request, future.result())
        self._start_next()
        if self._running is None:
            self._timer.stop()
            self.busy_changed.emit(False, "")

    def wait(self, timeout: float = 30.0) -> bool:
        """Process background work until none is left or ``timeout`` seconds pass (tests, scripts)."""
        deadline = time.perf_counter() + timeout
        while self.busy and time.perf_counter() < deadline:
            if self._running is not None:
                with contextlib.suppress(Exception):  # poll() reports it
                    self._running[1].result(timeout=max(deadline - time.perf_counter(), 0.0))
            self.poll()
        return not self.busy

    def shutdown(self) -> None:
        """Drop pending work; a computation already running finishes on its own thread."""
        self._pending.clear()
        self._timer.stop()
        self._running = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
