"""Parameter specifications: what a layer's settings are, and what values are valid.

A layer class declares a tuple of specs. Each spec turns a value coming from a user,
a file or an editor into one canonical Python value (``coerce``), or raises
:class:`~core.errors.ParamError` naming the field and the reason; and turns the
canonical value back into plain JSON (``to_json``). Editors in the app are built from
these specs, so the valid range shown to a user is the one enforced here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from core.errors import ParamError

Pair = tuple[int, int]
Padding4 = tuple[int, int, int, int]
"""Explicit padding as (top, left, bottom, right), the order of ONNX ``pads``."""


def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, str) else f"{value!r} ({type(value).__name__})"


def _as_int(field: str, value: Any, minimum: int | None, maximum: int | None) -> int:
    # bool is a subclass of int in Python; `true` in a file is never a size.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ParamError(field, f"must be a whole number, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise ParamError(field, f"must be ≥ {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ParamError(field, f"must be ≤ {maximum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class ParamSpec:
    """Base of all parameter specifications.

    Attributes
    ----------
    name
        Key of the parameter in a layer's config, e.g. ``"filters"``.
    default
        Canonical default value.
    help
        One sentence shown as the editor's tooltip.
    """

    name: str
    default: Any
    help: str
    kind: ClassVar[str] = "abstract"

    def coerce(self, value: Any) -> Any:
        """Return the canonical form of ``value`` or raise :class:`ParamError`."""
        raise NotImplementedError

    def to_json(self, value: Any) -> Any:
        """Return the canonical ``value`` as plain JSON data."""
        return value


@dataclass(frozen=True)
class IntParam(ParamSpec):
    """A whole number within ``[minimum, maximum]`` (either bound may be open)."""

    minimum: int | None = None
    maximum: int | None = None
    kind: ClassVar[str] = "int"

    def coerce(self, value: Any) -> int:
        return _as_int(self.name, value, self.minimum, self.maximum)


@dataclass(frozen=True)
class FloatParam(ParamSpec):
    """A finite real number within a range; each bound may be inclusive or exclusive."""

    minimum: float | None = None
    maximum: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    kind: ClassVar[str] = "float"

    def coerce(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(self.name, f"must be a number, got {_describe(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise ParamError(self.name, f"must be a finite number, got {value}")
        if self.minimum is not None:
            too_small = value < self.minimum if self.min_inclusive else value <= self.minimum
            if too_small:
                op = "≥" if self.min_inclusive else ">"
                raise ParamError(self.name, f"must be {op} {self.minimum:g}, got {value:g}")
        if self.maximum is not None:
            too_large = value > self.maximum if self.max_inclusive else value >= self.maximum
            if too_large:
                op = "≤" if self.max_inclusive else "<"
                raise ParamError(self.name, f"must be {op} {self.maximum:g}, got {value:g}")
        return value


@dataclass(frozen=True)
class BoolParam(ParamSpec):
    """A switch: ``true`` or ``false``."""

    kind: ClassVar[str] = "bool"

    def coerce(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ParamError(self.name, f"must be true or false, got {_describe(value)}")
        return value


@dataclass(frozen=True)
class ChoiceParam(ParamSpec):
    """One string out of a fixed set of ``choices``."""

    choices: tuple[str, ...] = ()
    kind: ClassVar[str] = "choice"

    def coerce(self, value: Any) -> str:
        if value not in self.choices:
            options = ", ".join(repr(c) for c in self.choices)
            raise ParamError(self.name, f"must be one of {options}, got {_describe(value)}")
        return value


@dataclass(frozen=True)
class PairParam(ParamSpec):
    """A per-axis whole number, given as ``n`` or ``[height, width]``.

    The canonical value is a ``(height, width)`` tuple; JSON keeps a single number
    when both axes agree, as people write kernel sizes.
    """

    minimum: int | None = 1
    maximum: int | None = None
    kind: ClassVar[str] = "pair"

    def coerce(self, value: Any) -> Pair:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ParamError(self.name, f"must be a number or [height, width], got {len(value)} values")
            h, w = (_as_int(self.name, v, self.minimum, self.maximum) for v in value)
            return (h, w)
        n = _as_int(self.name, value, self.minimum, self.maximum)
        return (n, n)

    def to_json(self, value: Pair) -> int | list[int]:
        return value[0] if value[0] == value[1] else list(value)


@dataclass(frozen=True)
class PaddingParam(ParamSpec):
    """Spatial padding, in pixels per side or by one of the named ``modes``.

    Accepted forms: ``"valid"`` (none), ``"same"`` (as much as keeps ``ceil(size /
    stride)``, the extra pixel at the bottom/right as in TensorFlow and ONNX
    ``SAME_UPPER``), ``p`` (all sides), ``[ph, pw]`` (symmetric per axis) or
    ``[top, left, bottom, right]`` (ONNX ``pads`` order). The canonical value is the
    string or a 4-tuple.

    Attributes
    ----------
    modes
        The named paddings accepted besides pixel counts; ``()`` where only pixels make
        sense (a padding layer has no kernel or stride for ``"same"`` to follow).
    """

    modes: tuple[str, ...] = ("valid", "same")
    kind: ClassVar[str] = "padding"

    def coerce(self, value: Any) -> str | Padding4:
        if isinstance(value, str):
            if value in self.modes:
                return value
            named = "".join(f"{mode!r}, " for mode in self.modes)
            raise ParamError(self.name, f"must be {named}p, [ph, pw] or [top, left, bottom, right], got {value!r}")
        if isinstance(value, (list, tuple)):
            numbers = [_as_int(self.name, v, 0, None) for v in value]
            if len(numbers) == 2:
                return (numbers[0], numbers[1], numbers[0], numbers[1])
            if len(numbers) == 4:
                return (numbers[0], numbers[1], numbers[2], numbers[3])
            raise ParamError(
                self.name,
                f"must be a number, [ph, pw] or [top, left, bottom, right], got {len(numbers)} values",
            )
        p = _as_int(self.name, value, 0, None)
        return (p, p, p, p)

    def to_json(self, value: str | Padding4) -> str | int | list[int]:
        if isinstance(value, str):
            return value
        top, left, bottom, right = value
        if top == left == bottom == right:
            return top
        if (top, left) == (bottom, right):
            return [top, left]
        return list(value)


@dataclass(frozen=True)
class ShapeParam(ParamSpec):
    """A tensor shape without the batch axis: ``[C, H, W]`` for images, ``[F]`` for vectors."""

    ranks: tuple[int, ...] = (1, 3)
    maximum: int = 1 << 20
    kind: ClassVar[str] = "shape"

    def coerce(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, (list, tuple)):
            raise ParamError(self.name, f"must be a list like [3, 32, 32] or [784], got {_describe(value)}")
        if len(value) not in self.ranks:
            raise ParamError(
                self.name,
                f"must have 3 entries [channels, height, width] or 1 entry [features], got {len(value)}",
            )
        return tuple(_as_int(self.name, v, 1, self.maximum) for v in value)

    def to_json(self, value: tuple[int, ...]) -> list[int]:
        return list(value)


@dataclass(frozen=True)
class FloatListParam(ParamSpec):
    """A short list of finite real numbers (one per channel, say), each above a bound; may be empty.

    The canonical value is a tuple of floats; JSON has a list.
    """

    minimum: float | None = None
    min_inclusive: bool = True
    max_length: int = 16
    kind: ClassVar[str] = "floats"

    def coerce(self, value: Any) -> tuple[float, ...]:
        if not isinstance(value, (list, tuple)):
            raise ParamError(self.name, f"must be a list of numbers like [0.5, 0.5, 0.5], got {_describe(value)}")
        if len(value) > self.max_length:
            raise ParamError(self.name, f"must hold at most {self.max_length} numbers, got {len(value)}")
        numbers = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
                raise ParamError(self.name, f"must hold finite numbers only, got {_describe(item)}")
            number = float(item)
            if self.minimum is not None:
                too_small = number < self.minimum if self.min_inclusive else number <= self.minimum
                if too_small:
                    op = "≥" if self.min_inclusive else ">"
                    raise ParamError(self.name, f"every number must be {op} {self.minimum:g}, got {number:g}")
            numbers.append(number)
        return tuple(numbers)

    def to_json(self, value: tuple[float, ...]) -> list[float]:
        return list(value)
