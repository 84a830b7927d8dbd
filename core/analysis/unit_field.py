"""Where one feature-map unit looks in the input image, and how the field grows with depth.

Built on :func:`core.analysis.receptive_field.receptive_fields`: a layer's field gives,
for its unit at ``(row, col)``, the input rows ``[row·S − P, row·S − P + r − 1]`` and
likewise for columns. This module turns that into a rectangle in input pixel
coordinates, clipped to the image, for views that draw it on a real sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from core.analysis.receptive_field import ReceptiveField, layer_taps, receptive_fields
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument, Node
from core.graph.validation import GraphCheck, check_graph
from core.layers.base import IDENTITY_GEOMETRY, SpatialGeometry
from core.shapes import Shape, describe_shape, is_image


class UnitFieldError(LayerwiseError):
    """A unit has no place in the input image (no spatial output, or outside the feature map)."""


@dataclass(frozen=True)
class UnitRegion:
    """The input pixels one feature-map unit can see (its theoretical receptive field).

    Attributes
    ----------
    node_id, name
        The layer.
    row, col
        The unit in the layer's feature map.
    top, left, bottom, right
        Full span in input pixels, bounds inclusive; may extend past the image where the
        unit reads padding (negative, or beyond ``input_hw − 1``).
    clipped
        ``(top, left, bottom, right)`` of the part inside the image, inclusive; ``None``
        when the span lies entirely in the padding.
    centre
        ``(y, x)`` centre of the full span in pixel coordinates (pixel ``i`` is centred on ``i``).
    size
        ``(height, width)`` of the full span: the receptive field size.
    touches_padding
        Whether the full span reaches outside the image (padding, or a ceil-mode overhang).
    aligned
        ``False`` after a merge of branches whose fields are not centred alike: the
        rectangle is their bounding box and over-states what some paths see. When the
        merged branches also have different effective strides, the analysis keeps the
        coarsest stride, and the rectangle is an approximation that can miss pixels the
        finer branch reads.
    input_hw
        ``(height, width)`` of the network's input image.
    """

    node_id: str
    name: str
    row: int
    col: int
    top: int
    left: int
    bottom: int
    right: int
    clipped: tuple[int, int, int, int] | None
    centre: tuple[float, float]
    size: tuple[int, int]
    touches_padding: bool
    aligned: bool
    input_hw: tuple[int, int]

    @property
    def span(self) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)`` of the full span, inclusive."""
        return (self.top, self.left, self.bottom, self.right)


class DepthPoint(NamedTuple):
    """One point of the receptive-field-size-against-depth chart."""

    name: str
    depth: int
    size_h: int
    size_w: int


def _fields(document: NetworkDocument) -> dict[str, ReceptiveField | None]:
    # Shared per document state: a view asks for many units of the same network.
    return document.memo("receptive_fields", lambda: receptive_fields(document))


def _input_node(document: NetworkDocument) -> Node:
    check = check_graph(document)
    inputs = [n for n in check.order if n.layer.max_inputs == 0]
    if len(inputs) != 1:
        raise UnitFieldError(
            f"receptive fields on an image need exactly one Input layer; this network has {len(inputs)}"
        )
    return inputs[0]


def feature_map_hw(shape: Shape) -> tuple[int, int]:
    """``(H, W)`` of a layer output; ``(1, 1)`` for a vector that still has a field (global pooling)."""
    return (shape[1], shape[2]) if is_image(shape) else (1, 1)  # type: ignore[misc]


