"""Single input images for looking inside a network: shipped photographs and image files.

A network with a large input (224×224 ImageNet models) is best explored on a real
photograph; scikit-learn ships two (``china.jpg``, ``flower.jpg``). Any image file
can be used too. Both are fitted to the network's input the way its Input says
(``resize``): the shorter side resized and the centre cropped, as torchvision's
``Resize`` and ``CenterCrop`` do; or, by default, the centre cropped to the input's
aspect ratio, then resized.

Image files are read under a pixel cap (a small file can declare an enormous image:
a decompression bomb), and every problem is a :class:`DatasetError` that names the
file and what is wrong with it.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from core.data.dataset import DatasetError
from core.shapes import format_shape

MAX_IMAGE_PIXELS = 40_000_000
"""Larger images are refused before they are decoded."""
PHOTO_NAMES = ("china.jpg", "flower.jpg")
"""The photographs scikit-learn ships (``sklearn.datasets.load_sample_images``)."""


def sample_photo_names() -> list[str]:
    """Names of the shipped photographs, e.g. ``["china.jpg", "flower.jpg"]``."""
    return list(PHOTO_NAMES)


def _photo_path(name: str) -> Path:
    if name not in PHOTO_NAMES:
        raise DatasetError(f"no sample photograph named {name!r}; there are {', '.join(PHOTO_NAMES)}")
    # The files behind sklearn.datasets.load_sample_image, found without importing scikit-learn
    # (that takes seconds) and read with the same fitting as any image file.
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"sample photograph {name!r}: scikit-learn is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "images" / name
    if not path.is_file():
        raise DatasetError(f"sample photograph {name!r}: not found in the installed scikit-learn ({path})")
    return path


def _check_shape(shape: tuple[int, ...], where: str) -> tuple[int, int, int]:
    if len(shape) != 3 or min(shape) < 1:
        raise DatasetError(f"{where}: an image can only feed an input of shape (C, H, W), not {format_shape(shape)}")
    return int(shape[0]), int(shape[1]), int(shape[2])


def _centre_crop(image: Image.Image, height: int, width: int) -> Image.Image:
    """The largest centred part of ``image`` with the aspect ratio ``width / height``."""
    source_w, source_h = image.size
    if source_w * height > source_h * width:  # too wide
        crop_w = max(1, round(source_h * width / height))
        left = (source_w - crop_w) // 2
        return image.crop((left, 0, left + crop_w, source_h))
    crop_h = max(1, round(source_w * height / width))
    top = (source_h - crop_h) // 2
    return image.crop((0, top, source_w, top + crop_h))


def _resize_and_crop(image: Image.Image, shorter: int, height: int, width: int) -> Image.Image:
    """torchvision's ``Resize(shorter)`` then ``CenterCrop((height, width))`` on a Pillow image."""
    source_w, source_h = image.size
    if source_w <= source_h:
        size = (shorter, int(shorter * source_h / source_w))
    else:
        size = (int(shorter * source_w / source_h), shorter)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    top = round((image.size[1] - height) / 2.0)  # torchvision rounds half to even too
    left = round((image.size[0] - width) / 2.0)
    return image.crop((left, top, left + width, top + height))


def fit_image(image: Image.Image, shape: tuple[int, ...], where: str = "image", resize: int = 0) -> np.ndarray:
    """Fit a Pillow image to a network input: resize and centre crop, convert channels.

    Parameters
    ----------
    image
        Any Pillow image (its first frame when animated).
    shape
        ``(C, H, W)``: C 1 gives greyscale, C 3 RGB; any other C repeats the greyscale
        image over every channel, so a network whose input is a block's feature map
        (an Inception or ResNet block) can still be explored.
    where
        Names the image in error messages.
    resize
        The Input's ``resize``: the shorter side becomes this many pixels and the centre
        ``H × W`` is cropped. 0: the centre is cropped to the aspect ratio ``W / H`` and resized.

    Returns
    -------
    np.ndarray
        ``(C, H, W)`` float32 in ``[0, 1]``: raw, before the Input's normalisation.
    """
    channels, height, width = _check_shape(shape, where)
    if image.mode.startswith("I;16"):
        # Pillow clamps 16-bit grey at 255 when converting to "L"; keep the top 8 bits instead.
        image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
    image = image.convert("RGB" if channels == 3 else "L")
    # With a resize the crop is already H×W; otherwise crop to the aspect ratio, then resize.
    image = _resize_and_crop(image, resize, height, width) if resize else _centre_crop(image, height, width)
    if image.size != (width, height):
        shrinking = image.size[0] > width or image.size[1] > height
        # Lanczos keeps a shrunken photograph sharp without aliasing; bilinear is kinder when enlarging.
        method = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BILINEAR
        image = image.resize((width, height), method)
    pixels = np.asarray(image, dtype=np.float32) / np.float32(255)
    if channels == 3:
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))
    return np.ascontiguousarray(np.repeat(pixels[None], channels, axis=0))


def load_image_file(path: str | os.PathLike[str], shape: tuple[int, ...], resize: int = 0) -> np.ndarray:
    """Read an image file (PNG, JPEG, BMP, GIF, WebP, TIFF …) fitted to the input ``shape``.

    Parameters
    ----------
    path
        The file.
    shape
        ``(C, H, W)`` of the network's input; see :func:`fit_image`.
    resize
        The Input's ``resize``; see :func:`fit_image`.

    Returns
    -------
    np.ndarray
        ``(C, H, W)`` float32 in ``[0, 1]``.

    Raises
    ------
    DatasetError
        Naming the file: it cannot be opened, is not an image, is damaged, or has more
        than :data:`MAX_IMAGE_PIXELS` pixels.
    """
    file = Path(path)
    _check_shape(shape, str(file))
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own cap and twice that; a bomb is refused either way.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                width, height = image.size  # from the header: nothing is decoded yet
                if width * height > MAX_IMAGE_PIXELS:
                    raise DatasetError(
                        f"{file}: is {width}×{height} = {width * height:,} pixels, more than the "
                        f"{MAX_IMAGE_PIXELS:,} an input image may have"
                    )
                image.seek(0)
                oriented = ImageOps.exif_transpose(image)  # photographs taken upright show upright
                return fit_image(oriented, shape, str(file), resize)
    except DatasetError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DatasetError(f"{file}: declares more pixels than an input image may have (decompression bomb)") from None
    except FileNotFoundError:
        raise DatasetError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{file}: is a folder, not an image file") from None
    except PermissionError:
        raise DatasetError(f"{file}: cannot be read (permission denied)") from None
    except Exception as exc:  # noqa: BLE001 — see below
        # Pillow's decoders fail on damaged data with OSError, ValueError, SyntaxError, struct.error, ….
        reason = str(exc) or type(exc).__name__
        raise DatasetError(f"{file}: is not a readable image: {reason}") from None


def load_photo(name: str, shape: tuple[int, ...], resize: int = 0) -> np.ndarray:
    """Return a shipped photograph fitted to the input ``shape``.

    Parameters
    ----------
    name
        One of :func:`sample_photo_names`.
    shape
        ``(C, H, W)``; see :func:`fit_image`.
    resize
        The Input's ``resize``; see :func:`fit_image`.

    Returns
    -------
    np.ndarray
        ``(C, H, W)`` float32 in ``[0, 1]``.

    Raises
    ------
    DatasetError
        When the name is unknown, scikit-learn is missing or the shape is not an image's.
    """
    return load_image_file(_photo_path(name), shape, resize)
