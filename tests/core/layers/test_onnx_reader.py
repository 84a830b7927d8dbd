"""The ONNX import registry beside the layers: duplicates refused, defaults derived from classes, readers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.layers import layer_types
from core.layers.base import Layer
from core.layers.onnx_reader import (
    UnsupportedNode,
    channels_last_converters,
    default_converter,
    import_converters,
    onnx_channels_last_converter,
    onnx_converter,
    onnx_pattern,
    pattern_rules,
    read_float,
    read_pair,
    remove_onnx_converter,
    remove_onnx_pattern,
    resolve_reshape,
)
from core.params import FloatParam

ROOT = Path(__file__).resolve().parents[3]


class _Swish(Layer):
    """Two throwaway classes writing one op (never registered as layer types)."""

    type_name = "SwishForTest"
    onnx_op = "HardSwish"
    category = "Activation"


class _OtherSwish(_Swish):
    type_name = "OtherSwishForTest"


def _nothing(reader, node, attrs):
    return None


def test_importing_the_layers_loads_no_onnx():
    code = "import sys, core.layers; print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'google')))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_op_a_layer_writes_one_to_one_has_a_converter():
    converters = import_converters(layer_types())
    assert {cls.onnx_op for cls in layer_types() if cls.onnx_op} <= set(converters)
    assert converters["Relu"].origin == "core.layers.activations.ReLU"  # derived from the class
    assert converters["Sum"].origin == "core.layers.merge._import_sum"  # explicit: wins over Add's default
    assert converters["Conv"].min_inputs == 2


def test_a_second_converter_for_an_op_is_refused_naming_both():
    with pytest.raises(
        ValueError, match=r"'Conv' has two import converters: core\.layers\.convolution\._import_conv and .*_nothing"
    ):
        onnx_converter("Conv")(_nothing)


def test_a_second_channels_last_converter_for_an_op_is_refused_naming_both():
    assert channels_last_converters()["MatMul"].origin == "core.layers.dense._import_channels_last_linear"
    with pytest.raises(
        ValueError, match=r"'MatMul' has two channels-last converters: core\.layers\.dense\..* and .*_nothing"
    ):
        onnx_channels_last_converter("MatMul")(_nothing)
    assert channels_last_converters()["MatMul"].convert is not _nothing


def test_a_second_pattern_of_one_name_is_refused_naming_both():
    with pytest.raises(
        ValueError, match=r"'channel shuffle' is registered twice: by core\.layers\.convolution\..* and .*_nothing"
    ):
        onnx_pattern("channel shuffle", anchor="Reshape")(_nothing)


def test_two_classes_writing_one_op_need_an_explicit_converter():
    with pytest.raises(ValueError, match=r"'HardSwish' is written by .*_Swish and .*_OtherSwish"):
        import_converters([_Swish, _OtherSwish])
    onnx_converter("HardSwish")(_nothing)
    try:
        assert import_converters([_Swish, _OtherSwish])["HardSwish"].convert is _nothing
    finally:
        remove_onnx_converter("HardSwish")
    assert "HardSwish" not in import_converters()


def test_registrations_can_be_removed():
    onnx_pattern("nothing", anchor="Relu")(_nothing)
    assert [rule.match for rule in pattern_rules() if rule.name == "nothing"] == [_nothing]
    remove_onnx_pattern("nothing")
    assert all(rule.name != "nothing" for rule in pattern_rules())
    with pytest.raises(KeyError):
        remove_onnx_pattern("nothing")


def test_default_params_are_the_inverse_of_onnx_attributes():
    class Gated(Layer):
        type_name = "GatedForTest"
        onnx_op = "HardSigmoid"
        param_specs = (FloatParam("alpha", 0.2, "Slope."), FloatParam("beta", 0.5, "Offset."))

        def onnx_attributes(self):
            return dict(self.params)

    written = Gated(alpha=0.3).onnx_attributes()
    stored = {key: float(np.float32(value)) for key, value in written.items()}  # ONNX keeps single precision
    assert Gated(**Gated.params_from_onnx(stored)) == Gated(alpha=0.3)
    assert Gated.params_from_onnx({}) == {}
    with pytest.raises(UnsupportedNode, match="attribute 'alpha' must be a finite number, got 'x'"):
        Gated.params_from_onnx({"alpha": "x"})
    assert "default_converter(GatedForTest)" in default_converter(Gated).__qualname__


def test_float_attributes_read_as_written():
    assert read_float({"a": float(np.float32(0.2))}, "a", 0.0) == 0.2
    assert read_float({"a": 0.1}, "a", 0.0) == 0.1  # not a single-precision number: as it is
    assert read_float({}, "a", 1e-5) == 1e-5


def test_readers_name_the_attribute():
    with pytest.raises(UnsupportedNode, match=r"only 2-D spatial operations are supported \(strides has 3 values\)"):
        read_pair({"strides": [1, 1, 1]}, "strides")
    with pytest.raises(UnsupportedNode, match=r"target \[0, 7\] does not fit a 2×3 tensor"):
        resolve_reshape(np.array([0, 7]), (1, 2, 3), allowzero=False)
    assert resolve_reshape(np.array([0, -1]), (1, 2, 3), allowzero=False) == [1, 6]
