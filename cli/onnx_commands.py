"""``layerwise export``, ``import`` and ``predict``: ONNX in and out, and batch inference."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from cli.common import load_network_argument
from core.atomic import atomic_write_bytes
from core.engine.model import Model
from core.errors import LayerwiseError
from core.graph.fileformat import dumps_network
from core.onnx_io.export import DEFAULT_OPSET, save_onnx
from core.onnx_io.importer import import_onnx
from core.safe_npz import float_range_problem

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
    export.set_defaults(handler=run_export)

    imported = commands.add_parser(
        "import",
        help="turn an ONNX model into a Layerwise network file and weights",
        description="Import MODEL.onnx as a network file (-o) with its weights beside it (same name, .npz).",
    )
    imported.add_argument("model", help="an .onnx file")
    imported.add_argument("-o", "--output", required=True, help="the network file to write (.json)")
    imported.set_defaults(handler=run_import)

    predict = commands.add_parser(
        "predict",
        help="run a network in inference mode on an array",
        description="Run NETWORK on the float32 array in --input (N×C×H×W or N×features, .npy) and write the outputs.",
    )
    predict.add_argument("network", help="a network file or the name of a shipped example")
    predict.add_argument("--weights", help="weights (.npz); default: the .npz beside the network file if there is one")
    predict.add_argument("--input", required=True, help="a .npy array")
    predict.add_argument("-o", "--output", required=True, help="the .npy file to write")
    predict.add_argument("--batch-size", type=int, default=256)
    predict.set_defaults(handler=run_predict)


def _model(network: str, weights: str | None, *, default_weights: bool = False) -> tuple[Model, str]:
    path, document = load_network_argument(network)
    model = Model(document)
    beside = path.with_suffix(".npz")
    chosen = weights or (str(beside) if default_weights and beside.is_file() else None)
    if chosen:
        model.load_weights(chosen)
    return model, chosen or "fresh initial weights"


def run_export(args: argparse.Namespace) -> int:
    model, weights = _model(args.network, args.weights)
    exported = save_onnx(model, args.output, args.opset)
    print(
        f"wrote {args.output}: {len(exported.graph.node)} nodes, opset {args.opset}, IR {exported.ir_version}, {weights}"
    )
    return EXIT_OK


def run_import(args: argparse.Namespace) -> int:
    imported = import_onnx(args.model)
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
    model, _ = _model(args.network, args.weights, default_weights=True)
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise LayerwiseError(f"{args.input}: cannot be read as a .npy array: {exc}") from None
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise LayerwiseError(f"{args.input}: holds {x.dtype} values; a numeric array is needed")
    problem = float_range_problem(x)  # checked before the cast, which would turn such values into infinities
    if problem is not None:
        raise LayerwiseError(f"{args.input}: the array {problem}")
    x = x.astype(np.float32, copy=False)
    if x.ndim == len(model.input_shape):  # a single sample
        x = x[None]
    model.check_input(x)
    outputs = model.predict(x, args.batch_size)
    buffer = io.BytesIO()
    np.save(buffer, outputs)
    atomic_write_bytes(args.output, buffer.getvalue())
    print(f"wrote {args.output}: {outputs.shape[0]} outputs of shape {'×'.join(map(str, outputs.shape[1:]))}")
    return EXIT_OK
