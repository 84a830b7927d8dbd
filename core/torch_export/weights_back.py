"""Bring weights trained in PyTorch back into the network: the generated module's ``state_dict`` → Layerwise's.

Each layer writes its PyTorch state from its weights (``Layer.export_torch``); this module
reads that code backwards without knowing it. Every weight and buffer value of the network
gets a number (1, 2, 3 …, as ``float64``, exact up to 2⁵³); each layer writes its state from
those numbers instead of its weights, and every value of the resulting PyTorch state names
the Layerwise value it was copied from. A second pass, with every number raised by the same
amount, shows that the layer only moved values (a value computed from them would not rise
by exactly that amount), so the mapping holds for any weights. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from core.engine.model import Model
from core.engine.weights_file import weight_key
from core.graph.document import Node
from core.layers.torch_writer import TorchExportError
from core.torch_export.project import TorchProjectWriter, torch_layers


class _Codes:
    """An op seen through numbers: each weight and buffer value reads as its code (``float64``).

    ``params`` and ``buffers`` have the op's names and shapes; a layer's ``export_torch``
    reads them as it reads the op's weights.
    """

    def __init__(self, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray]) -> None:
        self.params = params
        self.buffers = buffers


def _indices(first: np.ndarray, second: np.ndarray, shift: int, low: int, high: int) -> slice | np.ndarray | None:
    """Which values of the numbering ``first`` holds (a slice when they follow each other), or ``None``.

    ``None`` when a value is not one of ``[low, high)``'s codes or does not rise by exactly
    ``shift`` in ``second``: then the layer computed it rather than copied it.
    """
    size = first.size
    if not np.array_equal(second - first, np.full(size, float(shift))):
        return None
    if size == 0:
        return slice(low, low)
    # Most layers keep Layerwise's order: one comparison, no index array to keep.
    start = first[0]
    if (
        np.isfinite(start)
        and start == np.floor(start)
        and low < start
        and start + size - 1 <= high
        and np.array_equal(first, np.arange(start, start + size, dtype=np.float64))
    ):
        return slice(int(start) - 1, int(start) - 1 + size)
    index = first.astype(np.int64) - 1
    if not (np.array_equal(index + 1, first) and index.min() >= low and index.max() < high):
        return None
    return index


def _format(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


class TorchStateMap:
    """Where each value of the generated module's ``state_dict`` belongs in the network's state.

    Built once per network (a layer's ``export_torch`` runs twice on numbers); then
    :meth:`to_layerwise` only copies values, as often as weights come back.

    Parameters
    ----------
    model
        The network the module was generated from (its structure; its weights are not read).

    Attributes
    ----------
    dtype
        The model's dtype: every array :meth:`to_layerwise` returns has it.
    shapes
        Every key of the module's ``state_dict`` (``attribute.key``) and its shape, in order.
    ignored
        The keys that hold no weight of the network (BatchNorm's ``num_batches_tracked``):
        they are checked for shape, and dropped.

    Raises
    ------
    TorchExportError
        When a layer cannot be written in PyTorch, or its PyTorch state is not its weights
        moved about: computed from them, cast to another type, leaving one out, or holding
        one twice (the layer is named).
    """

    def __init__(self, model: Model) -> None:
        self.dtype = model.dtype
        # A numbering layer by layer, so each layer's codes are one range [low, high).
        offsets: dict[str, tuple[int, tuple[int, ...]]] = {}  # Layerwise key → (first index, shape)
        total = 0
        for node in model.order:
            op = model.ops[node.id]
            for name, value in (*op.params.items(), *op.buffers.items()):
                offsets[weight_key(node.name, name)] = (total, value.shape)
                total += value.size
        self._offsets = offsets
        self._size = total
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._places: dict[str, slice | np.ndarray] = {}  # PyTorch key → indices into the numbering, flat
        ignored = set()
        _, layers, _ = torch_layers(model)  # the attribute names, exactly as torch_state gives them
        for layer in layers:
            try:
                places = self._map_layer(model, layer.node, total)
            except TorchExportError as exc:
                raise TorchExportError(f"layer {layer.node.name!r}: {exc}") from None
            for key, shape, place in places:
                self.shapes[f"{layer.attribute}.{key}"] = shape
                if place is None:
                    ignored.add(f"{layer.attribute}.{key}")
                else:
                    self._places[f"{layer.attribute}.{key}"] = place
        self.ignored = frozenset(ignored)
        self._keys = [entry.key for entry in model.entries] + list(model.buffers)

    def _map_layer(
        self, model: Model, node: Node, shift: int
    ) -> list[tuple[str, tuple[int, ...], slice | np.ndarray | None]]:
        """One layer's PyTorch keys, in order, each with its shape and where its values go (``None``: a constant).

        ``shift`` is the size of the numbering: the second pass's codes lie above the first's.
        """
        op = model.ops[node.id]
        ranges = {name: self._offsets[weight_key(node.name, name)] for name in (*op.params, *op.buffers)}
        low = min((start for start, _ in ranges.values()), default=0)
        high = max((start + int(np.prod(shape)) for start, shape in ranges.values()), default=0)

        def probe(offset: int) -> Mapping[str, np.ndarray]:
            def codes(name: str) -> np.ndarray:
                start, shape = ranges[name]
                return np.arange(
                    offset + start + 1, offset + start + 1 + int(np.prod(shape)), dtype=np.float64
                ).reshape(shape)

            view = _Codes({name: codes(name) for name in op.params}, {name: codes(name) for name in op.buffers})
            module = node.layer.export_torch(TorchProjectWriter(), model.input_shapes(node.id), view)  # type: ignore[arg-type]
            return module.state

        first, second = probe(0), probe(shift)
        places: list[tuple[str, tuple[int, ...], slice | np.ndarray | None]] = []
        seen = np.zeros(high - low, dtype=bool)
        count = 0
        for key, value in first.items():
            a, b = np.asarray(value), np.asarray(second[key])
            if a.shape != b.shape:
                raise TorchExportError(f"the shape of {key!r} depends on the weights")
            if a.dtype == b.dtype and a.tobytes() == b.tobytes():
                places.append((key, a.shape, None))  # holds no weight (num_batches_tracked)
                continue
            if a.dtype != np.float64 or b.dtype != np.float64:
                raise TorchExportError(f"{key!r} casts the weights to {a.dtype}; they cannot be read back")
            place = _indices(a.reshape(-1), b.reshape(-1), shift, low, high)
            if place is None:
                raise TorchExportError(f"{key!r} is computed from the weights, not copied; it cannot be read back")
            if isinstance(place, slice):
                seen[place.start - low : place.stop - low] = True
            else:
                seen[place - low] = True
            count += a.size
            places.append((key, a.shape, place))
        # Every value written exactly once: all seen, and no more writes than values.
        if not seen.all():
            missed = int((~seen).sum())
            raise TorchExportError(f"{missed:,} of its {high - low:,} weight values do not appear in PyTorch's state")
        if count != high - low:
            raise TorchExportError(f"its PyTorch state holds {count - (high - low):,} weight values more than once")
        return places

    def to_layerwise(self, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The network's state (``model.state_dict()``'s keys, shapes and dtype) from the module's ``state_dict``.

        Parameters
        ----------
        state
            ``attribute.key`` → array in PyTorch's layout (a module's ``state_dict`` as
            NumPy arrays), exactly the keys and shapes of :attr:`shapes` (a scalar may also be
            one value, shape ``(1,)``, as :func:`~core.torch_export.project.torch_state` writes
            it); any numeric dtype.

        Returns
        -------
        dict[str, np.ndarray]
            ``"layer/param"`` → array in Layerwise's shape, in the model's dtype, in
            ``model.state_dict()``'s order; ``Model.load_state_dict`` takes it (and refuses
            values that are not finite).

        Raises
        ------
        TorchExportError
            When a key is missing or extra, a shape differs (the key and both shapes named),
            or an array does not hold numbers.
        """
        missing = [key for key in self.shapes if key not in state]
        if missing:
            key = missing[0]
            raise TorchExportError(
                f"{key}: missing from the state (the module holds it with shape {_format(self.shapes[key])})"
            )
        extra = [key for key in state if key not in self.shapes]
        if extra:
            key = extra[0]
            raise TorchExportError(
                f"{key}: not in the module (the state holds it with shape {_format(np.shape(state[key]))})"
            )
        flat = np.empty(self._size, dtype=self.dtype)
        for key, shape in self.shapes.items():
            value = np.asarray(state[key])
            # A scalar may come as one value: torch_state writes it so, and torch's load_state_dict takes both.
            if value.shape != shape and not (shape == () and value.shape == (1,)):
                raise TorchExportError(
                    f"{key}: the state holds shape {_format(value.shape)}, the module's is {_format(shape)}"
                )
            if key in self.ignored:
                continue
            if value.dtype.kind not in "fiu":
                raise TorchExportError(f"{key}: holds {value.dtype} values, not numbers")
            flat[self._places[key]] = value.reshape(-1)
        result = {}
        for key in self._keys:
            start, shape = self._offsets[key]
            result[key] = flat[start : start + int(np.prod(shape))].reshape(shape)
        return result


def layerwise_state(model: Model, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The network's state from the generated module's ``state_dict`` (:meth:`TorchStateMap.to_layerwise`).

    Builds the mapping each time: keep a :class:`TorchStateMap` to bring weights back repeatedly.
    """
    return TorchStateMap(model).to_layerwise(state)
