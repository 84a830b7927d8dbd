"""Training throughput of Layerwise's NumPy engine against PyTorch CPU, in one run.

Three networks, the same in both frameworks (weights copied, outputs compared first):
LeNet-5 (28×28×1, batch 64), the CIFAR CNN example (32×32×3, conv–BN–ReLU, a 1×1
bottleneck, global average pooling, batch 64), and an MLP 784-256-256-10 with dropout
0.5 (batch 128). One step = forward, softmax cross-entropy, backward, SGD with momentum.
Rounds alternate between the frameworks; the ratio reported is the median over rounds
of Layerwise samples/s ÷ PyTorch samples/s measured back to back. Then the peak memory
(RSS) of a 10-epoch LeNet-5 run on 60,000 28×28 samples, in a fresh process.

    python bench/train_throughput.py [--rounds 7] [--skip-memory]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy: see main.py

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from core.engine.losses import softmax_cross_entropy
from core.engine.model import Model
from core.engine.optimizers import Momentum
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network

try:
    import torch

    from bench.torch_reference import TorchTwin
except ImportError:  # the bench still measures Layerwise alone
    torch = None

LEARNING_RATE = 0.01
DISTINCT_BATCHES = 8  # varied data keeps values out of the denormal range


def mlp_document() -> NetworkDocument:
    doc = NetworkDocument("MLP 784-256-256-10")
    x = doc.add_node("Input", {"shape": [784]}, name="input")
    doc.chain(
        x.id,
        [
            ("Dense", {"units": 256}, "fc1"),
            ("ReLU", None, "relu1"),
            ("Dropout", {"rate": 0.5}, "drop1"),
            ("Dense", {"units": 256}, "fc2"),
            ("ReLU", None, "relu2"),
            ("Dropout", {"rate": 0.5}, "drop2"),
            ("Dense", {"units": 10}, "fc3"),
        ],
    )
    return doc


NETWORKS = {
    "lenet": (lambda: load_network(example_path("lenet5")), 64),
    "cifar": (lambda: load_network(example_path("cifar_cnn")), 64),
    "mlp": (mlp_document, 128),
}


def batches(model: Model, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    classes = model.output_shape[0]
    return [
        (rng.random((batch_size, *model.input_shape), dtype=np.float32), rng.integers(0, classes, batch_size))
        for _ in range(DISTINCT_BATCHES)
    ]


class LayerwiseRunner:
    def __init__(self, document: NetworkDocument, batch_size: int) -> None:
        self.model = Model(document, seed=0)
        self.data = batches(self.model, batch_size)
        self.optimizer = Momentum(0.9)
        self.step_index = 0

    def step(self) -> None:
        x, y = self.data[self.step_index % DISTINCT_BATCHES]
        self.step_index += 1
        _, grad = softmax_cross_entropy(self.model.forward_logits(x, training=True), y)
        self.model.backward(grad, input_grad=False)
        self.optimizer.step(self.model.params, self.model.grads, LEARNING_RATE)


class TorchRunner:
    def __init__(self, model: Model, batch_size: int) -> None:
        self.net = TorchTwin(model)
        self.net.train()
        self.data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches(model, batch_size)]
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=LEARNING_RATE, momentum=0.9)
        self.loss = torch.nn.CrossEntropyLoss()
        self.step_index = 0

    def step(self) -> None:
        x, y = self.data[self.step_index % DISTINCT_BATCHES]
        self.step_index += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(self.net.logits(x), y).backward()
        self.optimizer.step()


def check_agreement(document: NetworkDocument) -> float:
    """Max |Layerwise − PyTorch| of the inference outputs with identical weights, relative to their scale."""
    model = Model(document, seed=1)
    twin = TorchTwin(model).eval()
    x = np.random.default_rng(2).random((8, *model.input_shape), dtype=np.float32)
    ours = model.forward_logits(x)
    with torch.no_grad():
        theirs = twin.logits(torch.from_numpy(x)).numpy()
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-6))


def samples_per_second(runner, batch_size: int, seconds: float) -> float:
    for _ in range(3):  # warm-up: buffers allocated, caches filled
        runner.step()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        runner.step()
        steps += 1
    return steps * batch_size / (time.perf_counter() - start)


def measure(name: str, rounds: int, seconds: float) -> dict[str, float | None]:
    build, batch_size = NETWORKS[name]
    ours = LayerwiseRunner(build(), batch_size)
    theirs = TorchRunner(Model(build(), seed=0), batch_size) if torch else None
    if theirs is not None:
        print(f"{name}: outputs agree with PyTorch to {check_agreement(build()):.1e} (relative)")
    own, ref, ratios = [], [], []
    for _ in range(rounds):
        own.append(samples_per_second(ours, batch_size, seconds))
        if theirs is not None:
            ref.append(samples_per_second(theirs, batch_size, seconds))
            ratios.append(own[-1] / ref[-1])
    result = {
        "layerwise": statistics.median(own),
        "pytorch": statistics.median(ref) if ref else None,
        "ratio": statistics.median(ratios) if ratios else None,
    }
    torch_text = (
        f"PyTorch {result['pytorch']:8.0f}/s   ratio {result['ratio']:.2f} (rounds {min(ratios):.2f}–{max(ratios):.2f})"
        if ratios
        else "PyTorch absent"
    )
    print(f"{name:6s} batch {batch_size:3d}: Layerwise {result['layerwise']:8.0f} samples/s   {torch_text}")
    return result


MEMORY_RUN = """
import os, resource, sys, time
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
sys.path.insert(0, {root!r})
import numpy as np
from core.data.dataset import Dataset
from core.examples import example_path
from core.graph.fileformat import load_network
from core.training.trainer import Trainer, TrainingConfig
rng = np.random.default_rng(0)
y = rng.integers(0, 10, 60000)
x = rng.random((60000, 1, 28, 28), dtype=np.float32)
data = Dataset("random 60k", x, y.astype(np.int64), [str(i) for i in range(10)])
trainer = Trainer(load_network(example_path("lenet5")), data, None, TrainingConfig(epochs=10, batch_size=64))
start = time.perf_counter()
for event in trainer.run():
    pass
# VmHWM is this process image's own peak; ru_maxrss would include the parent's, kept across exec.
try:
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(peak, time.perf_counter() - start, event.reason)
"""


def peak_memory_mb() -> tuple[float, float]:
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_RUN.format(root=str(ROOT))], capture_output=True, text=True, check=True
    )
    peak, seconds, reason = result.stdout.split()
    print(
        f"LeNet-5, 10 epochs on 60,000 28×28 samples: peak RSS {float(peak):.0f} MB, {float(seconds):.0f} s ({reason})"
    )
    return float(peak), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.5, help="timing window per framework per round")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--only", choices=sorted(NETWORKS), action="append")
    args = parser.parse_args()
    if torch is not None:
        torch.manual_seed(0)
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; NumPy {np.__version__}")
    else:
        print("PyTorch absent: install it (CPU build) to get ratios")
    figures: dict[str, float | None] = {}
    for name in args.only or NETWORKS:
        result = measure(name, args.rounds, args.seconds)
        figures[f"{name}_samples_per_s"] = round(result["layerwise"], 1)
        figures[f"{name}_ratio"] = round(result["ratio"], 3) if result["ratio"] else None
    if not args.skip_memory:
        peak, _ = peak_memory_mb()
        figures["lenet_60k_peak_rss_mb"] = round(peak, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
