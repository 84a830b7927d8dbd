"""Transfer learning on our own data: features learnt on digits 0–4, reused for 5–9 from 10 samples each.

The digits CNN is trained on the built-in digits 0–4 (its classifier resized for five
classes). Then, for each seed, 10 samples of each of 5–9 are drawn, and two networks train
on those same 50 samples for the same epochs:

- **frozen**: the convolutions keep the weights learnt on 0–4 and are frozen; the dense
  head after them starts afresh;
- **fine-tuned**: the same, but the convolutions learn on at a tenth of the rate;
- **scratch**: the same network, every layer starting afresh.

Both are validated on every other sample of 5–9. Prints each seed's final validation
accuracy and the means, and with ``--png`` draws the mean validation accuracy per epoch.

    python bench/transfer.py [--seeds 5] [--epochs 60] [--per-class 10] [--png docs/images/transfer-digits.png]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy: see main.py
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from core.data import Dataset, load_builtin
from core.data.dataset import stratified_take
from core.engine.model import Model
from core.engine.network_weights import merge_fitting
from core.examples import example_path
from core.graph.classifier import find_classifier
from core.graph.document import LayerTraining, NetworkDocument
from core.graph.fileformat import load_network
from core.training.events import EpochEnded, TrainingFinished
from core.training.trainer import Trainer, TrainingConfig

FINE_TUNE_MULTIPLIER = 0.1
FEATURES = ("conv1", "conv2")
"""The layers learnt on 0–4 and reused for 5–9 by default (``--keep``); the layers after them start afresh."""


def five_classes(digits: Dataset, first: int) -> Dataset:
    keep = (digits.y >= first) & (digits.y < first + 5)
    names = list(digits.class_names[first : first + 5])
    return Dataset(f"digits {first}–{first + 4}", digits.x[keep], digits.y[keep] - first, names)


def network_for_five() -> NetworkDocument:
    document = load_network(example_path("digits_cnn"))
    head = find_classifier(document)
    assert head is not None
    document.set_param(head.node_id, head.param, 5)
    return document


def train(document: NetworkDocument, train_set: Dataset, val: Dataset | None, config: TrainingConfig, start=None):
    model = Model(document, seed=config.seed)
    if start is not None:
        state, _fresh = merge_fitting(model.state_dict(), start)
        model.load_state_dict(state)
    events = list(Trainer(document, train_set, val, config, model=model).run())
    finished = events[-1]
    assert isinstance(finished, TrainingFinished) and finished.reason == "completed", finished
    return model, [e.val_accuracy for e in events if isinstance(e, EpochEnded)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--pretrain-epochs", type=int, default=15)
    parser.add_argument("--per-class", type=int, default=10, help="training samples of each of 5–9")
    parser.add_argument(
        "--keep",
        default=",".join(FEATURES),
        help="the layers reused from 0–4, comma-separated (default: the convolutions)",
    )
    parser.add_argument("--png", help="draw the mean validation accuracy per epoch here")
    args = parser.parse_args()
    digits = load_builtin("digits", input_shape=(1, 8, 8))
    source, target = five_classes(digits, 0), five_classes(digits, 5)

    pretrain_train, pretrain_val = source.split(0.2, 0)
    pretrain_config = TrainingConfig(epochs=args.pretrain_epochs, batch_size=32, seed=0)
    pretrained, curve = train(network_for_five(), pretrain_train, pretrain_val, pretrain_config)
    print(f"pretrained on {source.name}: validation accuracy {curve[-1]:.3f} after {args.pretrain_epochs} epochs")
    kept = tuple(name.strip() for name in args.keep.split(",") if name.strip())
    features = {key: value for key, value in pretrained.state_dict().items() if key.split("/")[0] in kept}

    results: dict[str, list[list[float]]] = {"frozen": [], "fine-tuned": [], "scratch": []}
    variants = {
        "frozen": LayerTraining(trainable=False),
        "fine-tuned": LayerTraining(lr_multiplier=FINE_TUNE_MULTIPLIER),
    }
    for seed in range(args.seeds):
        chosen = stratified_take(target.y, 5 * args.per_class, np.random.default_rng(seed))
        held_out = np.setdiff1d(np.arange(len(target)), chosen)
        few, val = target.subset(chosen), target.subset(held_out)
        config = TrainingConfig(epochs=args.epochs, batch_size=10, seed=seed)
        for key, training in variants.items():
            network = network_for_five()
            for name in kept:
                network.set_training(network.node_by_name(name).id, training)
            results[key].append(train(network, few, val, config, start=features)[1])
        results["scratch"].append(train(network_for_five(), few, val, config)[1])
        finals = ", ".join(f"{key} {curves[-1][-1]:.3f}" for key, curves in results.items())
        print(f"seed {seed}: {len(few)} samples, validated on {len(val)}: {finals}")
    summary = {}
    for key, curves in results.items():
        final = np.array([c[-1] for c in curves])
        summary[key] = {"mean": round(float(final.mean()), 4), "std": round(float(final.std()), 4)}
        print(f"{key:>10}: validation accuracy {final.mean():.3f} ± {final.std():.3f} over {args.seeds} seeds")
    if args.png:
        draw(results, Path(args.png), args.per_class)
        print(f"wrote {args.png}")
    print(json.dumps(summary))


def draw(results: dict[str, list[list[float]]], path: Path, per_class: int) -> None:
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    _app = QApplication.instance() or QApplication([])
    widget = pg.PlotWidget(background="w")
    widget.resize(720, 380)
    plot = widget.getPlotItem()
    plot.setTitle(f"digits 5–9 from {per_class} samples per class: mean validation accuracy")
    plot.setLabel("bottom", "epoch")
    plot.setLabel("left", "validation accuracy")
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.addLegend(offset=(-10, -10))  # lower right: the curves rise away from it
    colours = {"frozen": "#1f77b4", "fine-tuned": "#54a24b", "scratch": "#e8710a"}
    labels = {
        "frozen": "convolutions from 0–4, frozen; new head",
        "fine-tuned": f"convolutions from 0–4 at learning rate ×{FINE_TUNE_MULTIPLIER:g}; new head",
        "scratch": "every layer from scratch",
    }
    for key, curves in results.items():
        mean = np.mean(np.array(curves), axis=0)
        plot.plot(np.arange(1, len(mean) + 1), mean, pen=pg.mkPen(colours[key], width=2.5), name=labels[key])
    plot.setYRange(0, 1, padding=0.02)
    widget.grab().save(str(path))


if __name__ == "__main__":
    main()
