"""Whether a network computes: topological order, arity, cycles and shape inference.

Every problem names the layer that causes it and the reason, so the app can mark that
node and the CLI can print one clear line. Layers downstream of a problem get no
shape but no problem of their own: only root causes are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import ShapeError
from core.graph.document import NetworkDocument, Node
from core.graph.events import Edge
from core.shapes import Shape


@dataclass(frozen=True)
class Problem:
    """One reason the network does not compute.

    Attributes
    ----------
    node_id, node_name
        The layer at fault, or ``None`` for a network-wide problem.
    message
        What is wrong, in words a user acts on.
    field
        The parameter at fault, where one is.
    """

    node_id: str | None
    node_name: str | None
    message: str
    field: str | None = None

    def __str__(self) -> str:
        if self.node_name is None:
            return self.message
        where = f"layer {self.node_name!r}"
        if self.field:
            where += f", field {self.field!r}"
        return f"{where}: {self.message}"


@dataclass
class GraphCheck:
    """Result of :func:`check_graph`.

    Attributes
    ----------
    order
        Nodes in topological order (inputs before the layers they feed); nodes on or
        behind a cycle are left out.
    shapes
        Output shape per node id (of its first output, for a layer with several); ``None``
        where it cannot be inferred.
    output_shapes
        The shape of every output per node id, in port order; ``None`` where unknown.
    problems
        Root-cause problems, in topological order.
    """

    order: list[Node] = field(default_factory=list)
    shapes: dict[str, Shape | None] = field(default_factory=dict)
    output_shapes: dict[str, list[Shape] | None] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def edge_shape(self, edge: Edge) -> Shape | None:
        """The shape ``edge`` carries: that of its source's output ``source_port``; ``None`` when unknown."""
        shapes = self.output_shapes.get(edge.source)
        return shapes[edge.source_port] if shapes is not None and edge.source_port < len(shapes) else None

    def input_shapes(self, document: NetworkDocument, node_id: str) -> list[Shape | None]:
        """Shapes fed to ``node_id``, in port order."""
        return [self.edge_shape(e) for e in document.input_edges(node_id)]


def _inputs_phrase(count: int) -> str:
    return "no input" if count == 0 else ("1 input" if count == 1 else f"{count} inputs")


def _arity_problem(node: Node, count: int) -> str | None:
    low, high = node.layer.min_inputs, node.layer.max_inputs
    if low <= count and (high is None or count <= high):
        return None
    if high is None:
        wanted = f"at least {low} inputs"
    elif low == high:
        wanted = _inputs_phrase(low).replace("no input", "no inputs")
    else:
        wanted = f"{low} to {high} inputs"
    return f"{node.type_name} needs {wanted}, but has {_inputs_phrase(count)}"


def _topological_order(document: NetworkDocument) -> tuple[list[Node], set[str]]:
    """Kahn's algorithm, ties broken by insertion order; returns (order, unordered ids)."""
    pending = {n.id: len(document.input_edges(n.id)) for n in document.nodes}
    ready = [n.id for n in document.nodes if pending[n.id] == 0]
    position = {n.id: i for i, n in enumerate(document.nodes)}
    order: list[Node] = []
    while ready:
        ready.sort(key=position.__getitem__)
        current = ready.pop(0)
        order.append(document.node(current))
        for edge in document.output_edges(current):
            pending[edge.target] -= 1
            if pending[edge.target] == 0:
                ready.append(edge.target)
    done = {n.id for n in order}
    return order, {node_id for node_id in pending if node_id not in done}


def _find_cycle(document: NetworkDocument, candidates: set[str]) -> list[str]:
    """Return node ids of one cycle among ``candidates`` (first id repeated at the end)."""
    order = {n.id: i for i, n in enumerate(document.nodes)}
    start = min(candidates, key=order.__getitem__)
    path: list[str] = []
    current = start
    while current not in path:
        path.append(current)
        current = next(e.target for e in document.output_edges(current) if e.target in candidates)
    return [*path[path.index(current) :], current]


