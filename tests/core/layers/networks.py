"""Small networks the registry-wide tests share, for layers that need more than one branch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.graph.document import NetworkDocument


def gated(
    gate: Sequence[tuple[str, dict[str, Any] | None]], input_shape: tuple[int, ...] = (4, 7, 6), filters: int = 3
) -> NetworkDocument:
    """``Input`` → a 3×3 Conv2D of ``filters`` (the map) and ``gate`` layers → Multiply(map, gate)."""
    document = NetworkDocument("gated")
    entry = document.add_node("Input", {"shape": list(input_shape)}, name="input")
    conv = {"filters": filters, "kernel_size": 3, "padding": 1}
    mapped = document.chain(entry.id, [("Conv2D", conv, "map")])
    gating = document.chain(
        entry.id, [(type_name, params, f"gate{index}") for index, (type_name, params) in enumerate(gate)]
    )
    document.merge("Multiply", [mapped.id, gating.id], name="under_test")
    return document
