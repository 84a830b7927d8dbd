"""``layerwise export``, ``import`` and ``predict``: ONNX in and out, and batch inference."""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from cli.common import load_model_argument
from core.atomic import atomic_write_bytes
from core.data.sample_images import load_image_file
from core.engine.model import Model
from core.errors import LayerwiseError
from core.graph.fileformat import dumps_network
from core.onnx_io.export import DEFAULT_OPSET, input_preprocessing, save_onnx
from core.onnx_io.importer import import_onnx
from core.safe_npz import float_range_problem
from core.shapes import format_shape, is_image

EXIT_OK = 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="write a network (with its weights) as an ONNX model",
        description="Export NETWORK to ONNX: checked with onnx.checker, dynamic batch, layers named as in "
        "Layerwise, BatchNorm in inference form, no Dropout.",
    )
    export.add_argument("network", help="a network file or the name of a shipped example")
    export.add_argument("--weights", help="trained weights (.npz from train --save); default: fresh initial weights")
    export.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    export.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    export.add_argument(
        "--bake-preprocessing",
        action="store_true",
        help="write the Input's normalisation (channel order, value range, mean, std) into the graph, so that it "
        "reads raw RGB pixels in 0..1 as Layerwise does; by default the graph reads the normalised tensor, as "
        "torchvision's and the ONNX model zoo's models do. Either way the model's metadata describes the "
        "preprocessing",
    )
    export.set_defaults(handler=run_export)

    imported = commands.add_parser(
        "import",
        help="turn an ONNX model into a Layerwise network file and weights",
        description="Import MODEL.onnx as a network file (-o) with its weights beside it (same name, .npz).",
    )
    imported.add_argument("model", help="an .onnx file")
    imported.add_argument("-o", "--output", required=True, help="the network file to write (.json)")
    imported.add_argument(
        "--input-shape",
        type=_sample_shape,
        help="the sample shape C,H,W (or F) for a model whose input leaves sizes open, as torch.onnx.export "
        "with dynamic axes writes it (e.g. 3,224,224); the sizes the model fixes must be kept",
    )
    imported.set_defaults(handler=run_import)

    predict = commands.add_parser(
        "predict",
        help="run a network in inference mode on an array or on image files",
        description="Run NETWORK on --input and write the outputs (one per sample, in order) as a .npy array. "
        "The input is a .npy array of raw samples (N×C×H×W or N×features, like a dataset's), or image files: "
        "each is resized and centre-cropped as the Input says (its resize) to pixels in 0..1 (RGB, or grey for "
        "one channel), which the network normalises itself; the top class of each is printed.",
    )
    predict.add_argument("network", help="a network file or the name of a shipped example")
    predict.add_argument("--weights", help="weights (.npz); default: the .npz beside the network file if there is one")
    predict.add_argument(
        "--input",
        required=True,
        nargs="+",
        metavar="INPUT",
        help="a .npy array; or image files (PNG, JPEG, BMP, GIF, WebP, TIFF …) or folders of them (their images "
        "sorted by name), for a network with an image input",
    )
    predict.add_argument("-o", "--output", required=True, help="the .npy file to write")
    predict.add_argument("--batch-size", type=int, default=256, help="samples per forward pass (default 256)")
    predict.set_defaults(handler=run_predict)


def run_export(args: argparse.Namespace) -> int:
    model, weights = load_model_argument(args.network, args.weights)
    exported = save_onnx(model, args.output, args.opset, bake_preprocessing=args.bake_preprocessing)
    print(
        f"wrote {args.output}: {len(exported.graph.node)} nodes, opset {args.opset}, IR {exported.ir_version}, {weights}"
    )
    preprocessing = input_preprocessing(model)
    if preprocessing.normalises:
        reads = (
            "normalised in the graph: it reads raw RGB pixels in 0..1"
            if args.bake_preprocessing
            else "the graph reads normalised input (--bake-preprocessing puts the normalisation into it)"
        )
        print(f"preprocessing: {preprocessing.describe()}; {reads}")
    return EXIT_OK


def _sample_shape(text: str) -> list[int]:
    """``"3,224,224"`` (or ``3x224x224``, ``3 224 224``) → ``[3, 224, 224]``, for argparse."""
    parts = [part for part in re.split(r"[\s,×xX]+", text.strip()) if part]
    try:
        sizes = [int(part) for part in parts]
    except ValueError:
        sizes = []
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"write whole numbers ≥ 1 such as 3,224,224 or 784, got {text!r}")
    return sizes


