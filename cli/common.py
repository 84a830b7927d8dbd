"""What the subcommands share: loading a network by path or example name, with its weights."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import LayerwiseError
from core.examples import example_names, resolve_network_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network

if TYPE_CHECKING:  # compiled only by the commands that run a network, not by info
    from core.engine.model import Model


def load_network_argument(argument: str) -> tuple[Path, NetworkDocument]:
    """Load a network file or a shipped example by name; raise LayerwiseError otherwise."""
    path = resolve_network_path(argument)
    if not path.exists():
        raise LayerwiseError(f"{argument}: no such file (shipped examples: {', '.join(example_names())})")
    return path, load_network(path)


def load_model_argument(network: str, weights: str | None, *, weights_beside: bool = False) -> tuple[Model, str]:
    """The network compiled with ``weights`` (an ``.npz``), or with the ``.npz`` beside it when ``weights_beside``.

    Returns
    -------
    tuple[Model, str]
        The model and where its weights came from (a path, or "fresh initial weights").
    """
    from core.engine.model import Model

    path, document = load_network_argument(network)
    model = Model(document)
    beside = path.with_suffix(".npz")
    chosen = weights or (str(beside) if weights_beside and beside.is_file() else None)
    if chosen:
        model.load_weights(chosen)
    return model, chosen or "fresh initial weights"
