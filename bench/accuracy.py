"""Accuracy targets, measured: what the shipped networks reach on the built-in data, and how fast.

1. The Digits CNN example on scikit-learn's 8×8 digits (80/20 split): best validation
   accuracy, and the wall time until validation accuracy first reached 97 %.
2. The LeNet-5 example (last layer set to 4 units) on the procedural shapes at 28×28.

    python bench/accuracy.py

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy: see main.py

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data import load_builtin
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from core.training.events import EpochEnded
from core.training.trainer import Trainer, TrainingConfig


def train(document: NetworkDocument, dataset_name: str, epochs: int, target: float) -> dict[str, float | None]:
    input_shape = tuple(next(n for n in document.nodes if n.type_name == "Input").layer.params["shape"])
    data = load_builtin(dataset_name, input_shape=input_shape, seed=0)
    train_part, val_part = data.split(0.2, seed=0)
    trainer = Trainer(document, train_part, val_part, TrainingConfig(epochs=epochs, batch_size=64, learning_rate=1e-3))
    start = time.perf_counter()
    best, reached = 0.0, None
    for event in trainer.run():
        if isinstance(event, EpochEnded):
            best = max(best, event.val_accuracy)
            if reached is None and event.val_accuracy >= target:
                reached = time.perf_counter() - start
    seconds = time.perf_counter() - start
    when = f"{reached:.1f} s" if reached is not None else "never"
    print(
        f"{document.name} on {dataset_name}: best validation accuracy {best:.2%} in {epochs} epochs ({seconds:.1f} s); {target:.0%} reached after {when}"
    )
    return {
        "best_val_accuracy": round(best, 4),
        "seconds_to_target": round(reached, 1) if reached is not None else None,
        "seconds": round(seconds, 1),
    }


def main() -> None:
    digits = train(load_network(example_path("digits_cnn")), "digits", epochs=40, target=0.97)
    lenet = load_network(example_path("lenet5"))
    lenet.set_param(lenet.node_by_name("fc3").id, "units", 4)
    shapes = train(lenet, "shapes", epochs=15, target=0.99)
    print(json.dumps({"digits_cnn": digits, "lenet5_shapes": shapes}))


if __name__ == "__main__":
    main()
