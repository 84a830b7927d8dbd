"""The trained weights that belong to an open network.

Weights are kept per layer *id*, not per name, so renaming a layer keeps its
weights; they are written and read by current names, as state dicts keyed
``"layer/param"`` (:func:`~core.engine.weights_file.weight_key`) and as weights files
(:mod:`core.engine.weights_file`). After an edit some tensors may no longer fit:
:meth:`NetworkWeights.fit` reuses what still fits and reports the rest.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.engine.model import Model, WeightsError
from core.engine.weights_file import split_weight_key, weight_key, write_weights
from core.graph.document import NetworkDocument


def weights_path_for(network_path: str | os.PathLike[str]) -> Path:
    """The weights file kept beside a network file: ``net.json`` → ``net.npz``."""
    return Path(network_path).with_suffix(".npz")


def merge_fitting(
    initial: dict[str, np.ndarray], stored: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Overlay ``stored`` tensors on ``initial`` ones wherever key and shape agree.

    Returns
    -------
    (state, fresh)
        ``state`` has exactly ``initial``'s keys; ``fresh`` lists the keys that kept
        their initial values (new layers, changed shapes).
    """
    state = dict(initial)
    fresh = []
    for key, value in initial.items():
        candidate = stored.get(key)
        if candidate is not None and candidate.shape == value.shape and np.issubdtype(candidate.dtype, np.floating):
            state[key] = candidate
        else:
            fresh.append(key)
    return state, fresh


class NetworkWeights:
    """Tensors by layer id and parameter name.

    Parameters
    ----------
    tensors
        ``{node_id: {param_name: array}}``; arrays are kept as given (not copied).
    """

    def __init__(self, tensors: dict[str, dict[str, np.ndarray]] | None = None) -> None:
        self.tensors: dict[str, dict[str, np.ndarray]] = tensors or {}

    def __bool__(self) -> bool:
        return bool(self.tensors)

    @classmethod
    def from_state_dict(
        cls, document: NetworkDocument, state: dict[str, np.ndarray], source: str = "weights"
    ) -> NetworkWeights:
        """Key a ``"layer/param"`` state dict by the ids of ``document``'s layers.

        Raises
        ------
        WeightsError
            When a key is not ``"layer/param"`` or names no layer of ``document``.
        """
        tensors: dict[str, dict[str, np.ndarray]] = {}
        for key, value in state.items():
            layer, param = split_weight_key(key)
            node = document.node_by_name(layer)
            if node is None or not param:
                raise WeightsError(f"{source}: {key!r} names no layer of the network {document.name!r}")
            tensors.setdefault(node.id, {})[param] = np.asarray(value)
        return cls(tensors)

    def state_dict(self, document: NetworkDocument) -> dict[str, np.ndarray]:
        """``"layer/param"`` → array for the layers of ``document`` that have weights here."""
        present = {node.id: node.name for node in document.nodes}
        return {
            weight_key(present[node_id], param): value
            for node_id, params in self.tensors.items()
            if node_id in present
            for param, value in params.items()
        }

    def fit(self, model: Model, document: NetworkDocument) -> tuple[dict[str, np.ndarray], list[str]]:
        """A full state dict for ``model``: stored tensors where they fit, the model's own elsewhere.

        Returns
        -------
        (state, fresh)
            See :func:`merge_fitting`.
        """
        return merge_fitting(model.state_dict(), self.state_dict(document))

    def save(self, path: str | os.PathLike[str], document: NetworkDocument) -> None:
        """Write the weights of ``document``'s layers to ``path`` (a weights file) atomically."""
        write_weights(path, self.state_dict(document), WeightsError)

    @classmethod
    def load(cls, path: str | os.PathLike[str], document: NetworkDocument) -> NetworkWeights:
        """Read weights written by :meth:`save` (or ``Model.save_weights``) and check they fit.

        Raises
        ------
        WeightsError
            When the file cannot be read or does not fit ``document`` exactly (the
            message names the tensors).
        """
        model = Model(document)
        model.load_weights(path)  # refuses anything that does not fit, naming the tensors
        return cls.from_state_dict(document, model.state_dict(), source=str(path))
