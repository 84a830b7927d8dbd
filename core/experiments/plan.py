"""What a sweep varies and which trials it runs.

A varied key is a ``layerwise train`` option (``lr``, ``batch_size``, ``optimizer``,
``l2``, ``dropout``, ``augment.shift`` …) or a layer's parameter (``fc1.units``,
``fc1_dropout.rate``); its values are a list (``KEY=V1,V2,…``) or a range
(``KEY=LO:HI:N`` evenly spaced, ``KEY=LO:HI:N:log`` evenly spaced in log).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.engine.optimizers import OPTIMIZERS
from core.errors import LayerwiseError, ParamError
from core.graph.document import NetworkDocument
from core.training.augment import AUGMENTATION_KINDS
from core.training.schedules import SCHEDULES

STRATEGIES = ("grid", "random:N", "halving")
"""The strategies: every combination, N random draws, successive halving."""
LOSSES = ("cross_entropy", "mse")
ON, OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")
PLACES = 12
"""Significant digits kept of a range's float values (``0.1`` rather than ``0.30000000000000004``)."""


class PlanError(LayerwiseError):
    """A varied key, a value, a strategy or a count that cannot make a plan (naming it)."""


@dataclass(frozen=True)
class TrainKey:
    """A ``train`` option a sweep may vary: its kind (``int``, ``float``, ``bool``, ``choice``) and choices."""

    kind: str
    choices: tuple[str, ...] = ()
    positive: bool = False


TRAIN_KEYS: dict[str, TrainKey] = {
    "lr": TrainKey("float", positive=True),
    "batch_size": TrainKey("int", positive=True),
    "optimizer": TrainKey("choice", OPTIMIZERS),
    "momentum": TrainKey("float"),
    "nesterov": TrainKey("bool"),
    "loss": TrainKey("choice", LOSSES),
    "l1": TrainKey("float"),
    "l2": TrainKey("float"),
    "dropout": TrainKey("bool"),
    "noise_std": TrainKey("float"),
    "early_stop": TrainKey("int", positive=True),
    "min_delta": TrainKey("float"),
    "train_subset": TrainKey("int", positive=True),
    "schedule": TrainKey("choice", SCHEDULES),
    "step_size": TrainKey("int", positive=True),
    "gamma": TrainKey("float", positive=True),
    "warmup_epochs": TrainKey("int"),
    "min_lr": TrainKey("float"),
    "plateau_factor": TrainKey("float", positive=True),
    "plateau_patience": TrainKey("int", positive=True),
    "weight_decay": TrainKey("float"),
    "clip_norm": TrainKey("float", positive=True),
    "label_smoothing": TrainKey("float"),
    **{f"augment.{kind}": TrainKey("bool") for kind in AUGMENTATION_KINDS},
}
"""Every ``train`` option a sweep can vary, by the option's name (``-`` written as ``_``)."""


