"""Theoretical receptive fields, after Araujo, Norris & Sim, "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019.

Per spatial axis a feature map has a receptive field size ``r``, an effective stride
``S`` and an effective padding ``P``: its unit at index ``u`` sees input indices
``[−P + u·S, −P + u·S + r − 1]``. Through a layer with kernel ``k``, stride ``s``,
leading padding ``p`` and dilation ``d``::

    r_out = r_in + (d·(k − 1)) · S_in
    S_out = S_in · s
    P_out = P_in + p · S_in

After up-sampling by ``f`` (a transposed convolution, Upsample2D) one unit covers
``1 / f`` of an input unit: ``S`` becomes a fraction, and the units no longer see
equal, evenly spaced regions (after a stride-2 convolution and an up-sampling by 2,
units 0 and 1 both see what the convolution's unit 0 sees). A field is then exact as a
*period*: the regions of units ``0 … M − 1``, repeated ``M·S`` input indices further
every ``M`` units (``M·S`` is whole). Down-sampling alone keeps ``M = 1``, Distill's
``(r, S, P)``. See :class:`AxisField`.

Where branches merge (Add, Concat) a unit sees the union of what its inputs see;
we keep the bounding box and flag the merge as *misaligned* when the branches'
fields are not centred on the same input point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from core.graph.document import NetworkDocument
from core.graph.validation import GraphCheck, check_graph
from core.layers.base import SpatialGeometry
from core.shapes import Shape, is_image

Span = tuple[int, int] | None
"""First and last input index a unit sees, inclusive; ``None`` for a unit that sees no input."""


def layer_taps(unit: int, kernel: int, stride: int, pad: int, dilation: int, upsample: int) -> list[int]:
    """Input indices output ``unit`` of a layer reads along one axis (:class:`SpatialGeometry`'s rule).

    ``(unit·stride − pad + j·dilation) / upsample`` for each tap ``0 ≤ j < kernel`` where
    that is whole; indices below 0 or past the map lie in the padding.
    """
    positions = (unit * stride - pad + j * dilation for j in range(kernel))
    return [position // upsample for position in positions if position % upsample == 0]


@dataclass(frozen=True)
class AxisField:
    """Receptive field along one axis: the input indices every unit of a map sees.

    With effective stride ``S`` and period ``M = len(starts)`` (``M·S`` whole), unit ``u``
    sees input indices ``[start(u), end(u)]`` where::

        start(u) = starts[u mod M] + ⌊u / M⌋ · M·S        (ends likewise)

    A unit whose layers read no input at all (a transposed convolution with a kernel
    smaller than its stride leaves some outputs to the bias alone) has ``None`` for
    both. The Distill quantities: ``size`` is the largest field of a unit, ``stride``
    is ``S`` and ``padding`` is ``−start(0)``; with ``M = 1`` every unit sees
    ``[u·S − P, u·S − P + r − 1]`` exactly.
    """

    starts: tuple[int | None, ...]
    ends: tuple[int | None, ...]
    stride: Fraction

    @classmethod
    def regular(cls, size: int, stride: int | Fraction, padding: int) -> AxisField:
        """Distill's field ``(r, S, P)``: unit ``u`` sees ``[u·S − P, u·S − P + r − 1]``."""
        return cls((-padding,), (size - 1 - padding,), Fraction(stride))

    @property
    def period(self) -> int:
        return len(self.starts)

    @property
    def size(self) -> int:
        """The largest number of input indices one unit sees."""
        spans = [self.span(unit) for unit in range(self.period)]
        return max((end - start + 1 for start, end in filter(None, spans)), default=0)

    @property
    def padding(self) -> int | Fraction:
        """``−start(0)``: how far unit 0's field reaches before the input.

        Should unit 0 see nothing, the first unit ``u`` that sees something gives ``u·S − start(u)``.
        """
        for unit in range(self.period):
            span = self.span(unit)
            if span is not None:
                offset = unit * self.stride - span[0]
                return int(offset) if offset.denominator == 1 else offset
        return 0

    @property
    def uniform(self) -> bool:
        """Whether every unit ``u`` sees exactly ``[u·S − P, u·S − P + r − 1]`` (always so without up-sampling)."""
        size, padding = self.size, self.padding
        return all(
            self.span(u) == (u * self.stride - padding, u * self.stride - padding + size - 1)
            for u in range(self.period)
        )

    def span(self, unit: int) -> Span:
        """Return the first and last input index seen by ``unit`` (may fall in the padding)."""
        cycles, phase = divmod(unit, self.period)
        start, end = self.starts[phase], self.ends[phase]
        if start is None or end is None:
            return None
        shift = int(cycles * self.period * self.stride)
        return start + shift, end + shift


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
    def stride(self) -> tuple[Fraction, Fraction]:
        return (self.height.stride, self.width.stride)

    @property
    def padding(self) -> tuple[int | Fraction, int | Fraction]:
        return (self.height.padding, self.width.padding)

    @property
    def uniform(self) -> bool:
        """Whether ``size``, ``stride`` and ``padding`` give every unit's region exactly (:attr:`AxisField.uniform`)."""
        return self.height.uniform and self.width.uniform

    def region(self, row: int, col: int) -> tuple[Span, Span]:
        """Return ``((top, bottom), (left, right))`` input indices seen by unit ``(row, col)``.

        Bounds are inclusive and may lie outside the input, in the padding.
        """
        return self.height.span(row), self.width.span(col)

    def to_json(self) -> dict[str, object]:
        """Sizes as integers; strides and paddings as integers, or as ``"p/q"`` where fractional."""
        return {
            "size": list(self.size),
            "stride": [_json_number(s) for s in self.stride],
            "padding": [_json_number(p) for p in self.padding],
            "aligned": self.aligned,
        }


def _json_number(value: int | Fraction) -> int | str:
    return int(value) if Fraction(value).denominator == 1 else str(value)


INPUT_FIELD = ReceptiveField(AxisField.regular(1, 1, 0), AxisField.regular(1, 1, 0))
"""Each input pixel sees itself."""


def _union(spans: Sequence[Span]) -> Span:
    seen = [span for span in spans if span is not None]
    if not seen:
        return None
    return min(start for start, _ in seen), max(end for _, end in seen)


def _periodic(spans: Sequence[Span], stride: Fraction) -> AxisField:
    return AxisField(
        tuple(None if s is None else s[0] for s in spans), tuple(None if s is None else s[1] for s in spans), stride
    )


def _through_axis(field: AxisField, kernel: int, stride: int, pad: int, dilation: int, upsample: int) -> AxisField:
    # Unit u + M reads the taps of u shifted by M·stride/upsample input units, a whole
    # number of the input's periods: so M units describe the output exactly.
    period = upsample * field.period // math.gcd(stride, upsample * field.period)
    spans = [
        _union([field.span(tap) for tap in layer_taps(unit, kernel, stride, pad, dilation, upsample)])
        for unit in range(period)
    ]
    return _periodic(spans, field.stride * stride / upsample)


def through(field: ReceptiveField, geometry: SpatialGeometry) -> ReceptiveField:
    """Return the receptive field after a layer with ``geometry``."""
    axes = [
        _through_axis(
            axis,
            geometry.kernel[i],
            geometry.stride[i],
            geometry.pad_begin[i],
            geometry.dilation[i],
            geometry.upsample[i],
        )
        for i, axis in enumerate((field.height, field.width))
    ]
    return ReceptiveField(axes[0], axes[1], field.aligned)


def _centre_twice(span: Span) -> int | None:
    return None if span is None else span[0] + span[1]


def _merge_axis(fields: Sequence[AxisField], output_size: int) -> tuple[AxisField, bool]:
    strides = {f.stride for f in fields}
    if len(strides) == 1:
        stride = strides.pop()
        period = math.lcm(*(f.period for f in fields))
        spans = [[f.span(unit) for f in fields] for unit in range(period)]
        aligned = all(len({_centre_twice(s) for s in unit if s is not None}) <= 1 for unit in spans)
        return _periodic([_union(unit) for unit in spans], stride), aligned
    # Different effective strides: no period fits every unit. The units of the map are
    # described exactly (one period as long as the map), those beyond it by the coarsest stride.
    stride = max(strides)
    step = math.lcm(stride.denominator, *(f.period for f in fields))
    period = step * -(-max(output_size, 1) // step)
    spans = [_union([f.span(unit) for f in fields]) for unit in range(period)]
    return _periodic(spans, stride), False


def merge(fields: Sequence[ReceptiveField], output_hw: tuple[int, int]) -> ReceptiveField:
    """Return the field of a unit that combines ``fields`` (Add, Concat) at the same position."""
    height, aligned_h = _merge_axis([f.height for f in fields], output_hw[0])
    width, aligned_w = _merge_axis([f.width for f in fields], output_hw[1])
    aligned = aligned_h and aligned_w and all(f.aligned for f in fields)
    return ReceptiveField(height, width, aligned)


def receptive_fields(document: NetworkDocument, check: GraphCheck | None = None) -> dict[str, ReceptiveField | None]:
    """Return the receptive field of every layer's output on the network input.

    ``None`` where it has no meaning: after a layer that discards the spatial layout
    (Flatten, Dense), for vector inputs, and where the shape is unknown. The outputs of a
    layer with several (a channel split) share its field: they differ in channels alone.
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
        input_shapes: list[Shape] = check.input_shapes(document, node.id)  # type: ignore[assignment]
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
