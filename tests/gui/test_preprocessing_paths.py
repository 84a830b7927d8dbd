"""One picture, one Input preprocessing: training, predict, See inside and both exports compute the same tensor.

The network is ``Input → Flatten`` (its output *is* the tensor the first layer reads), and
for training the same Input feeds a small classifier whose Input op is watched during a real
training step. Every path must give the textbook formula's numbers, and the same numbers as
each other.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from PIL import Image

import main
from core.data.dataset import Dataset
from core.data.sample_images import load_image_file
from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.graph.fileformat import save_network
from core.onnx_io.export import export_model
from core.training.trainer import Trainer, TrainingConfig
from gui.inside.inside_panel import InsidePanel

SHAPE = (3, 12, 16)
SETTINGS = {
    "resize": 20,
    "channel_order": "BGR",
    "value_range": "0..255",
    "mean": [104.0, 117.0, 123.0],
    "std": [58.0, 57.0, 57.5],
}


def document(head: list[tuple[str, dict | None, str]]) -> NetworkDocument:
    doc = NetworkDocument("paths")
    first = doc.add_node("Input", {"shape": list(SHAPE), **SETTINGS}, name="input")
    doc.chain(first.id, head)
    return doc


def flat() -> NetworkDocument:
    return document([("Flatten", None, "flat")])


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (45, 30, 3), dtype=np.uint8)).save(path)
    return path


def textbook(path) -> np.ndarray:
    """Resize the shorter side to 20 and crop the centre 12×16, as torchvision does; then BGR, ×255, (v − mean) / std."""
    with Image.open(path) as image:
        resized = image.convert("RGB").resize((20, 30), Image.Resampling.BILINEAR)  # 30×45 → 20×30
    top, left = round((30 - 12) / 2), round((20 - 16) / 2)
    raw = np.asarray(resized, np.float64)[top : top + 12, left : left + 16].transpose(2, 0, 1) / 255
    bgr = raw[::-1] * 255
    return (bgr - np.array(SETTINGS["mean"])[:, None, None]) / np.array(SETTINGS["std"])[:, None, None]


def test_every_path_computes_the_same_tensor(qtbot, picture, tmp_path, capsys):
    expected = textbook(picture)
    raw = load_image_file(picture, SHAPE, SETTINGS["resize"])
    tensors: dict[str, np.ndarray] = {}

    # Training: the tensor the Input hands the first layer in a real training step.
    classifier = document([("Flatten", None, "flat"), ("Dense", {"units": 2}, "scores")])
    trainer = Trainer(
        classifier,
        Dataset("photo", np.stack([raw, raw]), np.array([0, 1]), ["a", "b"]),
        None,
        TrainingConfig(epochs=1, batch_size=2, probe_samples=0),
    )
    input_op = trainer.model.ops[trainer.model.input_node.id]
    seen = []
    original = input_op.forward
    input_op.forward = lambda inputs, training: seen.append(original(inputs, training)) or seen[-1]
    events = list(trainer.run())
    assert events[-1].reason == "completed", events[-1].message
    tensors["training"] = seen[0][:, 0]  # channel-major C×N×H×W: the first sample

    # predict on the image file, through the command line.
    save_network(flat(), tmp_path / "flat.json")
    status = main.main(["predict", str(tmp_path / "flat.json"), "--input", str(picture), "-o", str(tmp_path / "y.npy")])
    assert status == 0, capsys.readouterr().err
    tensors["predict"] = np.load(tmp_path / "y.npy")[0].reshape(SHAPE)

    # See inside: the file as its input chooser fits it, run by its model host.
    panel = InsidePanel(worker_mode="thread")
    qtbot.addWidget(panel)
    network = flat()
    panel.set_context(network, lambda: None, lambda: None)
    assert panel.chooser.load_file(picture)
    x = panel.chooser.sample().x
    results: list[np.ndarray] = []
    input_id = network.node_by_name("input").id
    panel.host.request(
        "test", lambda compiled: compiled.model.forward_to(x[None], [input_id])[input_id], results.append, pytest.fail
    )
    qtbot.waitUntil(lambda: bool(results))
    tensors["see inside"] = results[0][0]

    # ONNX, baked (raw pixels in) and plain (the metadata's preprocessing applied by the caller).
    ort = pytest.importorskip("onnxruntime")
    model = Model(flat())
    for bake in (True, False):
        exported = export_model(model, bake_preprocessing=bake)
        session = ort.InferenceSession(exported.SerializeToString(), providers=["CPUExecutionProvider"])
        fed = raw[None] if bake else model.input_node.layer.preprocessing.apply(raw[None])
        tensors[f"onnx {'baked' if bake else 'plain'}"] = session.run(None, {"input": fed})[0][0].reshape(SHAPE)

    # PyTorch export: the generated module on the raw pixels.
    if importlib.util.find_spec("torch") is not None:
        import torch

        main.main(["export-pytorch", str(tmp_path / "flat.json"), "-o", str(tmp_path / "torch")])
        sys.path.insert(0, str(tmp_path / "torch"))
        try:
            spec = importlib.util.spec_from_file_location("paths_model", tmp_path / "torch" / "model.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            torch_model = module.build_model().eval()
            with torch.no_grad():
                tensors["pytorch"] = torch_model(torch.from_numpy(raw[None])).numpy()[0].reshape(SHAPE)
        finally:
            sys.path.remove(str(tmp_path / "torch"))

    reference = tensors["training"]
    np.testing.assert_allclose(reference, expected, rtol=1e-5, atol=1e-5)
    for path, tensor in tensors.items():
        np.testing.assert_array_equal(tensor, reference, err_msg=path)
    assert {"training", "predict", "see inside", "onnx baked", "onnx plain"} <= set(tensors)
