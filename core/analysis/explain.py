"""Why this class? Maps of the input pixels that a classifier's decision rests on.

Four methods on one sample ``x`` of the network's input shape ``(C, H, W)``, each giving an
``(H, W)`` map:

- :func:`grad_cam` — Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
  Gradient-based Localization", ICCV 2017: a convolutional layer's channels weighted by the
  spatial mean of the class score's gradient;
- :func:`saliency` — Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks",
  2014: the magnitude of the class score's gradient with respect to the pixels;
- :func:`smoothgrad` — Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017:
  that gradient averaged over noisy copies of the sample;
- :func:`occlusion` — Zeiler & Fergus, "Visualizing and Understanding Convolutional
  Networks", 2014: how much the class probability drops when a window of pixels is hidden.

The class score is the logit (the input of a final Softmax or LogSoftmax), as Grad-CAM and
saliency use the score before the softmax; occlusion and :func:`top_classes` use the softmax
probabilities of those logits. Everything runs in inference mode (BatchNorm on its running
statistics, dropout off) and leaves the weights unchanged, but the passes overwrite
:attr:`Model.grads` and the ops' caches: call these between training steps, not while a step
runs on another thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.engine.model import Model
from core.errors import LayerwiseError
from core.shapes import format_shape, is_image

METHODS: tuple[str, ...] = ("gradcam", "saliency", "smoothgrad", "occlusion")
CHUNK = 32
SMOOTHGRAD_SAMPLES = 25
"""SmoothGrad's noisy copies by default (Smilkov et al. found 20–50 enough)."""
"""Copies of the sample per forward/backward pass (SmoothGrad, occlusion): memory against speed."""


class ExplainError(LayerwiseError):
    """A request does not fit the model: a non-image input, a layer, class or window that does not exist."""


@dataclass(frozen=True)
class Explanation:
    """One map and what it explains.

    Attributes
    ----------
    heatmap
        ``(H, W)`` float64, the input's height × width.
    method
        One of :data:`METHODS`.
    class_index
        The class explained.
    layer_id
        Grad-CAM's layer; None for the other methods.
    top
        The most probable classes, ``(class index, probability)``, most probable first.
    """

    heatmap: np.ndarray
    method: str
    class_index: int
    layer_id: str | None
    top: list[tuple[int, float]]


# --- checks -------------------------------------------------------------------------------


def _class_count(model: Model) -> int:
    shape = model.shapes[model.logits_node.id]
    if len(shape) != 1:
        raise ExplainError(
            f"explanations need a classifier whose output is a vector of class scores; "
            f"{model.logits_node.name!r} has shape {format_shape(shape)}"
        )
    return shape[0]


def _batch_of_one(model: Model, x: np.ndarray) -> np.ndarray:
    """``x`` of shape ``(C, H, W)`` as ``(1, C, H, W)`` in the model's dtype, checked."""
    if not is_image(model.input_shape):
        raise ExplainError(
            f"explanations need an image input (C×H×W); {model.input_node.name!r} has shape "
            f"{format_shape(model.input_shape)}"
        )
    _class_count(model)
    x = np.asarray(x)
    if x.shape != tuple(model.input_shape):
        raise ExplainError(
            f"the sample must have the input's shape {format_shape(model.input_shape)}, got {format_shape(x.shape)}"
        )
    batch = x[None]
    model.check_input(batch)  # NaN, infinities, values beyond the dtype
    return batch.astype(model.dtype, copy=False)


def _checked_class(model: Model, batch: np.ndarray, class_index: int | None) -> int:
    """``class_index``, or the predicted class when it is None."""
    count = _class_count(model)
    if class_index is None:
        return int(np.argmax(model.forward_logits(batch)[0]))
    if not 0 <= class_index < count:
        raise ExplainError(f"class {class_index} does not exist: the network has classes 0 … {count - 1}")
    return int(class_index)


