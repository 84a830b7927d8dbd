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
from core.layers.convolution import Conv2D, DepthwiseConv2D
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


def _conv_input_shape(document: NetworkDocument, node_id: str) -> Shape:
    """The input shape of the Conv2D ``node_id``; :class:`LayerwiseError` for another layer or an unknown shape."""
    node = document.node(node_id)
    if not node.layer.offers_bottleneck_comparison:
        raise LayerwiseError(f"layer {node.name!r} is a {node.type_name}, not a Conv2D")
    shapes = check_graph(document).input_shapes(document, node_id)
    if len(shapes) != 1 or shapes[0] is None:
        raise LayerwiseError(f"the input shape of layer {node.name!r} is not known; fix the problems above it first")
    return shapes[0]


def bottleneck_for_node(document: NetworkDocument, node_id: str, reduction_channels: int) -> BottleneckComparison:
    """Run :func:`compare_bottleneck` for the Conv2D node ``node_id`` of ``document``.

    Raises
    ------
    LayerwiseError
        When the node is not a convolution or its input shape is unknown.
    """
    node = document.node(node_id)
    return compare_bottleneck(node.layer, _conv_input_shape(document, node_id), reduction_channels)


@dataclass(frozen=True)
class SeparableComparison:
    """Cost of a k×k convolution against a depthwise k×k convolution followed by a 1×1 one (MobileNet)."""

    input_shape: Shape
    direct: ConvCost
    depthwise: ConvCost
    pointwise: ConvCost

    @property
    def separable(self) -> ConvCost:
        return ConvCost(self.depthwise.params + self.pointwise.params, self.depthwise.macs + self.pointwise.macs)

    @property
    def macs_ratio(self) -> float:
        """MACs as depthwise + pointwise divided by MACs as one convolution (below 1 means cheaper)."""
        return self.separable.macs / self.direct.macs

    @property
    def params_ratio(self) -> float:
        return self.separable.params / self.direct.params


def separable_layers(conv: Conv2D) -> tuple[DepthwiseConv2D, Conv2D]:
    """The depthwise and pointwise layers that replace ``conv``: same window, same output shape.

    Raises
    ------
    LayerwiseError
        When ``conv`` is grouped or already 1×1: there is nothing to separate.
    """
    if conv.params["groups"] != 1:
        raise LayerwiseError(f"a grouped convolution ({conv.params['groups']} groups) is not split this way")
    if conv.params["kernel_size"] == (1, 1):
        raise LayerwiseError("a 1×1 convolution has no spatial part to separate")
    window = {key: conv.params[key] for key in ("kernel_size", "stride", "padding", "dilation")}
    # The pointwise layer's bias stands in for the original one; a bias on both would be redundant.
    depthwise = DepthwiseConv2D(**window, depth_multiplier=1, bias=False)
    pointwise = Conv2D(filters=conv.params["filters"], kernel_size=1, bias=conv.params["bias"])
    return depthwise, pointwise


def compare_separable(conv: Conv2D, input_shape: Shape) -> SeparableComparison:
    """Compare ``conv`` on ``input_shape`` with :func:`separable_layers` (Howard et al. 2017).

    A k×k convolution costs ``H·W·C_out·C_in·k²`` MACs; the depthwise part
    ``H·W·C_in·k²`` and the pointwise part ``H·W·C_out·C_in``, a ratio of about
    ``1/C_out + 1/k²``.
    """
    depthwise, pointwise = separable_layers(conv)
    return SeparableComparison(
        input_shape=input_shape,
        direct=_cost(conv, input_shape),
        depthwise=_cost(depthwise, input_shape),
        pointwise=_cost(pointwise, depthwise.output_shape([input_shape])),
    )


def separable_for_node(document: NetworkDocument, node_id: str) -> SeparableComparison:
    """Run :func:`compare_separable` for the Conv2D node ``node_id`` of ``document``.

    Raises
    ------
    LayerwiseError
        When the node is not a convolution that can be separated or its input shape is unknown.
    """
    node = document.node(node_id)
    return compare_separable(node.layer, _conv_input_shape(document, node_id))
