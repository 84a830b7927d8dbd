"""`main.py explain`: maps equal to core's, pictures, and one-line refusals that write nothing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import main
from core.analysis.explain import explain
from core.engine.model import Model
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import dumps_network, load_network


def cli(capsys, *argv):
    status = main.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def digits(tmp_path):
    """The digits CNN with saved weights and one sample."""
    model = Model(load_network(example_path("digits_cnn")), seed=4)
    weights = tmp_path / "digits.npz"
    model.save_weights(weights)
    x = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return model, weights, x


@pytest.mark.parametrize(
    ("method", "options", "core_options"),
    [
        ("gradcam", [], {}),
        ("gradcam", ["--layer", "relu2", "--class", "5"], {"layer_id": "n5", "class_index": 5}),
        ("saliency", ["--class", "2"], {"class_index": 2}),
        ("smoothgrad", [], {}),
        ("occlusion", ["--window", "3", "--stride", "2"], {"window": 3, "stride": 2}),
    ],
)
def test_maps_equal_core_and_the_top_classes_are_printed(capsys, tmp_path, digits, method, options, core_options):
    model, weights, x = digits
    out_path = tmp_path / "map.npy"
    status, out, err = cli(
        capsys, "explain", "digits_cnn", "--weights", weights, "--input", tmp_path / "x.npy", "--method", method,
        *options, "-o", out_path,
    )  # fmt: skip
    assert status == 0, err
    written = np.load(out_path)
    assert written.shape == (8, 8) and written.dtype == np.float32
    expected = explain(model, x[0:1], method, **core_options)
    np.testing.assert_allclose(written, expected.heatmap.astype(np.float32), rtol=1e-5, atol=1e-7)
    assert f"for class {expected.class_index}" in out
    for index, probability in expected.top:
        assert f"{index:>5}  {probability:7.2%}" in out
    if method == "gradcam":
        assert "'relu2' (32×8×8)" in out if options else "'pool' (32×4×4)" in out


@pytest.mark.parametrize("shape", [(8, 8), (1, 1, 8, 8)])
def test_npy_of_one_channel_or_a_batch_of_one(capsys, tmp_path, digits, shape):
    _, weights, x = digits
    np.save(tmp_path / "other.npy", x.reshape(shape))
    common = ["explain", "digits_cnn", "--weights", weights, "--method", "saliency"]
    assert cli(capsys, *common, "--input", tmp_path / "x.npy", "-o", tmp_path / "a.npy")[0] == 0
    assert cli(capsys, *common, "--input", tmp_path / "other.npy", "-o", tmp_path / "b.npy")[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_image_file_is_converted_cropped_resized_and_scaled(capsys, tmp_path):
    rng = np.random.default_rng(1)
    pixels = (rng.random((40, 50, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    # As See inside fits a photograph: the centre square (columns 5..44), shrunk with Lanczos.
    square = Image.fromarray(pixels).crop((5, 0, 45, 40))
    expected_input = {
        "cifar_cnn": square.resize((32, 32), Image.Resampling.LANCZOS),
        "lenet5": square.convert("L").resize((28, 28), Image.Resampling.LANCZOS),
    }
    for network, picture in expected_input.items():
        array = np.asarray(picture, dtype=np.float32) / 255
        x = array.transpose(2, 0, 1) if array.ndim == 3 else array[None]
        arguments = ["--input", tmp_path / "photo.png", "--method", "saliency", "-o", tmp_path / "m.npy"]
        status, _, err = cli(capsys, "explain", network, *arguments)
        assert status == 0, err
        model = Model(load_network(example_path(network)))  # fresh weights: the same seed as the command's
        np.testing.assert_allclose(np.load(tmp_path / "m.npy"), explain(model, x, "saliency").heatmap, rtol=1e-5)


def test_png_is_a_heat_map_over_the_input(capsys, tmp_path, digits):
    _, weights, _ = digits
    status, out, _ = cli(
        capsys, "explain", "digits_cnn", "--weights", weights, "--input", tmp_path / "x.npy", "--method", "gradcam",
        "-o", tmp_path / "map.npy", "--png", tmp_path / "map.png",
    )  # fmt: skip
    assert status == 0 and "map.png" in out
    with Image.open(tmp_path / "map.png") as picture:
        assert picture.format == "PNG" and picture.mode == "RGB" and picture.size == (256, 256)
        colours = np.asarray(picture)
    assert len(np.unique(colours.reshape(-1, 3), axis=0)) > 1


def write_vector_network(path):
    document = NetworkDocument("vector")
    entry = document.add_node("Input", {"shape": [6]}, name="features")
    document.chain(entry.id, [("Dense", {"units": 3}, "scores")])
    path.write_text(dumps_network(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--method", "gradcam", "--layer", "nope"], ["'nope'", "relu2"]),
        (["--method", "gradcam", "--layer", "fc1"], ["'fc1'", "64"]),
        (["--method", "saliency", "--layer", "conv1"], ["Grad-CAM"]),
        (["--method", "gradcam", "--class", "10"], ["class 10"]),
        (["--method", "occlusion", "--window", "9"], ["window 9"]),
        (["--method", "occlusion", "--stride", "0"], ["stride"]),
        (["--method", "gradcam", "--window", "3"], ["--window", "occlusion"]),
        (["--method", "saliency", "--input", "{tmp}/wrong.npy"], ["wrong.npy", "3×8×8", "1×8×8"]),
        (["--method", "saliency", "--input", "{tmp}/text.png"], ["text.png", "not a readable image"]),
        (["--method", "saliency", "--input", "{tmp}/absent.npy"], ["absent.npy"]),
        (["--method", "saliency", "--weights", "{tmp}/absent.npz"], ["absent.npz"]),
        (["--method", "saliency", "--png", "{tmp}/map.npy"], ["different files"]),
        (["--method", "saliency", "--png", "{tmp}/no/such/map.png"], ["no/such", "does not exist"]),
    ],
)
def test_refusals_are_one_line_exit_2_and_write_nothing(capsys, tmp_path, digits, arguments, words):
    _, weights, _ = digits
    np.save(tmp_path / "wrong.npy", np.zeros((3, 8, 8), dtype=np.float32))
    (tmp_path / "text.png").write_text("not a picture")
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    if "--weights" not in arguments:
        arguments += ["--weights", str(weights)]
    if "--input" not in arguments:
        arguments += ["--input", str(tmp_path / "x.npy")]
    before = set(tmp_path.iterdir())
    status, out, err = cli(capsys, "explain", "digits_cnn", *arguments, "-o", tmp_path / "map.npy")
    assert status == 2 and out == ""
    assert err.startswith("layerwise: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err
    assert set(tmp_path.iterdir()) == before


def test_a_network_without_image_input_is_refused(capsys, tmp_path):
    network = write_vector_network(tmp_path / "vector.json")
    np.save(tmp_path / "x.npy", np.zeros(6, dtype=np.float32))
    status, _, err = cli(
        capsys, "explain", network, "--input", tmp_path / "x.npy", "--method", "saliency", "-o", tmp_path / "m.npy"
    )
    assert status == 2 and "'features'" in err and "image input" in err
    assert not (tmp_path / "m.npy").exists()


def test_unknown_method_is_refused_by_the_parser(capsys, tmp_path, digits):
    with pytest.raises(SystemExit) as raised:
        cli(capsys, "explain", "digits_cnn", "--input", tmp_path / "x.npy", "--method", "lime", "-o", tmp_path / "m")
    assert raised.value.code == 2
    assert "gradcam" in capsys.readouterr().err
