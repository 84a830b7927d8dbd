"""Inference speed of imported real models: the NumPy engine against onnxruntime, in one run.

ResNet-50 and VGG-19 from the onnx package's test data (weights replaced by random ones
of the same shapes), imported into Layerwise; a forward pass at batch 1 and 8 in both
runtimes, alternating (onnxruntime runs the imported network re-exported, since the
originals hard-code batch 1). The ratio is Layerwise throughput ÷ onnxruntime throughput.

    python bench/inference.py [--rounds 5]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy: see main.py

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import onnx
import onnxruntime as ort

from core.engine.model import Model
from core.onnx_io.export import export_model
from core.onnx_io.importer import import_model
from tests.core.onnx_io.helpers import LIGHT_MODELS, with_random_weights

MODELS = {"resnet50": "light_resnet50.onnx", "vgg19": "light_vgg19.onnx"}


def seconds_per_pass(run, minimum_seconds: float) -> float:
    run()  # warm-up
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < minimum_seconds or len(times) < 3:
        begin = time.perf_counter()
        run()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def measure(name: str, rounds: int, seconds: float) -> dict[str, float]:
    original = with_random_weights(onnx.load(str(LIGHT_MODELS / MODELS[name])))
    imported = import_model(original)
    model = Model(imported.document)
    model.load_state_dict(imported.weights)
    # The light models hard-code batch 1 (ResNet-50 reshapes to [1, 2048]); onnxruntime runs
    # the re-exported network instead: the same layers and weights, with a dynamic batch.
    session = ort.InferenceSession(export_model(model).SerializeToString(), providers=["CPUExecutionProvider"])
    feed_name = session.get_inputs()[0].name
    figures: dict[str, float] = {}
    for batch in (1, 8):
        x = np.random.default_rng(batch).random((batch, *model.input_shape), dtype=np.float32)
        ours, theirs = [], []
        for _ in range(rounds):
            ours.append(seconds_per_pass(lambda x=x: model.forward(x), seconds))
            theirs.append(seconds_per_pass(lambda x=x: session.run(None, {feed_name: x}), seconds))
        ratio = statistics.median(t / o for o, t in zip(ours, theirs))
        print(
            f"{name:9s} batch {batch}: Layerwise {statistics.median(ours) * 1000:7.1f} ms   "
            f"onnxruntime {statistics.median(theirs) * 1000:7.1f} ms   ratio {ratio:.2f}"
        )
        figures[f"{name}_b{batch}_ratio"] = round(ratio, 3)
        figures[f"{name}_b{batch}_ms"] = round(statistics.median(ours) * 1000, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing window per runtime per round")
    args = parser.parse_args()
    print(f"onnxruntime {ort.__version__}, NumPy {np.__version__}")
    figures: dict[str, float] = {}
    for name in MODELS:
        figures.update(measure(name, args.rounds, args.seconds))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
