"""Run exported models in onnxruntime and compare with the engine."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from core.engine.model import Model


def run_onnx(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def randomize(model: Model, seed: int = 0) -> None:
    """Random weights and BatchNorm statistics, so that every term shows in the output."""
    rng = np.random.default_rng(seed)
    model.params[...] = rng.uniform(-0.5, 0.5, model.params.size)
    for key, buffer in model.buffers.items():
        buffer[...] = rng.uniform(0.5, 1.5, buffer.shape) if key.endswith("running_var") else rng.uniform(-0.2, 0.2, buffer.shape)


def relative_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-6))
