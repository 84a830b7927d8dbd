"""Theoretical receptive fields, after Araujo, Norris & Sim, "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019.

Per spatial axis a feature map has a receptive field size ``r``, an effective stride
``S`` and an effective padding ``P``: its unit at index ``u`` sees input indices
``[−P + u·S, −P + u·S + r − 1]``. Through a layer with kernel ``k``, stride ``s``,
leading padding ``p`` and dilation ``d``::

    r_out = r_in + (d·(k − 1)) · S_in
    S_out = S_in · s
    P_out = P_in + p · S_in

Where branches merge (Add, Concat) a unit sees the union of what its inputs see;
we keep the bounding box (the largest field) and flag the merge as *misaligned*
when the branches' fields are not centred on the same input point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.graph.document import NetworkDocument
from core.graph.validation import GraphCheck, check_graph
from core.layers.base import SpatialGeometry
from core.shapes import Shape, is_image


@dataclass(frozen=True)
class AxisField:
    """Receptive field along one axis: size ``r``, effective stride ``S``, padding ``P``."""

    size: int
    stride: int
    padding: int

    def span(self, unit: int) -> tuple[int, int]:
        """Return the first and last input index seen by ``unit`` (may fall in the padding)."""
        start = unit * self.stride - self.padding
        return start, start + self.size - 1

    def centre_twice(self) -> int:
        """Twice the centre offset of unit 0; integer so alignment checks are exact."""
        return self.size - 1 - 2 * self.padding


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a feature map on the network's input, for H and W.

    Attributes
    ----------
    height, width
        One :class:`AxisField` per axis.
    aligned
        ``False`` when merged branches see regions with different centres (or
        strides), so that the bounding box over-states what some paths see.
    """

    height: AxisField
    width: AxisField
    aligned: bool = True

    @property
    def size(self) -> tuple[int, int]:
        return (self.height.size, self.width.size)

    @property
    def stride(self) -> tuple[int, int]:
        return (self.height.stride, self.width.stride)

    @property
    def padding(self) -> tuple[int, int]:
        return (self.height.padding, self.width.padding)

    def region(self, row: int, col: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Return ``((top, bottom), (left, right))`` input indices seen by unit ``(row, col)``.

        Bounds are inclusive and may lie outside the input, in the padding.
        """
        return self.height.span(row), self.width.span(col)

    def to_json(self) -> dict[str, object]:
        return {
            "size": list(self.size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "aligned": self.aligned,
        }


INPUT_FIELD = ReceptiveField(AxisField(1, 1, 0), AxisField(1, 1, 0))
"""Each input pixel sees itself."""


def _through_axis(field: AxisField, kernel: int, stride: int, pad: int, dilation: int) -> AxisField:
    return AxisField(
        size=field.size + dilation * (kernel - 1) * field.stride,
        stride=field.stride * stride,
        padding=field.padding + pad * field.stride,
    )


def through(field: ReceptiveField, geometry: SpatialGeometry) -> ReceptiveField:
    """Return the receptive field after a layer with ``geometry``."""
    axes = [
        _through_axis(axis, geometry.kernel[i], geometry.stride[i], geometry.pad_begin[i], geometry.dilation[i])
        for i, axis in enumerate((field.height, field.width))
    ]
    return ReceptiveField(axes[0], axes[1], field.aligned)


def _merge_axis(fields: Sequence[AxisField], output_size: int) -> tuple[AxisField, bool]:
    strides = {f.stride for f in fields}
    if len(strides) == 1:
        padding = max(f.padding for f in fields)
        size = max(f.size - f.padding for f in fields) + padding
        aligned = len({f.centre_twice() for f in fields}) == 1
        return AxisField(size, strides.pop(), padding), aligned
    # Different effective strides: the union's extent changes from unit to unit, so
    # report the largest one over the map and the coarsest stride.
    size, padding = 0, 0
    for unit in range(max(output_size, 1)):
        spans = [f.span(unit) for f in fields]
        start, end = min(s for s, _ in spans), max(e for _, e in spans)
        size = max(size, end - start + 1)
        if unit == 0:
            padding = -start
    return AxisField(size, max(strides), padding), False


def merge(fields: Sequence[ReceptiveField], output_hw: tuple[int, int]) -> ReceptiveField:
    """Return the field of a unit that combines ``fields`` (Add, Concat) at the same position."""
    height, aligned_h = _merge_axis([f.height for f in fields], output_hw[0])
    width, aligned_w = _merge_axis([f.width for f in fields], output_hw[1])
    aligned = aligned_h and aligned_w and all(f.aligned for f in fields)
    return ReceptiveField(height, width, aligned)


def receptive_fields(document: NetworkDocument, check: GraphCheck | None = None) -> dict[str, ReceptiveField | None]:
    """Return the receptive field of every layer's output on the network input.

    ``None`` where it has no meaning: after a layer that discards the spatial layout
    (Flatten, Dense), for vector inputs, and where the shape is unknown.
    """
    check = check or check_graph(document)
    fields: dict[str, ReceptiveField | None] = {n.id: None for n in document.nodes}
    for node in check.order:
        shape = check.shapes.get(node.id)
        if shape is None:
            continue
        sources = document.inputs_of(node.id)
        if not sources:
            fields[node.id] = INPUT_FIELD if is_image(shape) else None
            continue
        incoming = [fields[s.id] for s in sources]
        if any(f is None for f in incoming):
            continue
        input_shapes: list[Shape] = [check.shapes[s.id] for s in sources]  # type: ignore[misc]
        geometry = node.layer.spatial_geometry(input_shapes)
        if geometry is None:
            continue
        if len(incoming) == 1:
            combined = incoming[0]
        else:
            first = input_shapes[0]
            combined = merge(incoming, (first[1], first[2]) if is_image(first) else (1, 1))  # type: ignore[arg-type]
        fields[node.id] = through(combined, geometry)  # type: ignore[arg-type]
    return fields
