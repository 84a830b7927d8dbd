"""Compile a network document into a runnable, trainable model.

All parameters live in one flat vector (``Model.params``) and all gradients in another
(``Model.grads``), with each layer's tensors as views into them: an optimiser step
is a few NumPy calls, and the L1/L2 penalty covers one leading slice, since kernels
that are penalised (regularised kernels of layers that train) are placed first.

Each layer's training settings (:class:`~core.graph.document.LayerTraining`, read when
the model is compiled) become per-parameter facts: :attr:`Model.update_scale` (the
learning-rate factor of every value, 0 for frozen layers), :attr:`Model.frozen_slices`
and :attr:`Model.penalized_size`. A frozen BatchNorm runs in inference mode in training
passes too, as Keras does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.engine.initializers import initial_values
from core.engine.memory import keep_freed_memory
from core.engine.weights_file import read_weights, weight_key, write_weights
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument, Node
from core.graph.validation import check_graph
from core.ops.activations import LogSoftmaxOp
from core.ops.basic import BatchNormOp, DropoutOp, SoftmaxOp
from core.ops.kernels import to_batch_major, to_channel_major
from core.ops.op import Op, ParamInit
from core.safe_npz import float_range_problem
from core.shapes import Shape, format_shape

MAX_WEIGHTS_BYTES = 2**31
"""Largest single tensor a weights file may hold (VGG-16's largest is 411 MB)."""


class WeightsError(LayerwiseError):
    """Saved weights do not fit the network (missing, extra or misshapen tensors)."""


@dataclass(frozen=True)
class ParamEntry:
    """Where one parameter tensor lives in the flat vector."""

    layer: str
    name: str
    shape: tuple[int, ...]
    start: int
    stop: int

    @property
    def key(self) -> str:
        """``"layer/param"`` (:func:`~core.engine.weights_file.weight_key`)."""
        return weight_key(self.layer, self.name)


class Model:
    """A network document ready to run forward and backward.

    Parameters
    ----------
    document
        A network that computes, with exactly one Input and one output layer.
    dtype
        ``float32`` for training, ``float64`` for gradient checks.
    seed
        Seeds the initial weights and the dropout masks.

    Attributes
    ----------
    params, grads
        ``(P,)``: every parameter, and its gradient, as one flat vector.
    update_scale
        ``(P,)``: what the learning rate is multiplied by for each value (its layer's
        ``LayerTraining.update_scale``: the multiplier, 0 when the layer is frozen).
    frozen_node_ids
        Ids of the frozen layers; their weights take no step and no L1/L2 penalty, and a
        frozen BatchNorm normalises with its running statistics in training passes too.
    frozen_slices
        The stretches of ``params`` that belong to frozen layers.
    penalized_size
        L1/L2 penalise ``params[:penalized_size]``: the kernels of layers that train.

    Each layer's training settings are read when the model is compiled; compile again
    after changing them.

    Raises
    ------
    LayerwiseError
        When the network does not compute or has several inputs or outputs.
    """

    def __init__(self, document: NetworkDocument, *, dtype: type = np.float32, seed: int = 0) -> None:
        check = check_graph(document)
        if check.problems:
            raise LayerwiseError("the network does not compute: " + "; ".join(str(p) for p in check.problems))
        keep_freed_memory()
        self.dtype = np.dtype(dtype)
        self.document = document
        self.order: list[Node] = check.order
        inputs = [n for n in self.order if n.layer.is_network_input]
        outputs = [n for n in self.order if not document.output_edges(n.id)]
        if len(inputs) != 1:
            names = ", ".join(repr(n.name) for n in inputs)
            raise LayerwiseError(
                f"a trainable network has exactly one Input layer; this one has {len(inputs)}: {names}"
            )
        if len(outputs) != 1:
            names = ", ".join(repr(n.name) for n in outputs)
            raise LayerwiseError(
                f"a trainable network has exactly one output (a layer nothing reads); this one has {len(outputs)}: {names}"
            )
        self.input_node, self.output_node = inputs[0], outputs[0]
        if self.output_node.layer.output_count > 1:
            raise LayerwiseError(
                f"a trainable network ends in a layer with one output; its output {self.output_node.name!r} "
                f"has {self.output_node.layer.output_count}: feed them into a layer that joins them (Concat, Add)"
            )
        # Several outputs: a list of arrays, in port order; the first is the layer's shape here.
        self.output_counts = {n.id: n.layer.output_count for n in self.order}
        self.output_shapes: dict[str, list[Shape]] = {n.id: check.output_shapes[n.id] for n in self.order}  # type: ignore[misc]
        self.shapes: dict[str, Shape] = {n.id: self.output_shapes[n.id][0] for n in self.order}
        self.input_shape = self.shapes[self.input_node.id]
        self.output_shape = self.shapes[self.output_node.id]
        edges = {n.id: document.input_edges(n.id) for n in self.order}
        self.sources = {n.id: [e.source for e in edges[n.id]] for n in self.order}
        self.source_ports = {n.id: [e.source_port for e in edges[n.id]] for n in self.order}
        self._reading_input = [n.id for n in self.order if self.input_node.id in self.sources[n.id]]
        self._position = {n.id: i for i, n in enumerate(self.order)}
        self.ops: dict[str, Op] = {n.id: n.layer.build(self.input_shapes(n.id)) for n in self.order}
        # Cross-entropy reads the scores before a final Softmax or LogSoftmax (fused, stable).
        scores = self.sources[self.output_node.id][:1]
        self.logits_node = (
            document.node(scores[0])
            if isinstance(self.ops[self.output_node.id], (SoftmaxOp, LogSoftmaxOp))
            and len(self.output_shape) == 1
            and self.output_counts[scores[0]] == 1
            else self.output_node
        )
        # What the latest forward pass left for backward: the nodes whose ops hold their caches,
        # the batch size, and the inputs of BatchNorm layers that ran in inference mode.
        self._recorded: frozenset[str] = frozenset()
        self._recorded_batch = 0
        self.captured_grads: dict[str, np.ndarray] = {}
        """Output gradients kept by the latest :meth:`backward_from` for its ``capture`` layers."""
        self._frozen_inputs: dict[str, np.ndarray] = {}
        self.frozen_node_ids: frozenset[str] = frozenset(n.id for n in self.order if not n.training.trainable)
        """Layers whose weights training leaves as they are (``trainable`` off), as compiled."""
        self._plans: dict[frozenset[str], tuple[frozenset[str], dict[str, int]]] = {}
        self._allocate()
        self.initialize(seed)

    def inputs_of(self, node_id: str) -> list[tuple[str, int]]:
        """``(source id, source port)`` of each input of ``node_id``, in port order."""
        return list(zip(self.sources[node_id], self.source_ports[node_id]))

    def input_shapes(self, node_id: str) -> list[Shape]:
        """The shapes fed to ``node_id``, in port order (each from its source's output port)."""
        return [self.output_shapes[source][port] for source, port in self.inputs_of(node_id)]

    def _output(self, value: np.ndarray | list[np.ndarray], node_id: str, port: int = 0) -> np.ndarray:
        """Output ``port`` of ``node_id`` from what its op returned (a list for several outputs)."""
        return value[port] if self.output_counts[node_id] > 1 else value  # type: ignore[return-value]

    # -- parameters -----------------------------------------------------------------

    def _allocate(self) -> None:
        """Lay every parameter out in :attr:`params`, and derive the per-parameter training facts.

        Order: the penalised kernels (regularised, of layers that train), then the kernels of
        frozen layers, then everything else, so that :attr:`penalized_size` and
        :attr:`regularized_size` are leading slices. It sets:

        update_scale
            ``(P,)`` in :attr:`dtype`: each value's layer's learning-rate multiplier, 0 when frozen.
        frozen_slices
            The stretches of :attr:`params` that belong to frozen layers (adjacent ones merged).
        penalized_size
            How many leading values L1/L2 penalise.
        regularized_size
            How many leading values are regularised kernels, frozen or not (what the layers mark).
        """

        def place(item: tuple[Node, str, ParamInit]) -> int:
            node, _, init = item
            if init.regularized:
                return 0 if node.training.trainable else 1
            return 2

        wanted = [(node, name, init) for node in self.order for name, init in self.ops[node.id].param_inits().items()]
        # Initial weights are drawn in the order without freezing, so that freezing a layer
        # leaves every layer's fresh weights as they were for the same seed.
        drawn = [weight_key(node.name, name) for node, name, init in sorted(wanted, key=lambda i: not i[2].regularized)]
        wanted.sort(key=place)  # stable: layer order within each group
        total = sum(int(np.prod(init.shape)) for _, _, init in wanted)
        self.params = np.zeros(total, dtype=self.dtype)
        self.grads = np.zeros(total, dtype=self.dtype)
        self.update_scale = np.ones(total, dtype=self.dtype)
        self.entries: list[ParamEntry] = []
        self._inits = {}
        frozen: list[slice] = []
        offset = 0
        for node, name, init in wanted:
            size = int(np.prod(init.shape))
            entry = ParamEntry(node.name, name, init.shape, offset, offset + size)
            op = self.ops[node.id]
            op.params[name] = self.params[offset : offset + size].reshape(init.shape)
            op.grads[name] = self.grads[offset : offset + size].reshape(init.shape)
            self.update_scale[offset : offset + size] = node.training.update_scale
            if not node.training.trainable and size:
                if frozen and frozen[-1].stop == offset:
                    frozen[-1] = slice(frozen[-1].start, offset + size)
                else:
                    frozen.append(slice(offset, offset + size))
            self.entries.append(entry)
            self._inits[entry.key] = (node, init)
            offset += size
        self.frozen_slices: tuple[slice, ...] = tuple(frozen)
        by_key = {entry.key: entry for entry in self.entries}
        self._drawn = [by_key[key] for key in drawn]
        self.penalized_size = sum(int(np.prod(item[2].shape)) for item in wanted if place(item) == 0)
        self.regularized_size = sum(e.stop - e.start for e in self.entries if self._inits[e.key][1].regularized)
        self.buffers: dict[str, np.ndarray] = {}
        for node in self.order:
            op = self.ops[node.id]
            for name, (shape, fill) in op.buffer_inits().items():
                op.buffers[name] = np.full(shape, fill, dtype=self.dtype)
                self.buffers[weight_key(node.name, name)] = op.buffers[name]

    def _feeds_relu(self, node: Node) -> bool:
        """Whether ``node``'s output reaches a ReLU-like activation (``he_init_before``).

        Layers that pass values through (BatchNorm, pooling, dropout) are looked through.
        """
        for edge in self.document.output_edges(node.id):
            consumer = self.document.node(edge.target).layer
            if consumer.he_init_before:
                return True
            if consumer.passes_values_through and self._feeds_relu(self.document.node(edge.target)):
                return True
        return False

    def initialize(self, seed: int) -> None:
        """Draw fresh initial weights (He before ReLU-family activations, Glorot elsewhere)."""
        rng = np.random.default_rng(seed)
        for entry in self._drawn:
            node, init = self._inits[entry.key]
            if init.initializer == "he_normal" and not self._feeds_relu(node):
                init = type(init)(init.shape, "glorot_uniform", init.fan_in, init.fan_out, init.regularized)
            self.params[entry.start : entry.stop] = initial_values(init, rng, self.dtype).ravel()
        for node in self.order:
            for name, (_, fill) in self.ops[node.id].buffer_inits().items():
                self.ops[node.id].buffers[name][...] = fill
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Reset every random stream (dropout masks) to a state derived from ``seed``."""
        for index, node in enumerate(self.order):
            self.ops[node.id].rng = np.random.default_rng([seed, index])

    @property
    def parameter_count(self) -> int:
        return int(self.params.size)

    # -- dropout switch ---------------------------------------------------------------

    @property
    def dropout_enabled(self) -> bool:
        return all(op.enabled for op in self.ops.values() if isinstance(op, DropoutOp))

    @dropout_enabled.setter
    def dropout_enabled(self, enabled: bool) -> None:
        for op in self.ops.values():
            if isinstance(op, DropoutOp):
                op.enabled = enabled

    @property
    def has_dropout(self) -> bool:
        return any(isinstance(op, DropoutOp) for op in self.ops.values())

    # -- running -------------------------------------------------------------------

    def check_input(self, x: np.ndarray) -> None:
        """Raise a :class:`LayerwiseError` when ``x`` does not fit the Input.

        The message names both shapes, or the value that is NaN, infinite or beyond the
        range of the model's numbers (which casting would silently turn into infinity).
        """
        if x.shape[1:] != tuple(self.input_shape):
            raise LayerwiseError(
                f"samples of shape {format_shape(x.shape[1:])} do not fit the network's input "
                f"{self.input_node.name!r} of shape {format_shape(self.input_shape)}"
            )
        problem = float_range_problem(x, self.dtype)
        if problem is not None:
            raise LayerwiseError(f"the batch fed to the network's input {self.input_node.name!r} {problem}")

    def _plan(self, targets: Sequence[str]) -> tuple[frozenset[str], dict[str, int]]:
        """The nodes ``targets`` depend on (themselves included) and how many of those read each one."""
        key = frozenset(targets)
        if key not in self._plans:
            needed: set[str] = set()
            stack = list(key)
            while stack:
                node_id = stack.pop()
                if node_id not in needed:
                    needed.add(node_id)
                    stack.extend(self.sources[node_id])
            readers = dict.fromkeys(needed, 0)
            for node_id in needed:
                for source in self.sources[node_id]:  # once per edge, as the forward loop frees per edge
                    readers[source] += 1
            self._plans[key] = (frozenset(needed), readers)
        return self._plans[key]

    def _forward(
        self, x: np.ndarray, targets: Sequence[str], training: bool, record: bool, ports: Sequence[int] | None = None
    ) -> dict[str, np.ndarray]:
        """Run just the nodes ``targets`` depend on; return the targets' outputs in the engine layout.

        ``ports`` picks the output of each target (its first by default) for layers with several.

        ``record`` keeps the ops' backward caches during inference: every op runs its caching
        (training) path except BatchNorm and Dropout, whose training paths compute something
        else; BatchNorm's input is kept so that backward can treat it as the fixed affine map it
        is at inference (:func:`_frozen_batchnorm_backward`). A frozen BatchNorm (its layer in
        :attr:`frozen_node_ids`) takes that inference path in training passes too.
        """
        needed, readers = self._plan(targets)
        last = max(self._position[t] for t in targets)
        keep = set(targets)
        remaining = dict(readers)
        # Forget the previous pass first: if this one fails half-way, no backward may trust the caches.
        self._recorded, self._frozen_inputs = frozenset(), {}
        frozen: dict[str, np.ndarray] = {}
        values: dict[str, np.ndarray | list[np.ndarray]] = {}
        for node in self.order[: last + 1]:
            if node.id not in needed:
                continue  # a branch the targets do not read
            sources = self.sources[node.id]
            inputs = (
                [self._output(values[s], s, p) for s, p in self.inputs_of(node.id)]
                if sources
                else [x.astype(self.dtype, copy=False)]
            )
            op = self.ops[node.id]
            # A BatchNorm runs in inference mode outside training and, when its layer is frozen,
            # in training too: running statistics, kept as they are (Keras's behaviour).
            inference_norm = isinstance(op, BatchNormOp) and (not training or node.id in self.frozen_node_ids)
            caching = not inference_norm if training else record and not isinstance(op, (BatchNormOp, DropoutOp))
            if (training or record) and inference_norm:
                frozen[node.id] = inputs[0]
            values[node.id] = op.forward(inputs, caching)
            for source in sources:  # free activations as soon as nothing else reads them
                remaining[source] -= 1
                if remaining[source] == 0 and source not in keep:
                    del values[source]
        if training or record:
            self._recorded, self._recorded_batch, self._frozen_inputs = needed, len(x), frozen
        ports = ports or [0] * len(targets)
        return {t: self._output(values[t], t, port) for t, port in zip(targets, ports)}

    def _run(self, x: np.ndarray, training: bool, stop_at: Node) -> np.ndarray:
        return self._forward(x, (stop_at.id,), training, record=False)[stop_at.id]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Run the network on ``x`` (``(N, *input_shape)``); return ``(N, *output_shape)``."""
        return to_batch_major(self._run(x, training, self.output_node))

    def forward_logits(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Like :meth:`forward`, but stop before a final Softmax: the class scores."""
        return to_batch_major(self._run(x, training, self.logits_node))

    def forward_to(
        self, x: np.ndarray, node_ids: Sequence[str], training: bool = False, *, keep_for_backward: bool = False
    ) -> dict[str, np.ndarray]:
        """Return the outputs of several layers from one forward pass.

        Only the layers the requested ones depend on run, and the pass stops after the last
        of them; a requested output stays alive even when every layer reading it has run.

        Parameters
        ----------
        x
            ``(N, *input_shape)`` batch.
        node_ids
            Ids of the layers whose outputs are wanted (any order, repeats allowed).
        training
            Run as in a training step: BatchNorm normalises with the batch statistics and
            updates its running ones (a frozen BatchNorm uses and keeps its running ones),
            dropout draws masks, every op keeps its backward cache.
        keep_for_backward
            With ``training=False``: an inference pass (running statistics, no dropout) whose
            ops still keep what backward needs, so that :meth:`backward_from` can follow.

        Returns
        -------
        dict[str, np.ndarray]
            Node id → output, batch-major: ``(N, C, H, W)`` for maps, ``(N, F)`` for vectors.
            For a layer with several outputs, its first output.

        Raises
        ------
        LayerwiseError
            When an id is not a layer of this model or ``x`` does not fit the input.
        """
        if isinstance(node_ids, str):  # one id is a sequence of characters too
            node_ids = [node_ids]
        if not node_ids:
            return {}
        for node_id in node_ids:
            self._require_node(node_id)
        self.check_input(x)
        outputs = self._forward(x, tuple(node_ids), training, record=keep_for_backward)
        return {node_id: to_batch_major(value) for node_id, value in outputs.items()}

    def forward_output(self, x: np.ndarray, node_id: str, port: int) -> np.ndarray:
        """Output ``port`` of layer ``node_id`` for ``x`` (``(N, *input_shape)``), batch-major, at inference.

        For any output of a layer with several (a channel split); :meth:`forward_to` gives the first.

        Raises
        ------
        LayerwiseError
            When the layer is not in this model, has no such output, or ``x`` does not fit the input.
        """
        node = self._require_node(node_id)
        if not 0 <= port < self.output_counts[node_id]:
            count = self.output_counts[node_id]
            raise LayerwiseError(f"layer {node.name!r} has {count} output(s); output port {port} does not exist")
        self.check_input(x)
        return to_batch_major(self._forward(x, (node_id,), False, record=False, ports=(port,))[node_id])

    def _require_node(self, node_id: str) -> Node:
        if node_id not in self._position:
            raise LayerwiseError(f"{node_id!r} is not a layer of this model (it may have been added after compiling)")
        return self.order[self._position[node_id]]

    def backward(self, grad: np.ndarray, from_logits: bool = True, input_grad: bool = True) -> np.ndarray | None:
        """Back-propagate ``grad`` (w.r.t. the logits or the output); fill :attr:`grads`.

        Parameters
        ----------
        input_grad
            Also compute the gradient with respect to the input (effective receptive
            fields, gradient checks). Training turns it off: layers reading the data
            then skip their input gradient.

        Returns
        -------
        np.ndarray or None
            The gradient with respect to the network's input, ``(N, *input_shape)``.
        """
        return self._backward(self.logits_node if from_logits else self.output_node, grad, input_grad)

    def backward_from(
        self, node_id: str, grad: np.ndarray, input_grad: bool = True, capture: Sequence[str] = ()
    ) -> np.ndarray | None:
        """Back-propagate ``grad``, the gradient w.r.t. the output of any layer; fill :attr:`grads`.

        The latest forward pass must have reached ``node_id`` and kept the backward caches:
        a training pass (:meth:`forward`, :meth:`forward_logits` or :meth:`forward_to` with
        ``training=True``) or ``forward_to(..., keep_for_backward=True)``, which gives the
        gradients of the inference-mode network. Backward only reads those caches, so several
        backward passes (one per unit, say) may follow one forward pass.

        Parameters
        ----------
        node_id
            The layer the gradient starts from (its first output, when it has several).
        grad
            ``(N, *output_shape of node_id)``, batch-major, N as in the forward pass.
        input_grad
            Also compute the gradient with respect to the network's input.
        capture
            Layers whose output gradient to keep in :attr:`captured_grads` (node id →
            ``(N, *output_shape)``, summed over every reader; absent when the pass does not
            reach the layer). Grad-CAM reads a convolution's this way.

        Returns
        -------
        np.ndarray or None
            ``(N, *input_shape)``: the gradient with respect to the input.

        Raises
        ------
        LayerwiseError
            When the latest forward pass did not keep caches up to ``node_id`` or ``grad``
            has the wrong shape.

        Notes
        -----
        Like :meth:`backward`, this overwrites :attr:`grads` for the layers it passes through;
        do not call it between a training step's backward pass and its optimiser step.
        """
        node = self._require_node(node_id)
        if node_id not in self._recorded:
            raise LayerwiseError(
                f"backward from {node.name!r} needs a preceding forward pass that reached it and kept its caches "
                "(forward_to(..., keep_for_backward=True) or a training forward)"
            )
        expected = (self._recorded_batch, *self.shapes[node_id])
        if tuple(grad.shape) != expected:
            raise LayerwiseError(
                f"the gradient at {node.name!r} must have shape {format_shape(expected)} "
                f"(batch of the forward pass × output of the layer), got {format_shape(grad.shape)}"
            )
        return self._backward(node, grad, input_grad, frozenset(capture))

    def _backward(
        self, start: Node, grad: np.ndarray, input_grad: bool, capture: frozenset[str] = frozenset()
    ) -> np.ndarray | None:
        """The backward loop shared by :meth:`backward` and :meth:`backward_from`."""
        for node in self._reading_input:
            self.ops[node].input_grad = input_grad
        # Per layer, the gradient of its output; for several outputs a list, None where none arrived.
        pending: dict[str, np.ndarray | list[np.ndarray | None]] = {}
        self.captured_grads = {}
        self._add_gradient(pending, start.id, 0, to_channel_major(grad))
        for node in reversed(self.order[: self._position[start.id] + 1]):
            upstream = pending.pop(node.id, None)
            if upstream is None:
                continue  # a branch that does not reach the loss
            if node.id in capture and not isinstance(upstream, list):
                self.captured_grads[node.id] = to_batch_major(upstream)
            op, frozen_input = self.ops[node.id], self._frozen_inputs.get(node.id)
            if frozen_input is None:
                input_grads = op.backward(upstream)
            else:
                input_grads = _frozen_batchnorm_backward(op, frozen_input, upstream)  # type: ignore[arg-type]
            if node is self.input_node:
                return input_grads[0]
            for (source, port), piece in zip(self.inputs_of(node.id), input_grads):
                if piece is not None:
                    self._add_gradient(pending, source, port, piece)
        if not input_grad:
            return None
        raise AssertionError("input not reached")

    def _add_gradient(
        self, pending: dict[str, np.ndarray | list[np.ndarray | None]], node_id: str, port: int, piece: np.ndarray
    ) -> None:
        """Add ``piece`` to the gradient of output ``port`` of ``node_id`` in ``pending``."""
        count = self.output_counts[node_id]
        if count > 1:
            slots = pending.setdefault(node_id, [None] * count)
            before = slots[port]  # type: ignore[index]
            slots[port] = piece if before is None else before + piece  # type: ignore[index]
        else:
            # Out of place: merge ops hand the same array to several inputs.
            before = pending.get(node_id)
            pending[node_id] = piece if before is None else before + piece  # type: ignore[operator]

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Inference outputs for ``x`` in batches."""
        self.check_input(x)
        parts = [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, *self.output_shape), dtype=self.dtype)

    # -- saving --------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed ``"layer/param"``."""
        state = {e.key: self.params[e.start : e.stop].reshape(e.shape).copy() for e in self.entries}
        state.update({key: value.copy() for key, value in self.buffers.items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray], source: str = "weights") -> None:
        """Load tensors saved by :meth:`state_dict`; refuse anything that does not fit, changing nothing."""
        expected = {e.key: e.shape for e in self.entries} | {k: v.shape for k, v in self.buffers.items()}
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing[:6])}{' …' if len(missing) > 6 else ''}")
            if extra:
                parts.append(f"not in this network: {', '.join(extra[:6])}{' …' if len(extra) > 6 else ''}")
            raise WeightsError(f"{source}: does not fit the network ({'; '.join(parts)})")
        for key, shape in expected.items():
            value = np.asarray(state[key])
            if value.shape != tuple(shape):
                shown = format_shape(value.shape) or "() (a scalar)"
                raise WeightsError(f"{source}: {key} has shape {shown}, the network needs {format_shape(shape)}")
            if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
                raise WeightsError(f"{source}: {key} must hold finite floating-point numbers")
        for entry in self.entries:
            self.params[entry.start : entry.stop] = np.asarray(state[entry.key], dtype=self.dtype).ravel()
        for key, buffer in self.buffers.items():
            buffer[...] = state[key]

    def save_weights(self, path: str | os.PathLike[str]) -> None:
        """Write every tensor to a weights file (``.npz``, see :mod:`core.engine.weights_file`) atomically."""
        write_weights(path, self.state_dict(), WeightsError)

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Read a weights file written by :meth:`save_weights`, or one of the first format.

        Never unpickles (``np.load(allow_pickle=False)`` semantics, with a stricter reader):
        each array's header is checked against the network before its data is read, so a
        file cannot make the loader allocate more than the network's own weights.
        """
        expected = {e.key: tuple(e.shape) for e in self.entries} | {k: v.shape for k, v in self.buffers.items()}
        announced: dict[str, tuple[int, ...]] = {}

        def wanted(key: str, shape: tuple[int, ...], dtype: np.dtype) -> bool:
            announced[key] = shape
            return expected.get(key) == shape

        arrays = read_weights(
            path, wanted, lambda reason: WeightsError(f"{path}: cannot be read as weights: {reason}"), MAX_WEIGHTS_BYTES
        )
        # Arrays not read (no place in the network, or another shape) are represented by their names:
        # names that do not fit are reported first, as load_state_dict does; then a shape that does not.
        state = {key: np.empty(0, np.float32) if value is None else value for key, value in arrays.items()}
        misshapen = [key for key in expected if key in state and announced[key] != expected[key]]
        if misshapen and state.keys() == expected.keys():
            key = misshapen[0]
            raise WeightsError(
                f"{path}: {key} has shape {format_shape(announced[key]) or '() (a scalar)'}, "
                f"the network needs {format_shape(expected[key])}"
            )
        self.load_state_dict(state, source=str(path))


def _frozen_batchnorm_backward(op: BatchNormOp, x: np.ndarray, grad: np.ndarray) -> list[np.ndarray | None]:
    """Backward of BatchNorm at inference, ``y = γ·(x − μ)/√(σ² + ε) + β`` with the running ``μ, σ²``.

    There the layer is a fixed per-channel affine map, unlike the training path whose
    gradient also flows through the batch statistics; :class:`BatchNormOp` only caches for
    the latter. Shapes: ``x`` and ``grad`` are C×N×H×W or N×F, like the layer's tensors.
    """
    image = grad.ndim == 4
    axes = (1, 2, 3) if image else (0,)

    def per_channel(vector: np.ndarray) -> np.ndarray:
        return vector[:, None, None, None] if image else vector[None, :]

    inv_std = 1.0 / np.sqrt(op.buffers["running_var"] + op.epsilon)
    normalised = (x - per_channel(op.buffers["running_mean"])) * per_channel(inv_std)
    op.grads["beta"][...] = grad.sum(axis=axes)
    op.grads["gamma"][...] = np.sum(grad * normalised, axis=axes)
    return [grad * per_channel(op.params["gamma"] * inv_std)]
