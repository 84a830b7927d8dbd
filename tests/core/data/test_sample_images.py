"""Input images for looking inside a network: shipped photographs and image files."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from core.data import DatasetError, sample_images
from core.data.sample_images import fit_image, load_image_file, load_photo, sample_photo_names


def test_the_shipped_photographs_are_listed_and_load_in_any_input_shape():
    assert sample_photo_names() == ["china.jpg", "flower.jpg"]
    rgb = load_photo("china.jpg", (3, 224, 224))
    assert rgb.shape == (3, 224, 224) and rgb.dtype == np.float32
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0 and rgb.std() > 0.1
    grey = load_photo("flower.jpg", (1, 32, 48))
    assert grey.shape == (1, 32, 48)
    # Any other channel count repeats the greyscale image (networks fed a block's feature map).
    many = load_photo("china.jpg", (5, 16, 16))
    assert many.shape == (5, 16, 16)
    np.testing.assert_array_equal(many[0], many[4])


def test_unknown_photo_and_non_image_shape_are_refused():
    with pytest.raises(DatasetError, match=re.escape("no sample photograph named 'nope.jpg'")):
        load_photo("nope.jpg", (3, 8, 8))
    with pytest.raises(DatasetError, match=r"only feed an input of shape \(C, H, W\)"):
        load_photo("china.jpg", (64,))


def test_image_file_is_centre_cropped_then_resized(tmp_path):
    # A wide image: a red left third, green middle, blue right third. A square crop keeps the green middle.
    pixels = np.zeros((30, 90, 3), np.uint8)
    pixels[:, :30, 0] = pixels[:, 30:60, 1] = pixels[:, 60:, 2] = 255
    path = tmp_path / "wide.png"
    Image.fromarray(pixels).save(path)
    x = load_image_file(path, (3, 10, 10))
    assert x.shape == (3, 10, 10)
    np.testing.assert_allclose(x[:, 5, 5], [0.0, 1.0, 0.0], atol=1e-6)
    grey = load_image_file(path, (1, 10, 10))
    assert grey.shape == (1, 10, 10) and abs(float(grey[0, 5, 5]) - 0.587) < 0.01  # Pillow's luma of pure green


def test_16_bit_grey_keeps_its_brightness():
    image = Image.fromarray(np.full((4, 4), 40000, np.uint16))
    np.testing.assert_allclose(fit_image(image, (1, 4, 4)), (40000 >> 8) / 255, atol=1e-6)


def test_bad_files_name_the_file_and_the_problem(tmp_path):
    missing = tmp_path / "missing.png"
    with pytest.raises(DatasetError, match=f"{missing}: no such file"):
        load_image_file(missing, (1, 8, 8))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DatasetError, match=f"{junk}: is not a readable image"):
        load_image_file(junk, (1, 8, 8))
    with pytest.raises(DatasetError, match="is a folder"):
        load_image_file(tmp_path, (1, 8, 8))


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(sample_images, "MAX_IMAGE_PIXELS", 9_999)
    with pytest.raises(DatasetError, match=r"big.png: is 100×100 = 10,000 pixels, more than the 9,999"):
        load_image_file(path, (1, 8, 8))
