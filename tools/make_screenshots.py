"""Make the documentation screenshots of blocks and ONNX import in docs/images.

Writes

* ``mobilenetv2-block.png``: Insert → Block → MobileNetV2 inverted residual below an
  Input, with one of its layers in the inspector;
* ``efficientnet-b0-import.png``: torchvision's EfficientNet-B0 after File → Import ONNX,
  framed on one MBConv block (its squeeze-and-excitation branch, SiLU activations and
  residual Add);
* ``why-this-class-photo.png`` and ``preprocessing-inspector.png``: a trained, imported
  network on a photograph — PaddleOCR's text-direction classifier (a small MobileNetV3,
  upright text or turned 180°) as the ``rapidocr_onnxruntime`` wheel ships it, imported at
  3×48×192 (its input leaves height and width open), its Input's preprocessing set to the
  value range −1..1 it was trained with, and Grad-CAM on a photograph with a sign on it.

The EfficientNet-B0 model is the one ``torch.onnx.export`` writes for torchvision's
``efficientnet_b0`` (random weights are fine: only the structure is shown). Make it with::

    ../shared/tools/make_torchvision_zoo.sh /tmp/tv_zoo efficientnet_b0

then run, from the repository root (``xvfb-run -a`` renders as on a desktop; without a
display the script falls back to Qt's offscreen platform)::

    xvfb-run -a .venv/bin/python tools/make_screenshots.py /tmp/tv_zoo/efficientnet_b0.onnx

The text-direction classifier comes from the wheel (Apache-2.0)::

    pip download --no-deps -d /tmp/pkgs rapidocr_onnxruntime==1.4.4
    unzip -o /tmp/pkgs/rapidocr_onnxruntime-1.4.4-py3-none-any.whl -d /tmp/rocr

and is passed as ``--ocr-model /tmp/rocr/rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx``.

``--only block``, ``--only import`` or ``--only photo`` makes one of them; ``--out`` chooses the folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINDOW_SIZE = (1600, 1000)
BLOCK = ("inverted_residual", "MobileNetV2 inverted residual")
BLOCK_INSPECTED = "depthwise"
"""The block's layer the inspector shows."""
MBCONV_PREFIX = "/features/features.2/features.2.1/"
"""The EfficientNet-B0 block shown: the first MBConv with a residual Add (stage 2, block 1)."""
MBCONV_FROM = MBCONV_PREFIX + "block/block.1/block.1.2/Mul"
"""The first layer framed: the SiLU after the depthwise convolution (above it, the expansion)."""
MBCONV_INSPECTED = MBCONV_PREFIX + "block/block.2/fc1/Conv"
"""The layer the inspector shows: the squeeze of the squeeze-and-excitation branch."""
MAX_PNG_BYTES = 400_000
OCR_INPUT_SHAPE = "3, 48, 192"
"""The size PaddleOCR gives its text-direction classifier (its ONNX input leaves height and width open)."""
OCR_EXPLAINED_LAYER = "Div@1"
"""A HardSwish of the classifier's with a 32×6×96 output: the map Grad-CAM reads in the picture."""
SIGN_TEXT = "Summer Palace"
SIGN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"