def _cycle_problems(document: NetworkDocument, unordered: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    remaining = set(unordered)
    # Nodes merely downstream of a cycle are unordered too; peel them off first.
    changed = True
    while changed:
        changed = False
        for node_id in list(remaining):
            if not any(e.target in remaining for e in document.output_edges(node_id)):
                remaining.discard(node_id)
                changed = True
    while remaining:
        cycle = _find_cycle(document, remaining)
        names = " → ".join(repr(document.node(i).name) for i in cycle)
        for node_id in cycle[:-1]:
            node = document.node(node_id)
            problems.append(Problem(node_id, node.name, f"is part of a cycle: {names}"))
            remaining.discard(node_id)
    return problems


def check_graph(document: NetworkDocument) -> GraphCheck:
    """Order the layers, check their inputs and infer every output shape (once per document state)."""
    return document.memo("check_graph", lambda: _check_graph(document))


def _check_graph(document: NetworkDocument) -> GraphCheck:
    check = GraphCheck()
    if not any(n.layer.max_inputs == 0 for n in document.nodes):
        check.problems.append(Problem(None, None, "the network has no Input layer"))
    check.order, unordered = _topological_order(document)
    check.problems.extend(_cycle_problems(document, unordered))
    for node in document.nodes:
        check.shapes[node.id] = None
        check.output_shapes[node.id] = None
    for node in check.order:
        missing = _missing_outputs(document, node)
        check.problems.extend(missing)
        inputs = check.input_shapes(document, node.id)
        arity = _arity_problem(node, len(inputs))
        if arity:
            check.problems.append(Problem(node.id, node.name, arity))
            continue
        if any(shape is None for shape in inputs):
            continue
        try:
            shapes = node.layer.output_shapes(inputs)  # type: ignore[arg-type]
        except ShapeError as exc:
            check.problems.append(Problem(node.id, node.name, str(exc)))
            continue
        check.output_shapes[node.id], check.shapes[node.id] = shapes, shapes[0]
    return check


def _missing_outputs(document: NetworkDocument, node: Node) -> list[Problem]:
    """Edges leaving an output ``node`` no longer has (its output count shrank after they were made)."""
    count = node.layer.output_count
    problems = []
    for edge in document.output_edges(node.id):
        if edge.source_port >= count:
            target = document.node(edge.target).name
            param = node.layer.output_count_param
            why = f"{param} is {count}" if param else f"it has {count} output{'s' * (count != 1)}"
            message = (
                f"output {edge.source_port + 1} of {node.name!r} no longer exists ({why}): "
                f"connect {target!r} to one of its outputs 1 to {count}"
                + (f", or set {param} to {edge.source_port + 1} or more" if param else "")
            )
            problems.append(Problem(node.id, node.name, message, param or None))
    return problems


def validate(document: NetworkDocument) -> list[Problem]:
    """Return every root-cause problem of ``document`` (empty when it computes)."""
    return check_graph(document).problems


def connection_problem(
    document: NetworkDocument, source_id: str, target_id: str, *, source_port: int = 0
) -> str | None:
    """Return why wiring output ``source_port`` of ``source`` into the next free input of ``target`` is impossible.

    Checks self-loops, a missing output, a full target, cycles and — where the shapes
    are known — whether the target accepts the source's output. Returns ``None`` when
    the connection is fine.
    """
    source, target = document.node(source_id), document.node(target_id)
    if source_id == target_id:
        return "a layer cannot feed itself"
    outputs = source.layer.output_count
    if not 0 <= source_port < outputs:
        return f"{source.name!r} has {outputs} output{'s' * (outputs != 1)}; output {source_port + 1} does not exist"
    existing = document.inputs_of(target_id)
    limit = target.layer.max_inputs
    if limit == 0:
        return f"{target.type_name} layers take no inputs"
    if limit is not None and len(existing) >= limit:
        fed_by = ", ".join(repr(n.name) for n in existing)
        return f"{target.name!r} takes {_inputs_phrase(limit)} and is already fed by {fed_by}"
    if document.reaches(target_id, source_id):
        return f"connecting {source.name!r} to {target.name!r} would close a cycle"
    check = check_graph(document)
    new_edge = Edge(source_id, target_id, len(existing), source_port)
    shapes = [*check.input_shapes(document, target_id), check.edge_shape(new_edge)]
    if len(shapes) >= target.layer.min_inputs and all(s is not None for s in shapes):
        try:
            target.layer.output_shape(shapes)  # type: ignore[arg-type]
        except ShapeError as exc:
            return str(exc)
    return None
