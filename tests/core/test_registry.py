"""One parametrised test over the whole registry: metadata, shape rule, costs, config round trip."""

from __future__ import annotations

import json
import re

import pytest

from core.errors import ParamError
from core.layers import CATEGORIES, UnknownLayerTypeError, create_layer, layer_class, layer_types, register
from core.layers.base import Layer
from core.params import (
    BoolParam,
    ChoiceParam,
    FloatListParam,
    FloatParam,
    IntParam,
    PaddingParam,
    PairParam,
    ShapeParam,
)

LAYER_TYPES = layer_types()
REQUIRED = {
    "Input",
    "Conv2D",
    "Dense",
    "MaxPool2D",
    "AvgPool2D",
    "GlobalAvgPool2D",
    "Flatten",
    "Dropout",
    "BatchNorm",
    "LRN",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "ELU",
    "Softmax",
    "Add",
    "Concat",
}


def sample_inputs(cls: type[Layer]) -> list[tuple[int, ...]]:
    """Inputs every layer type accepts: none for Input, features for Dense, maps otherwise."""
    if cls.max_inputs == 0:
        return []
    if cls.type_name == "Dense":
        return [(20,)]
    return [(8, 16, 16)] * max(cls.min_inputs, 1)


def invalid_value(spec):
    """A value each kind of spec must refuse."""
    if isinstance(spec, (IntParam, PairParam)):
        return spec.minimum - 1 if spec.minimum is not None else "three"
    if isinstance(spec, FloatParam):
        return float("nan")
    if isinstance(spec, BoolParam):
        return 1
    if isinstance(spec, ChoiceParam):
        return "no-such-choice"
    if isinstance(spec, PaddingParam):
        return -1
    if isinstance(spec, ShapeParam):
        return [1, 2]
    if isinstance(spec, FloatListParam):
        return [float("inf")]
    raise AssertionError(f"no invalid value known for {type(spec).__name__}")


def test_every_required_layer_type_is_registered():
    assert {cls.type_name for cls in LAYER_TYPES} >= REQUIRED


@pytest.mark.parametrize("cls", LAYER_TYPES, ids=lambda c: c.type_name)
class TestEveryLayerType:
    def test_metadata(self, cls):
        assert cls.type_name and layer_class(cls.type_name) is cls
        assert cls.category in CATEGORIES
        assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.default_name_stem())
        assert cls.summary.endswith(".") and len(cls.summary) < 140
        assert cls.min_inputs >= 0 and (cls.max_inputs is None or cls.max_inputs >= cls.min_inputs)
        for spec in cls.param_specs:
            assert spec.help, f"{cls.type_name}.{spec.name} has no help text"
            assert spec.coerce(spec.default) == spec.default

    def test_shape_rule_and_costs(self, cls):
        layer = cls()
        inputs = sample_inputs(cls)
        shape = layer.output_shape(inputs)
        assert isinstance(shape, tuple) and len(shape) in (1, 3)
        assert all(isinstance(d, int) and d > 0 for d in shape)
        count = layer.param_count(inputs)
        assert count.trainable >= 0 and count.non_trainable >= 0
        assert layer.macs(inputs, shape) >= 0

    def test_config_round_trip_through_json(self, cls):
        layer = cls()
        config = json.loads(json.dumps(layer.get_config()))
        assert cls.from_config(config) == layer
        assert cls.from_config(config).get_config() == config

    def test_every_param_refuses_an_invalid_value_by_name(self, cls):
        for spec in cls.param_specs:
            with pytest.raises(ParamError) as info:
                cls(**{spec.name: invalid_value(spec)})
            assert info.value.field == spec.name

    def test_unknown_param_is_refused(self, cls):
        with pytest.raises(ParamError, match="is not a parameter of"):
            cls(no_such_param=1)


def test_unknown_param_suggests_the_close_name():
    with pytest.raises(ParamError, match="did you mean 'kernel_size'"):
        create_layer("Conv2D", {"kernel_sise": 3})


def test_unknown_type_suggests_the_close_name():
    with pytest.raises(UnknownLayerTypeError, match="did you mean 'Conv2D'"):
        layer_class("Conv2d")


def test_registering_a_taken_name_fails():
    class Duplicate(Layer):
        type_name = "ReLU"
        category = "Activation"

    with pytest.raises(ValueError, match="registered twice"):
        register(Duplicate)


def test_registering_an_unknown_category_fails():
    class Stray(Layer):
        type_name = "StrayLayerForTest"
        category = "Nowhere"

    with pytest.raises(ValueError, match="unknown category"):
        register(Stray)
