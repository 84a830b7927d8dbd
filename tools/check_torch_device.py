"""Run every shipped example's exported PyTorch project on an accelerator and compare with the engine.

Usage: ``python tools/check_torch_device.py [--device cuda]``. For each example: export the
project (fresh initial weights, BatchNorm statistics as initialised), load it with
``build_model()``, run a batch on the device in float64 and float32 (inference), and one
training step (forward, cross-entropy, backward) in float32; print the relative difference
of the outputs against the NumPy engine's float64 forward, and whether every gradient is
finite. Exits 1 when an example differs by more than 1e-5 (float64) or 1e-4 (float32; TF32
convolutions, PyTorch's default on recent NVIDIA GPUs, are shown beside it but not judged).
Needs PyTorch; the device check of the exported code, run where a GPU is at hand.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.model import Model
from core.examples import example_names, example_path
from core.graph.fileformat import load_network
from core.torch_export.project import write_torch_project


def load_module(folder: Path, name: str):
    spec = importlib.util.spec_from_file_location(f"exported_{name}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    name_shown = torch.cuda.get_device_name(device) if device.type == "cuda" else args.device
    print(f"torch {torch.__version__} on {name_shown}")
    failures = 0
    for name in example_names():
        model = Model(load_network(example_path(name)), seed=0, dtype=np.float64)
        x = np.random.default_rng(0).standard_normal((4, *model.input_shape))
        expected = model.forward(x)
        with tempfile.TemporaryDirectory() as folder:
            write_torch_project(model, folder)
            exported = load_module(Path(folder), name).build_model()
        started = time.perf_counter()
        net = exported.to(device).double().eval()
        with torch.no_grad():
            got64 = net(torch.tensor(x, device=device)).cpu().numpy()
            net = net.float()
            x32 = torch.tensor(x, dtype=torch.float32, device=device)
            # PyTorch's default on NVIDIA GPUs since Ampere lets convolutions use TF32 (10-bit
            # mantissas): about 1e-3 relative. Full float32 is what must match.
            torch.backends.cudnn.allow_tf32 = False
            got32 = net(x32).cpu().numpy()
            torch.backends.cudnn.allow_tf32 = True
            got_tf32 = net(x32).cpu().numpy()
        net.train()
        scores = net(torch.tensor(x, dtype=torch.float32, device=device))
        loss = (
            scores.float().pow(2).mean()
            if scores.ndim != 2
            else torch.nn.functional.cross_entropy(scores, torch.zeros(len(x), dtype=torch.long, device=device))
        )
        loss.backward()
        finite = all(torch.isfinite(p.grad).all().item() for p in net.parameters() if p.grad is not None)
        seconds = time.perf_counter() - started
        error64, error32, error_tf32 = (relative(got, expected) for got in (got64, got32, got_tf32))
        ok = error64 <= 1e-5 and error32 <= 1e-4 and finite
        failures += not ok
        print(
            f"{name:22} {'ok ' if ok else 'BAD'} float64 {error64:.1e}  float32 {error32:.1e}  "
            f"(TF32 convolutions {error_tf32:.1e})  gradients {'finite' if finite else 'NOT finite'}  {seconds:.2f} s"
        )
    print(f"{len(example_names()) - failures} of {len(example_names())} examples ok on {args.device}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
