"""Train with the PyTorch engine on an accelerator and compare the run with the NumPy engine's.

Usage: ``python tools/check_torch_engine_device.py [--device cuda] [--epochs 2]``. For the
digits CNN and the CIFAR CNN on the built-in data (a few hundred samples, dropout off, so
both engines draw the same batches and masks play no part; momentum SGD): train with the NumPy engine on
the CPU and with the PyTorch engine on the device, and print the largest relative
difference of the per-batch losses (the first three judged), the two final validation accuracies, and the device run's speed. TF32 is switched off for the comparison (PyTorch's
default on recent NVIDIA GPUs rounds convolutions to 10-bit mantissas). Then runs
``main.py train --engine torch --device DEVICE`` as a user would. Exits 1 when a loss differs
in its first batches by more than 1e-4 relative, or the command fails. The device check of the in-app engine, run
where a GPU is at hand; needs PyTorch.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.data import load_builtin
from core.engine.model import Model
from core.examples import example_path
from core.graph.fileformat import load_network
from core.session.engines import NUMPY, EngineChoice, make_engine
from core.training.events import BatchEnded, EpochEnded, TrainingFinished
from core.training.trainer import Trainer, TrainingConfig

CASES = (("digits_cnn", (1, 8, 8)), ("cifar_cnn", (3, 32, 32)))
FIRST_BATCHES, TOLERANCE = 3, 1e-4
"""The first batches' losses must agree this closely; later ones are reported, not judged: training
amplifies float32 rounding (a 1e-7 change of the CIFAR CNN's initial weights moves its 15th batch loss
by about 5e-4 in the NumPy engine alone)."""


def run(network: str, shape: tuple[int, ...], engine: EngineChoice, epochs: int) -> tuple[list, float]:
    document = load_network(example_path(network))
    train, val = load_builtin("digits", input_shape=shape, n_samples=600, seed=0).split(0.2, 0)
    # Momentum SGD: Adam magnifies float32 noise where BatchNorm cancels a convolution's bias (its true
    # gradient is zero), and the engines would part for that reason alone.
    config = TrainingConfig(
        epochs=epochs, batch_size=32, dropout=False, seed=0, optimizer="momentum", learning_rate=0.01
    )
    model = Model(document, seed=0)
    trainer = Trainer(document, train, val, config, engine=make_engine(engine, model, config))
    started = time.perf_counter()
    events = list(trainer.run())
    return events, time.perf_counter() - started


def relative(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    failed = False
    for network, shape in CASES:
        reference, numpy_seconds = run(network, shape, NUMPY, args.epochs)
        device, device_seconds = run(network, shape, EngineChoice("torch", args.device), args.epochs)
        finished = device[-1]
        assert isinstance(finished, TrainingFinished)
        device_losses = [e.loss for e in device if isinstance(e, BatchEnded)]
        reference_losses = [e.loss for e in reference if isinstance(e, BatchEnded)]
        first = relative(device_losses[:FIRST_BATCHES], reference_losses[:FIRST_BATCHES])
        every = relative(device_losses, reference_losses)
        epochs_ref = [e for e in reference if isinstance(e, EpochEnded)]
        epochs_dev = [e for e in device if isinstance(e, EpochEnded)]
        ok = finished.reason == "completed" and first <= TOLERANCE
        failed |= not ok
        print(
            f"{network:>10} on {args.device}: {finished.reason}; first {FIRST_BATCHES} batch losses within {first:.2e}, "
            f"all within {every:.2e}; val acc {epochs_ref[-1].val_accuracy:.4f} (NumPy) vs "
            f"{epochs_dev[-1].val_accuracy:.4f}; {device_seconds:.1f} s vs {numpy_seconds:.1f} s "
            f"{'ok' if ok else 'DIFFERS'}"
        )
    command = [sys.executable, str(ROOT / "main.py"), "train", "digits_cnn", "--dataset", "digits"]
    command += ["--epochs", "3", "--no-dropout", "--engine", "torch", "--device", args.device]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    print("$ layerwise " + " ".join(command[2:]))
    print(result.stdout.strip() or result.stderr.strip())
    failed |= result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
