"""``layerwise explain``: which pixels one sample's class rests on, as an array and a heat-map picture."""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from cli.common import load_model_argument
from core.analysis.explain import METHODS, Explanation, explain
from core.atomic import atomic_write_bytes
from core.data.sample_images import load_image_file
from core.engine.model import Model
from core.errors import LayerwiseError
from core.safe_npz import float_range_problem
from core.shapes import format_shape, is_image

EXIT_OK = 0
METHOD_TITLES = {"gradcam": "Grad-CAM", "saliency": "saliency", "smoothgrad": "SmoothGrad", "occlusion": "occlusion"}
PNG_MIN_SIDE = 256
"""The picture is enlarged by a whole factor until its shorter side has at least this many pixels."""
OVERLAY_OPACITY = 0.75
"""The heat map's opacity where it is strongest; it fades with the evidence, so the input shows where there is none."""
# A dark-blue → blue → cyan → yellow → red colour map (like "jet"), by linear steps between stops.
COLOUR_STOPS = np.array([[0.0, 0.0, 0.5], [0.0, 0.2, 1.0], [0.0, 0.9, 0.9], [1.0, 0.9, 0.0], [0.9, 0.0, 0.0]])


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "explain",
        help="map the input pixels a class rests on (Grad-CAM, saliency, SmoothGrad, occlusion)",
        description="Explain the class NETWORK gives one sample: write an H×W float32 map to -o "
        "(and a heat map over the input to --png) and print the five most probable classes.",
    )
    parser.add_argument("network", help="a network file or the name of a shipped example")
    parser.add_argument("--weights", help="weights (.npz); default: the .npz beside the network file if there is one")
    parser.add_argument(
        "--input",
        required=True,
        help="one sample: a .npy array (C×H×W, H×W for one channel, or a batch of one) or an image file "
        "(PNG, JPEG, BMP …; converted to the input's channels, resized and centre-cropped as the network's "
        "Input says, scaled to [0, 1]; the Input's normalisation then applies)",
    )
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--layer", help="Grad-CAM's layer, by name (default: the last feature map before pooling)")
    parser.add_argument("--class", dest="class_index", type=int, help="the class to explain (default: the predicted)")
    parser.add_argument("--window", type=int, help="occlusion: side of the hidden square (default 8)")
    parser.add_argument("--stride", type=int, help="occlusion: step between squares (default 4)")
    parser.add_argument("-o", "--output", required=True, help="the .npy file to write the H×W map to")
    parser.add_argument("--png", help="also write the map as a heat map over the input (a .png)")
    parser.set_defaults(handler=run)


# --- the sample ---------------------------------------------------------------------------


