"""Parameter specs: accepted forms, canonical values, JSON forms and refusals."""

from __future__ import annotations

import pytest

from core.errors import ParamError
from core.params import BoolParam, FloatParam, IntParam, PaddingParam, PairParam, ShapeParam
from core.registry import layer_class


def test_int_refuses_bools_and_fractions_and_names_the_bound():
    spec = IntParam("filters", 1, "help", minimum=1, maximum=8)
    assert spec.coerce(3) == 3 and spec.coerce(3.0) == 3
    with pytest.raises(ParamError, match="whole number"):
        spec.coerce(True)
    with pytest.raises(ParamError, match="whole number"):
        spec.coerce(2.5)
    with pytest.raises(ParamError, match="filters must be ≥ 1, got 0"):
        spec.coerce(0)
    with pytest.raises(ParamError, match="must be ≤ 8, got 9"):
        spec.coerce(9)


def test_float_bounds_can_be_exclusive_and_non_finite_is_refused():
    rate = FloatParam("rate", 0.5, "help", minimum=0.0, maximum=1.0, max_inclusive=False)
    assert rate.coerce(0) == 0.0
    with pytest.raises(ParamError, match="must be < 1, got 1"):
        rate.coerce(1.0)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ParamError, match="finite"):
            rate.coerce(bad)
    with pytest.raises(ParamError, match="number"):
        rate.coerce("0.5")


def test_bool_accepts_only_true_and_false():
    spec = BoolParam("bias", True, "help")
    assert spec.coerce(False) is False
    with pytest.raises(ParamError):
        spec.coerce(0)


@pytest.mark.parametrize(
    ("given", "canonical", "as_json"),
    [(3, (3, 3), 3), ([3, 5], (3, 5), [3, 5]), ((2, 2), (2, 2), 2)],
)
def test_pair_forms(given, canonical, as_json):
    spec = PairParam("kernel_size", (3, 3), "help")
    assert spec.coerce(given) == canonical
    assert spec.to_json(canonical) == as_json
    assert spec.coerce(spec.to_json(canonical)) == canonical


def test_pair_refuses_three_values():
    with pytest.raises(ParamError, match="height, width"):
        PairParam("kernel_size", (3, 3), "help").coerce([1, 2, 3])


@pytest.mark.parametrize(
    ("given", "canonical", "as_json"),
    [
        ("same", "same", "same"),
        ("valid", "valid", "valid"),
        (2, (2, 2, 2, 2), 2),
        ([1, 2], (1, 2, 1, 2), [1, 2]),
        ([1, 1, 0, 0], (1, 1, 0, 0), [1, 1, 0, 0]),
    ],
)
def test_padding_forms(given, canonical, as_json):
    spec = PaddingParam("padding", "valid", "help")
    assert spec.coerce(given) == canonical
    assert spec.to_json(canonical) == as_json
    assert spec.coerce(spec.to_json(canonical)) == canonical


@pytest.mark.parametrize("bad", ["full", -1, [1, 2, 3], [1, -1]])
def test_padding_refusals(bad):
    with pytest.raises(ParamError):
        PaddingParam("padding", "valid", "help").coerce(bad)


def test_padding_without_named_modes_takes_pixels_only():
    spec = PaddingParam("pads", (1, 1, 1, 1), "help", modes=())
    assert spec.coerce([1, 2]) == (1, 2, 1, 2)
    for named in ("valid", "same"):
        with pytest.raises(
            ParamError, match=f"must be p, \\[ph, pw\\] or \\[top, left, bottom, right\\], got '{named}'"
        ):
            spec.coerce(named)
    with pytest.raises(ParamError, match="must be 'valid', 'same', p, \\[ph, pw\\]"):
        PaddingParam("padding", "valid", "help").coerce("full")


def test_pad2d_names_no_padding_modes():
    pads = next(spec for spec in layer_class("Pad2D").param_specs if spec.name == "pads")
    assert isinstance(pads, PaddingParam) and pads.modes == ()


def test_shape_accepts_images_and_vectors_only():
    spec = ShapeParam("shape", (1, 28, 28), "help")
    assert spec.coerce([3, 32, 32]) == (3, 32, 32)
    assert spec.coerce([784]) == (784,)
    with pytest.raises(ParamError, match="3 entries"):
        spec.coerce([28, 28])
    with pytest.raises(ParamError, match="≥ 1"):
        spec.coerce([0, 28, 28])
    with pytest.raises(ParamError, match="list"):
        spec.coerce("1x28x28")
