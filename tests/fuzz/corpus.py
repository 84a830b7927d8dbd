"""Valid seed inputs for every fuzzed loader, generated in code.

Each seed is a :class:`Payload`: the files of one case (relative path → bytes) and
the path the loader is pointed at (a file, or ``""`` for the folder itself). Seeds are
kept small (a few KB) so that mutations hit headers and structure rather than bulk
data, and each is checked to load before it is used.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import pickle
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.examples import example_path

LOADERS = (
    "network_file",
    "onnx",
    "weights",
    "dataset_idx",
    "dataset_npz",
    "dataset_cifar",
    "dataset_images",
)
"""Names of the fuzzed loaders, as ``bench/fuzz.py`` reports them."""

EXAMPLE_NETWORKS = ("mlp", "lenet5", "resnet_block", "inception_block")
"""Shipped examples used as network-file seeds: plain chains, a residual block, concatenation."""


@dataclass(frozen=True)
class Payload:
    """The files of one fuzz case.

    Attributes
    ----------
    files
        Relative path (``/``-separated) → content. Paths never leave the case's folder.
    target
        The path handed to the loader, relative to the case folder; ``""`` is the folder.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    target: str = ""

    def with_file(self, name: str, content: bytes) -> Payload:
        """A copy with ``name`` set to ``content``."""
        return Payload({**self.files, name: content}, self.target)

    def without_file(self, name: str) -> Payload:
        """A copy without ``name`` (the target may then be missing: a valid refusal)."""
        return Payload({k: v for k, v in self.files.items() if k != name}, self.target)

    @property
    def size(self) -> int:
        """Total bytes of all files."""
        return sum(len(content) for content in self.files.values())


# -- networks -----------------------------------------------------------------------------

TINY_NETWORK: dict[str, Any] = {
    "format": "layerwise.network",
    "version": 1,
    "name": "tiny",
    "description": "Small enough to fuzz fast; covers convolution, normalisation, a residual Add and Concat.",
    "layers": [
        {"name": "input", "type": "Input", "params": {"shape": [1, 8, 8]}},
        {
            "name": "conv",
            "type": "Conv2D",
            "params": {"filters": 2, "kernel_size": 3, "padding": 1},
            "inputs": ["input"],
        },
        {"name": "bn", "type": "BatchNorm", "params": {}, "inputs": ["conv"]},
        {"name": "relu", "type": "ReLU", "params": {}, "inputs": ["bn"]},
        {"name": "conv2", "type": "Conv2D", "params": {"filters": 2, "kernel_size": 1}, "inputs": ["relu"]},
        {"name": "add", "type": "Add", "params": {}, "inputs": ["relu", "conv2"]},
        {"name": "cat", "type": "Concat", "params": {}, "inputs": ["add", "relu"]},
        {"name": "pool", "type": "MaxPool2D", "params": {"pool_size": 2}, "inputs": ["cat"]},
        {"name": "flat", "type": "Flatten", "params": {}, "inputs": ["pool"]},
        {"name": "dense", "type": "Dense", "params": {"units": 3}, "inputs": ["flat"]},
        {"name": "softmax", "type": "Softmax", "params": {}, "inputs": ["dense"]},
    ],
}
"""The network whose ONNX export and weights file are fuzzed (and which weights are loaded into)."""


def network_text(data: Any) -> bytes:
    """``data`` as the UTF-8 text of a network file."""
    return json.dumps(data, indent=1).encode("utf-8")


@functools.cache
def tiny_model() -> Any:
    """The compiled :data:`TINY_NETWORK` (seed 0); the weights loader's target."""
    from core.engine.model import Model
    from core.graph.fileformat import network_from_dict

    return Model(network_from_dict(TINY_NETWORK), seed=0)


def network_seeds() -> list[Payload]:
    """Shipped example files and the tiny network, each as ``net.json``."""
    texts = [example_path(name).read_bytes() for name in EXAMPLE_NETWORKS] + [network_text(TINY_NETWORK)]
    return [Payload({"net.json": text}, "net.json") for text in texts]


