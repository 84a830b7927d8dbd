"""``layerwise info``: the per-layer summary table or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from cli.common import load_network_argument
from core.analysis.report import format_summary
from core.analysis.summary import summarize

EXIT_OK, EXIT_USER_ERROR = 0, 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser(
        "info",
        help="print every layer's shape, parameters, MACs, memory and receptive field",
        description="Print a summary table of NETWORK: output shape, parameters, multiply-accumulates, "
        "activation memory and receptive field (size, effective stride, effective padding) per layer. "
        "Frozen layers and learning-rate multipliers are marked beside the layer, and the totals count "
        "trainable, frozen and non-trainable parameters apart. An Input's preprocessing (resize, channel order, "
        "value range, mean and std) is printed under the table.",
    )
    info.add_argument("network", help="a network file, or the name of a shipped example (e.g. vgg16)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path, document = load_network_argument(args.network)
    summary = summarize(document)
    if summary.problems:
        print(f"{path}: the network does not compute:", file=sys.stderr)
        for problem in summary.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_USER_ERROR
    preprocessing = {
        node.name: value
        for node in document.nodes
        if (value := node.layer.preprocessing) is not None and not value.is_default
    }
    if args.json:
        data = summary.to_json()
        data["preprocessing"] = {name: value.to_json() for name, value in preprocessing.items()}
        text = json.dumps(data, indent=2, ensure_ascii=False)
        try:
            text.encode(sys.stdout.encoding or "utf-8")
        except UnicodeEncodeError:  # a console that is not UTF-8 (a Windows code page): escapes are JSON too
            text = json.dumps(data, indent=2)
        print(text)
    else:
        print(format_summary(summary, title=f"{document.name} — {path}"))
        for name, value in preprocessing.items():
            print(f"Preprocessing of {name!r}: {value.describe()}")
    return EXIT_OK
