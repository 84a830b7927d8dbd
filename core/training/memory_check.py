"""Will a training run fit in memory? An estimate made before anything is allocated.

A run that exhausts memory does not fail cleanly: the system swaps, or kills the
process. So the trainer refuses, up front, a run whose estimate exceeds the memory
the system says is available, naming both figures.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.analysis.report import format_bytes
from core.analysis.summary import BYTES_PER_VALUE, summarize
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument

OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "adam": 2}
"""Extra per-parameter arrays each optimiser keeps."""
PARAM_COPIES = 4
"""Parameters, gradients, the last good weights (divergence) and the best epoch's (early stopping)."""
ACTIVATION_COPIES = 3
"""Each layer's output, what its backward keeps of it, and its gradient."""
USABLE_SHARE = 0.9
"""Share of the available memory a run may plan to use."""


class TrainingMemoryError(LayerwiseError):
    """A run would need more memory than is available."""


def estimate_training_bytes(document: NetworkDocument, batch_size: int, optimizer: str, eval_batch: int) -> int:
    """Bytes a run of ``document`` allocates beyond its data: weights, their companions, activations.

    Parameters
    ----------
    batch_size, eval_batch
        Training and evaluation batch sizes; the larger forward pass counts.
    """
    summary = summarize(document)
    param_bytes = summary.param_bytes * (PARAM_COPIES + OPTIMIZER_SLOTS.get(optimizer, 2))
    per_sample = sum(layer.activation_bytes or 0 for layer in summary.layers)
    activations = per_sample * max(batch_size * ACTIVATION_COPIES, eval_batch)
    return param_bytes + activations


def available_memory_bytes() -> int | None:
    """Memory the system can give this process now, or ``None`` when it cannot tell."""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    if sys.platform != "win32" and hasattr(os, "sysconf"):
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError):
            return None
    return None


def check_training_memory(
    document: NetworkDocument, batch_size: int, optimizer: str, eval_batch: int, available: int | None = None
) -> int:
    """Return the estimate, or raise :class:`TrainingMemoryError` naming it and the limit."""
    needed = estimate_training_bytes(document, batch_size, optimizer, eval_batch)
    available = available_memory_bytes() if available is None else available
    if available is not None and needed > available * USABLE_SHARE:
        raise TrainingMemoryError(
            f"training {document.name!r} with batches of {batch_size} needs about {format_bytes(needed)} "
            f"(weights {format_bytes(summarize(document).param_bytes)} with their gradients and optimizer state, "
            f"plus activations), but only {format_bytes(available)} of memory is available; "
            "use smaller batches or a smaller network"
        )
    return needed


__all__ = [
    "BYTES_PER_VALUE",
    "TrainingMemoryError",
    "available_memory_bytes",
    "check_training_memory",
    "estimate_training_bytes",
]
