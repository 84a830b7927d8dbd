"""The network document: layer nodes, the edges between them, and change events.

The document is the single source of truth that the canvas, the inspector, the
engine and the file format all read. Its methods keep it structurally sound (unique
ids and names, valid parameters, edges between existing nodes on free ports);
whether the network *computes* — shapes, arity, cycles — is checked by
:mod:`core.graph.validation`, so a half-built network can still be edited and saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from core.errors import GraphError, ParamError
from core.graph.events import (
    DocumentEvent,
    Edge,
    EdgeAdded,
    EdgeRemoved,
    MetadataChanged,
    NodeAdded,
    NodeMoved,
    NodeRemoved,
    NodeRenamed,
    ParamChanged,
    TrainingChanged,
)
from core.layers import create_layer
from core.layers.base import Layer

Listener = Callable[[DocumentEvent], None]
T = TypeVar("T")
Position = tuple[float, float]

MAX_NAME_LENGTH = 255
"""Longest layer name, in characters: a file-name's limit, and room for any exporter's names."""
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Unicode's control characters (category Cc) and surrogates (Cs)."""


def layer_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a layer name, or ``None`` when it can (whether it is taken aside).

    Names are data, never paths: any text of 1 to :data:`MAX_NAME_LENGTH` characters is a
    name (``/conv1/Conv``, ``..``, ``a\\b``, ``批次 1``, spaces at either end) except text
    that is only spaces, and text holding a control character (a line break, a tab, NUL:
    nothing a canvas or a list can show) or a lone surrogate (not text, cannot be written
    as UTF-8).
    """
    if not isinstance(name, str) or not name.strip():
        return "a layer name must not be empty"
    found = _UNSHOWABLE.search(name)
    if found is not None:
        code, position = ord(found.group()), found.start() + 1
        if code < 0xD800:
            return (
                f"layer name {name[:40]!r} holds a control character (U+{code:04X}) at position {position}, "
                "which cannot be shown; names are one line of visible text"
            )
        return (
            f"layer name {name[:40]!r} holds U+{code:04X} at position {position}, a lone surrogate: "
            "not a character, and not writable as UTF-8"
        )
    if len(name) > MAX_NAME_LENGTH:
        return f"layer name {name[:20]!r}… is {len(name)} characters long; names have at most {MAX_NAME_LENGTH}"
    return None


def holdable_name(text: str) -> str:
    """``text`` in a form a layer name can take, for names that come from elsewhere (ONNX models).

    Control characters and lone surrogates become U+FFFD (�), the text is cut to
    :data:`MAX_NAME_LENGTH` characters; empty when nothing but spaces is left. Text that
    is a valid name already comes back unchanged.
    """
    if layer_name_problem(text) is None:
        return text
    text = _UNSHOWABLE.sub("\ufffd", text)[:MAX_NAME_LENGTH]
    return text if text.strip() else ""


def free_name(stem: str, taken: Callable[[str], bool], start: int = 0) -> str:
    """``stem``, else ``stem_{start + 1}``, ``stem_{start + 2}`` …: the first not ``taken``.

    ``start`` skips suffixes known to be taken. Each candidate is cut to
    :data:`MAX_NAME_LENGTH` characters, the suffix kept whole.
    """
    candidate, index = stem[:MAX_NAME_LENGTH], start
    while taken(candidate):
        index += 1
        suffix = f"_{index}"
        candidate = stem[: MAX_NAME_LENGTH - len(suffix)] + suffix
    return candidate


MAX_LR_MULTIPLIER = 10.0


@dataclass(frozen=True)
class LayerTraining:
    """How training treats one layer's weights.

    Attributes
    ----------
    trainable
        ``False`` freezes the layer: its weights get no update and no L1/L2 penalty, and a
        frozen BatchNorm normalises with its running statistics and keeps them (inference
        mode, as Keras does), so a pretrained network's features stay as they were.
    lr_multiplier
        The layer's learning rate is the run's times this, in ``[0, 10]`` (fine-tune early
        layers gently with less than 1).
    """

    trainable: bool = True
    lr_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.trainable, bool):
            raise ParamError("trainable", f"must be true or false, got {self.trainable!r}")
        value = self.lr_multiplier
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_LR_MULTIPLIER:
            raise ParamError("lr_multiplier", f"must be a number from 0 to {MAX_LR_MULTIPLIER:g}, got {value!r}")
        object.__setattr__(self, "lr_multiplier", float(value))

    @property
    def is_default(self) -> bool:
        return self == LayerTraining()

    @property
    def update_scale(self) -> float:
        """What the run's learning rate is multiplied by for this layer: 0 when frozen."""
        return self.lr_multiplier if self.trainable else 0.0


