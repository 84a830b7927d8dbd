"""`main.py predict` on image files: fitted as the Input says, normalised by the network, top class printed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from PIL import Image

import main
from core.data.sample_images import load_image_file
from core.engine.model import Model
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import dumps_network, load_network
from core.layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from tests.core.helpers import conv
from tests.core.onnx_io.helpers import randomize, relative_difference, run_onnx

SHAPE = (3, 8, 8)
RESIZE = 10


def cli(capsys, *argv):
    status = main.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def classifier(folder: Path) -> tuple[Path, Model]:
    """A small classifier with an ImageNet-style preprocessing, saved with its weights beside it."""
    doc = NetworkDocument("classifier")
    entry = doc.add_node(
        "Input",
        {"shape": list(SHAPE), "resize": RESIZE, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        name="image",
    )
    layers = [conv(4, 3, padding="same", name="conv"), ("ReLU", None, "relu"), ("Flatten", None, "flat")]
    doc.chain(entry.id, [*layers, ("Dense", {"units": 5}, "dense"), ("Softmax", None, "softmax")])
    model = Model(doc, seed=0)
    randomize(model, seed=2)
    path = folder / "classifier.json"
    path.write_text(dumps_network(doc), encoding="utf-8")
    model.save_weights(path.with_suffix(".npz"))
    return path, model


def write_image(path: Path, size: tuple[int, int], seed: int) -> Path:
    """An RGB image of ``size`` (width, height) with random pixels, in the format the suffix says."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def expected(model: Model, files: list[Path]) -> np.ndarray:
    """What the network gives for the raw, fitted pixels of ``files`` ``(N, 5)``."""
    return model.forward(np.stack([load_image_file(file, SHAPE, resize=RESIZE) for file in files]))


def top_lines(files: list[Path], outputs: np.ndarray) -> list[str]:
    return [f"{file}: top class {int(np.argmax(y))} (score {float(y.max()):.4g})" for file, y in zip(files, outputs)]


def test_image_files_give_what_the_network_gives_for_their_raw_pixels(capsys, tmp_path):
    network, model = classifier(tmp_path)
    files = [
        write_image(tmp_path / "wide.png", (20, 12), 0),
        write_image(tmp_path / "tall.jpg", (9, 15), 1),
        write_image(tmp_path / "small.bmp", (8, 8), 2),
    ]
    status, out, err = cli(capsys, "predict", network, "--input", *files, "-o", tmp_path / "y.npy")
    assert (status, err) == (0, "")
    outputs = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(outputs, expected(model, files))
    lines = out.splitlines()
    assert lines[0] == f"wrote {tmp_path / 'y.npy'}: 3 outputs of shape 5"
    assert lines[1:] == top_lines(files, outputs)