def settle(milliseconds: int = 300) -> None:
    """Let the window lay itself out and paint, ``milliseconds`` long."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def frame(window, node_ids: list[str], margin: float = 40.0) -> None:
    """Fit the canvas on ``node_ids`` with ``margin`` scene pixels around them, at most at 100 %."""
    from PySide6.QtCore import QRectF, Qt

    bounds = QRectF()
    for node_id in node_ids:
        bounds = bounds.united(window.scene.node_items[node_id].sceneBoundingRect())
    view = window.view
    view.fitInView(bounds.adjusted(-margin, -margin, margin, margin), Qt.AspectRatioMode.KeepAspectRatio)
    zoom = min(view.zoom(), 1.0)
    view.resetTransform()
    view.scale(zoom, zoom)
    view.centerOn(bounds.center())
    print(f"  canvas at {zoom:.0%}")


def select(window, node_id: str) -> None:
    """Select one layer, as a click on it does: the inspector shows it."""
    window.scene.clearSelection()
    window.scene.node_items[node_id].setSelected(True)


def save(window, path: Path) -> None:
    """Save the window as a PNG; say where and how large."""
    settle()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path), "PNG", 0):
        raise OSError(f"could not write {path}")
    size = path.stat().st_size
    note = "" if size <= MAX_PNG_BYTES else f" (over {MAX_PNG_BYTES // 1000} KB)"
    print(f"wrote {path} ({size // 1000} KB){note}")


def save_region(widget, height: int, path: Path) -> None:
    """Save the top ``height`` pixels of ``widget`` as a PNG (a dock's content without the empty rest)."""
    from PySide6.QtCore import QRect

    settle()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab(QRect(0, 0, widget.width(), min(height, widget.height()))).save(str(path), "PNG", 0):
        raise OSError(f"could not write {path}")
    print(f"wrote {path} ({path.stat().st_size // 1000} KB)")


def block_screenshot(window, path: Path) -> None:
    """Insert the MobileNetV2 block below an Input of its input shape and show one of its layers."""
    from core.examples import example_path
    from core.graph.document import NetworkDocument
    from core.graph.fileformat import load_network

    example, title = BLOCK
    block = load_network(example_path(example))
    entry = next(node for node in block.nodes if node.layer.is_network_input)
    document = NetworkDocument(title)
    document.add_node("Input", {"shape": list(entry.layer.params["shape"])}, name="input", position=(0.0, 0.0))
    window.set_document(document, None)
    select(window, document.node_by_name("input").id)
    window.insert_block(example, title)
    settle()
    select(window, document.node_by_name(BLOCK_INSPECTED).id)
    frame(window, [node.id for node in document.nodes], margin=30.0)
    save(window, path)


def import_screenshot(window, onnx_path: Path, path: Path) -> None:
    """Import ``onnx_path`` as File → Import ONNX does and frame one MBConv block."""
    from gui import main_window as main_window_module

    original = main_window_module.QFileDialog.getOpenFileName
    main_window_module.QFileDialog.getOpenFileName = lambda *args, **kwargs: (str(onnx_path), "")
    try:
        window.import_onnx()
    finally:
        main_window_module.QFileDialog.getOpenFileName = original
    if window.import_notes_box is not None:
        window.import_notes_box.accept()
    settle()
    document = window.document
    names = [node.name for node in document.nodes]
    if MBCONV_FROM not in names or MBCONV_INSPECTED not in names:
        raise SystemExit(f"{onnx_path} has no layers named {MBCONV_PREFIX}…: is it torchvision's EfficientNet-B0?")
    block = names[names.index(MBCONV_FROM) :]
    block = block[: next(i for i, name in enumerate(block) if not name.startswith(MBCONV_PREFIX))]
    select(window, document.node_by_name(MBCONV_INSPECTED).id)
    frame(window, [document.node_by_name(name).id for name in block], margin=20.0)
    save(window, path)


def sign_photograph(folder: Path) -> Path:
    """scikit-learn's ``china.jpg`` with a painted sign across its middle, as a JPEG in ``folder``."""
    from PIL import Image, ImageDraw, ImageFont

    from core.data.sample_images import _photo_path

    image = Image.open(_photo_path("china.jpg")).convert("RGB")
    width, height = image.size
    band = width // 4  # the centre strip a 48×192 input crops (4:1)
    top = (height - band) // 2
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, top + 30, width - 40, top + band - 30), fill=(238, 232, 214), outline=(90, 60, 40), width=4)
    font = ImageFont.truetype(SIGN_FONT, 52)
    left, upper, right, lower = draw.textbbox((0, 0), SIGN_TEXT, font=font)
    position = ((width - (right - left)) // 2 - left, top + (band - (lower - upper)) // 2 - upper)
    draw.text(position, SIGN_TEXT, fill=(60, 30, 20), font=font)
    path = folder / "summer-palace-sign.jpg"
    image.save(path, quality=92)
    return path


def photo_screenshots(window, ocr_path: Path, out: Path, folder: Path) -> None:
    """Import the text-direction classifier as File → Import ONNX does, set its preprocessing, explain a photograph."""
    from gui import main_window as main_window_module
    from gui.commands import SetParamsCommand

    photograph = sign_photograph(folder)
    patched = {
        (main_window_module.QFileDialog, "getOpenFileName"): lambda *args, **kwargs: (str(ocr_path), ""),
        (main_window_module.QInputDialog, "getText"): lambda *args, **kwargs: (OCR_INPUT_SHAPE, True),
    }
    originals = {key: getattr(*key) for key in patched}
    for (owner, name), replacement in patched.items():
        setattr(owner, name, replacement)
    try:
        window.import_onnx()
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)
    if window.import_notes_box is not None:
        window.import_notes_box.accept()
    document = window.document
    source = next(node for node in document.nodes if node.layer.is_network_input)
    # PaddleOCR feeds its classifier (pixel / 255 − 0.5) / 0.5: the value range −1..1.
    window.undo_stack.push(SetParamsCommand(document, source.id, {"value_range": "-1..1"}, "PaddleOCR preprocessing"))
    select(window, source.id)
    window.inspector_dock.raise_()
    settle()
    inspector = window.inspector_dock.widget()
    save_region(inspector, inspector.node_inspector.sizeHint().height() + 24, out / "preprocessing-inspector.png")
    window.inside_dock.show()
    window.inside_dock.raise_()
    window.resizeDocks([window.inside_dock], [560], main_window_module.Qt.Orientation.Vertical)
    panel = window.inside_panel
    panel.tabs.setCurrentWidget(panel.explain)
    panel.explain.set_method("gradcam")
    # The last feature map is 2×96 (the network pools height away, keeps width for text): a
    # 6×96 map early on shows which strokes the evidence sits on.
    explained = document.node_by_name(OCR_EXPLAINED_LAYER)
    select(window, explained.id)
    panel.explain.choose_layer_mode("selected")
    assert panel.chooser.load_file(photograph), panel.chooser.label.text()
    settle()
    panel.host.wait(120)
    settle(600)
    frame(window, [explained.id], margin=120.0)  # the layer and its neighbours, readable
    save(window, out / "why-this-class-photo.png")