DEFAULT_TRAINING = LayerTraining()


@dataclass
class Node:
    """One layer placed in the network.

    Attributes
    ----------
    id
        Stable identifier, never shown to users, unchanged by renames.
    name
        Unique, user-visible name; files and exports refer to layers by it.
    layer
        The layer type and its validated parameters (immutable; replaced on change).
    position
        Canvas position of the node's centre, in scene units.
    training
        Frozen or not, and its learning-rate multiplier.
    """

    id: str
    name: str
    layer: Layer
    position: Position = (0.0, 0.0)
    training: LayerTraining = DEFAULT_TRAINING

    @property
    def type_name(self) -> str:
        return self.layer.type_name


class NetworkDocument:
    """A network being built: nodes, edges, a name and a description.

    Every change goes through a method, which emits exactly the events that describe
    it to the subscribed listeners, after the change is complete.
    """

    def __init__(self, name: str = "Untitled network", description: str = "") -> None:
        self._name = name
        self._description = description
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        # Per-node indices of _edges, so graph walks cost O(edges), not O(nodes × edges).
        self._in_edges: dict[str, list[Edge]] = {}
        self._out_edges: dict[str, list[Edge]] = {}
        # Name → id, so that name lookups (every add checks its name) do not scan all layers.
        self._ids_by_name: dict[str, str] = {}
        self._listeners: list[Listener] = []
        self._memo: dict[str, Any] = {}
        self._next_id = 1

    # -- observation -----------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` after every change; return a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: DocumentEvent) -> None:
        if not isinstance(event, NodeMoved):  # positions feed no analysis
            self._memo.clear()
        for listener in list(self._listeners):
            listener(event)

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` for the document as it is now, computed once per state.

        The canvas, the inspector, the summary and the problem list all analyse the
        document after each edit; this lets them share one analysis. Any change other
        than a move forgets every result (before listeners hear of it); results must be
        treated as read-only.
        """
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # -- metadata --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        if value != self._name:
            old, self._name = self._name, value
            self._emit(MetadataChanged("name", old, value))

    @property
    def description(self) -> str:
        return self._description

    @description.setter
    def description(self, value: str) -> None:
        if value != self._description:
            old, self._description = self._description, value
            self._emit(MetadataChanged("description", old, value))

    # -- queries ---------------------------------------------------------------------

    @property
    def nodes(self) -> list[Node]:
        """All nodes, in the order they were added."""
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def node(self, node_id: str) -> Node:
        """Return the node with id ``node_id``; raise :class:`GraphError` if there is none."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphError(f"no node with id {node_id!r}") from None

    def node_by_name(self, name: str) -> Node | None:
        node_id = self._ids_by_name.get(name)
        return self._nodes[node_id] if node_id is not None else None

    def input_edges(self, node_id: str) -> list[Edge]:
        """Edges into ``node_id``, ordered by port (the order inputs are used in)."""
        return sorted(self._in_edges.get(node_id, ()), key=lambda e: e.port)

    def output_edges(self, node_id: str) -> list[Edge]:
        return list(self._out_edges.get(node_id, ()))

    def inputs_of(self, node_id: str) -> list[Node]:
        """Nodes feeding ``node_id``, in port order."""
        return [self._nodes[e.source] for e in self.input_edges(node_id)]

    def unique_name(self, stem: str) -> str:
        """Return ``stem`` if free, else ``stem_1``, ``stem_2`` … (the first free one).

        Long stems are cut so that the name, suffix included, fits :data:`MAX_NAME_LENGTH`.
        """
        return free_name(stem, lambda name: name in self._ids_by_name)

    def reaches(self, start_id: str, goal_id: str) -> bool:
        """Return whether ``goal_id`` can be reached from ``start_id`` along edges."""
        stack, seen = [start_id], set()
        while stack:
            current = stack.pop()
            if current == goal_id:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(e.target for e in self._out_edges.get(current, ()))
        return False

    # -- node edits ------------------------------------------------------------------

    def name_problem(self, name: str, node_id: str | None = None) -> str | None:
        """Why ``name`` cannot be given to ``node_id`` (or a new node), or ``None`` if it can."""
        try:
            self._check_name(name, node_id)
        except GraphError as exc:
            return str(exc)
        return None

    def _check_name(self, name: str, node_id: str | None = None) -> str:
        problem = layer_name_problem(name)
        if problem is not None:
            raise GraphError(problem)
        other = self.node_by_name(name)
        if other is not None and other.id != node_id:
            raise GraphError(f"another layer is already named {name!r}")
        return name

    def add_node(
        self,
        type_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        position: Position = (0.0, 0.0),
        node_id: str | None = None,
        index: int | None = None,
        training: LayerTraining = DEFAULT_TRAINING,
    ) -> Node:
        """Add a layer of ``type_name`` and return its node.

        Parameters
        ----------
        type_name
            A registered layer type, e.g. ``"Conv2D"``.
        params
            Parameter values; missing ones take the type's defaults.
        name
            Unique display name; generated from the type when omitted.
        position
            Canvas position of the node's centre.
        node_id
            Reuse a known id (undo of a removal); generated when omitted.
        index
            Place in :attr:`nodes` (undo of a removal puts a node back where it was);
            at the end when omitted.
        training
            Frozen or not, and the learning-rate multiplier.

        Raises
        ------
        core.errors.LayerwiseError
            Unknown type, invalid parameter, taken name or id.
        """
        layer = create_layer(type_name, params)
        name = self._check_name(name) if name is not None else self.unique_name(layer.default_name_stem())
        if node_id is None:
            while f"n{self._next_id}" in self._nodes:
                self._next_id += 1
            node_id = f"n{self._next_id}"
            self._next_id += 1
        elif node_id in self._nodes:
            raise GraphError(f"a node with id {node_id!r} exists already")
        node = Node(node_id, name, layer, (float(position[0]), float(position[1])), training)
        if index is None or index >= len(self._nodes):
            self._nodes[node_id] = node
        else:
            items = list(self._nodes.items())
            items.insert(index, (node_id, node))
            self._nodes = dict(items)
        self._in_edges[node_id], self._out_edges[node_id] = [], []
        self._ids_by_name[name] = node_id
        self._emit(NodeAdded(node_id))
        return node

    def remove_node(self, node_id: str) -> Node:
        """Remove a node and every edge touching it (each edge removal is emitted first)."""
        node = self.node(node_id)
        for edge in self._in_edges[node_id] + self._out_edges[node_id]:
            self.disconnect(edge)
        del self._nodes[node_id], self._in_edges[node_id], self._out_edges[node_id]
        del self._ids_by_name[node.name]
        self._emit(NodeRemoved(node_id))
        return node

    def set_param(self, node_id: str, param: str, value: Any) -> None:
        """Set one parameter of a node's layer after validating it.

        Raises
        ------
        ParamError
            Naming the layer, the field and what is wrong; the node is unchanged.
        """
        self.set_params(node_id, {param: value})

    def set_params(self, node_id: str, changes: Mapping[str, Any]) -> None:
        """Set several parameters of a node's layer at once, validating only the combined result.

        Parameters that constrain each other (an Input's ``mean`` and its channel count) can
        change together this way: no intermediate layer is built. One :class:`ParamChanged`
        is emitted per parameter that changed, after the layer holds all of them.

        Raises
        ------
        ParamError
            Naming the layer, the field and what is wrong; the node is unchanged.
        """
        node = self.node(node_id)
        try:
            new_layer = node.layer.with_params(**changes)
        except ParamError as exc:
            raise ParamError(exc.field, f"{exc.reason} (layer {node.name!r})") from None
        old_layer = node.layer
        changed = [name for name in changes if old_layer.params[name] != new_layer.params[name]]
        if not changed:
            return
        node.layer = new_layer
        for name in changed:
            self._emit(ParamChanged(node_id, name, old_layer.params[name], new_layer.params[name]))

    def set_training(self, node_id: str, training: LayerTraining) -> None:
        """Freeze or unfreeze a layer, or set its learning-rate multiplier."""
        node = self.node(node_id)
        if training == node.training:
            return
        old, node.training = node.training, training
        self._emit(TrainingChanged(node_id, old, training))

    def rename_node(self, node_id: str, new_name: str) -> None:
        node = self.node(node_id)
        if new_name == node.name:
            return
        self._check_name(new_name, node_id)
        old, node.name = node.name, new_name
        del self._ids_by_name[old]
        self._ids_by_name[new_name] = node_id
        self._emit(NodeRenamed(node_id, old, new_name))

    def move_node(self, node_id: str, position: Position) -> None:
        node = self.node(node_id)
        new = (float(position[0]), float(position[1]))
        if new != node.position:
            old, node.position = node.position, new
            self._emit(NodeMoved(node_id, old, new))

    # -- edge edits ------------------------------------------------------------------

    def connect(
        self,
        source_id: str,
        target_id: str,
        port: int | None = None,
        *,
        source_port: int = 0,
        missing_output_ok: bool = False,
    ) -> Edge:
        """Connect output ``source_port`` of ``source`` to input ``port`` of ``target``.

        ``port=None`` takes the next free input. Cycles are allowed here (a file may
        contain one, and validation names it); interactive front ends ask
        :func:`core.graph.validation.connection_problem` first. ``missing_output_ok``
        accepts an output the source does not have now: an edge made before its source's
        output count shrank, put back by a file, a copy or an undo; validation names it.

        Raises
        ------
        GraphError
            Unknown node, a node wired to itself, an output the source does not have,
            a port beyond the target's inputs or one that is taken.
        """
        source, target = self.node(source_id), self.node(target_id)
        if source_id == target_id:
            raise GraphError(f"layer {source.name!r} cannot feed itself")
        outputs = source.layer.output_count
        if (
            isinstance(source_port, bool)
            or not isinstance(source_port, int)
            or source_port < 0
            or (source_port >= outputs and not missing_output_ok)
        ):
            raise GraphError(
                f"{source.type_name} layer {source.name!r} has {outputs} output{'s' * (outputs != 1)}; "
                f"output port {source_port} (counting from 0) does not exist"
            )
        used = {e.port: e for e in self._in_edges[target_id]}
        if port is None:
            port = max(used, default=-1) + 1
        limit = target.layer.max_inputs
        if not isinstance(port, int) or port < 0 or (limit is not None and port >= limit):
            if limit == 0:
                raise GraphError(f"{target.type_name} layer {target.name!r} takes no inputs")
            raise GraphError(
                f"{target.type_name} layer {target.name!r} has {limit} input(s); port {port} does not exist"
            )
        if port in used:
            taken_by = self._nodes[used[port].source].name
            raise GraphError(f"input {port + 1} of {target.name!r} is already fed by {taken_by!r}")
        edge = Edge(source_id, target_id, port, source_port)
        self._edges.append(edge)
        self._in_edges[target_id].append(edge)
        self._out_edges[source_id].append(edge)
        self._emit(EdgeAdded(edge))
        return edge

    def disconnect(self, edge: Edge) -> None:
        if edge not in self._edges:
            raise GraphError(f"no such connection: {edge}")
        self._edges.remove(edge)
        self._in_edges[edge.target].remove(edge)
        self._out_edges[edge.source].remove(edge)
        self._emit(EdgeRemoved(edge))

    # -- building helpers ------------------------------------------------------------

    def merge(self, type_name: str, source_ids: Iterable[str], name: str | None = None) -> Node:
        """Add a merge layer (``Add``, ``Concat``) fed by ``source_ids`` in order; return it."""
        node = self.add_node(type_name, name=name)
        for source_id in source_ids:
            self.connect(source_id, node.id)
        return node

    def chain(self, first_id: str, layers: Iterable[tuple[str, Mapping[str, Any] | None, str | None]]) -> Node:
        """Append ``(type, params, name)`` layers one after another behind ``first_id``.

        Returns the last node; handy for building example networks in code.
        """
        current = self.node(first_id)
        for type_name, params, name in layers:
            node = self.add_node(type_name, params, name=name)
            self.connect(current.id, node.id)
            current = node
        return current
