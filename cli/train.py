"""``layerwise train``: train a network on a dataset, printing progress per epoch."""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

from cli.common import load_network_argument
from core.data import Dataset, builtin_names
from core.data.dataset import STRONG_IMBALANCE, class_counts, imbalance
from core.engine.model import Model
from core.engine.optimizers import DEFAULT_WEIGHT_DECAY, OPTIMIZERS
from core.errors import LayerwiseError
from core.session.engines import ENGINE_KINDS, NUMPY, EngineChoice, make_engine
from core.torch_engine.engine import INSTALL_HINT
from core.training.augment import AugmentSettings
from core.training.events import (
    BatchEnded,
    EarlyStopChecked,
    EpochEnded,
    SettingChanged,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
)
from core.training.options import config_from_options, datasets_from_options
from core.training.run_log import RunLogWriter
from core.training.schedules import SCHEDULES, ScheduleSettings
from core.training.trainer import Trainer, TrainingConfig

EXIT_OK, EXIT_FAILED = 0, 1
BAR_WIDTH = 24
COUNTS_LISTED = 20
"""Datasets with up to this many classes have each class's count printed; larger ones the range."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="train a network on a built-in or imported dataset",
        description="Train NETWORK on DATASET, printing training and validation loss and accuracy per epoch. "
        f"Built-in datasets ({', '.join(builtin_names())}) are generated at the network's input size; "
        "imported ones (MNIST IDX folder, .npz, CIFAR-10 or CIFAR-100 batches, image folder) must match it.",
    )
    train.add_argument("network", help="a network file or the name of a shipped example")
    train.add_argument(
        "--dataset",
        required=True,
        help="a built-in dataset name, a downloaded one (layerwise datasets get NAME), or a path to import",
    )
    add_training_arguments(train)
    train.add_argument("--weights", help="start from weights saved with --save")
    train.add_argument("--save", metavar="WEIGHTS.npz", help="write the trained weights here")
    train.add_argument(
        "--log",
        metavar="RUN.jsonl",
        help="write every event as JSON lines, a run log the app can follow (File > Open Run Log)",
    )
    train.add_argument("--name", metavar="NAME", help="the run's name, written in the log's first line")
    train.add_argument(
        "--engine",
        choices=ENGINE_KINDS,
        default="numpy",
        help=f"numpy: the built-in engine (default); torch: PyTorch, which must be installed ({INSTALL_HINT})",
    )
    train.add_argument("--device", metavar="D", help="with --engine torch: cpu (default), cuda, cuda:N or mps")
    train.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="BLAS threads (default: as many as BLAS takes); 1 reproduces a sweep's run bit for bit, as its "
        "workers use one each, and a matrix product's sums round differently when split over threads",
    )
    train.set_defaults(handler=run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text!r}")
    return value


def add_training_arguments(train: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The flags that shape a training run (besides the dataset): ``train`` and ``export-pytorch`` share them."""
    train.add_argument("--samples", type=int, help="number of samples to generate for a built-in dataset")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 0.001)")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    train.add_argument("--momentum", type=float, default=0.9, help="for --optimizer momentum")
    train.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    train.add_argument("--loss", choices=("cross_entropy", "mse"), default="cross_entropy")
    train.add_argument(
        "--val-split",
        type=float,
        default=0.2,
        help="fraction held out for validation (0 for none); a dataset with its own val/ split validates on that",
    )
    train.add_argument(
        "--train-subset", type=int, metavar="K", help="train on K random training samples only (provokes overfitting)"
    )
    train.add_argument("--seed", type=int, default=0, help="the same seed gives the same run, bit for bit")
    train.add_argument("--l1", type=float, default=0.0, help="L1 penalty strength on kernels")
    train.add_argument("--l2", type=float, default=0.0, help="L2 penalty strength on kernels")
    train.add_argument("--no-dropout", action="store_true", help="switch every Dropout layer off")
    train.add_argument(
        "--augment", default="", metavar="KINDS", help="comma-separated: noise,shift,flip,rotate,resample,sample"
    )
    train.add_argument(
        "--noise-std", type=float, default=AugmentSettings.noise_std, help="std of the 'noise' augmentation"
    )
    train.add_argument(
        "--early-stop", type=int, metavar="N", help="stop after N epochs without a new best validation metric"
    )
    train.add_argument("--monitor", choices=("val_loss", "val_accuracy"), default="val_loss")
    train.add_argument("--min-delta", type=float, default=0.0, help="smallest change that counts as an improvement")
    train.add_argument(
        "--no-restore-best", action="store_true", help="keep the last weights instead of the best epoch's"
    )
    add_recipe_arguments(train)


