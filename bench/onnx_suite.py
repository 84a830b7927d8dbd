"""Run the onnx package's PyTorch-converted operator tests through Layerwise's import and predict.

The onnx wheel ships, under ``onnx/backend/test/data/pytorch-converted`` and
``pytorch-operator``, small models exported from PyTorch with a recorded input and
output each. Every case whose input is an image batch (N×C×H×W) or a batch of feature
vectors (N×F) is imported and run by the NumPy engine; the output is compared with the
recorded one.

Per case one line: ``match`` (largest difference ≤ 1e-4 of the output's range),
``refused`` (with the importer's reason), ``wrong`` (imported, but the numbers differ),
``crash`` (anything but a clean refusal) or ``skipped`` (an input a CNN builder has no
place for: 1-D or 3-D sequences, 5-D volumes, several inputs). The last line is JSON
with the counts.

Run: ``.venv/bin/python bench/onnx_suite.py [--verbose]``
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.model import Model
from core.errors import LayerwiseError
from core.onnx_io.importer import OnnxImportError, import_model

SUITES = ("pytorch-converted", "pytorch-operator")
TOLERANCE = 1e-4
"""Largest difference allowed, relative to the recorded output's largest magnitude."""


def data_folder() -> Path:
    return Path(onnx.__file__).resolve().parent / "backend" / "test" / "data"


def read_tensor(path: Path) -> np.ndarray:
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(tensor)


def run_case(folder: Path) -> tuple[str, str]:
    """``(outcome, detail)`` of one test case folder."""
    model = onnx.load(str(folder / "model.onnx"))
    data = folder / "test_data_set_0"
    inputs = sorted(data.glob("input_*.pb"))
    outputs = sorted(data.glob("output_*.pb"))
    if len(inputs) != 1 or len(outputs) != 1:
        return "skipped", f"{len(inputs)} inputs and {len(outputs)} outputs"
    x, expected = read_tensor(inputs[0]), read_tensor(outputs[0])
    if x.ndim not in (2, 4) or x.dtype.kind != "f":
        return "skipped", f"input of shape {list(x.shape)} ({x.dtype}) is neither N×C×H×W nor N×F"
    try:
        imported = import_model(model, folder.name)
        network = Model(imported.document, seed=0)
        network.load_state_dict(imported.weights)
        network.check_input(x)  # as `layerwise predict` does: values beyond float32 are refused
        got = network.forward(x)
    except (OnnxImportError, LayerwiseError) as exc:
        return "refused", str(exc)
    except Exception as exc:  # noqa: BLE001 — a crash is what this bench reports
        return "crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    if got.shape != expected.shape:
        return "wrong", f"output shape {list(got.shape)}, expected {list(expected.shape)}"
    scale = max(float(np.max(np.abs(expected))), 1e-6)
    error = float(np.max(np.abs(got - expected))) / scale
    return ("match", f"{error:.1e}") if error <= TOLERANCE else ("wrong", f"relative error {error:.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print full refusal reasons")
    args = parser.parse_args(argv)
    counts: Counter[str] = Counter()
    for suite in SUITES:
        for folder in sorted((data_folder() / suite).iterdir()):
            if not (folder / "model.onnx").is_file():
                continue
            outcome, detail = run_case(folder)
            counts[outcome] += 1
            shown = detail if args.verbose or len(detail) <= 160 else detail[:157] + "…"
            print(f"{suite}/{folder.name:45s} {outcome:8s} {shown}", flush=True)
    print(
        json.dumps(
            {"cases": sum(counts.values()), **{k: counts[k] for k in ("match", "refused", "wrong", "crash", "skipped")}}
        )
    )
    return 1 if counts["wrong"] or counts["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
