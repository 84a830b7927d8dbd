"""What a compiled model computes inside: feature maps, filters, effective receptive fields
and how the activation distributions of chosen layers look on a batch.

Everything runs the engine's own forward and backward passes in inference mode
(BatchNorm on its running statistics, dropout off) and leaves the weights unchanged.
The effective receptive field follows Luo, Li, Urtasun & Zemel, "Understanding the
Effective Receptive Field in Deep Convolutional Neural Networks", NIPS 2016: the
magnitude of the gradient of one output unit with respect to every input pixel.

These functions run passes through ``model`` and overwrite :attr:`Model.grads` and the
ops' caches; call them between training steps, not while a step runs on another thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.engine.model import Model
from core.errors import LayerwiseError
from core.ops.sliding import Conv2DOp, Conv2DTransposeOp
from core.shapes import Shape, format_shape, is_image

DEFAULT_PERCENTILES: tuple[float, ...] = (1, 5, 25, 50, 75, 95, 99)

Unit = tuple[int, int, int]
"""``(channel, row, col)`` of a feature-map unit; ``(feature, 0, 0)`` for a vector output."""


class IntrospectionError(LayerwiseError):
    """A request does not fit the model: wrong layer type, unit or sample shape."""


def _node_name(model: Model, node_id: str) -> str:
    if node_id not in model.ops:
        raise IntrospectionError(f"{node_id!r} is not a layer of this model")
    return model.document.node(node_id).name


def _single_batch(model: Model, x_single: np.ndarray) -> np.ndarray:
    """``x_single`` of shape ``input_shape`` as a batch of one, ``(1, *input_shape)``."""
    x = np.asarray(x_single)
    if x.shape != tuple(model.input_shape):
        raise IntrospectionError(
            f"a sample must have the input's shape {format_shape(model.input_shape)}, got {format_shape(x.shape)}"
        )
    return x[None]


def _check_unit(model: Model, node_id: str, unit: Unit) -> None:
    shape: Shape = model.shapes[node_id]
    channel, row, col = unit
    height, width = (shape[1], shape[2]) if is_image(shape) else (1, 1)  # type: ignore[misc]
    if not (0 <= channel < shape[0] and 0 <= row < height and 0 <= col < width):
        raise IntrospectionError(
            f"unit (channel {channel}, row {row}, col {col}) is outside the output {format_shape(shape)} "
            f"of layer {_node_name(model, node_id)!r}"
        )


def feature_maps(model: Model, x_single: np.ndarray, node_id: str) -> np.ndarray:
    """Return the output of one layer for one sample (inference mode).

    Parameters
    ----------
    model
        The compiled network.
    x_single
        One sample, ``input_shape``: ``(C, H, W)`` or ``(F,)``.
    node_id
        The layer.

    Returns
    -------
    np.ndarray
        ``(C_out, H_out, W_out)`` for a feature map, ``(F_out,)`` for a vector.
    """
    _node_name(model, node_id)
    return model.forward_to(_single_batch(model, x_single), [node_id])[node_id][0]


def unit_input_gradients(
    model: Model, x_single: np.ndarray, node_id: str, units: Sequence[Unit], chunk: int = 16
) -> np.ndarray:
    """Return the gradient of each unit's value with respect to the input sample (inference mode).

    The sample is repeated once per unit of a chunk and one backward pass carries a
    one-hot gradient per copy; in inference mode the copies do not interact.

    Parameters
    ----------
    model
        The compiled network.
    x_single
        One sample, ``input_shape``.
    node_id
        The layer whose units are differentiated.
    units
        ``(channel, row, col)`` per unit; ``(feature, 0, 0)`` for a vector output.
    chunk
        Copies per forward/backward pass (memory against speed).

    Returns
    -------
    np.ndarray
        ``(len(units), *input_shape)``: ``d unit / d x``, signed.

    Raises
    ------
    IntrospectionError
        When a unit lies outside the layer's output or the sample has the wrong shape.
    """
    x = _single_batch(model, x_single)
    for unit in units:
        _check_unit(model, node_id, unit)
    shape = model.shapes[node_id]
    parts = []
    for start in range(0, len(units), max(chunk, 1)):
        group = units[start : start + max(chunk, 1)]
        batch = np.repeat(x, len(group), axis=0)
        model.forward_to(batch, [node_id], keep_for_backward=True)
        seed = np.zeros((len(group), *shape), dtype=model.dtype)
        for index, (channel, row, col) in enumerate(group):
            seed[(index, channel, row, col) if is_image(shape) else (index, channel)] = 1
        parts.append(model.backward_from(node_id, seed, input_grad=True))
    return np.concatenate(parts) if parts else np.zeros((0, *model.input_shape), dtype=model.dtype)


def _require_image_input(model: Model) -> None:
    if not is_image(model.input_shape):
        raise IntrospectionError(
            f"effective receptive fields need an image input; {model.input_node.name!r} has shape "
            f"{format_shape(model.input_shape)}"
        )


def effective_receptive_field(
    model: Model, x_single: np.ndarray, node_id: str, channel: int, row: int = 0, col: int = 0
) -> np.ndarray:
    """Return the effective receptive field of one unit on one sample.

    ``Σ_c |∂ unit / ∂ x[c, i, j]|`` for every input pixel ``(i, j)``, from the engine's
    backward pass of the inference-mode network. It is zero outside the theoretical
    receptive field (:func:`core.analysis.unit_field.unit_input_region`; not guaranteed
    after a merge of branches with different effective strides, see ``UnitRegion.aligned``)
    and, in trained networks, usually concentrated near its centre.

    Parameters
    ----------
    model
        The compiled network; its input must be an image ``(C, H, W)``.
    x_single
        One sample, ``(C, H, W)``.
    node_id
        The layer; any layer works (a Dense unit gives a saliency map over the whole image).
    channel, row, col
        The unit; ``row = col = 0`` for a vector output.

    Returns
    -------
    np.ndarray
        ``(H, W)``, non-negative.
    """
    _require_image_input(model)
    gradient = unit_input_gradients(model, x_single, node_id, [(channel, row, col)])[0]
    return np.abs(gradient).sum(axis=0)


def mean_effective_receptive_field(
    model: Model, x_single: np.ndarray, node_id: str, row: int = 0, col: int = 0, chunk: int = 16
) -> np.ndarray:
    """Return the effective receptive field at ``(row, col)`` averaged over the layer's channels.

    The mean of :func:`effective_receptive_field` over every channel (or feature) of
    the layer: what the position as a whole looks at, not one filter.

    Returns
    -------
    np.ndarray
        ``(H, W)``, non-negative.
    """
    _require_image_input(model)
    channels = model.shapes[node_id][0]
    gradients = unit_input_gradients(model, x_single, node_id, [(c, row, col) for c in range(channels)], chunk)
    return np.abs(gradients).sum(axis=1).mean(axis=0)


def _conv_op(model: Model, node_id: str) -> Conv2DOp | Conv2DTransposeOp:
    name = _node_name(model, node_id)
    op = model.ops[node_id]
    if not isinstance(op, (Conv2DOp, Conv2DTransposeOp)):
        raise IntrospectionError(
            f"layer {name!r} ({model.document.node(node_id).type_name}) is not a Conv2D or a transposed "
            "convolution: it has no filters to show"
        )
    return op


def _kernels_by_output_channel(op: Conv2DOp | Conv2DTransposeOp) -> np.ndarray:
    """The kernels ``(C_out, C_in / groups, kh, kw)``: row ``f`` holds what output channel ``f`` gets from each input.

    A transposed convolution keeps its weight as ``(C_in, C_out / groups, kh, kw)``;
    output channel ``j`` of group ``g`` gets kernel ``W[g·C_in/groups + i, j]`` from
    input channel ``i`` of that group, so the weight is regrouped by output channel.
    """
    weight = op.params["weight"]
    if isinstance(op, Conv2DOp):
        return weight.copy()
    groups = op.groups
    per_group_in, per_group_out = op.channels // groups, op.filters // groups
    kh, kw = weight.shape[2:]
    grouped = weight.reshape(groups, per_group_in, per_group_out, kh, kw).transpose(0, 2, 1, 3, 4)
    return grouped.reshape(op.filters, per_group_in, kh, kw).copy()


def conv_filters(model: Model, node_id: str) -> np.ndarray:
    """Return a copy of a convolution's kernels, one filter per output channel.

    For a Conv2D these are its weights as kept. For a transposed convolution, filter
    ``f`` holds the kernel each input channel stamps onto output channel ``f``
    (``weight[:, f]`` in ONNX's and PyTorch's layout, without groups); see
    :func:`filters_are_stamped`.

    Returns
    -------
    np.ndarray
        ``(C_out, C_in / groups, kh, kw)``; filter ``f`` of a grouped convolution reads
        input channels ``g·C_in/groups …`` with ``g = f // (C_out / groups)``.

    Raises
    ------
    IntrospectionError
        When the layer is neither a Conv2D nor a transposed convolution.
    """
    return _kernels_by_output_channel(_conv_op(model, node_id))


def filters_are_stamped(model: Model, node_id: str) -> bool:
    """Whether the layer's kernels are stamped onto its output, ``stride`` apart, one per input pixel.

    True for a transposed convolution, whose output channel sums its input channels each
    scattered through the kernel; false for a convolution, whose kernels slide over the
    input and are matched with it.

    Raises
    ------
    IntrospectionError
        When the layer is neither a Conv2D nor a transposed convolution.
    """
    return isinstance(_conv_op(model, node_id), Conv2DTransposeOp)


def channel_mixing_matrix(model: Model, node_id: str) -> np.ndarray:
    """Return the ``(C_out, C_in)`` matrix of a 1×1 convolution: output channel ← input channels.

    A grouped 1×1 convolution mixes only within its groups; the matrix is then
    block-diagonal with zeros between groups.

    Raises
    ------
    IntrospectionError
        When the layer is not a Conv2D or its kernel is not 1×1.
    """
    op = _conv_op(model, node_id)
    if not isinstance(op, Conv2DOp):
        raise IntrospectionError(
            f"layer {_node_name(model, node_id)!r} is a transposed convolution; "
            "a channel-mixing matrix needs a 1×1 convolution"
        )
    if op.window.kernel != (1, 1):
        kh, kw = op.window.kernel
        raise IntrospectionError(
            f"layer {_node_name(model, node_id)!r} has a {kh}×{kw} kernel; "
            "a channel-mixing matrix needs a 1×1 convolution"
        )
    weight = op.params["weight"][:, :, 0, 0]
    per_group_out, per_group_in = op.filters // op.groups, op.channels // op.groups
    matrix = np.zeros((op.filters, op.channels), dtype=weight.dtype)
    for group in range(op.groups):
        rows = slice(group * per_group_out, (group + 1) * per_group_out)
        matrix[rows, group * per_group_in : (group + 1) * per_group_in] = weight[rows]
    return matrix


def activation_percentiles(
    model: Model,
    x_batch: np.ndarray,
    node_ids: Sequence[str],
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    *,
    batch_size: int = 256,
    max_values: int = 2_000_000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Return percentiles of each layer's outputs over all units and samples (inference mode).

    Called after every epoch on the same batch, these show the distributions drift as
    training changes the layers below (internal covariate shift).

    Parameters
    ----------
    model
        The compiled network.
    x_batch
        ``(N, *input_shape)`` samples, N ≥ 1.
    node_ids
        The layers.
    percentiles
        In ``[0, 100]``.
    batch_size
        Samples per forward pass.
    max_values
        Above this many values (N × units) a layer's values are subsampled uniformly at
        random (seeded by ``seed``) to bound memory; below it the percentiles are exact.

    Returns
    -------
    dict[str, np.ndarray]
        Node id → ``(len(percentiles),)`` float64, in the order of ``percentiles``.

    Raises
    ------
    IntrospectionError
        When the batch is empty, a percentile is outside ``[0, 100]`` or a layer is unknown.
    """
    q = np.asarray(percentiles, dtype=np.float64)
    if q.ndim != 1 or np.any((q < 0) | (q > 100)):
        raise IntrospectionError(f"percentiles must lie in [0, 100], got {list(percentiles)}")
    if len(x_batch) == 0:
        raise IntrospectionError("activation percentiles need at least one sample")
    if max_values < 1:
        raise IntrospectionError(f"max_values must be at least 1, got {max_values}")
    ids = list(dict.fromkeys(node_ids))
    for node_id in ids:
        _node_name(model, node_id)
    rng = np.random.default_rng(seed)
    keep = {i: min(1.0, max_values / (len(x_batch) * int(np.prod(model.shapes[i])))) for i in ids}
    collected: dict[str, list[np.ndarray]] = {i: [] for i in ids}
    for start in range(0, len(x_batch), max(batch_size, 1)):
        outputs = model.forward_to(x_batch[start : start + max(batch_size, 1)], ids)
        for node_id, values in outputs.items():
            flat = values.reshape(-1)
            if keep[node_id] < 1.0:
                count = max(1, round(flat.size * keep[node_id]))
                flat = flat[rng.choice(flat.size, size=count, replace=False, shuffle=False)]
            collected[node_id].append(flat)
    return {
        node_id: np.percentile(np.concatenate(parts).astype(np.float64, copy=False), q)
        for node_id, parts in collected.items()
    }
