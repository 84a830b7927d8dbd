"""Canvas speed: opening, laying out and painting large networks, then zooming and panning.

For generated residual networks of about 50, 200 and 600 layers: the time from a
document to a laid-out, fully painted window (scene built, layered layout, first
paint of the viewport), and the 95th percentile of 100 scripted zoom/pan steps, each
followed by a synchronous repaint. Runs offscreen.

    python bench/canvas.py

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from core.graph.document import NetworkDocument
from core.graph.layout import apply_layered_layout
from gui.main_window import MainWindow


def residual_network(layers: int) -> NetworkDocument:
    """About ``layers`` layers: conv → BN → ReLU → Add(with the block input), repeated."""
    doc = NetworkDocument(f"{layers} layers")
    current = doc.add_node("Input", {"shape": [16, 32, 32]})
    while len(doc) + 4 <= layers:
        body = doc.chain(
            current.id,
            [("Conv2D", {"filters": 16, "padding": 1}, None), ("BatchNorm", None, None), ("ReLU", None, None)],
        )
        current = doc.merge("Add", [body.id, current.id])
    return doc


def open_layout_paint(window: MainWindow, document: NetworkDocument, app: QApplication) -> float:
    start = time.perf_counter()
    apply_layered_layout(document)
    window.set_document(document, None)
    app.processEvents()  # the scheduled refresh of shapes and labels
    window.view.viewport().repaint()
    return time.perf_counter() - start


def zoom_pan_steps(window: MainWindow, app: QApplication, steps: int = 100) -> list[float]:
    view = window.view
    times = []
    for step in range(steps):
        start = time.perf_counter()
        if step % 2:
            view.zoom_by(1.1 if (step // 2) % 10 < 5 else 1 / 1.1)
        else:
            view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + 15)
            view.verticalScrollBar().setValue(view.verticalScrollBar().value() + 25)
        view.viewport().repaint()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1440, 900)
    window.show()
    app.processEvents()
    opened, steps = {}, {}
    for size in (50, 200, 600):
        document = residual_network(size)
        opened[str(size)] = round(open_layout_paint(window, document, app), 3)
        window.view.fit_all(readable=True)
        times = zoom_pan_steps(window, app)
        steps[str(size)] = round(statistics.quantiles(times, n=20)[18] * 1000, 1)
        print(
            f"{len(document):4d} layers: open + layout + first paint {opened[str(size)]:.2f} s; zoom/pan step p95 {steps[str(size)]:.1f} ms"
        )
    window.undo_stack.setClean()
    window.close()
    print(json.dumps({"open_layout_paint_s": opened, "zoom_pan_step_ms_p95": steps}))


if __name__ == "__main__":
    main()