def add_recipe_arguments(train: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Learning-rate schedule, AdamW's weight decay, clipping, label smoothing and class weights."""
    defaults = ScheduleSettings()
    train.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="none",
        help="learning-rate schedule; --lr is its base (default none: constant)",
    )
    train.add_argument("--step-size", type=int, default=defaults.step_size, help="--schedule step: epochs per step")
    train.add_argument(
        "--gamma",
        type=float,
        default=defaults.gamma,
        help="--schedule step/multistep: factor per reduction; exponential: factor per epoch",
    )
    train.add_argument(
        "--milestones",
        default="",
        metavar="E1,E2,…",
        help="--schedule multistep: epochs (from 0) after which the rate is multiplied by --gamma",
    )
    train.add_argument(
        "--warmup-epochs", type=int, default=defaults.warmup_epochs, help="--schedule cosine: linear warm-up epochs"
    )
    train.add_argument("--min-lr", type=float, default=defaults.min_lr, help="--schedule cosine: the final rate")
    train.add_argument(
        "--plateau-factor", type=float, default=defaults.factor, help="--schedule plateau: factor per reduction"
    )
    train.add_argument(
        "--plateau-patience",
        type=int,
        default=defaults.patience,
        help="--schedule plateau: epochs without a new best val_loss before a reduction",
    )
    train.add_argument(
        "--weight-decay",
        type=float,
        default=DEFAULT_WEIGHT_DECAY,
        help=f"--optimizer adamw: decoupled weight decay on every parameter (default {DEFAULT_WEIGHT_DECAY:g})",
    )
    train.add_argument(
        "--clip-norm", type=float, metavar="N", help="clip the gradient to global L2 norm N (clip_grad_norm_)"
    )
    train.add_argument(
        "--label-smoothing", type=float, default=0.0, help="cross-entropy label smoothing in [0, 1) (default 0)"
    )
    train.add_argument(
        "--class-weights",
        metavar="balanced|W1,W2,…",
        help="cross-entropy class weights: balanced (n / (classes · count)) or one weight per class",
    )


def training_datasets(args: argparse.Namespace, model: Model) -> tuple[Dataset, Dataset | None, Dataset | None]:
    """Training, validation and (when the source has one) test data (:func:`~core.training.options.datasets_from_options`)."""
    return datasets_from_options(args, tuple(model.input_shape))


def training_config(args: argparse.Namespace) -> TrainingConfig:
    """The :class:`TrainingConfig` the flags describe (checked when a trainer or ``train.py`` takes it)."""
    return config_from_options(args)


def run(args: argparse.Namespace) -> int:
    if args.threads is None:
        return _run(args)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    _path, document = load_network_argument(args.network)
    config = training_config(args)
    model = Model(document, seed=args.seed)
    if args.weights:
        model.load_weights(args.weights)
    train, val, test = training_datasets(args, model)
    for line in class_balance_lines(train, args.class_weights is None):
        print(line)
    trainer = Trainer(document, train, val, config, engine=make_engine(engine_choice(args), model, config))
    log = open(args.log, "w", encoding="utf-8") if args.log else None  # noqa: SIM115 (closed below)
    try:
        writer = RunLogWriter(log, run=args.name) if log else None
        finished = _consume(trainer, ProgressPrinter(sys.stdout), writer)
    finally:
        if log:
            log.close()
    if test is not None and finished.reason != "failed":
        loss, accuracy = trainer.evaluate(test)
        print(f"test: loss {loss:.4f}  accuracy {accuracy:.2%} on {len(test):,} held-out samples")
    if args.save and finished.reason != "failed":
        model.save_weights(args.save)
        print(f"weights ({finished.restored}) saved to {args.save}")
    return EXIT_OK if finished.reason in ("completed", "early_stopped", "stopped") else EXIT_FAILED