def make_window(data_dir: Path):
    """A main window of the screenshot size with default settings, its bottom docks closed.

    The pictures show the canvas: closing Problems, Summary, Training curves and See inside
    gives it the window's height, so that a whole block fits at a readable zoom.
    """
    from PySide6.QtCore import QSettings

    from gui.main_window import MainWindow

    window = MainWindow(QSettings(str(data_dir / "settings.ini"), QSettings.Format.IniFormat), "thread", data_dir)
    window.resize(*WINDOW_SIZE)
    window.show()
    settle()
    for dock in (window.problems_dock, window.summary_dock, window.curves_dock, window.inside_dock):
        dock.close()
    settle()
    return window


def close(window) -> None:
    """Close without asking to save: the pictures are all that is kept."""
    window.training_panel.shutdown()
    window.inside_panel.shutdown()
    window.undo_stack.clear()
    window.undo_stack.setClean()
    window.weights_modified = False
    window.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "onnx",
        nargs="?",
        type=Path,
        default=Path("/tmp/tv_zoo/efficientnet_b0.onnx"),
        help="torchvision's EfficientNet-B0 as ONNX (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder (default: docs/images)")
    parser.add_argument("--only", choices=("block", "import", "photo"), help="make only one of the screenshots")
    parser.add_argument("--ocr-model", type=Path, help="PaddleOCR's ch_ppocr_mobile_v2.0_cls_infer.onnx (see above)")
    args = parser.parse_args(argv)
    if args.only in (None, "photo") and (args.ocr_model is None or not args.ocr_model.is_file()):
        parser.error("--ocr-model: give ch_ppocr_mobile_v2.0_cls_infer.onnx from the rapidocr_onnxruntime wheel")
    if args.only in (None, "import") and not args.onnx.is_file():
        parser.error(f"{args.onnx} not found; make it with ../shared/tools/make_torchvision_zoo.sh OUT efficientnet_b0")
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Layerwise")
    shots: list[tuple[str, Callable]] = []
    if args.only in (None, "block"):
        shots.append(("block", lambda w: block_screenshot(w, args.out / "mobilenetv2-block.png")))
    if args.only in (None, "import"):
        shots.append(("import", lambda w: import_screenshot(w, args.onnx, args.out / "efficientnet-b0-import.png")))
    with tempfile.TemporaryDirectory(prefix="layerwise-screenshots-") as data_dir:
        if args.only in (None, "photo"):
            shots.append(("photo", lambda w: photo_screenshots(w, args.ocr_model, args.out, Path(data_dir))))
        for _name, shoot in shots:
            window = make_window(Path(data_dir))
            try:
                shoot(window)
            finally:
                close(window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
