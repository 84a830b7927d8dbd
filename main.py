#!/usr/bin/env python3
"""Layerwise entry point.

``python main.py [NETWORK]`` opens the app (on the LeNet-5 example when no network is
given); ``python main.py info NETWORK`` and the other subcommands work headless on
the same ``core/`` library.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from core.errors import LayerwiseError

EXIT_OK, EXIT_INTERNAL, EXIT_USER_ERROR = 0, 1, 2
COMMANDS = ("info",)


def _load(argument: str):
    """Load a network file or a shipped example by name; raise LayerwiseError otherwise."""
    from core.examples import example_names, resolve_network_path
    from core.graph.fileformat import load_network

    path = resolve_network_path(argument)
    if not path.exists():
        raise LayerwiseError(
            f"{argument}: no such file (shipped examples: {', '.join(example_names())})"
        )
    return path, load_network(path)


def cmd_info(args: argparse.Namespace) -> int:
    """Print the per-layer summary table (or JSON) of a network."""
    from core.analysis.report import format_summary
    from core.analysis.summary import summarize

    path, document = _load(args.network)
    summary = summarize(document)
    if summary.problems:
        print(f"{path}: the network does not compute:", file=sys.stderr)
        for problem in summary.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.json:
        json.dump(summary.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        print(format_summary(summary, title=f"{document.name} — {path}"))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerwise",
        description="Build, train, understand and export convolutional networks. "
        "Without a command, the app opens.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser(
        "info",
        help="print every layer's shape, parameters, MACs, memory and receptive field",
        description="Print a summary table of NETWORK: output shape, parameters, multiply-accumulates, "
        "activation memory and receptive field (size, effective stride, effective padding) per layer.",
    )
    info.add_argument("network", help="a network file, or the name of a shipped example (e.g. vgg16)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(handler=cmd_info)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerwise",
        description=f"Open the Layerwise app. Headless commands: {', '.join(COMMANDS)} "
        "(see 'layerwise COMMAND --help').",
    )
    parser.add_argument("network", nargs="?", help="network file or example name to open (default: LeNet-5)")
    return parser


def run_command(argv: Sequence[str]) -> int:
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

    return run_app(args.network)


if __name__ == "__main__":
    sys.exit(main())