def unit_input_region(document: NetworkDocument, node_id: str, row: int, col: int) -> UnitRegion:
    """Return the input rectangle seen by unit ``(row, col)`` of layer ``node_id``.

    Parameters
    ----------
    document
        A network that computes, with one image Input ``(C, H, W)``.
    node_id
        The layer. A vector output that still has a field (GlobalAvgPool2D) counts as
        a 1×1 map.
    row, col
        The unit, ``0 ≤ row < H_out``, ``0 ≤ col < W_out``.

    Returns
    -------
    UnitRegion
        Full and clipped spans in input pixels, centre, size and flags.

    Raises
    ------
    UnitFieldError
        When the layer has no receptive field (its output is not a map of the input
        image: after Flatten or Dense, a vector input, an unknown shape), the unit
        lies outside its feature map, or it sees no input pixel at all (a transposed
        convolution whose kernel is smaller than its stride leaves some units to the bias).
    """
    field, shape = _field_of(document, node_id)
    node = document.node(node_id)
    check = check_graph(document)
    height, width = feature_map_hw(shape)
    if not (0 <= row < height and 0 <= col < width):
        raise UnitFieldError(f"unit ({row}, {col}) is outside the {height}×{width} feature map of layer {node.name!r}")
    input_shape = check.shapes[_input_node(document).id]
    input_hw = (input_shape[1], input_shape[2])  # type: ignore[index]
    spans = exact_span(document, check, node_id, row, col)
    if spans is None:
        raise UnitFieldError(
            f"unit ({row}, {col}) of layer {node.name!r} sees no input pixel: "
            "a transposed convolution on its path leaves it only a bias"
        )
    (top, bottom), (left, right) = spans
    clipped = _clip(top, left, bottom, right, input_hw)
    return UnitRegion(
        node_id=node_id,
        name=node.name,
        row=row,
        col=col,
        top=top,
        left=left,
        bottom=bottom,
        right=right,
        clipped=clipped,
        centre=((top + bottom) / 2, (left + right) / 2),
        size=(bottom - top + 1, right - left + 1),
        touches_padding=top < 0 or left < 0 or bottom >= input_hw[0] or right >= input_hw[1],
        aligned=field.aligned,
        input_hw=input_hw,
    )


def _field_of(document: NetworkDocument, node_id: str) -> tuple[ReceptiveField, Shape]:
    """The layer's receptive field and output shape; :class:`UnitFieldError` when it has no field."""
    field = _fields(document).get(node_id)
    shape = check_graph(document).shapes.get(node_id)
    if field is None or shape is None:
        node = document.node(node_id)
        described = describe_shape(shape) if shape is not None else "of unknown shape"
        raise UnitFieldError(
            f"layer {node.name!r} ({node.type_name}) has no receptive field: its output, {described}, "
            "is not a map over the input image"
        )
    return field, shape


def field_overhang(document: NetworkDocument, node_id: str) -> tuple[int, int, int, int]:
    """How far the receptive fields of a layer's units reach past the input image.

    A unit's span moves ``M·S`` input pixels down (right) every ``M`` rows (columns),
    ``M`` the period of its field (1 without up-sampling), so the first ``M`` rows reach
    furthest up and the last ``M`` furthest down.

    Parameters
    ----------
    document
        A network that computes, with one image Input ``(C, H_in, W_in)``.
    node_id
        A layer with a receptive field, output ``(C, H, W)`` (or a vector that counts
        as a 1×1 map, see :func:`unit_input_region`).

    Returns
    -------
    tuple[int, int, int, int]
        ``(top, left, bottom, right)``: pixels of padding (or ceil-mode overhang) beyond
        each side of the ``H_in × W_in`` image that some unit reads; 0 where none does.

    Raises
    ------
    UnitFieldError
        When the layer has no receptive field.
    """
    field, shape = _field_of(document, node_id)
    height, width = feature_map_hw(shape)
    rows = _ends_of_range(height, field.height.period)
    columns = _ends_of_range(width, field.width.period)
    regions = [region for r in rows for c in columns if (region := _region_or_none(document, node_id, r, c))]
    if not regions:
        return (0, 0, 0, 0)
    input_h, input_w = regions[0].input_hw
    return (
        max(-min(r.top for r in regions), 0),
        max(-min(r.left for r in regions), 0),
        max(max(r.bottom for r in regions) - (input_h - 1), 0),
        max(max(r.right for r in regions) - (input_w - 1), 0),
    )


def _ends_of_range(size: int, period: int) -> list[int]:
    """The first and the last ``period`` indices of ``range(size)``."""
    return sorted({*range(min(period, size)), *range(max(size - period, 0), size)})


def _region_or_none(document: NetworkDocument, node_id: str, row: int, col: int) -> UnitRegion | None:
    try:
        return unit_input_region(document, node_id, row, col)
    except UnitFieldError:  # a unit that sees nothing reaches nowhere
        return None