def _positive_int(field: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ExplainError(f"{field} must be a whole number ≥ 1, got {value}")
    return int(value)


# --- shared arithmetic --------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits, shifted by the row maximum to stay finite."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _normalised(heatmap: np.ndarray) -> np.ndarray:
    """A non-negative map divided by its maximum: in ``[0, 1]``; an all-zero map stays zero.

    Dividing by the maximum (not stretching min … max) keeps zero meaning "no evidence", so
    a constant positive map becomes all ones.
    """
    peak = float(heatmap.max()) if heatmap.size else 0.0
    return heatmap / peak if peak > 0 else np.zeros_like(heatmap)


def _bilinear_axis(source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper source indices and weights of the upper one, half-pixel centres.

    The same sampling as PyTorch's ``interpolate(mode="bilinear", align_corners=False)``.
    """
    position = np.maximum((np.arange(target) + 0.5) * (source / target) - 0.5, 0.0)
    lower = np.minimum(np.floor(position).astype(int), source - 1)
    upper = np.minimum(lower + 1, source - 1)
    return lower, upper, position - lower


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an ``(h, w)`` map to ``(height, width)`` bilinearly (half-pixel centres)."""
    top, bottom, dy = _bilinear_axis(image.shape[0], height)
    left, right, dx = _bilinear_axis(image.shape[1], width)
    rows = image[top] * (1 - dy)[:, None] + image[bottom] * dy[:, None]
    return rows[:, left] * (1 - dx) + rows[:, right] * dx


def _score_seed(model: Model, batch_size: int, class_index: int) -> np.ndarray:
    """The gradient of the summed class scores with respect to the logits: one-hot per copy."""
    seed = np.zeros((batch_size, _class_count(model)), dtype=model.dtype)
    seed[:, class_index] = 1
    return seed


def _input_gradients(model: Model, batch: np.ndarray, class_index: int) -> np.ndarray:
    """``d score / d x`` for each sample of ``batch`` (``(N, C, H, W)``), signed."""
    logits = model.logits_node.id
    model.forward_to(batch, [logits], keep_for_backward=True)
    return model.backward_from(logits, _score_seed(model, len(batch), class_index), input_grad=True)  # type: ignore[return-value]


# --- Grad-CAM ----------------------------------------------------------------------------


def _is_feature_map(model: Model, node_id: str) -> bool:
    shape = model.shapes[node_id]
    return is_image(shape) and shape[1] > 1 and shape[2] > 1  # type: ignore[misc]


def _feeds_logits(model: Model) -> set[str]:
    """The layers the class scores depend on."""
    reached, stack = set(), [model.logits_node.id]
    while stack:
        node_id = stack.pop()
        if node_id not in reached:
            reached.add(node_id)
            stack.extend(model.sources[node_id])
    return reached


def default_gradcam_layer(model: Model) -> str:
    """The last layer before the scores whose output is a ``C×h×w`` map with ``h, w > 1``.

    That is the last convolutional feature map before global pooling or Flatten (a pooling
    layer's output counts when its map is still larger than 1×1). The Input is not a candidate.

    Raises
    ------
    ExplainError
        When no such layer feeds the class scores.
    """
    feeding = _feeds_logits(model)
    for node in reversed(model.order):
        if node.id in feeding and node is not model.input_node and _is_feature_map(model, node.id):
            return node.id
    raise ExplainError(
        f"Grad-CAM needs a layer with a feature map (C×h×w, h and w > 1) before the class scores "
        f"{model.logits_node.name!r}; this network has none"
    )


def _checked_layer(model: Model, layer_id: str) -> str:
    if layer_id not in model.ops:
        raise ExplainError(f"{layer_id!r} is not a layer of this model")
    name, shape = model.document.node(layer_id).name, model.shapes[layer_id]
    if not is_image(shape):
        raise ExplainError(
            f"Grad-CAM needs a layer whose output is a feature map (C×h×w); {name!r} has shape {format_shape(shape)}"
        )
    if layer_id not in _feeds_logits(model):
        raise ExplainError(f"layer {name!r} does not feed the class scores {model.logits_node.name!r}")
    return layer_id


def layer_gradient(model: Model, x: np.ndarray, layer_id: str, class_index: int) -> tuple[np.ndarray, np.ndarray]:
    """A layer's output and the gradient of the class score with respect to it, for one sample.

    Parameters
    ----------
    model
        The compiled classifier.
    x
        One sample, ``(C, H, W)``.
    layer_id
        A layer the class scores depend on.
    class_index
        The class whose logit is differentiated.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        The activation and ``d score / d activation``, both of the layer's output shape.
    """
    batch = _batch_of_one(model, x)
    logits = model.logits_node.id
    activation = model.forward_to(batch, [layer_id, logits], keep_for_backward=True)[layer_id][0]
    model.backward_from(logits, _score_seed(model, 1, class_index), input_grad=False, capture=[layer_id])
    captured = model.captured_grads.get(layer_id)
    gradient = captured[0] if captured is not None else np.zeros_like(activation)
    return activation, gradient


def grad_cam(model: Model, x: np.ndarray, layer_id: str | None = None, class_index: int | None = None) -> np.ndarray:
    """Grad-CAM: where in the image a convolutional layer sees evidence for a class.

    With ``A`` the layer's output ``(K, h, w)`` and ``y`` the class's logit, channel ``k``
    weighs ``w_k = mean_ij ∂y/∂A[k, i, j]``; the map ``ReLU(Σ_k w_k A[k])`` is resized
    bilinearly to the input's ``H × W`` (half-pixel centres) and divided by its maximum. A map
    that is zero everywhere (no channel speaks for the class) stays zero; a constant positive
    one becomes all ones.

    Parameters
    ----------
    model
        The compiled classifier; its input must be an image ``(C, H, W)``.
    x
        One sample, ``(C, H, W)``.
    layer_id
        The layer (any ``K×h×w`` output); default :func:`default_gradcam_layer`.
    class_index
        The class; default the predicted one.

    Returns
    -------
    np.ndarray
        ``(H, W)`` float64 in ``[0, 1]``.

    Raises
    ------
    ExplainError
        For a non-image input, a layer that is not a feature map feeding the scores, or a
        class that does not exist.
    """
    batch = _batch_of_one(model, x)
    layer_id = default_gradcam_layer(model) if layer_id is None else _checked_layer(model, layer_id)
    class_index = _checked_class(model, batch, class_index)
    activation, gradient = layer_gradient(model, x, layer_id, class_index)
    weights = gradient.astype(np.float64).mean(axis=(1, 2))
    coarse = np.maximum(np.tensordot(weights, activation.astype(np.float64), axes=1), 0.0)
    _, height, width = model.input_shape  # type: ignore[misc]
    return _normalised(np.maximum(resize_bilinear(coarse, height, width), 0.0))


# --- gradients with respect to the pixels -------------------------------------------------


def _reduce_channels(gradient: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` → ``(H, W)``: the largest magnitude over the channels."""
    return np.abs(gradient).max(axis=0).astype(np.float64)


def saliency(model: Model, x: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """Saliency: ``max_c |∂y/∂x[c, i, j]|`` for the class's logit ``y``.

    Parameters
    ----------
    model
        The compiled classifier; its input must be an image ``(C, H, W)``.
    x
        One sample, ``(C, H, W)``.
    class_index
        The class; default the predicted one.

    Returns
    -------
    np.ndarray
        ``(H, W)`` float64, non-negative, not normalised.
    """
    batch = _batch_of_one(model, x)
    class_index = _checked_class(model, batch, class_index)
    return _reduce_channels(_input_gradients(model, batch, class_index)[0])


def smoothgrad(
    model: Model,
    x: np.ndarray,
    class_index: int | None = None,
    samples: int = SMOOTHGRAD_SAMPLES,
    noise: float = 0.15,
    seed: int = 0,
) -> np.ndarray:
    """SmoothGrad: the class logit's input gradient averaged over noisy copies, reduced like :func:`saliency`.

    Copy ``s`` is ``x + ε_s`` with ``ε_s ~ N(0, σ²)`` per value and
    ``σ = noise · (max(x) − min(x))``; the map is ``max_c |mean_s ∂y/∂x(x + ε_s)|``, so with
    one sample and no noise it is the saliency map.

    Parameters
    ----------
    model
        The compiled classifier; its input must be an image ``(C, H, W)``.
    x
        One sample, ``(C, H, W)``.
    class_index
        The class; default the predicted one (on ``x`` without noise).
    samples
        Noisy copies, ≥ 1.
    noise
        The noise level relative to the sample's range, ≥ 0.
    seed
        Seeds the noise.

    Returns
    -------
    np.ndarray
        ``(H, W)`` float64, non-negative, not normalised.
    """
    batch = _batch_of_one(model, x)
    class_index = _checked_class(model, batch, class_index)
    samples = _positive_int("samples", samples)
    if not np.isfinite(noise) or noise < 0:
        raise ExplainError(f"noise must be ≥ 0, got {noise}")
    sigma = float(noise) * float(batch.max() - batch.min())
    rng = np.random.default_rng(seed)
    total = np.zeros(batch.shape[1:], dtype=np.float64)
    for start in range(0, samples, CHUNK):
        count = min(CHUNK, samples - start)
        noisy = batch + rng.normal(0.0, 1.0, size=(count, *batch.shape[1:])) * sigma
        total += _input_gradients(model, noisy.astype(model.dtype), class_index).sum(axis=0)
    return _reduce_channels(total / samples)


# --- occlusion ----------------------------------------------------------------------------


def _window_starts(size: int, window: int, stride: int) -> range:
    """Top (or left) edges of the windows along one axis: 0, stride, … while the window fits."""
    return range(0, size - window + 1, stride)


def occlusion(
    model: Model,
    x: np.ndarray,
    class_index: int | None = None,
    window: int = 8,
    stride: int = 4,
    fill: float = 0.0,
) -> np.ndarray:
    """Occlusion: how much the class probability drops when a square of pixels is hidden.

    Windows of ``window × window`` pixels start at ``0, stride, 2·stride …`` along each axis
    while they fit inside the image; each is filled with ``fill`` in every channel. A pixel's
    value is the mean, over the windows covering it, of ``p(class | x) − p(class | x occluded)``
    (softmax probabilities): positive where hiding the pixels hurts the class. Pixels that no
    window covers (the right and bottom margins, when the stride does not reach them) are 0.

    Parameters
    ----------
    model
        The compiled classifier; its input must be an image ``(C, H, W)``.
    x
        One sample, ``(C, H, W)``.
    class_index
        The class; default the predicted one.
    window
        Side of the occluding square, ``1 ≤ window ≤ min(H, W)``.
    stride
        Step between windows, ≥ 1.
    fill
        The value written into the window.

    Returns
    -------
    np.ndarray
        ``(H, W)`` float64, signed, not normalised.
    """
    batch = _batch_of_one(model, x)
    class_index = _checked_class(model, batch, class_index)
    window, stride = _positive_int("window", window), _positive_int("stride", stride)
    _, height, width = model.input_shape  # type: ignore[misc]
    if window > min(height, width):
        raise ExplainError(f"window {window} is larger than the image ({height}×{width})")
    baseline = softmax(model.forward_logits(batch).astype(np.float64))[0, class_index]
    corners = [
        (top, left) for top in _window_starts(height, window, stride) for left in _window_starts(width, window, stride)
    ]
    total = np.zeros((height, width), dtype=np.float64)
    covered = np.zeros((height, width), dtype=np.int64)
    for start in range(0, len(corners), CHUNK):
        group = corners[start : start + CHUNK]
        occluded = np.repeat(batch, len(group), axis=0)
        for copy, (top, left) in enumerate(group):
            occluded[copy, :, top : top + window, left : left + window] = fill
        drops = baseline - softmax(model.forward_logits(occluded).astype(np.float64))[:, class_index]
        for drop, (top, left) in zip(drops, group):
            total[top : top + window, left : left + window] += drop
            covered[top : top + window, left : left + window] += 1
    return np.divide(total, covered, out=np.zeros_like(total), where=covered > 0)


# --- classes and one entry point ----------------------------------------------------------


def top_classes(model: Model, x: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The ``k`` most probable classes of one sample, ``(class index, softmax probability)``, most probable first.

    Fewer when the network has fewer than ``k`` classes.
    """
    batch = _batch_of_one(model, x)
    k = _positive_int("k", k)
    probabilities = softmax(model.forward_logits(batch).astype(np.float64))[0]
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(index), float(probabilities[index])) for index in order]


def explain(
    model: Model,
    x: np.ndarray,
    method: str,
    *,
    layer_id: str | None = None,
    class_index: int | None = None,
    window: int = 8,
    stride: int = 4,
    k: int = 5,
) -> Explanation:
    """Run one of :data:`METHODS` on one sample and return the map with the classes it concerns.

    Raises
    ------
    ExplainError
        For an unknown method, or whatever the method itself refuses.
    """
    if method not in METHODS:
        raise ExplainError(f"method {method!r} does not exist; choose one of {', '.join(METHODS)}")
    if layer_id is not None and method != "gradcam":
        raise ExplainError(f"a layer is chosen only for Grad-CAM, not for {method}")
    batch = _batch_of_one(model, x)
    class_index = _checked_class(model, batch, class_index)
    top = top_classes(model, x, k)
    if method == "gradcam":
        layer_id = default_gradcam_layer(model) if layer_id is None else _checked_layer(model, layer_id)
        heatmap = grad_cam(model, x, layer_id, class_index)
    elif method == "saliency":
        heatmap = saliency(model, x, class_index)
    elif method == "smoothgrad":
        heatmap = smoothgrad(model, x, class_index)
    else:
        heatmap = occlusion(model, x, class_index, window, stride)
    return Explanation(heatmap, method, class_index, layer_id, top)
