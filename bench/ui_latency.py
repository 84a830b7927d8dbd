"""Does training freeze the window? Timer lateness, plot refreshes and throughput while training.

Opens the app offscreen on the CIFAR CNN example, trains it at full speed on random
32×32×3 data (10 classes, SGD with momentum, batch 64, as in ``train_throughput.py``)
for ``--seconds`` while a 5 ms timer records how late each tick fires, then closes the
window mid-run and times how long the worker takes to go. Throughput is compared with
headless runs of the same job measured just before and just after, in fresh processes.

    python bench/ui_latency.py [--seconds 30] [--worker process|thread]

The last line is one JSON object:
``{"lateness_ms_p50", "lateness_ms_p99", "lateness_ms_max", "plot_hz", "throughput_vs_headless", …}``.
``plot_hz`` counts the plot's refresh ticks per second (each brings the curves up to date
with everything received); ``plot_redraws_hz`` counts those that had new data to draw.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy: see main.py
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from core.data import Dataset
from core.examples import example_path
from core.graph.fileformat import load_network, network_to_dict
from core.session.engines import NUMPY, EngineChoice
from core.session.job import TrainingJob, TrainingRequest
from core.training.controls import Stop
from core.training.events import BatchEnded
from core.training.trainer import TrainingConfig

TICK_MS = 5
SAMPLES = 12_000
VAL_FRACTION = 0.1
BATCH = 64


def random_cifar(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.random((SAMPLES, 3, 32, 32), dtype=np.float32)
    return Dataset("random-cifar", x, rng.integers(0, 10, SAMPLES), [f"class {k}" for k in range(10)])


def config() -> TrainingConfig:
    return TrainingConfig(epochs=1000, batch_size=BATCH, optimizer="momentum", learning_rate=0.01, seed=0)


def headless_samples_per_second(seconds: float, queue: multiprocessing.Queue) -> None:
    """Child process: run the same job with nobody watching; report samples per second."""
    train, val = random_cifar().split(VAL_FRACTION, 0)
    job = TrainingJob(TrainingRequest(network_to_dict(load_network(example_path("cifar_cnn"))), train, val, config()))
    first = None
    samples = 0
    for event in job.trainer.run():
        if isinstance(event, BatchEnded):
            now = time.perf_counter()
            if first is None:
                first = now  # from the first finished batch: start-up is not throughput
            else:
                samples += BATCH
            if now - first >= seconds:
                job.trainer.control(Stop())
    queue.put(samples / (time.perf_counter() - first))


def measure_headless(seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=headless_samples_per_second, args=(seconds, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def measure_app(seconds: float, worker: str, engine: EngineChoice = NUMPY) -> dict[str, float]:
    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    _app = QApplication.instance() or QApplication([])  # kept alive while the window lives
    settings_file = Path(tempfile.mkdtemp()) / "settings.ini"
    window = MainWindow(QSettings(str(settings_file), QSettings.Format.IniFormat), worker_mode=worker)
    window.open_network(example_path("cifar_cnn"))
    window.show()
    panel, plots = window.training_panel, window.curves_panel.plots
    if not panel.engine.select(engine):
        raise SystemExit(f"the engine {engine.label} is not offered here")
    panel.chooser.add_imported(random_cifar(), Path("random-cifar.npz"))
    panel.form.set_values(
        {
            "epochs": 1000,
            "batch_size": BATCH,
            "optimizer": "momentum",
            "learning_rate": 0.01,
            "val_percent": int(VAL_FRACTION * 100),
            "seed": 0,
        }
    )
    lateness: list[float] = []
    last_tick = [0.0]
    first_batch = [0.0]
    samples = [0]

    def tick() -> None:
        now = time.perf_counter()
        if first_batch[0] and last_tick[0]:
            lateness.append((now - last_tick[0]) * 1000 - TICK_MS)
        last_tick[0] = now

    def on_events(events: list) -> None:
        for event in events:
            if isinstance(event, BatchEnded):
                if not first_batch[0]:
                    first_batch[0] = time.perf_counter()
                else:
                    samples[0] += BATCH

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    panel.worker.events_arrived.connect(on_events)
    loop = QEventLoop()
    panel.worker.events_arrived.connect(lambda _events: loop.quit() if first_batch[0] and loop.isRunning() else None)
    panel.start()
    timer.start()
    loop.exec()  # until the first batch has trained: start-up is not what is measured
    ticks_before, redraws_before = panel.refresh_ticks, plots.refresh_count
    refresh_ms: list[float] = []
    original_refresh = panel.refresh

    def timed_refresh() -> None:
        begun = time.perf_counter()
        original_refresh()
        refresh_ms.append((time.perf_counter() - begun) * 1000)

    panel._refresh_timer.timeout.disconnect()
    panel._refresh_timer.timeout.connect(timed_refresh)
    cpu_before = time.process_time()
    started = first_batch[0]
    # The app's own event loop, as a user's session runs it: no polling from here.
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    span = time.perf_counter() - started
    gui_cpu = (time.process_time() - cpu_before) / span
    ticks, redraws = panel.refresh_ticks - ticks_before, plots.refresh_count - redraws_before
    throughput = samples[0] / span
    timer.stop()
    closing = time.perf_counter()
    window.undo_stack.setClean()
    window.weights_modified = False
    window.close()
    close_seconds = time.perf_counter() - closing
    late = np.asarray(lateness)
    return {
        "lateness_ms_p50": round(float(np.percentile(late, 50)), 2),
        "lateness_ms_p99": round(float(np.percentile(late, 99)), 2),
        "lateness_ms_max": round(float(late.max()), 2),
        "plot_hz": round(ticks / span, 1),
        "plot_redraws_hz": round(redraws / span, 1),
        "samples_per_s": round(throughput, 1),
        "close_seconds": round(close_seconds, 3),
        "app_cpu_share": round(gui_cpu, 3),
        "refresh_ms_p50": round(float(np.percentile(refresh_ms, 50)), 2),
        "refresh_ms_max": round(float(np.max(refresh_ms)), 2),
        "worker_alive_after_close": panel.worker.running,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="training time measured in the app")
    parser.add_argument("--worker", choices=("process", "thread"), default="process")
    args = parser.parse_args()
    headless_seconds = max(5.0, args.seconds / 2)
    before = measure_headless(headless_seconds)
    print(f"headless before: {before:.1f} samples/s", flush=True)
    result = measure_app(args.seconds, args.worker)
    print(f"in the app ({args.worker} worker): {result['samples_per_s']:.1f} samples/s", flush=True)
    after = measure_headless(headless_seconds)
    print(f"headless after: {after:.1f} samples/s", flush=True)
    headless = (before + after) / 2
    result["headless_samples_per_s"] = round(headless, 1)
    result["throughput_vs_headless"] = round(result["samples_per_s"] / headless, 3)
    result["worker"] = args.worker
    print(
        f"timer lateness p50 {result['lateness_ms_p50']} ms, p99 {result['lateness_ms_p99']} ms, "
        f"max {result['lateness_ms_max']} ms; plot refresh {result['plot_hz']} Hz "
        f"({result['plot_redraws_hz']} Hz with new data); closing mid-run took {result['close_seconds']} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