def _npy_sample(path: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise LayerwiseError(f"{path}: cannot be read as a .npy array: {exc}") from None
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise LayerwiseError(f"{path}: holds {x.dtype} values; a numeric array is needed")
    problem = float_range_problem(x)  # before the cast, which would turn such values into infinities
    if problem is not None:
        raise LayerwiseError(f"{path}: the array {problem}")
    if x.ndim == len(shape) + 1 and x.shape[0] == 1:  # a batch of one
        x = x[0]
    if x.ndim == 2 and shape[0] == 1:  # one channel without its axis
        x = x[None]
    if x.shape != shape:
        raise LayerwiseError(
            f"{path}: holds an array of shape {format_shape(x.shape)}; the network's input takes one sample "
            f"of shape {format_shape(shape)}"
        )
    return x.astype(np.float32)


def read_sample(path: str, model: Model) -> np.ndarray:
    """One raw sample of the network's input shape ``(C, H, W)``, float32, from a .npy array or an image file.

    The network's Input normalises it (its preprocessing); an image file is resized and
    centre-cropped as the Input says, as everywhere else in Layerwise.
    """
    shape = tuple(model.input_shape)
    if not is_image(shape):
        raise LayerwiseError(
            f"explanations need an image input (C×H×W); {model.input_node.name!r} has shape {format_shape(shape)}"
        )
    if Path(path).suffix.lower() == ".npy":
        return _npy_sample(path, shape)
    # Fitted as See inside and predict fit it: the Input's resize and centre crop.
    preprocessing = model.input_node.layer.preprocessing
    return load_image_file(path, shape, preprocessing.resize if preprocessing is not None else 0)


# --- the picture --------------------------------------------------------------------------


def colour_map(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` values in ``[0, 1]`` → ``(H, W, 3)`` colours in ``[0, 1]`` (blue low, red high)."""
    stops = np.linspace(0.0, 1.0, len(COLOUR_STOPS))
    return np.stack([np.interp(values, stops, COLOUR_STOPS[:, c]) for c in range(3)], axis=-1)


def _display_range(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values, dtype=np.float64)


def overlay_png(x: np.ndarray, heatmap: np.ndarray) -> bytes:
    """The heat map blended over the input, enlarged by a whole factor, as PNG bytes.

    The input is stretched to its own range (grey unless it has three channels); the map's
    positive part is scaled by its maximum, so negative occlusion values (hiding helped
    the class) show as the low end of the colour map. Each pixel's map covers the input in
    proportion to its strength, up to :data:`OVERLAY_OPACITY`.
    """
    base = _display_range(x.astype(np.float64))
    base = base.transpose(1, 2, 0) if base.shape[0] == 3 else np.repeat(base.mean(axis=0)[..., None], 3, axis=-1)
    positive = np.maximum(heatmap, 0.0)
    peak = float(positive.max())
    strength = positive / peak if peak > 0 else positive
    opacity = (OVERLAY_OPACITY * strength)[..., None]
    blended = (1 - opacity) * base + opacity * colour_map(strength)
    picture = Image.fromarray(np.round(blended * 255).astype(np.uint8), mode="RGB")
    factor = max(1, math.ceil(PNG_MIN_SIDE / min(heatmap.shape)))
    picture = picture.resize((heatmap.shape[1] * factor, heatmap.shape[0] * factor), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _write_all(files: dict[str, bytes]) -> None:
    """Write every file or, when one cannot be written, none: those already written are removed."""
    for path in files:
        folder = Path(path).resolve().parent
        if not folder.is_dir():
            raise LayerwiseError(f"{path}: cannot be written: the folder {folder} does not exist")
    written: list[Path] = []
    for path, data in files.items():
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            for done in written:
                done.unlink(missing_ok=True)
            raise LayerwiseError(f"{path}: cannot be written: {exc.strerror or exc}") from None
        written.append(Path(path))


# --- the command --------------------------------------------------------------------------


def _layer_id(model: Model, name: str | None) -> str | None:
    if name is None:
        return None
    node = model.document.node_by_name(name)
    if node is None:
        maps = [n.name for n in model.order if n is not model.input_node and is_image(model.shapes[n.id])]
        raise LayerwiseError(f"there is no layer named {name!r}; layers with feature maps: {', '.join(maps) or 'none'}")
    return node.id


def _occlusion_options(args: argparse.Namespace) -> dict[str, int]:
    given = {key: value for key in ("window", "stride") if (value := getattr(args, key)) is not None}
    if given and args.method != "occlusion":
        raise LayerwiseError(f"--{'/--'.join(given)} apply to occlusion only, not to {args.method}")
    return given


def _describe(model: Model, result: Explanation) -> str:
    text = f"{METHOD_TITLES[result.method]} for class {result.class_index}"
    if result.layer_id is not None:
        node = model.document.node(result.layer_id)
        text += f" on layer {node.name!r} ({format_shape(model.shapes[result.layer_id])})"
    return text


def run(args: argparse.Namespace) -> int:
    model, weights = load_model_argument(args.network, args.weights, weights_beside=True)
    x = read_sample(args.input, model)
    result = explain(
        model,
        x,
        args.method,
        layer_id=_layer_id(model, args.layer),
        class_index=args.class_index,
        **_occlusion_options(args),
    )
    if args.png and Path(args.png).resolve() == Path(args.output).resolve():
        raise LayerwiseError(f"{args.png}: the map (-o) and the picture (--png) need different files")
    files = {args.output: _npy_bytes(result.heatmap.astype(np.float32))}
    if args.png:
        files[args.png] = overlay_png(x, result.heatmap)
    _write_all(files)
    print(f"{_describe(model, result)}, {weights}")
    print("top classes:")
    for index, probability in result.top:
        print(f"  {index:>5}  {probability:7.2%}")
    print(f"wrote {' and '.join(files)}")
    return EXIT_OK