def run_import(args: argparse.Namespace) -> int:
    imported = import_onnx(args.model, args.input_shape)
    target = Path(args.output)
    weights_path = target.with_suffix(".npz")
    model = Model(imported.document)
    model.load_state_dict(imported.weights, source=str(args.model))
    model.save_weights(weights_path)
    try:
        atomic_write_bytes(target, dumps_network(imported.document).encode("utf-8"))
    except OSError as exc:
        raise LayerwiseError(f"{target}: cannot be written: {exc.strerror or exc}") from None
    print(f"wrote {target} ({len(imported.document)} layers) and {weights_path} ({model.parameter_count:,} parameters)")
    for note in imported.notes:
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


def run_predict(args: argparse.Namespace) -> int:
    model, _ = load_model_argument(args.network, args.weights, weights_beside=True)
    inputs = [Path(name) for name in args.input]
    arrays = [path for path in inputs if path.suffix.lower() == ".npy"]
    if arrays and len(inputs) > 1:
        raise LayerwiseError(f"{arrays[0]}: a .npy array is read alone; give it as the only --input")
    if args.batch_size < 1:
        raise LayerwiseError(f"--batch-size must be at least 1, got {args.batch_size}")
    if arrays:
        outputs = model.predict(_read_array(arrays[0], model), args.batch_size)
        files: list[Path] = []
    else:
        files = image_files(inputs)
        outputs = _predict_images(model, files, args.batch_size)
    buffer = io.BytesIO()
    np.save(buffer, outputs)
    atomic_write_bytes(args.output, buffer.getvalue())
    print(f"wrote {args.output}: {outputs.shape[0]} outputs of shape {'×'.join(map(str, outputs.shape[1:]))}")
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        for file, scores in zip(files, outputs):
            top = int(np.argmax(scores))
            print(f"{file}: top class {top} (score {float(scores[top]):.4g})")
    return EXIT_OK


def _read_array(path: Path, model: Model) -> np.ndarray:
    """The raw samples in the .npy file ``path``: ``(N, *input_shape)`` float32 (one sample gains the batch axis)."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise LayerwiseError(f"{path}: cannot be read as a .npy array: {exc}") from None
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise LayerwiseError(f"{path}: holds {x.dtype} values; a numeric array is needed")
    problem = float_range_problem(x)  # checked before the cast, which would turn such values into infinities
    if problem is not None:
        raise LayerwiseError(f"{path}: the array {problem}")
    x = x.astype(np.float32, copy=False)
    if x.ndim == len(model.input_shape):  # a single sample
        x = x[None]
    model.check_input(x)
    return x


def image_files(inputs: list[Path]) -> list[Path]:
    """The image files ``inputs`` name: files as given, folders as the image files in them, sorted by name.

    Raises
    ------
    LayerwiseError
        Naming the path: it does not exist, or is a folder holding no image files.
    """
    known = {suffix.lower() for suffix in Image.registered_extensions()}
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            try:
                found = sorted(
                    (entry for entry in path.iterdir() if entry.suffix.lower() in known and entry.is_file()),
                    key=lambda entry: entry.name,
                )
            except OSError as exc:
                raise LayerwiseError(f"{path}: the folder cannot be read: {exc.strerror or exc}") from None
            if not found:
                raise LayerwiseError(f"{path}: the folder holds no image files (PNG, JPEG, BMP, GIF, WebP, TIFF …)")
            files.extend(found)
        elif not path.exists():
            raise LayerwiseError(f"{path}: no such file")
        else:
            files.append(path)
    return files


def _predict_images(model: Model, files: list[Path], batch_size: int) -> np.ndarray:
    """The network's outputs ``(N, *output_shape)`` for the image ``files``, read ``batch_size`` at a time.

    Each image is fitted to the input as its ``resize`` says
    (:func:`~core.data.sample_images.load_image_file`): raw RGB pixels in ``[0, 1]``,
    which the network normalises itself.
    """
    shape = tuple(model.input_shape)
    if not is_image(shape):
        raise LayerwiseError(
            f"{files[0]}: image files need a network with an image input (C×H×W); "
            f"{model.input_node.name!r} has shape {format_shape(shape)}"
        )
    preprocessing = model.input_node.layer.preprocessing
    resize = preprocessing.resize if preprocessing is not None else 0
    parts = []
    for start in range(0, len(files), batch_size):
        batch = np.stack([load_image_file(file, shape, resize) for file in files[start : start + batch_size]])
        parts.append(model.predict(batch, batch_size))
    return np.concatenate(parts)