# -- ONNX ----------------------------------------------------------------------------------


def onnx_bytes(opset: int = 17) -> bytes:
    """The tiny network exported to ONNX at ``opset``, serialised."""
    from core.onnx_io.export import export_model

    return export_model(tiny_model(), opset).SerializeToString()


@functools.cache
def onnx_seeds() -> tuple[Payload, ...]:
    """The tiny network at opsets 9 and 17 (different encodings of pads, reshapes and softmax)."""
    return tuple(Payload({"model.onnx": onnx_bytes(opset)}, "model.onnx") for opset in (9, 17))


# -- weights --------------------------------------------------------------------------------


def weights_bytes() -> bytes:
    """The tiny model's weights as :meth:`Model.save_weights` writes them."""
    buffer = io.BytesIO()
    np.savez(buffer, **tiny_model().state_dict())
    return buffer.getvalue()


@functools.cache
def weights_seeds() -> tuple[Payload, ...]:
    """The weights file written by ``save_weights`` itself (read back from disk)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.npz"
        tiny_model().save_weights(path)
        return (Payload({"weights.npz": path.read_bytes()}, "weights.npz"),)


# -- datasets -------------------------------------------------------------------------------


def _rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic ``0x0000080N``, big-endian sizes, data."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@functools.cache
def idx_seeds() -> tuple[Payload, ...]:
    """An MNIST-style folder (train and t10k), a gzipped one, and a single images file."""
    rng = _rng()
    images, labels = rng.integers(0, 256, (6, 4, 4)), rng.integers(0, 10, 6)
    test_images, test_labels = rng.integers(0, 256, (2, 4, 4)), rng.integers(0, 10, 2)
    plain = {
        "train-images-idx3-ubyte": idx_bytes(images),
        "train-labels-idx1-ubyte": idx_bytes(labels),
        "t10k-images-idx3-ubyte": idx_bytes(test_images),
        "t10k-labels-idx1-ubyte": idx_bytes(test_labels),
    }
    zipped = {f"{name}.gz": gzip.compress(content, mtime=0) for name, content in plain.items()}
    single = {"digits-images-idx3-ubyte": idx_bytes(images), "digits-labels-idx1-ubyte": idx_bytes(labels)}
    return (Payload(plain), Payload(zipped), Payload(single, "digits-images-idx3-ubyte"))


def npz_bytes(compressed: bool = False, **arrays: np.ndarray) -> bytes:
    """``arrays`` as numpy.savez (or savez_compressed) writes them."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


@functools.cache
def npz_seeds() -> tuple[Payload, ...]:
    """uint8 images with a test split, compressed float features, and channels-last images."""
    rng = _rng()
    split = npz_bytes(
        x_train=rng.integers(0, 256, (6, 4, 4), dtype=np.uint8),
        y_train=rng.integers(0, 3, 6),
        x_test=rng.integers(0, 256, (2, 4, 4), dtype=np.uint8),
        y_test=rng.integers(0, 3, 2),
    )
    features = npz_bytes(True, x=rng.standard_normal((5, 3)).astype(np.float32), y=np.array([0.0, 1.0, 1.0, 2.0, 0.0]))
    channels_last = npz_bytes(x=rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8), y=np.array([[1], [0], [1]]))
    return tuple(Payload({"data.npz": content}, "data.npz") for content in (split, features, channels_last))


