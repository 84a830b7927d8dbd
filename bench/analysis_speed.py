"""How the full analysis (validation, shapes, costs, receptive fields) scales with graph size.

The app re-analyses the network after every edit, so its cost per layer must stay flat as
networks grow (imported models have hundreds of layers). Prints the time per layer for
residual networks of growing size and the ratio of the largest to the smallest; a ratio
near 1 means linear scaling. Last line: one JSON object.

    python bench/analysis_speed.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.analysis.summary import summarize
from core.graph.document import NetworkDocument


def residual_network(blocks: int) -> NetworkDocument:
    """``blocks`` times: conv → ReLU → Add(with the block's input)."""
    doc = NetworkDocument(f"{blocks} residual blocks")
    current = doc.add_node("Input", {"shape": [8, 32, 32]})
    for _ in range(blocks):
        body = doc.chain(current.id, [("Conv2D", {"filters": 8, "padding": 1}, None), ("ReLU", None, None)])
        current = doc.merge("Add", [body.id, current.id])
    return doc


def seconds_per_layer(doc: NetworkDocument, repeats: int = 5) -> float:
    best = float("inf")
    for repeat in range(repeats):
        doc.name = f"{doc.name.split(' #')[0]} #{repeat}"  # a change: the document forgets its last analysis
        start = time.perf_counter()
        summarize(doc)
        best = min(best, time.perf_counter() - start)
    return best / len(doc)


def main() -> None:
    results = {}
    for blocks in (30, 100, 300, 1000):
        doc = residual_network(blocks)
        per_layer = seconds_per_layer(doc)
        results[len(doc)] = per_layer
        print(
            f"{len(doc):5d} layers: {per_layer * 1e6:7.1f} µs per layer, {per_layer * len(doc) * 1e3:8.1f} ms per analysis"
        )
    sizes = sorted(results)
    ratio = results[sizes[-1]] / results[sizes[0]]
    print(f"per-layer cost, {sizes[-1]} vs {sizes[0]} layers: {ratio:.2f}× (1.0 = linear)")
    print(
        json.dumps(
            {"us_per_layer": {str(k): round(v * 1e6, 1) for k, v in results.items()}, "scaling_ratio": round(ratio, 2)}
        )
    )


if __name__ == "__main__":
    main()
