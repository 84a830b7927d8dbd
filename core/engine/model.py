"""Compile a network document into a runnable, trainable model.

All parameters live in one flat vector (``Model.params``) and all gradients in another
(``Model.grads``), with each layer's tensors as views into them: an optimiser step
is a few NumPy calls, and the L1/L2 penalty covers one leading slice, since kernels
that are regularised are placed first.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from core.engine.initializers import initial_values
from core.engine.kernels import to_batch_major
from core.engine.memory import keep_freed_memory
from core.engine.op import Op
from core.engine.ops import DropoutOp, SoftmaxOp
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument, Node
from core.graph.fileformat import atomic_write_bytes
from core.graph.validation import check_graph
from core.shapes import Shape, format_shape

RELU_FAMILY = {"ReLU", "LeakyReLU", "ELU"}
PASS_THROUGH = {"BatchNorm", "Dropout", "MaxPool2D", "AvgPool2D"}


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
        return f"{self.layer}/{self.name}"


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
        inputs = [n for n in self.order if n.layer.max_inputs == 0]
        outputs = [n for n in self.order if not document.output_edges(n.id)]
        if len(inputs) != 1:
            names = ", ".join(repr(n.name) for n in inputs)
            raise LayerwiseError(f"a trainable network has exactly one Input layer; this one has {len(inputs)}: {names}")
        if len(outputs) != 1:
            names = ", ".join(repr(n.name) for n in outputs)
            raise LayerwiseError(
                f"a trainable network has exactly one output (a layer nothing reads); this one has {len(outputs)}: {names}"
            )
        self.input_node, self.output_node = inputs[0], outputs[0]
        self.shapes: dict[str, Shape] = {n.id: check.shapes[n.id] for n in self.order}  # type: ignore[misc]
        self.input_shape = self.shapes[self.input_node.id]
        self.output_shape = self.shapes[self.output_node.id]
        self.sources = {n.id: [s.id for s in document.inputs_of(n.id)] for n in self.order}
        self._reading_input = [n.id for n in self.order if self.input_node.id in self.sources[n.id]]
        self._consumers = {n.id: len(document.output_edges(n.id)) for n in self.order}
        self._position = {n.id: i for i, n in enumerate(self.order)}
        self.ops: dict[str, Op] = {
            n.id: n.layer.build([self.shapes[s] for s in self.sources[n.id]]) for n in self.order
        }
        # Cross-entropy reads the scores before a final Softmax (fused, stable).
        self.logits_node = (
            document.node(self.sources[self.output_node.id][0])
            if isinstance(self.ops[self.output_node.id], SoftmaxOp) and len(self.output_shape) == 1
            else self.output_node
        )
        self._allocate()
        self.initialize(seed)

    # -- parameters -----------------------------------------------------------------

    def _allocate(self) -> None:
        wanted = [(node, name, init) for node in self.order for name, init in self.ops[node.id].param_inits().items()]
        wanted.sort(key=lambda item: not item[2].regularized)  # stable: regularised kernels first
        total = sum(int(np.prod(init.shape)) for _, _, init in wanted)
        self.params = np.zeros(total, dtype=self.dtype)
        self.grads = np.zeros(total, dtype=self.dtype)
        self.entries: list[ParamEntry] = []
        self._inits = {}
        offset = 0
        for node, name, init in wanted:
            size = int(np.prod(init.shape))
            entry = ParamEntry(node.name, name, init.shape, offset, offset + size)
            op = self.ops[node.id]
            op.params[name] = self.params[offset : offset + size].reshape(init.shape)
            op.grads[name] = self.grads[offset : offset + size].reshape(init.shape)
            self.entries.append(entry)
            self._inits[entry.key] = (node, init)
            offset += size
        self.regularized_size = sum(e.stop - e.start for e in self.entries if self._inits[e.key][1].regularized)
        self.buffers: dict[str, np.ndarray] = {}
        for node in self.order:
            op = self.ops[node.id]
            for name, (shape, fill) in op.buffer_inits().items():
                op.buffers[name] = np.full(shape, fill, dtype=self.dtype)
                self.buffers[f"{node.name}/{name}"] = op.buffers[name]

    def _feeds_relu(self, node: Node) -> bool:
        """Whether ``node``'s output reaches a ReLU-family activation, looking through BN, pooling, dropout."""
        for edge in self.document.output_edges(node.id):
            consumer = self.document.node(edge.target)
            if consumer.type_name in RELU_FAMILY:
                return True
            if consumer.type_name in PASS_THROUGH and self._feeds_relu(consumer):
                return True
        return False

    def initialize(self, seed: int) -> None:
        """Draw fresh initial weights (He before ReLU-family activations, Glorot elsewhere)."""
        rng = np.random.default_rng(seed)
        for entry in self.entries:
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
        """Raise a :class:`LayerwiseError` naming both shapes when ``x`` does not fit the Input."""
        if x.shape[1:] != tuple(self.input_shape):
            raise LayerwiseError(
                f"samples of shape {format_shape(x.shape[1:])} do not fit the network's input "
                f"{self.input_node.name!r} of shape {format_shape(self.input_shape)}"
            )

    def _run(self, x: np.ndarray, training: bool, stop_at: Node) -> np.ndarray:
        values: dict[str, np.ndarray] = {}
        remaining = dict(self._consumers)
        for node in self.order:
            sources = self.sources[node.id]
            inputs = [values[s] for s in sources] if sources else [x.astype(self.dtype, copy=False)]
            values[node.id] = self.ops[node.id].forward(inputs, training)
            for source in sources:  # free activations as soon as nothing else reads them
                remaining[source] -= 1
                if remaining[source] == 0:
                    del values[source]
            if node is stop_at:
                return values[node.id]
        raise AssertionError("stop node not reached")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Run the network on ``x`` (``(N, *input_shape)``); return ``(N, *output_shape)``."""
        return to_batch_major(self._run(x, training, self.output_node))

    def forward_logits(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Like :meth:`forward`, but stop before a final Softmax: the class scores."""
        return to_batch_major(self._run(x, training, self.logits_node))

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
        for node in self._reading_input:
            self.ops[node].input_grad = input_grad
        start = self.logits_node if from_logits else self.output_node
        pending: dict[str, np.ndarray] = {start.id: grad if grad.ndim == 2 else np.ascontiguousarray(grad.transpose(1, 0, 2, 3))}
        for node in reversed(self.order[: self._position[start.id] + 1]):
            upstream = pending.pop(node.id, None)
            if upstream is None:
                continue  # a branch that does not reach the loss
            input_grads = self.ops[node.id].backward(upstream)
            if node is self.input_node:
                return input_grads[0]
            for source, piece in zip(self.sources[node.id], input_grads):
                if piece is None:
                    continue
                # Out of place: merge ops hand the same array to several inputs.
                pending[source] = piece if source not in pending else pending[source] + piece
        if not input_grad:
            return None
        raise AssertionError("input not reached")

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
                raise WeightsError(f"{source}: {key} has shape {format_shape(value.shape)}, the network needs {format_shape(shape)}")
            if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
                raise WeightsError(f"{source}: {key} must hold finite floating-point numbers")
        for entry in self.entries:
            self.params[entry.start : entry.stop] = np.asarray(state[entry.key], dtype=self.dtype).ravel()
        for key, buffer in self.buffers.items():
            buffer[...] = state[key]

    def save_weights(self, path: str | os.PathLike[str]) -> None:
        """Write every tensor to an ``.npz`` file atomically."""
        buffer = io.BytesIO()
        np.savez(buffer, **self.state_dict())
        try:
            atomic_write_bytes(path, buffer.getvalue())
        except OSError as exc:
            raise WeightsError(f"{path}: cannot be written: {exc.strerror or exc}") from None

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Read an ``.npz`` written by :meth:`save_weights` (never unpickles anything)."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                state = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, EOFError) as exc:
            raise WeightsError(f"{path}: cannot be read as weights: {exc}") from None
        self.load_state_dict(state, source=str(path))