def python2_pickle(value: Any) -> bytes:
    """``value`` pickled as Python 2's cPickle wrote the original CIFAR files (protocol 2, str opcodes).

    Supports dicts, lists, byte strings, small non-negative ints and 2-D uint8 arrays,
    which is all a batch holds. Python 3 would pickle bytes through ``_codecs.encode``,
    which the restricted unpickler rightly refuses.
    """

    def string(raw: bytes) -> bytes:
        return b"U" + bytes([len(raw)]) + raw if len(raw) < 256 else b"T" + struct.pack("<I", len(raw)) + raw

    def integer(number: int) -> bytes:
        return b"K" + bytes([number]) if 0 <= number < 256 else b"J" + struct.pack("<i", number)

    def encode(item: Any) -> bytes:
        if isinstance(item, dict):
            return b"}(" + b"".join(encode(k) + encode(v) for k, v in item.items()) + b"u"
        if isinstance(item, list):
            return b"](" + b"".join(encode(v) for v in item) + b"e"
        if isinstance(item, bytes):
            return string(item)
        if isinstance(item, int):
            return integer(item)
        if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 2:
            dtype = b"cnumpy\ndtype\n" + string(b"u1") + integer(0) + integer(1) + b"\x87R"
            dtype += b"(" + integer(3) + string(b"|") + b"NNN" + integer(-1) + integer(-1) + integer(0) + b"tb"
            array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + integer(0) + b"\x85"
            array += string(b"b") + b"\x87R"
            shape = integer(item.shape[0]) + integer(item.shape[1]) + b"\x86"
            return array + b"(" + integer(1) + shape + dtype + b"\x89" + string(item.tobytes()) + b"tb"
        raise TypeError(f"cannot pickle {type(item).__name__} the Python 2 way")

    return b"\x80\x02" + encode(value) + b"."


def cifar_content(count: int, seed: int) -> dict[bytes, Any]:
    """A CIFAR-10 batch of ``count`` random images, with bytes keys as the originals."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"training batch",
        b"labels": [int(v) for v in rng.integers(0, 10, count)],
        b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
    }


@functools.cache
def cifar_seeds() -> tuple[Payload, ...]:
    """A folder with two batches, a test batch and names in the original format; a protocol-4 batch file."""
    names = python2_pickle({b"label_names": [f"class{k}".encode() for k in range(10)], b"num_vis": 3072})
    folder = {
        "data_batch_1": python2_pickle(cifar_content(2, 1)),
        "data_batch_2": python2_pickle(cifar_content(1, 2)),
        "test_batch": python2_pickle(cifar_content(1, 3)),
        "batches.meta": names,
    }
    # Protocol 4 stores bytes natively; protocol 5 would pickle arrays through _frombuffer, which is refused.
    single = {"data_batch_1": pickle.dumps(cifar_content(2, 4), protocol=4)}
    return (Payload(folder), Payload(single, "data_batch_1"))


def image_bytes(image_format: str, mode: str, size: tuple[int, int], seed: int) -> bytes:
    """One small image with random pixels in ``image_format`` (a Pillow format name)."""
    rng = np.random.default_rng(seed)
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], *channels), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, format=image_format)
    return buffer.getvalue()


@functools.cache
def image_seeds() -> tuple[Payload, ...]:
    """Image folders of two classes in every accepted format (PNG, JPEG, BMP, GIF, WebP)."""
    grey = {
        "cats/a.png": image_bytes("PNG", "L", (6, 5), 1),
        "cats/b.bmp": image_bytes("BMP", "L", (6, 5), 2),
        "dogs/c.gif": image_bytes("GIF", "L", (6, 5), 3),
    }
    colour = {
        "red/a.jpg": image_bytes("JPEG", "RGB", (8, 8), 4),
        "red/b.webp": image_bytes("WEBP", "RGB", (8, 8), 5),
        "blue/c.png": image_bytes("PNG", "RGBA", (7, 8), 6),
    }
    return (Payload(grey), Payload(colour))


def seeds(loader: str) -> tuple[Payload, ...]:
    """The valid seed inputs of ``loader`` (one of :data:`LOADERS`)."""
    makers = {
        "network_file": lambda: tuple(network_seeds()),
        "onnx": onnx_seeds,
        "weights": weights_seeds,
        "dataset_idx": idx_seeds,
        "dataset_npz": npz_seeds,
        "dataset_cifar": cifar_seeds,
        "dataset_images": image_seeds,
    }
    return makers[loader]()
