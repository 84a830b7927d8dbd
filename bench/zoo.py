"""Import torchvision's classification models as ``torch.onnx.export`` writes them, and check them.

The models come from ``shared/tools/make_torchvision_zoo.sh OUT`` (random weights,
randomised BatchNorm statistics, a recorded input ``NAME_x.npy`` and PyTorch's output
``NAME_y.npy`` for each); PyTorch is needed to build them, not to run this bench.

Per model one line: the import time, the relative error of the logits against
PyTorch's (largest difference over the largest logit; goal ≤ 1e-4), the time of one
training step of the engine (batch 2, cross-entropy, SGD) and whether that step's loss is
finite, and the largest difference between the engine and onnxruntime on the network
re-exported by Layerwise. Where PyTorch is installed, also the full circle: the imported
network written back as a PyTorch project (``export-pytorch``), its ``build_model()``'s
logits against PyTorch's original ones. The last line is JSON with every figure.

Run: ``.venv/bin/python bench/zoo.py [ZOO_DIR] [MODEL ...]`` (default ``/tmp/tv_zoo``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.losses import softmax_cross_entropy
from core.engine.model import Model
from core.engine.optimizers import SGD
from core.errors import LayerwiseError
from core.onnx_io.export import export_model
from core.onnx_io.importer import import_onnx
from core.torch_export.project import write_torch_project

MODELS = (
    "resnet18",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "squeezenet1_1",
    "shufflenet_v2_x0_5",
    "densenet121",
    "googlenet",
    "mnasnet0_5",
    "regnet_x_400mf",
    "convnext_tiny",
)
GOAL = 1e-4


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(got - expected)) / max(float(np.max(np.abs(expected))), 1e-12))


def check(folder: Path, name: str) -> dict[str, object]:
    """Import, compare, train one step and re-export one model; a refusal is a result too."""
    path = folder / f"{name}.onnx"
    if not path.is_file():
        return {"model": name, "status": "missing", "detail": f"{path} not found"}
    x, expected = np.load(folder / f"{name}_x.npy"), np.load(folder / f"{name}_y.npy")
    started = time.perf_counter()
    try:
        imported = import_onnx(path)
    except LayerwiseError as exc:
        return {"model": name, "status": "refused", "detail": str(exc)}
    import_s = time.perf_counter() - started
    model = Model(imported.document, seed=0)
    try:
        model.load_state_dict(imported.weights)
    except LayerwiseError as exc:
        return {"model": name, "status": "failed", "detail": f"imported, but: {exc}"}
    error = relative_error(model.forward(x), expected)

    batch = np.concatenate([x, x[:, :, ::-1]])  # two samples
    labels = np.array([0, 1])
    started = time.perf_counter()
    loss, grad = softmax_cross_entropy(model.forward_logits(batch, training=True), labels)
    model.backward(grad, from_logits=True, input_grad=False)
    SGD().step(model.params, model.grads, 1e-3)
    step_s = time.perf_counter() - started

    model.load_state_dict(imported.weights)
    exported = export_model(model)
    session = ort.InferenceSession(exported.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: x})[0]
    parity = relative_error(model.forward(x), theirs)
    circle = full_circle_error(model, x, expected)
    return {
        "model": name,
        "status": "ok" if max(error, parity, circle or 0.0) <= GOAL and np.isfinite(loss) else "off",
        "layers": len(imported.document.nodes),
        "import_s": round(import_s, 2),
        "logits_error": error,
        "train_step_s": round(step_s, 2),
        "loss_finite": bool(np.isfinite(loss)),
        "reexport_error": parity,
        "pytorch_project_error": circle,
    }


def full_circle_error(model: Model, x: np.ndarray, expected: np.ndarray) -> float | None:
    """The logits of ``model`` written as a PyTorch project and run by PyTorch, against ``expected``; ``None`` without torch."""
    try:
        import torch
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as folder:
        write_torch_project(model, folder)
        spec = importlib.util.spec_from_file_location("exported_model", Path(folder) / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        network = module.build_model().eval()
    with torch.no_grad():
        logits = network(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
    return relative_error(logits, expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", nargs="?", default="/tmp/tv_zoo", help="where make_torchvision_zoo.sh wrote the models"
    )
    parser.add_argument("models", nargs="*", default=list(MODELS))
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"{folder} does not exist: build it with ../shared/tools/make_torchvision_zoo.sh {folder}")
        return 2
    results = []
    for name in args.models:
        result = check(folder, name)
        results.append(result)
        if "detail" in result:
            detail = str(result["detail"])
            print(f"{name:20s} {result['status']}: {detail[:300]}", flush=True)
        else:
            print(
                f"{name:20s} {result['status']:3s} {result['layers']:4d} layers  import {result['import_s']:5.2f} s  "
                f"logits error {result['logits_error']:.1e}  train step {result['train_step_s']:5.2f} s  "
                f"re-export error {result['reexport_error']:.1e}"
                + (
                    f"  PyTorch project error {result['pytorch_project_error']:.1e}"
                    if result["pytorch_project_error"] is not None
                    else ""
                ),
                flush=True,
            )
    print(json.dumps(results))
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