@dataclass(frozen=True)
class Varied:
    """One varied key and its values, in the order they were given.

    Attributes
    ----------
    key
        A :data:`TRAIN_KEYS` name or ``LAYER.PARAM``.
    values
        The values, already of the key's kind (ints for whole-number keys).
    log
        Whether they came from a logarithmic range (plots use log axes).
    low, high
        A range's ends (random draws lie between them); ``None`` for a list.
    """

    key: str
    values: tuple[Any, ...]
    log: bool = False
    low: float | None = None
    high: float | None = None

    @property
    def is_layer(self) -> bool:
        return self.key not in TRAIN_KEYS


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: its setting, its seed and its epochs (``rung``: a halving round, else 0)."""

    index: int
    values: dict[str, Any]
    seed: int
    epochs: int
    rung: int = 0

    def key(self) -> tuple[str, int, int]:
        """What identifies a run regardless of its position in the queue (setting, seed, epochs)."""
        return setting_key(self.values), self.seed, self.epochs


def setting_key(values: Mapping[str, Any]) -> str:
    """A stable text for a setting (the same values give the same text, in any key order)."""
    return ";".join(f"{key}={values[key]!r}" for key in sorted(values))


@dataclass(frozen=True)
class Plan:
    """The varied keys, the strategy, the repeats, the base seed and the epoch budget."""

    varied: tuple[Varied, ...]
    strategy: str = "grid"
    repeats: int = 1
    seed: int = 0
    epochs: int = 10
    texts: tuple[str, ...] = field(default=())
    """The ``--vary`` texts the keys were parsed from (an experiment file keeps them)."""

    @property
    def keys(self) -> list[str]:
        return [varied.key for varied in self.varied]

    def settings(self) -> list[dict[str, Any]]:
        """The settings the strategy tries (before repeats): the grid, or N seeded random draws."""
        if self.strategy.startswith("random:"):
            return _random_settings(self.varied, random_count(self.strategy), self.seed)
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*(v.values for v in self.varied))]

    def seeds(self) -> list[int]:
        """``seed``, ``seed + 1``, … one per repeat."""
        return [self.seed + repeat for repeat in range(self.repeats)]

    def trials(
        self, settings: Sequence[Mapping[str, Any]] | None = None, epochs: int | None = None, rung: int = 0
    ) -> list[Trial]:
        """Every setting (default :meth:`settings`) with every repeat's seed, at ``epochs`` (default the budget)."""
        chosen = self.settings() if settings is None else settings
        runs = [(dict(values), seed) for values in chosen for seed in self.seeds()]
        return [
            Trial(index, values, seed, self.epochs if epochs is None else epochs, rung)
            for index, (values, seed) in enumerate(runs)
        ]

    def rung_epochs(self) -> list[int]:
        """Successive halving's epochs per round, doubling up to the budget (the last round gets all of it).

        With ``n`` settings there are ``ceil(log2 n) + 1`` rounds (fewer when the budget
        cannot halve that often); round ``r`` of ``R`` trains ``max(1, epochs // 2**(R-1-r))``.
        """
        count = len(self.settings())
        rounds = math.ceil(math.log2(count)) + 1 if count > 1 else 1
        rounds = min(rounds, int(math.log2(self.epochs)) + 1)
        return [max(1, self.epochs // 2 ** (rounds - 1 - r)) for r in range(rounds)]

    def to_json(self) -> dict[str, Any]:
        return {
            "vary": list(self.texts),
            "strategy": self.strategy,
            "repeats": self.repeats,
            "seed": self.seed,
            "epochs": self.epochs,
        }


def halving_survivors(settings: Sequence[Mapping[str, Any]], scores: Sequence[float]) -> list[dict[str, Any]]:
    """The better half (rounded up) of ``settings`` by ``scores`` (lower is better; NaN last), in their order.

    Ties keep the earlier setting, so the choice is deterministic.
    """
    order = sorted(
        range(len(settings)),
        key=lambda i: (not math.isfinite(scores[i]), scores[i] if math.isfinite(scores[i]) else 0.0, i),
    )
    kept = sorted(order[: math.ceil(len(settings) / 2)])
    return [dict(settings[i]) for i in kept]


def random_count(strategy: str) -> int:
    """N of ``random:N``."""
    text = strategy.partition(":")[2]
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise PlanError(f"strategy {strategy!r}: random needs a count ≥ 1, as in random:8")
    return count


def _random_settings(varied: Sequence[Varied], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` draws: a list key picks one of its values, a range key a point of its range (log-uniform for log)."""
    rng = np.random.default_rng(seed)
    settings = []
    for _ in range(count):
        setting: dict[str, Any] = {}
        for v in varied:
            if v.low is None or v.high is None:
                setting[v.key] = v.values[int(rng.integers(len(v.values)))]
                continue
            low, high = (math.log(v.low), math.log(v.high)) if v.log else (v.low, v.high)
            point = float(rng.uniform(low, high))
            point = math.exp(point) if v.log else point
            setting[v.key] = round(point) if isinstance(v.values[0], int) else float(f"{point:.{PLACES}g}")
        settings.append(setting)
    return settings


def make_plan(
    texts: Sequence[str],
    document: NetworkDocument,
    strategy: str = "grid",
    repeats: int = 1,
    seed: int = 0,
    epochs: int = 10,
) -> Plan:
    """Parse the ``--vary`` texts against ``document`` and check the rest.

    Raises
    ------
    PlanError
        Naming the key or value at fault, an unknown strategy, or a count below 1.
    """
    if not texts:
        raise PlanError("nothing varies: give at least one --vary KEY=VALUES")
    varied = tuple(parse_varied(text, document) for text in texts)
    keys = [v.key for v in varied]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise PlanError(f"{', '.join(twice)} is varied twice; give each key once")
    if strategy not in ("grid", "halving") and not strategy.startswith("random:"):
        raise PlanError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if repeats < 1:
        raise PlanError(f"repeats must be ≥ 1, got {repeats}")
    if epochs < 1:
        raise PlanError(f"epochs must be ≥ 1, got {epochs}")
    plan = Plan(varied, strategy, repeats, seed, epochs, tuple(texts))
    plan.settings()  # checks random:N
    return plan


def parse_varied(text: str, document: NetworkDocument) -> Varied:
    """One ``KEY=V1,V2,…`` or ``KEY=LO:HI:N[:log]``, its values checked for the key.

    Raises
    ------
    PlanError
        Naming the key (and the choices) or the value that does not fit.
    """
    key, equals, spec = text.partition("=")
    key = key.strip()
    if not equals or not key or not spec.strip():
        raise PlanError(f"--vary {text!r}: write KEY=V1,V2,… or KEY=LO:HI:N[:log]")
    if "." in key and key.partition(".")[0] != "augment":
        kind, check = _layer_key(key, document)
    else:
        key = key.replace("-", "_")
        if key not in TRAIN_KEYS:
            raise PlanError(
                f"unknown key {key!r}: vary a train option ({', '.join(TRAIN_KEYS)}) or a layer's parameter as LAYER.PARAM"
            )
        kind, check = TRAIN_KEYS[key].kind, _train_check(key)
    parts = spec.split(":")
    if len(parts) in (3, 4) and "," not in spec:
        return _parse_range(key, kind, parts, check)
    values = tuple(check(_convert(key, kind, part.strip())) for part in spec.split(","))
    return Varied(key, values)


def _parse_range(key: str, kind: str, parts: list[str], check: Any) -> Varied:
    if kind not in ("int", "float"):
        raise PlanError(f"{key} takes a list of values, not a range (its values are not numbers)")
    log = len(parts) == 4
    if log and parts[3].strip() != "log":
        raise PlanError(f"{key}={':'.join(parts)}: the fourth part of a range may only be 'log', got {parts[3]!r}")
    low, high = (_convert(key, "float", part.strip()) for part in parts[:2])
    try:
        count = int(parts[2])
    except ValueError:
        raise PlanError(f"{key}: a range's third part is the number of values, got {parts[2]!r}") from None
    if count < 1:
        raise PlanError(f"{key}: a range needs at least 1 value, got {count}")
    if log and (low <= 0 or high <= 0):
        raise PlanError(f"{key}: a log range needs ends above 0, got {low:g} and {high:g}")
    points = np.geomspace(low, high, count) if log else np.linspace(low, high, count)
    if kind == "int":
        values: tuple[Any, ...] = tuple(dict.fromkeys(round(float(p)) for p in points))
    else:
        values = tuple(float(f"{float(p):.{PLACES}g}") for p in points)
    return Varied(key, tuple(check(v) for v in values), log, low, high)


def _convert(key: str, kind: str, text: str) -> Any:
    try:
        if kind == "int":
            number = float(text)
            if number != int(number):
                raise ValueError
            return int(number)
        if kind == "float":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise PlanError(f"{key}: {text!r} is not {'a whole number' if kind == 'int' else 'a number'}") from None
    if kind == "bool":
        if text.lower() in ON:
            return True
        if text.lower() in OFF:
            return False
        raise PlanError(f"{key}: {text!r} is not on or off")
    return text


def _train_check(key: str) -> Any:
    spec = TRAIN_KEYS[key]

    def check(value: Any) -> Any:
        if spec.kind == "choice" and value not in spec.choices:
            raise PlanError(f"{key}: {value!r} is not one of {', '.join(spec.choices)}")
        if spec.kind in ("int", "float"):
            if spec.positive and value <= 0:
                raise PlanError(f"{key}: {value!r} must be above 0")
            if value < 0:
                raise PlanError(f"{key}: {value!r} must not be negative")
        return value

    return check


def _layer_key(key: str, document: NetworkDocument) -> tuple[str, Any]:
    name, _, param = key.partition(".")
    node = document.node_by_name(name)
    if node is None:
        layers = ", ".join(n.name for n in document.nodes if n.layer.param_specs)
        raise PlanError(f"{key}: the network has no layer {name!r} (layers with parameters: {layers})")
    specs = {spec.name: spec for spec in node.layer.param_specs}
    if param not in specs:
        choices = ", ".join(specs) or "none"
        raise PlanError(
            f"{key}: layer {name!r} ({node.type_name}) has no parameter {param!r} (its parameters: {choices})"
        )
    kind = specs[param].kind if specs[param].kind in ("int", "float", "bool") else "text"

    def check(value: Any) -> Any:
        try:
            node.layer.with_params(**{param: value})
        except (ParamError, LayerwiseError, ValueError, TypeError) as exc:
            raise PlanError(f"{key}: {value!r} does not fit layer {name!r}: {exc}") from None
        return value

    return kind, check
