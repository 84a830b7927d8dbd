"""A long session in one process: does memory grow, do threads or worker processes pile up?

Opens the app offscreen on the Digits CNN and, after a warm-up round of each kind of
work, runs 200 edit–undo–redo cycles, 20 training runs (in the worker process the app
uses) and 10 save–open cycles. Memory is the resident set size after a garbage
collection, measured after the warm-up and at the end.

    python bench/soak.py [--cycles 200] [--runs 20] [--saves 10]

The last line is one JSON object: ``{"rss_growth_pct": …, "threads_leaked": …, …}``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy: see main.py
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import gc
import json
import multiprocessing
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_bytes() -> int:
    """Current resident set size (Linux), else the peak so far."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def settle(app) -> int:
    for _ in range(5):
        app.processEvents()
    gc.collect()
    return rss_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--saves", type=int, default=10)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="layerwise-soak-"))
    os.environ.setdefault("LAYERWISE_DATA_DIR", str(scratch / "data"))

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    from core.examples import example_path
    from gui.commands import AddNodeCommand, SetParamCommand
    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)  # no one to answer
    window = MainWindow(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window.open_network(example_path("digits_cnn"))
    window.show()
    panel = window.training_panel
    panel.form.set_values({"epochs": 1, "subset": 300, "batch_size": 32})

    def edit_cycle(index: int) -> None:
        document, stack = window.document, window.undo_stack
        fc1 = document.node_by_name("fc1")
        stack.push(SetParamCommand(document, fc1.id, "units", 64 + index % 32))
        stack.push(AddNodeCommand(document, "ReLU", position=(400.0, 40.0 * (index % 10))))
        stack.undo()
        stack.undo()
        stack.redo()
        stack.redo()
        stack.undo()
        stack.undo()

    def training_run() -> None:
        panel.start()
        deadline = time.monotonic() + 120
        while panel.is_training and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)

    def save_cycle(index: int) -> None:
        path = scratch / f"soak-{index % 2}.json"
        window._write(path)
        window.open_network(path)

    # Warm-up: every kind of work once, so caches and first-use allocations are in the baseline.
    for index in range(20):
        edit_cycle(index)
    training_run()
    training_run()
    save_cycle(0)
    threads_before = threading.active_count()
    baseline = settle(app)
    print(f"after warm-up: RSS {baseline / 2**20:.1f} MiB, {threads_before} threads", flush=True)

    started = time.perf_counter()
    for index in range(args.cycles):
        edit_cycle(index)
    print(
        f"{args.cycles} edit–undo–redo cycles: {time.perf_counter() - started:.1f} s, RSS {rss_bytes() / 2**20:.1f} MiB",
        flush=True,
    )
    started = time.perf_counter()
    for _ in range(args.runs):
        training_run()
    print(
        f"{args.runs} training runs: {time.perf_counter() - started:.1f} s, RSS {rss_bytes() / 2**20:.1f} MiB",
        flush=True,
    )
    started = time.perf_counter()
    for index in range(args.saves):
        save_cycle(index)
    print(
        f"{args.saves} save–open cycles: {time.perf_counter() - started:.1f} s, RSS {rss_bytes() / 2**20:.1f} MiB",
        flush=True,
    )

    final = settle(app)
    threads_after = threading.active_count()
    children = len(multiprocessing.active_children())
    growth = 100.0 * (final - baseline) / baseline
    print(
        f"end: RSS {final / 2**20:.1f} MiB ({growth:+.1f} %), {threads_after} threads, {children} worker processes alive",
        flush=True,
    )
    window.undo_stack.setClean()
    window.weights_modified = False
    window.close()
    print(
        json.dumps(
            {
                "rss_growth_pct": round(growth, 2),
                "threads_leaked": threads_after - threads_before,
                "worker_processes_alive": children,
                "rss_baseline_mib": round(baseline / 2**20, 1),
                "rss_final_mib": round(final / 2**20, 1),
                "runs_kept": len(panel.runs),
            }
        )
    )


if __name__ == "__main__":
    main()
