"""Per-layer and whole-network figures: shapes, parameters, MACs, memory, receptive fields.

This is what ``main.py info`` prints and what the app's summary table shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.analysis.receptive_field import ReceptiveField, receptive_fields
from core.graph.document import NetworkDocument
from core.graph.events import Edge
from core.graph.validation import Problem, check_graph
from core.shapes import Shape, num_elements

BYTES_PER_VALUE = 4
"""Activations and parameters are float32."""


@dataclass(frozen=True)
class LayerSummary:
    """Figures of one layer for one sample; ``None`` where the shape is unknown.

    Attributes
    ----------
    params
        Trainable plus non-trainable parameters (Keras' convention: BatchNorm's
        running statistics count).
    trainable_params
        The parameters training updates: the layer's weights, 0 when it is frozen.
    frozen_params
        The weights training leaves as they are because the layer is frozen (else 0);
        ``params`` = ``trainable_params`` + ``frozen_params`` + the running statistics.
    macs
        Multiply-accumulates of one inference forward pass (see
        :meth:`core.layers.base.Layer.macs` for what counts).
    inputs
        The layers feeding it, in port order; ``"split (output 2)"`` for an output other than
        the first of a layer with several.
    output_shape
        The shape of its output (of its first output, for a layer with several).
    activation_bytes
        Size of the layer's float32 output (all its outputs) for one sample.
    """

    node_id: str
    name: str
    type: str
    inputs: list[str]
    output_shape: Shape | None
    params: int | None
    trainable_params: int | None
    macs: int | None
    activation_bytes: int | None
    receptive_field: ReceptiveField | None
    frozen: bool = False
    frozen_params: int | None = 0
    lr_multiplier: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "inputs": list(self.inputs),
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "frozen": self.frozen,
            "frozen_params": self.frozen_params,
            "lr_multiplier": self.lr_multiplier,
            "macs": self.macs,
            "activation_bytes": self.activation_bytes,
            "receptive_field": self.receptive_field.to_json() if self.receptive_field else None,
        }


@dataclass
class NetworkSummary:
    """Every layer's figures, in topological order, with totals and problems."""

    name: str
    layers: list[LayerSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def _total(self, attribute: str) -> int:
        return sum(getattr(layer, attribute) or 0 for layer in self.layers)

    @property
    def total_params(self) -> int:
        return self._total("params")

    @property
    def trainable_params(self) -> int:
        return self._total("trainable_params")

    @property
    def frozen_params(self) -> int:
        """The weights of frozen layers (no longer counted as trainable)."""
        return self._total("frozen_params")

    @property
    def non_trainable_params(self) -> int:
        """What never trains: BatchNorm's running statistics (frozen weights are :attr:`frozen_params`)."""
        return self.total_params - self.trainable_params - self.frozen_params

    @property
    def has_frozen_layers(self) -> bool:
        return any(layer.frozen for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return self._total("macs")

    @property
    def total_activation_bytes(self) -> int:
        return self._total("activation_bytes")

    @property
    def param_bytes(self) -> int:
        return self.total_params * BYTES_PER_VALUE

    def layer(self, name: str) -> LayerSummary:
        """Return the summary of the layer called ``name`` (``KeyError`` if absent)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.name,
            "layers": [layer.to_json() for layer in self.layers],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "frozen_params": self.frozen_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
            "total_activation_bytes": self.total_activation_bytes,
            "param_bytes": self.param_bytes,
            "problems": [str(p) for p in self.problems],
        }


def _input_label(document: NetworkDocument, edge: Edge) -> str:
    """The name of ``edge``'s source, with the output it leaves when the source has several."""
    source = document.node(edge.source)
    return source.name if source.layer.output_count == 1 else f"{source.name} (output {edge.source_port + 1})"


def summarize(document: NetworkDocument) -> NetworkSummary:
    """Analyse ``document``: one :class:`LayerSummary` per layer that can be ordered.

    Computed once per document state and shared by every caller (read-only).
    """
    return document.memo("summary", lambda: _summarize(document))


def _summarize(document: NetworkDocument) -> NetworkSummary:
    check = check_graph(document)
    fields = receptive_fields(document, check)
    summary = NetworkSummary(document.name, problems=list(check.problems))
    for node in check.order:
        shape = check.shapes[node.id]
        edges = document.input_edges(node.id)
        params = trainable = macs = memory = None
        frozen = not node.training.trainable
        frozen_params: int | None = None
        if shape is not None:
            input_shapes: list[Shape] = check.input_shapes(document, node.id)  # type: ignore[assignment]
            count = node.layer.param_count(input_shapes)
            # A frozen layer's weights count as frozen, not trainable (Keras counts them non-trainable).
            params, trainable = count.total, 0 if frozen else count.trainable
            frozen_params = count.trainable if frozen else 0
            macs = node.layer.macs(input_shapes, shape)
            outputs = check.output_shapes[node.id] or [shape]
            memory = sum(num_elements(output) for output in outputs) * BYTES_PER_VALUE
        summary.layers.append(
            LayerSummary(
                node_id=node.id,
                name=node.name,
                type=node.type_name,
                inputs=[_input_label(document, edge) for edge in edges],
                output_shape=shape,
                params=params,
                trainable_params=trainable,
                macs=macs,
                activation_bytes=memory,
                receptive_field=fields[node.id],
                frozen=frozen,
                frozen_params=frozen_params,
                lr_multiplier=node.training.lr_multiplier,
            )
        )
    return summary