def class_balance_lines(train: Dataset, suggest_weights: bool = True) -> list[str]:
    """The training part's class counts and, when the classes are strongly imbalanced, a warning.

    Parameters
    ----------
    train
        The samples a run trains on, labels ``(N,)``.
    suggest_weights
        Whether the warning suggests ``--class-weights balanced`` (not when weights are set).

    Returns
    -------
    list[str]
        One line of counts (each class's up to :data:`COUNTS_LISTED` classes, else their
        range), then a warning line when the largest class is at least
        :data:`~core.data.dataset.STRONG_IMBALANCE` times the smallest.
    """
    counts = class_counts(train)
    if len(counts) <= COUNTS_LISTED:
        shown = ", ".join(f"{name} {count:,}" for name, count in zip(train.class_names, counts))
    else:
        shown = f"{len(counts)} classes, {min(counts):,} to {max(counts):,} samples each"
    lines = [f"class counts (training): {shown}"]
    ratio = imbalance(train)
    if ratio >= STRONG_IMBALANCE:
        advice = "; consider --class-weights balanced" if suggest_weights else ""
        lines.append(
            f"warning: the classes are imbalanced, the largest has {ratio:.1f}× the samples of the smallest{advice}"
        )
    return lines


def engine_choice(args: argparse.Namespace) -> EngineChoice:
    """The engine ``--engine`` and ``--device`` name.

    Raises
    ------
    LayerwiseError
        For ``--device`` without ``--engine torch``.
    """
    if args.engine != "torch":
        if args.device is not None:
            raise LayerwiseError(f"--device {args.device} needs --engine torch (the NumPy engine runs on the CPU)")
        return NUMPY
    return EngineChoice("torch", args.device or "cpu")


def _consume(trainer: Trainer, printer: ProgressPrinter, log: RunLogWriter | None) -> TrainingFinished:
    finished: TrainingFinished | None = None
    for event in trainer.run():
        printer.show(event)
        if log:
            log.write(event)
        if isinstance(event, TrainingFinished):
            finished = event
    assert finished is not None
    return finished


class ProgressPrinter:
    """Turns trainer events into a progress bar (on a terminal) and one line per epoch."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.epochs = 0
        self.pending_epoch: str | None = None
        self.early_stopping = False

    def _print(self, text: str) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def _flush_epoch(self, suffix: str = "") -> None:
        if self.pending_epoch is not None:
            self._print(self.pending_epoch + suffix)
            self.pending_epoch = None

    def show(self, event: TrainingEvent) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def _on_TrainingStarted(self, event: TrainingStarted) -> None:
        self.epochs = event.epochs
        self.early_stopping = bool(event.settings.get("early_stopping"))
        val = f" / {event.val_samples:,} validation" if event.val_samples else " (no validation split)"
        self._print(
            f"Training {event.network} on {event.dataset}: {event.train_samples:,} training{val} samples, "
            f"{event.parameters:,} parameters, {event.batches_per_epoch} batches per epoch"
            + (f", engine: {event.settings['engine']}" if event.settings.get("engine") else "")
        )

    def _on_BatchEnded(self, event: BatchEnded) -> None:
        if not self.live:
            return
        done = event.batch / event.batches
        filled = int(done * BAR_WIDTH)
        bar = "█" * filled + "░" * (BAR_WIDTH - filled)
        self.stream.write(
            f"\r\033[Kepoch {event.epoch}/{self.epochs} {bar} {event.batch}/{event.batches}  "
            f"loss {event.loss:.4f}  acc {event.accuracy:.1%}"
        )
        self.stream.flush()

    def _on_EpochEnded(self, event: EpochEnded) -> None:
        width = len(str(self.epochs))
        line = f"epoch {event.epoch:>{width}}/{self.epochs}  train loss {event.train_loss:.4f} acc {event.train_accuracy:6.2%}"
        if event.train_penalty:
            line += f" (data {event.train_data_loss:.4f} + penalty {event.train_penalty:.4f})"
        if event.val_loss is not None:
            line += f"  │  val loss {event.val_loss:.4f} acc {event.val_accuracy:6.2%}"
        line += f"  {event.seconds:5.1f} s"
        self.pending_epoch = line
        if not self.early_stopping:
            self._flush_epoch()

    def _on_EarlyStopChecked(self, event: EarlyStopChecked) -> None:
        if event.improved:
            self._flush_epoch("  ★ best")
        else:
            self._flush_epoch(f"  ({event.epochs_without_improvement}/{event.patience} without improvement)")

    def _on_SettingChanged(self, event: SettingChanged) -> None:
        self._print(
            f"  · {event.setting}: {_show(event.old)} → {_show(event.new)} (epoch {event.epoch}, batch {event.batch})"
        )

    def _on_TrainingFinished(self, event: TrainingFinished) -> None:
        self._flush_epoch()
        prefix = {"diverged": "Diverged: ", "failed": "Failed: "}.get(event.reason, "")
        self._print(f"{prefix}{event.message[0].upper()}{event.message[1:]}.")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)
