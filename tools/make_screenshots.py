"""Make the documentation screenshots of blocks and ONNX import in docs/images.

Writes

* ``mobilenetv2-block.png``: Insert → Block → MobileNetV2 inverted residual below an
  Input, with one of its layers in the inspector;
* ``efficientnet-b0-import.png``: torchvision's EfficientNet-B0 after File → Import ONNX,
  framed on one MBConv block (its squeeze-and-excitation branch, SiLU activations and
  residual Add).

The EfficientNet-B0 model is the one ``torch.onnx.export`` writes for torchvision's
``efficientnet_b0`` (random weights are fine: only the structure is shown). Make it with::

    ../shared/tools/make_torchvision_zoo.sh /tmp/tv_zoo efficientnet_b0

then run, from the repository root (``xvfb-run -a`` renders as on a desktop; without a
display the script falls back to Qt's offscreen platform)::

    xvfb-run -a .venv/bin/python tools/make_screenshots.py /tmp/tv_zoo/efficientnet_b0.onnx

``--only block`` or ``--only import`` makes one of the two; ``--out`` chooses the folder.
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
    parser.add_argument("--only", choices=("block", "import"), help="make only one of the screenshots")
    args = parser.parse_args(argv)
    if args.only != "block" and not args.onnx.is_file():
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
        for _name, shoot in shots:
            window = make_window(Path(data_dir))
            try:
                shoot(window)
            finally:
                close(window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
