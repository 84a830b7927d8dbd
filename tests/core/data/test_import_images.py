"""Image folders: one sub-folder per class, decoded with Pillow under a pixel cap."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.data import DatasetError, import_dataset, importers


def save_image(path, size=(6, 4), mode="L", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode in ("L", "I;16") else (value, 255 - value, 0)
    Image.new(mode, size, colour).save(path)
    return path


def test_greyscale_folder(tmp_path):
    save_image(tmp_path / "cats" / "a.png", value=255)
    save_image(tmp_path / "cats" / "b.PNG", value=0)
    save_image(tmp_path / "dogs" / "c.bmp", value=51)
    (tmp_path / "dogs" / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden").mkdir()
    data = import_dataset(tmp_path)
    assert data.x.shape == (3, 1, 4, 6) and data.x.dtype == np.float32
    assert data.class_names == ["cats", "dogs"]
    assert data.y.tolist() == [0, 0, 1]
    np.testing.assert_allclose(data.x.reshape(3, -1).mean(axis=1), [1.0, 0.0, 0.2], atol=1e-6)
    assert data.name == tmp_path.name and data.test is None


def test_any_colour_image_makes_the_folder_rgb_and_sizes_follow_the_majority(tmp_path):
    save_image(tmp_path / "a" / "1.png", size=(8, 8))
    save_image(tmp_path / "a" / "2.png", size=(8, 8))
    save_image(tmp_path / "b" / "3.jpg", size=(16, 12), mode="RGB", value=200)
    save_image(tmp_path / "b" / "4.gif", size=(8, 8), mode="RGB")
    data = import_dataset(tmp_path)
    assert data.x.shape == (4, 3, 8, 8)
    # Greyscale images are repeated into three equal channels; the big JPEG is resized, keeping its colour.
    np.testing.assert_allclose(data.x[0, 0], data.x[0, 2])
    red, green = data.x[2, 0].mean(), data.x[2, 1].mean()
    assert abs(red - 200 / 255) < 0.03 and abs(green - 55 / 255) < 0.03


def test_rgba_and_16_bit_grey_images(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    Image.new("RGBA", (5, 5), (10, 20, 30, 0)).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.full((5, 5), 40000, np.uint16)).save(tmp_path / "b" / "y.png")
    data = import_dataset(tmp_path)
    assert data.sample_shape == (3, 5, 5)
    np.testing.assert_allclose(data.x[0, :, 0, 0], np.array([10, 20, 30]) / 255, atol=1e-6)
    # 16-bit grey keeps its brightness rather than clipping to white.
    np.testing.assert_allclose(data.x[1, :, 0, 0], (40000 >> 8) / 255, atol=1e-6)


def test_corrupt_image_is_named(tmp_path):
    save_image(tmp_path / "a" / "good.png")
    save_image(tmp_path / "b" / "good.png")
    broken = tmp_path / "b" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    with pytest.raises(DatasetError) as info:
        import_dataset(tmp_path)
    assert str(info.value).startswith(f"{broken}: is not a readable image")


def test_truncated_image_is_named(tmp_path):
    save_image(tmp_path / "a" / "good.png")
    truncated = tmp_path / "b" / "cut.png"
    truncated.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"cut\.png: is not a readable image"):
        import_dataset(tmp_path)


@pytest.mark.parametrize("side", [7, 20])
def test_images_over_the_pixel_cap_are_refused(tmp_path, monkeypatch, side):
    # 7×7 is just over the cap (Pillow only warns), 20×20 over twice the cap (Pillow refuses).
    monkeypatch.setattr(importers, "MAX_IMAGE_PIXELS", 30)
    # The import lowers Pillow's process-wide limit; restore it after the test.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    save_image(tmp_path / "a" / "small.png", size=(5, 5))
    save_image(tmp_path / "b" / "big.png", size=(side, side))
    with pytest.raises(DatasetError, match=r"big\.png: is larger than 30 pixels, the limit for images in a dataset"):
        import_dataset(tmp_path)


def test_empty_classes_are_skipped(tmp_path):
    save_image(tmp_path / "a" / "1.png")
    save_image(tmp_path / "c" / "1.png")
    (tmp_path / "b").mkdir()
    assert import_dataset(tmp_path).class_names == ["a", "c"]


def test_fewer_than_two_classes_with_images(tmp_path):
    save_image(tmp_path / "only" / "1.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="only 'only' has images; an image folder needs at least 2 classes"):
        import_dataset(tmp_path)


@pytest.mark.parametrize("layout", ["missing", "empty", "loose files", "unknown file"])
def test_unrecognised_paths_list_the_supported_formats(tmp_path, layout):
    path = tmp_path / "data"
    if layout == "empty":
        path.mkdir()
    elif layout == "loose files":
        save_image(path / "1.png")
    elif layout == "unknown file":
        path = tmp_path / "data.csv"
        path.write_text("x,y\n1,2\n")
    with pytest.raises(DatasetError) as info:
        import_dataset(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "Layerwise imports an MNIST-style IDX folder" in message and "a .npz file" in message
    assert "CIFAR-10" in message and "one sub-folder of images" in message
