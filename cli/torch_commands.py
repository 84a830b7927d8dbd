"""``layerwise export-pytorch``: a network as a PyTorch project folder, with a ``train.py`` that trains it."""

from __future__ import annotations

import argparse

from cli import train as train_command
from cli.common import load_network_argument
from core.engine.model import Model
from core.errors import LayerwiseError
from core.torch_export.project import write_torch_project
from core.torch_export.train_script import TrainingData, TrainingSetup
from core.training.trainer import Trainer

EXIT_OK = 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export-pytorch",
        help="write a network (with its weights) as a PyTorch project folder",
        description="Export NETWORK as a folder holding model.py (a readable torch.nn.Module with build_model()), "
        "weights.safetensors, requirements.txt, README.md and train.py, which trains it as `layerwise train` does "
        "with the training flags given here as its defaults; with --dataset, data.npz holds the training and "
        "validation samples as Layerwise splits them. Existing files are not overwritten unless --force.",
    )
    export.add_argument("network", help="a network file or the name of a shipped example")
    export.add_argument(
        "--weights", help="weights to start from (.npz from train --save); default: initial weights drawn from --seed"
    )
    export.add_argument("-o", "--output", required=True, help="the folder to write (created if missing)")
    export.add_argument("--force", action="store_true", help="overwrite the project's files if the folder holds them")
    training = export.add_argument_group("training (as `layerwise train`; written into train.py as its defaults)")
    training.add_argument(
        "--dataset", help="a built-in dataset name or a path to import: written into the folder as data.npz"
    )
    train_command.add_training_arguments(training)
    export.set_defaults(handler=run_export_pytorch)


def run_export_pytorch(args: argparse.Namespace) -> int:
    _path, document = load_network_argument(args.network)
    config = train_command.training_config(args)
    config.validate()
    model = Model(document, seed=args.seed)
    if args.weights:
        model.load_weights(args.weights)
    data = None
    if args.dataset:
        train, val, _test = train_command.training_datasets(args, model)
        Trainer(document, train, val, config, model=model)  # the engine's own refusals: shapes, classes, settings
        data = TrainingData.from_split(train, val)
    elif not 0 <= args.val_split < 1:
        raise LayerwiseError(f"--val-split must lie in [0, 1), got {args.val_split}")
    elif config.early_stopping and not args.val_split:
        raise LayerwiseError("early stopping needs validation data; set a validation split above 0")
    setup = TrainingSetup(config, args.val_split, data, args.train_subset)
    sizes = write_torch_project(model, args.output, force=args.force, setup=setup)
    files = ", ".join(sizes)
    print(f"wrote {args.output}: {files}; {args.weights or f'initial weights (seed {args.seed})'}")
    return EXIT_OK
