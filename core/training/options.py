"""Training options, as ``layerwise train`` names them, turned into a config and data.

``layerwise train``, ``layerwise export-pytorch`` and ``layerwise sweep`` share these two
functions, so that one setting and seed gives the same run through each of them.
``options`` is any object with the ``train`` flags' attributes (an ``argparse.Namespace``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from core.data import Dataset, load_dataset
from core.errors import LayerwiseError
from core.training.augment import AugmentSettings, parse_kinds
from core.training.schedules import ScheduleSettings
from core.training.trainer import TrainingConfig


def int_list(flag: str, text: str) -> tuple[int, ...]:
    """The comma-separated whole numbers in ``text``; a :class:`LayerwiseError` naming ``flag`` otherwise."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise LayerwiseError(f"{flag} takes comma-separated whole numbers, got {text!r}") from None


def class_weights_option(text: str | None) -> str | list[float] | None:
    """``--class-weights``: ``None``, ``"balanced"`` or one weight per class."""
    if text is None or text == "balanced":
        return text
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise LayerwiseError(
            f"--class-weights takes 'balanced' or comma-separated numbers, one per class, got {text!r}"
        ) from None


def config_from_options(options: Any) -> TrainingConfig:
    """The :class:`TrainingConfig` the ``train`` options describe (checked when a trainer takes it)."""
    return TrainingConfig(
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=options.lr,
        optimizer=options.optimizer,
        momentum=options.momentum,
        nesterov=options.nesterov,
        loss=options.loss,
        l1=options.l1,
        l2=options.l2,
        dropout=not options.no_dropout,
        augment=AugmentSettings(kinds=parse_kinds(options.augment), noise_std=options.noise_std),
        early_stopping=options.early_stop,
        monitor=options.monitor,
        min_delta=options.min_delta,
        restore_best=not options.no_restore_best,
        seed=options.seed,
        schedule=ScheduleSettings(
            kind=options.schedule,
            step_size=options.step_size,
            gamma=options.gamma,
            milestones=int_list("--milestones", options.milestones),
            warmup_epochs=options.warmup_epochs,
            min_lr=options.min_lr,
            factor=options.plateau_factor,
            patience=options.plateau_patience,
        ),
        weight_decay=options.weight_decay,
        clip_norm=options.clip_norm,
        label_smoothing=options.label_smoothing,
        class_weights=class_weights_option(options.class_weights),
    )


def datasets_from_options(
    options: Any, input_shape: tuple[int, ...], say: Callable[[str], None] = print
) -> tuple[Dataset, Dataset | None, Dataset | None]:
    """Training, validation and (when the source has one) test data.

    A dataset with a validation split of its own (an image folder's ``val/``) validates
    on it instead of splitting one off, unless ``val_split`` is 0.

    Parameters
    ----------
    options
        The ``train`` options (``dataset``, ``samples``, ``seed``, ``val_split``, ``train_subset``).
    input_shape
        The network input's shape ``(C, H, W)``; built-in datasets are generated at it.
    say
        Called with a line of text worth telling the user.
    """
    data = load_dataset(options.dataset, input_shape=input_shape, n_samples=options.samples, seed=options.seed)
    test = data.test
    if options.val_split and data.val is not None:
        train, val = Dataset(data.name, data.x, data.y, list(data.class_names)), data.val
        say(f"validation: the folder's val/ split ({len(val):,} samples)")
    elif options.val_split:
        train, val = data.split(options.val_split, options.seed)
    else:
        train, val = data, None
    if options.train_subset is not None:
        if not 1 <= options.train_subset <= len(train):
            raise LayerwiseError(f"--train-subset must be between 1 and {len(train)}, got {options.train_subset}")
        chosen = np.random.default_rng(options.seed).permutation(len(train))[: options.train_subset]
        train = train.subset(np.sort(chosen))
    return train, val, test