def test_a_folder_is_read_in_name_order_and_in_batches(capsys, tmp_path):
    network, model = classifier(tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    files = [write_image(folder / name, (11 + i, 13), i) for i, name in enumerate(["c.png", "a.png", "b.webp"])]
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    (folder / "sub.png").mkdir()  # a folder with an image's name is no image file
    status, out, err = cli(capsys, "predict", network, "--input", folder, "-o", tmp_path / "y.npy", "--batch-size", "2")
    assert (status, err) == (0, "")
    in_order = sorted(files, key=lambda file: file.name)
    outputs = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(outputs, expected(model, in_order), rtol=1e-6, atol=1e-7)
    assert out.splitlines()[1:] == top_lines(in_order, outputs)


def test_npy_arrays_are_raw_samples_as_before(capsys, tmp_path):
    network, model = classifier(tmp_path)
    x = np.random.default_rng(5).random((2, *SHAPE), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    status, out, err = cli(capsys, "predict", network, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert (status, err) == (0, "")
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), model.forward(x))
    assert out == f"wrote {tmp_path / 'y.npy'}: 2 outputs of shape 5\n"


def refused(capsys, tmp_path, *argv) -> str:
    """The error of a predict that must fail: exit 2, one line, nothing written."""
    status, out, err = cli(capsys, "predict", *argv, "-o", tmp_path / "y.npy")
    assert status == 2 and out == "" and not (tmp_path / "y.npy").exists()
    assert err.startswith("layerwise: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_errors_name_the_file(capsys, tmp_path):
    network, _ = classifier(tmp_path)
    good = write_image(tmp_path / "good.png", (10, 10), 0)
    missing = tmp_path / "missing.png"
    err = refused(capsys, tmp_path, network, "--input", good, missing)
    assert err == f"layerwise: {missing}: no such file\n"
    text = tmp_path / "notes.txt"
    text.write_text("not an image", encoding="utf-8")
    err = refused(capsys, tmp_path, network, "--input", good, text)
    assert err.startswith(f"layerwise: {text}: is not a readable image")
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(good.read_bytes()[:60])
    assert refused(capsys, tmp_path, network, "--input", damaged).startswith(f"layerwise: {damaged}: ")
    empty = tmp_path / "empty"
    empty.mkdir()
    err = refused(capsys, tmp_path, network, "--input", empty)
    assert err.startswith(f"layerwise: {empty}: the folder holds no image files")
    np.save(tmp_path / "x.npy", np.zeros((1, *SHAPE), np.float32))
    err = refused(capsys, tmp_path, network, "--input", tmp_path / "x.npy", good)
    assert err == f"layerwise: {tmp_path / 'x.npy'}: a .npy array is read alone; give it as the only --input\n"


def test_image_files_need_an_image_input(capsys, tmp_path):
    image = write_image(tmp_path / "photo.png", (10, 10), 0)
    doc = NetworkDocument("features")
    entry = doc.add_node("Input", {"shape": [6]}, name="features")
    doc.chain(entry.id, [("Dense", {"units": 2}, "dense")])
    network = tmp_path / "features.json"
    network.write_text(dumps_network(doc), encoding="utf-8")
    err = refused(capsys, tmp_path, network, "--input", image)
    assert err == (
        f"layerwise: {image}: image files need a network with an image input (C×H×W); 'features' has shape 6\n"
    )


def test_a_grey_input_reads_colour_files_as_grey(capsys, tmp_path):
    image = write_image(tmp_path / "photo.png", (30, 30), 0)
    weights = tmp_path / "lenet.npz"
    model = Model(load_network(example_path("lenet5")), seed=1)
    model.save_weights(weights)
    status, out, err = cli(
        capsys, "predict", "lenet5", "--weights", weights, "--input", image, "-o", tmp_path / "y.npy"
    )
    assert (status, err) == (0, "")
    outputs = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(outputs, model.forward(load_image_file(image, (1, 28, 28))[None]))
    assert out.splitlines()[1:] == top_lines([image], outputs)


def test_an_export_with_baked_preprocessing_reads_the_same_pixels(capsys, tmp_path):
    network, model = classifier(tmp_path)
    files = [write_image(tmp_path / f"{i}.png", (12, 10 + i), i) for i in range(2)]
    status, out, err = cli(
        capsys,
        "export",
        network,
        "--weights",
        network.with_suffix(".npz"),
        "--bake-preprocessing",
        "-o",
        tmp_path / "m.onnx",
    )
    assert (status, err) == (0, "")
    assert out.splitlines()[1] == (
        f"preprocessing: {model.input_node.layer.preprocessing.describe()}; "
        "normalised in the graph: it reads raw RGB pixels in 0..1"
    )
    assert cli(capsys, "predict", network, "--input", *files, "-o", tmp_path / "y.npy")[0] == 0
    raw = np.stack([load_image_file(file, SHAPE, resize=RESIZE) for file in files])
    assert relative_difference(run_onnx(onnx.load(str(tmp_path / "m.onnx")), raw), np.load(tmp_path / "y.npy")) <= 1e-6
