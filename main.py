#!/usr/bin/env python3
"""Layerwise entry point.

``python main.py [NETWORK]`` opens the app (on the LeNet-5 example when no network is
given); ``python main.py info|train|sweep|export|import|predict|explain|datasets …`` work headless on the same
``core/``.
"""

from __future__ import annotations

import os

# OpenBLAS's idle threads otherwise spin after each GEMM and steal the second core
# from NumPy's memory-bound work; must be set before NumPy is first imported.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import argparse
import logging
import sys
from collections.abc import Sequence

from core.errors import LayerwiseError

EXIT_OK, EXIT_INTERNAL, EXIT_USER_ERROR = 0, 1, 2
COMMANDS = ("info", "train", "sweep", "export", "import", "predict", "export-pytorch", "explain", "datasets")


def build_parser() -> argparse.ArgumentParser:
    from cli import datasets, explain, info, onnx_commands, sweep, torch_commands, train

    parser = argparse.ArgumentParser(
        prog="layerwise",
        description="Build, train, understand and export convolutional networks. Without a command, the app opens.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info.add_parser(commands)
    train.add_parser(commands)
    sweep.add_parser(commands)
    onnx_commands.add_parsers(commands)
    torch_commands.add_parser(commands)
    explain.add_parser(commands)
    datasets.add_parser(commands)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerwise",
        description=f"Open the Layerwise app. Headless commands: {', '.join(COMMANDS)} "
        "(see 'layerwise COMMAND --help').",
    )
    parser.add_argument("network", nargs="?", help="network file or example name to open (default: LeNet-5)")
    parser.add_argument(
        "--safe-mode",
        action="store_true",
        help="start with default settings and window layout, without offering to restore autosaved work",
    )
    return parser


def run_command(argv: Sequence[str]) -> int:
    from cli.console import tolerate_any_encoding

    tolerate_any_encoding(sys.stdout, sys.stderr)
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return EXIT_USER_ERROR
    try:
        return args.handler(args)
    except LayerwiseError as exc:
        print(f"layerwise: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # `layerwise info vgg16 | head`
        return EXIT_OK
    except KeyboardInterrupt:
        print("\nlayerwise: interrupted", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:  # a bug: say so in one line unless asked for details
        if args.debug:
            raise
        print(f"layerwise: internal error: {exc!r} (run with --debug for details)", file=sys.stderr)
        return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if argv and argv[0] in (*COMMANDS, "--debug"):
        return run_command(argv)
    if argv[:1] in (["-h"], ["--help"]):
        build_parser().print_help()
        return EXIT_OK
    args = build_gui_parser().parse_args(argv)
    from gui.app import run_app

    return run_app(args.network, safe_mode=args.safe_mode)


if __name__ == "__main__":
    sys.exit(main())
