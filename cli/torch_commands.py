"""``layerwise export-pytorch``: a network as a PyTorch project folder."""

from __future__ import annotations

import argparse

from cli.common import load_network_argument
from core.engine.model import Model
from core.torch_export.project import write_torch_project

EXIT_OK = 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export-pytorch",
        help="write a network (with its weights) as a PyTorch project folder",
        description="Export NETWORK as a folder holding model.py (a readable torch.nn.Module with build_model()), "
        "weights.safetensors, requirements.txt and README.md. Existing files are not overwritten unless --force.",
    )
    export.add_argument("network", help="a network file or the name of a shipped example")
    export.add_argument("--weights", help="trained weights (.npz from train --save); default: fresh initial weights")
    export.add_argument("-o", "--output", required=True, help="the folder to write (created if missing)")
    export.add_argument("--force", action="store_true", help="overwrite the project's files if the folder holds them")
    export.set_defaults(handler=run_export_pytorch)


def run_export_pytorch(args: argparse.Namespace) -> int:
    _path, document = load_network_argument(args.network)
    model = Model(document)
    if args.weights:
        model.load_weights(args.weights)
    sizes = write_torch_project(model, args.output, force=args.force)
    files = ", ".join(sizes)
    print(f"wrote {args.output}: {files}; {args.weights or 'fresh initial weights'}")
    return EXIT_OK