def exact_span(
    document: NetworkDocument, check: GraphCheck, node_id: str, row: int, col: int
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Input rows and columns ``((top, bottom), (left, right))`` seen by one unit, exactly.

    The per-layer field describes every unit of a map at once, which is exact along one
    path and wherever merged branches share a stride; where branches of different
    strides merge, it is exact only inside the merged map. So the unit's own taps are
    followed back instead: walking the layers from this one towards the input, each
    layer maps the set of its output rows (columns) it must explain onto the rows
    (columns) their taps read (:func:`~core.analysis.receptive_field.layer_taps`, padding
    included), and a layer read by several paths needs the union of what they ask. Sets,
    not ranges: a transposed convolution whose kernel is smaller than its stride, behind a
    dilated or strided layer, leaves rows between two that are read which read nothing.
    ``None`` when the unit sees no input at all.
    """
    needed: dict[str, tuple[set[int], set[int]]] = {node_id: ({row}, {col})}
    position = {node.id: index for index, node in enumerate(check.order)}
    for node in reversed(check.order[: position[node_id] + 1]):
        units = needed.pop(node.id, None)
        if units is None:
            continue
        sources = document.inputs_of(node.id)
        if not sources:
            rows, columns = units
            return (min(rows), max(rows)), (min(columns), max(columns))
        shapes = check.input_shapes(document, node.id)
        geometry = node.layer.spatial_geometry(shapes)  # type: ignore[arg-type]
        assert geometry is not None, "a layer with a receptive field has a geometry"
        read = tuple(_read_along(geometry, axis, units[axis]) for axis in range(2))
        if not read[0] or not read[1]:  # this path reads nothing
            continue
        for source in sources:
            before = needed.setdefault(source.id, (set(), set()))
            before[0].update(read[0])
            before[1].update(read[1])
    return None


def _read_along(geometry: SpatialGeometry, axis: int, units: set[int]) -> set[int]:
    """Input indices the taps of ``units`` read along ``axis``."""
    parameters = (
        geometry.kernel[axis],
        geometry.stride[axis],
        geometry.pad_begin[axis],
        geometry.dilation[axis],
        geometry.upsample[axis],
    )
    return {tap for unit in units for tap in layer_taps(unit, *parameters)}


def _clip(top: int, left: int, bottom: int, right: int, input_hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
    inside = (max(top, 0), max(left, 0), min(bottom, input_hw[0] - 1), min(right, input_hw[1] - 1))
    if inside[0] > inside[2] or inside[1] > inside[3]:
        return None
    return inside


def receptive_field_by_depth(document: NetworkDocument) -> list[DepthPoint]:
    """Receptive field size against depth, for a chart of how fast the field grows.

    Depth counts *windowed* layers — those whose spatial geometry is not the identity
    (a kernel larger than 1, a stride, padding or dilation) — along the longest path
    from the Input. Activations, normalisation, dropout, merges and 1×1 stride-1
    convolutions leave the field's size unchanged, so they add no depth; counting them
    would stretch the chart with flat steps that depend on how a network is drawn.

    Returns
    -------
    list[DepthPoint]
        ``(name, depth, size_h, size_w)`` in topological order, for the Input, every
        windowed layer and every merge (where the bounding box can grow) that has a
        receptive field. Empty when the input is not an image or the network does not
        compute far enough to have shapes.
    """
    check = check_graph(document)
    fields = _fields(document)
    depth: dict[str, int] = {}
    points: list[DepthPoint] = []
    for node in check.order:
        field = fields.get(node.id)
        sources = document.inputs_of(node.id)
        if field is None:
            continue
        if not sources:
            depth[node.id] = 0
            points.append(DepthPoint(node.name, 0, *field.size))
            continue
        base = max(depth.get(s.id, 0) for s in sources)
        shapes = check.input_shapes(document, node.id)
        geometry = node.layer.spatial_geometry(shapes)  # type: ignore[arg-type]
        windowed = geometry is not None and geometry != IDENTITY_GEOMETRY
        depth[node.id] = base + 1 if windowed else base
        if windowed or len(sources) > 1:
            points.append(DepthPoint(node.name, depth[node.id], *field.size))
    return points
