"""Saves two versions of a network file and its weights over and over until killed.

Run as ``python -m tests.core.atomic_driver FOLDER``; prints ``saving`` once the first
pair of files is complete.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.engine.model import Model
from core.engine.network_weights import NetworkWeights
from core.examples import example_path
from core.graph.fileformat import load_network, save_network


def main() -> None:
    folder = Path(sys.argv[1])
    base = load_network(example_path("alexnet"))  # ~200 MB of weights: a save takes a while
    state = Model(base, seed=1).state_dict()
    versions = []
    for sign, name in ((1.0, "version A"), (-1.0, "version B")):
        document = load_network(example_path("alexnet"))
        document.name = name
        versions.append((document, NetworkWeights.from_state_dict(document, {k: sign * v for k, v in state.items()})))
    network, weights = folder / "net.json", folder / "net.npz"
    first = True
    while True:
        for document, tensors in versions:
            save_network(document, network)
            tensors.save(weights, document)
            if first:
                print("saving", flush=True)
                first = False


if __name__ == "__main__":
    main()
