"""Run one fuzz case against a loader and classify what happened.

The only acceptable outcomes are a successful load and a
:class:`~core.errors.LayerwiseError` whose message is non-empty and names the file.
Anything else is a failure: another exception, an empty or anonymous message, a
load slower than :data:`TIME_LIMIT`, a memory blow-up, a hang or a crash.

:func:`run_case` runs in the calling process and checks the time limit only (the
regression tests measure memory there with ``tracemalloc``). Campaigns run it in a
:class:`Sandbox`: a worker process whose address space is capped with
``RLIMIT_AS`` and which the parent kills when it does not answer in time. The cap
sees every allocation, NumPy's, Pillow's decoders' and protobuf's C++ arenas
alike, which ``tracemalloc`` does not, and an allocation beyond it fails at once
with ``MemoryError`` instead of swapping; a hang in C code cannot be interrupted
from inside the process, only from outside.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from tests.fuzz.corpus import LOADERS, Payload, seeds, tiny_model

TIME_LIMIT = 2.0
"""Seconds a single load may take."""
MEMORY_LIMIT = 1 << 30
"""Bytes of address space a sandboxed load may add to the worker's.

Fuzz inputs are mostly under a megabyte; loading any of them legitimately needs a few
MB more. A gigabyte is far beyond that and far below what the machine has, so an
allocation the cap refuses is one sized by a header the loader believed.
"""
MEMORY_LIMITS = {"onnx": 4 << 30}
"""Loaders allowed more: ONNX constant folding may build up to 1 GiB of weights from a few
bytes (``ConstantOfShape``, as weight-stripped models do), and converting them to layers
copies them once or twice."""
HARD_TIMEOUT = 10 * TIME_LIMIT
"""Seconds the parent waits for an answer before killing the worker (a hang).

Longer than :data:`TIME_LIMIT` so that a busy machine does not turn a slow load into
a killed worker; the worker reports loads over :data:`TIME_LIMIT` itself.
"""

OK, ERROR, FAILURE = "ok", "error", "failure"


@dataclass(frozen=True)
class Outcome:
    """What one case did.

    Attributes
    ----------
    kind
        :data:`OK`, :data:`ERROR` (the project's own error, as required) or :data:`FAILURE`.
    reason
        For a failure, its class: ``"exception"``, ``"empty message"``, ``"unnamed file"``,
        ``"slow"``, ``"memory"``, ``"hang"``, ``"crash"``, ``"escape"`` or ``"half-loaded"``.
    detail
        The error's type and message.
    seconds
        Wall time of the load.
    trace
        The traceback of a failure's exception, if any.
    """

    kind: str
    reason: str = ""
    detail: str = ""
    seconds: float = 0.0
    trace: str = ""

    @property
    def failed(self) -> bool:
        return self.kind == FAILURE

    def describe(self) -> str:
        """One line for reports: ``"failure (exception): ValueError: …"``."""
        label = f"{self.kind} ({self.reason})" if self.reason else self.kind
        return f"{label}: {self.detail}" if self.detail else label


# -- the loaders ----------------------------------------------------------------------------


def _load_network(path: Path) -> None:
    from core.graph.fileformat import load_network

    load_network(path)


def _load_onnx(path: Path) -> None:
    from core.onnx_io.importer import import_onnx

    import_onnx(path)


def _load_weights(path: Path) -> None:
    tiny_model().load_weights(path)


def _import_dataset(path: Path) -> None:
    from core.data.importers import import_dataset

    import_dataset(path)


LOADER_FUNCTIONS: dict[str, Callable[[Path], None]] = {
    "network_file": _load_network,
    "onnx": _load_onnx,
    "weights": _load_weights,
    "dataset_idx": _import_dataset,
    "dataset_npz": _import_dataset,
    "dataset_cifar": _import_dataset,
    "dataset_images": _import_dataset,
}


def write_payload(payload: Payload, root: Path) -> Path:
    """Write the files of ``payload`` under ``root``; return the loader's target path."""
    for name, content in payload.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root / payload.target if payload.target else root


# -- extra oracles ------------------------------------------------------------------------------


def _onnx_escapes(root: Path, target: Path) -> str:
    """The external-data location of an accepted model that lies outside ``root``, or ``""``.

    Walks the tensors the way onnx itself loads them, independently of the importer's check.
    """
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    model = onnx.load(str(target), load_external_data=False)
    for tensor in _get_all_tensors(model):
        if uses_external_data(tensor):
            location = ExternalDataInfo(tensor).location
            if root.resolve() not in (target.parent / location).resolve().parents:
                return location
    return ""


def _weights_snapshot() -> Callable[[], bool]:
    """A check that the tiny model's weights and buffers are still what they are now."""
    model = tiny_model()
    params = model.params.copy()
    buffers = {key: value.copy() for key, value in model.buffers.items()}

    def unchanged() -> bool:
        return bool((model.params == params).all()) and all((model.buffers[k] == v).all() for k, v in buffers.items())

    return unchanged


# -- one case -------------------------------------------------------------------------------------


def _classify_error(exc: BaseException, root: Path, seconds: float) -> Outcome:
    from core.errors import LayerwiseError

    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError):
        return Outcome(FAILURE, "memory", detail, seconds, traceback.format_exc())
    if not isinstance(exc, LayerwiseError):
        return Outcome(FAILURE, "exception", detail, seconds, traceback.format_exc())
    message = str(exc).strip()
    if not message:
        return Outcome(FAILURE, "empty message", detail, seconds, traceback.format_exc())
    if str(root) not in message:
        return Outcome(FAILURE, "unnamed file", detail, seconds, traceback.format_exc())
    return Outcome(ERROR, "", detail, seconds)


