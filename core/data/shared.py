"""Datasets in shared memory, so a training process reads the app's arrays without a copy.

Pickling a 600 MB image set into a child process would double the memory and take
seconds; a :class:`SharedDataset` places ``x`` and ``y`` in one named shared-memory
block that both processes map.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from core.data.dataset import Dataset


@dataclass(frozen=True)
class SharedDatasetHandle:
    """What a process needs to map a shared dataset: picklable and small."""

    block: str
    name: str
    x_shape: tuple[int, ...]
    y_length: int
    class_names: list[str]

    @property
    def x_bytes(self) -> int:
        return int(np.prod(self.x_shape)) * 4


class SharedDataset:
    """Owns a shared-memory copy of a dataset; :meth:`close` frees it.

    Parameters
    ----------
    dataset
        ``x`` float32 ``(N, …)`` and ``y`` int64 ``(N,)`` are copied into the block.
    """

    def __init__(self, dataset: Dataset) -> None:
        x_bytes, y_bytes = dataset.x.nbytes, dataset.y.nbytes
        self._memory = shared_memory.SharedMemory(create=True, size=max(1, x_bytes + y_bytes))
        x = np.ndarray(dataset.x.shape, np.float32, self._memory.buf, 0)
        y = np.ndarray(dataset.y.shape, np.int64, self._memory.buf, x_bytes)
        np.copyto(x, dataset.x)
        np.copyto(y, dataset.y)
        del x, y  # no view may outlive the block, or close() fails
        self.handle = SharedDatasetHandle(
            self._memory.name, dataset.name, tuple(dataset.x.shape), len(dataset.y), list(dataset.class_names)
        )

    def close(self) -> None:
        """Release and unlink the block (safe to call twice)."""
        if self._memory is None:
            return
        self._memory.close()
        with contextlib.suppress(FileNotFoundError):
            self._memory.unlink()
        self._memory = None


class AttachedDataset:
    """A dataset mapped from a :class:`SharedDatasetHandle` in another process.

    The arrays are read-only views of the block: :attr:`dataset` must be dropped
    before :meth:`close`.
    """

    def __init__(self, handle: SharedDatasetHandle) -> None:
        # A spawned child shares its parent's resource tracker, so attaching registers
        # nothing new; only the creating process unlinks the block.
        self._memory = shared_memory.SharedMemory(name=handle.block)
        x = np.ndarray(handle.x_shape, np.float32, self._memory.buf, 0)
        y = np.ndarray((handle.y_length,), np.int64, self._memory.buf, handle.x_bytes)
        x.flags.writeable = False
        y.flags.writeable = False
        self.dataset = Dataset(handle.name, x, y, list(handle.class_names))

    def close(self) -> None:
        self.dataset = None  # type: ignore[assignment]
        self._memory.close()
