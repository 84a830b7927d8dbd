"""The Inception argument: what a 1×1 reduction in front of a convolution saves.

A k×k convolution from C_in to C_out channels costs ``H·W·C_out·C_in·k²`` MACs.
Putting a 1×1 convolution to ``r`` channels first costs ``H_in·W_in·r·C_in`` and
leaves ``H·W·C_out·r·k²`` for the k×k convolution: far less when ``r ≪ C_in``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import LayerwiseError
from core.graph.document import NetworkDocument
from core.graph.validation import check_graph
from core.layers.convolution import Conv2D
from core.shapes import Shape


@dataclass(frozen=True)
class ConvCost:
    """Parameters and multiply-accumulates of one or more convolutions, per sample."""

    params: int
    macs: int


@dataclass(frozen=True)
class BottleneckComparison:
    """Cost of a convolution without and with a 1×1 reduction to ``reduction_channels``."""

    reduction_channels: int
    input_shape: Shape
    direct: ConvCost
    reduction: ConvCost
    reduced_conv: ConvCost

    @property
    def with_bottleneck(self) -> ConvCost:
        return ConvCost(
            self.reduction.params + self.reduced_conv.params,
            self.reduction.macs + self.reduced_conv.macs,
        )

    @property
    def macs_ratio(self) -> float:
        """MACs with the bottleneck divided by MACs without (below 1 means cheaper)."""
        return self.with_bottleneck.macs / self.direct.macs

    @property
    def params_ratio(self) -> float:
        return self.with_bottleneck.params / self.direct.params


def _cost(conv: Conv2D, input_shape: Shape) -> ConvCost:
    output = conv.output_shape([input_shape])
    return ConvCost(conv.param_count([input_shape]).total, conv.macs([input_shape], output))


def compare_bottleneck(conv: Conv2D, input_shape: Shape, reduction_channels: int) -> BottleneckComparison:
    """Compare ``conv`` on ``input_shape`` with ``1×1 conv → conv`` through ``reduction_channels``.

    The reduction keeps the convolution's ``bias`` setting; its activation costs no MACs.

    Raises
    ------
    LayerwiseError
        When ``reduction_channels`` is not a positive number the convolution's groups divide.
    """
    if isinstance(reduction_channels, bool) or not isinstance(reduction_channels, int) or reduction_channels < 1:
        raise LayerwiseError(f"bottleneck channels must be a whole number ≥ 1, got {reduction_channels!r}")
    groups = conv.params["groups"]
    if reduction_channels % groups:
        raise LayerwiseError(
            f"bottleneck channels ({reduction_channels}) must be a multiple of the convolution's groups ({groups})"
        )
    reduction = Conv2D(filters=reduction_channels, kernel_size=1, bias=conv.params["bias"])
    reduced_input = reduction.output_shape([input_shape])
    return BottleneckComparison(
        reduction_channels=reduction_channels,
        input_shape=input_shape,
        direct=_cost(conv, input_shape),
        reduction=_cost(reduction, input_shape),
        reduced_conv=_cost(conv, reduced_input),
    )


def bottleneck_for_node(document: NetworkDocument, node_id: str, reduction_channels: int) -> BottleneckComparison:
    """Run :func:`compare_bottleneck` for the Conv2D node ``node_id`` of ``document``.

    Raises
    ------
    LayerwiseError
        When the node is not a convolution or its input shape is unknown.
    """
    node = document.node(node_id)
    if not node.layer.offers_bottleneck_comparison:
        raise LayerwiseError(f"layer {node.name!r} is a {node.type_name}, not a Conv2D")
    shapes = check_graph(document).input_shapes(document, node_id)
    if len(shapes) != 1 or shapes[0] is None:
        raise LayerwiseError(f"the input shape of layer {node.name!r} is not known; fix the problems above it first")
    return compare_bottleneck(node.layer, shapes[0], reduction_channels)