def run_case(loader: str, payload: Payload, workdir: str | os.PathLike[str] | None = None) -> Outcome:
    """Write ``payload`` to a fresh folder, run ``loader`` on it and classify the outcome.

    Parameters
    ----------
    loader
        One of :data:`~tests.fuzz.corpus.LOADERS`.
    payload
        The files of the case.
    workdir
        Where the case folder is made (a temporary folder by default); it is removed after.
    """
    root = Path(tempfile.mkdtemp(prefix="case-", dir=workdir))
    try:
        target = write_payload(payload, root)
        unchanged = _weights_snapshot() if loader == "weights" else None
        outcome = _call(LOADER_FUNCTIONS[loader], target, root)
        if unchanged is not None and outcome.kind == ERROR and not unchanged():
            outcome = Outcome(FAILURE, "half-loaded", f"refused but changed the model: {outcome.detail}")
        if outcome.kind == OK and loader == "onnx":
            escaped = _onnx_escapes(root, target)
            if escaped:
                outcome = Outcome(FAILURE, "escape", f"read external data {escaped!r} outside the model's folder")
        if not outcome.failed and outcome.seconds > TIME_LIMIT:
            detail = f"took {outcome.seconds:.2f} s ({outcome.detail or 'ok'})"
            outcome = Outcome(FAILURE, "slow", detail, outcome.seconds)
        return outcome
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _call(function: Callable[[Path], None], target: Path, root: Path) -> Outcome:
    start = time.perf_counter()
    try:
        function(target)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - classifying every exception is the point
        return _classify_error(exc, root, time.perf_counter() - start)
    return Outcome(OK, seconds=time.perf_counter() - start)


def warm_up() -> None:
    """Load every seed once, so imports and caches do not count against the first case's time."""
    for loader in LOADERS:
        for payload in seeds(loader):
            outcome = run_case(loader, payload)
            if outcome.kind != OK:
                raise RuntimeError(f"seed of {loader} does not load: {outcome.describe()}")


# -- the sandbox ------------------------------------------------------------------------------------


def _address_space() -> int:
    """Current virtual memory size of this process in bytes (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmSize not found in /proc/self/status")


def memory_limit(loader: str, default: int = MEMORY_LIMIT) -> int:
    """Bytes of address space a case of ``loader`` may add (see :data:`MEMORY_LIMITS`)."""
    return max(MEMORY_LIMITS.get(loader, default), default)


def _serve(connection: Connection, default_limit: int) -> None:
    """Worker loop: warm up, then run each case with the address space capped for its loader."""
    warm_up()
    baseline = _address_space()
    # The hard limit is the largest cap; the soft one is lowered and raised again per case.
    ceiling = baseline + max(memory_limit(loader, default_limit) for loader in LOADERS)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    workdir = tempfile.mkdtemp(prefix="layerwise-fuzz-")
    connection.send("ready")
    try:
        while True:
            message = connection.recv()
            if message is None:
                return
            loader, payload = message
            resource.setrlimit(resource.RLIMIT_AS, (baseline + memory_limit(loader, default_limit), ceiling))
            outcome = run_case(loader, payload, workdir)
            resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
            connection.send(outcome)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class Sandbox:
    """A worker process that runs cases under a memory cap and a timeout.

    Parameters
    ----------
    memory_limit
        Bytes of address space a case may add, at least (see :data:`MEMORY_LIMITS`).
    hard_timeout
        Seconds after which an unanswered case counts as a hang and the worker is replaced.
    """

    def __init__(self, memory_limit: int = MEMORY_LIMIT, hard_timeout: float = HARD_TIMEOUT) -> None:
        self.memory_limit = memory_limit
        self.hard_timeout = hard_timeout
        self._context = multiprocessing.get_context("spawn")
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        # One BLAS thread: its per-thread buffers would count against the address-space cap.
        previous = os.environ.get("OPENBLAS_NUM_THREADS")
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        try:
            process = self._context.Process(target=_serve, args=(child, self.memory_limit), daemon=True)
            process.start()
        finally:
            if previous is None:
                del os.environ["OPENBLAS_NUM_THREADS"]
            else:
                os.environ["OPENBLAS_NUM_THREADS"] = previous
        child.close()
        if not parent.poll(120) or parent.recv() != "ready":
            process.kill()
            raise RuntimeError("the fuzz worker did not start")
        self._process, self._connection = process, parent

    def _stop(self, kill: bool) -> None:
        if self._process is None or self._connection is None:
            return
        if not kill:
            with contextlib.suppress(OSError):
                self._connection.send(None)
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()
        self._process = self._connection = None

    def close(self) -> None:
        """Stop the worker."""
        self._stop(kill=False)

    def run(self, loader: str, payload: Payload) -> Outcome:
        """Run one case in the worker, replacing the worker when it hangs or dies."""
        if self._process is None:
            self._start()
        assert self._connection is not None and self._process is not None
        start = time.perf_counter()
        try:
            self._connection.send((loader, payload))
            if self._connection.poll(self.hard_timeout):
                return self._connection.recv()
        except (EOFError, OSError):
            self._process.join(1)
            code = self._process.exitcode
            self._stop(kill=True)
            return Outcome(FAILURE, "crash", f"the worker died (exit code {code})", time.perf_counter() - start)
        self._stop(kill=True)
        return Outcome(FAILURE, "hang", f"no answer after {self.hard_timeout:.0f} s", time.perf_counter() - start)
