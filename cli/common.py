"""What the subcommands share: loading a network by path or example name."""

from __future__ import annotations

from pathlib import Path

from core.errors import LayerwiseError
from core.examples import example_names, resolve_network_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network


def load_network_argument(argument: str) -> tuple[Path, NetworkDocument]:
    """Load a network file or a shipped example by name; raise LayerwiseError otherwise."""
    path = resolve_network_path(argument)
    if not path.exists():
        raise LayerwiseError(f"{argument}: no such file (shipped examples: {', '.join(example_names())})")
    return path, load_network(path)
