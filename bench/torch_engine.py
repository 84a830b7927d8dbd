"""The PyTorch engine in the app against the same loop in a plain script, and the window meanwhile.

Trains the CIFAR CNN example on random 32×32×3 data (10 classes, SGD with momentum,
batch 64, as ``ui_latency.py``) with the PyTorch engine in the app — the Training dock's
own worker, curves, progress and all — for ``--seconds``, while a 5 ms timer records how
late each of the window's ticks fires. The reference is a plain PyTorch loop over the same
generated module, data and batch size, run in a fresh process just before and just after:
forward, cross-entropy, backward, step, and the loss read back every batch (as any loop
that logs its loss does), with PyTorch's default threads and waiting policy, as a script runs.

    python bench/torch_engine.py [--seconds 20] [--worker process|thread] [--device cpu]

The last line is one JSON object: ``{"throughput_vs_plain", "lateness_ms_p50", "lateness_ms_p99", …}``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy: see main.py
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from bench.ui_latency import BATCH, VAL_FRACTION, measure_app, random_cifar
from core.engine.model import Model
from core.examples import example_path
from core.graph.fileformat import load_network
from core.session.engines import EngineChoice


def plain_samples_per_second(seconds: float, device: str, queue: multiprocessing.Queue) -> None:
    """Child process: a plain PyTorch training loop; report samples per second and the thread count."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from core.torch_engine.engine import build_module
    from core.torch_export.project import torch_layers

    model = Model(load_network(example_path("cifar_cnn")), seed=0)
    module = build_module(model)
    if model.logits_node is not model.output_node:  # cross-entropy on the scores, as the engine fuses it
        attribute = next(layer.attribute for layer in torch_layers(model)[1] if layer.node is model.output_node)
        setattr(module, attribute, nn.Identity())
    module.to(device).train()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    train, _val = random_cifar().split(VAL_FRACTION, 0)
    rng = np.random.default_rng(0)
    first, samples = None, 0
    while True:
        order = rng.permutation(len(train))
        for start in range(0, len(order) - BATCH + 1, BATCH):
            index = order[start : start + BATCH]
            x = torch.from_numpy(train.x[index]).to(device)
            y = torch.from_numpy(train.y[index].astype(np.int64)).to(device)
            loss = F.cross_entropy(module(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()
            now = time.perf_counter()
            if first is None:
                first = now  # from the first finished batch: start-up is not throughput
            else:
                samples += BATCH
            if now - first >= seconds:
                queue.put((samples / (now - first), torch.get_num_threads()))
                return


def measure_plain(seconds: float, device: str) -> tuple[float, int]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=plain_samples_per_second, args=(seconds, device, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="training time measured in the app")
    parser.add_argument("--worker", choices=("process", "thread"), default="process")
    parser.add_argument("--device", default="cpu", help="cpu, cuda:N or mps")
    args = parser.parse_args()
    plain_seconds = max(5.0, args.seconds / 2)
    before, threads = measure_plain(plain_seconds, args.device)
    print(f"plain loop before: {before:.1f} samples/s ({threads} threads)", flush=True)
    result = measure_app(args.seconds, args.worker, EngineChoice("torch", args.device))
    print(f"in the app (PyTorch engine, {args.worker} worker): {result['samples_per_s']:.1f} samples/s", flush=True)
    after, _ = measure_plain(plain_seconds, args.device)
    print(f"plain loop after: {after:.1f} samples/s", flush=True)
    plain = (before + after) / 2
    result |= {
        "plain_samples_per_s": round(plain, 1),
        "plain_threads": threads,
        "throughput_vs_plain": round(result["samples_per_s"] / plain, 3),
        "worker": args.worker,
        "device": args.device,
    }
    print(
        f"throughput in the app / plain loop: {result['throughput_vs_plain']}; timer lateness p50 "
        f"{result['lateness_ms_p50']} ms, p99 {result['lateness_ms_p99']} ms, max {result['lateness_ms_max']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
