"""Feature maps, effective receptive fields, filters and activation percentiles; forward_to
and backward_from on the model."""

from __future__ import annotations

import random

import numpy as np
import pytest

from core.analysis.introspection import (
    IntrospectionError,
    activation_percentiles,
    channel_mixing_matrix,
    conv_filters,
    effective_receptive_field,
    feature_maps,
    filters_are_stamped,
    mean_effective_receptive_field,
    unit_input_gradients,
)
from core.analysis.receptive_field import receptive_fields
from core.analysis.unit_field import unit_input_region
from core.engine.model import Model
from core.errors import LayerwiseError
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import dumps_network, load_network, loads_network
from core.graph.validation import check_graph
from tests.core.analysis.test_unit_field import probe_units, taps_back
from tests.core.helpers import conv, network


def example(name, input_shape=None):
    doc = load_network(example_path(name))
    if input_shape is not None:  # shrink the input so float64 passes stay fast; the graph is unchanged
        doc.set_param(doc.node_by_name("input").id, "shape", list(input_shape))
    return doc


def random_model(doc, seed=0):
    """A float64 model whose BatchNorm layers have non-trivial parameters and running statistics."""
    model = Model(doc, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for entry in model.entries:
        if entry.name in ("gamma", "beta"):
            shift = 1.0 if entry.name == "beta" else 0.0
            model.params[entry.start : entry.stop] = rng.uniform(0.5, 1.5, entry.stop - entry.start) - shift
    for key, buffer in model.buffers.items():
        buffer[...] = rng.normal(0, 0.3, buffer.shape) if key.endswith("mean") else rng.uniform(0.5, 2.0, buffer.shape)
    return model


def sample(model, seed=1):
    return np.random.default_rng(seed).standard_normal(model.input_shape)


BRANCHED = {"resnet_block": (64, 12, 12), "inception_block": (8, 10, 10)}


@pytest.fixture(scope="module")
def lenet():
    doc = example("lenet5")
    return doc, random_model(doc)


# -- forward_to ---------------------------------------------------------------------------


def truncated(doc, name):
    """A copy of ``doc`` holding ``name`` and the layers it reads, nothing else."""
    copy = loads_network(dumps_network(doc))
    target = copy.node_by_name(name)
    keep, stack = set(), [target.id]
    while stack:
        node_id = stack.pop()
        if node_id not in keep:
            keep.add(node_id)
            stack.extend(s.id for s in copy.inputs_of(node_id))
    for node in list(copy.nodes):
        if node.id not in keep:
            copy.remove_node(node.id)
    return copy


def copy_weights(source: Model, target: Model):
    state = source.state_dict()
    for entry in target.entries:
        target.params[entry.start : entry.stop] = state[entry.key].ravel()
    for key, buffer in target.buffers.items():
        buffer[...] = state[key]


@pytest.mark.parametrize(
    ("name", "input_shape", "layers"),
    [
        ("lenet5", None, ["conv1", "pool1", "relu2", "fc1"]),
        ("digits_cnn", None, ["relu1", "pool", "dropout"]),
        ("resnet_block", BRANCHED["resnet_block"], ["block1_bn1", "block1_out", "block2_proj_bn"]),
        ("inception_block", BRANCHED["inception_block"], ["b2_relu", "b4_pool", "b3_reduce"]),
    ],
)
def test_forward_to_matches_the_full_and_the_truncated_networks(name, input_shape, layers):
    doc = example(name, input_shape)
    model = random_model(doc)
    x = np.random.default_rng(2).standard_normal((3, *model.input_shape))
    ids = [doc.node_by_name(n).id for n in layers]
    outputs = model.forward_to(x, [*ids, model.output_node.id, model.logits_node.id])
    np.testing.assert_array_equal(outputs[model.output_node.id], model.forward(x))
    np.testing.assert_array_equal(outputs[model.logits_node.id], model.forward_logits(x))
    for layer, node_id in zip(layers, ids):
        part = Model(truncated(doc, layer), dtype=np.float64)
        copy_weights(model, part)
        np.testing.assert_allclose(outputs[node_id], part.forward(x), rtol=1e-12, atol=1e-12)
        assert outputs[node_id].shape == (3, *model.shapes[node_id])
        np.testing.assert_array_equal(model.forward_to(x, node_id)[node_id], outputs[node_id])


def test_forward_to_runs_only_what_the_layers_need():
    doc = example("inception_block", BRANCHED["inception_block"])
    model = Model(doc, dtype=np.float64)

    def refuse(inputs, training):
        raise AssertionError("this layer should not run")

    for name in ("b4_pool", "b3_5x5", "concat"):
        model.ops[doc.node_by_name(name).id].forward = refuse
    x = np.zeros((1, *model.input_shape))
    wanted = doc.node_by_name("b2_relu").id
    assert model.forward_to(x, [wanted])[wanted].shape == (1, 128, 10, 10)


def test_forward_to_rejects_unknown_layers_and_misfit_inputs(lenet):
    _, model = lenet
    with pytest.raises(LayerwiseError, match="'nope' is not a layer"):
        model.forward_to(np.zeros((1, 1, 28, 28)), ["nope"])
    with pytest.raises(LayerwiseError, match="do not fit"):
        model.forward_to(np.zeros((1, 1, 27, 28)), [model.output_node.id])
    assert model.forward_to(np.zeros((1, 1, 28, 28)), []) == {}


# -- backward_from --------------------------------------------------------------------------


def test_backward_from_needs_a_recording_forward_that_reached_the_layer(lenet):
    doc, model = lenet
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape))
    conv1, conv2 = doc.node_by_name("conv1").id, doc.node_by_name("conv2").id
    model.forward_to(x, [conv2])  # inference without caches
    with pytest.raises(LayerwiseError, match="'conv2' needs a preceding forward pass"):
        model.backward_from(conv2, np.ones((2, 16, 10, 10)))
    model.forward_to(x, [conv1], keep_for_backward=True)
    with pytest.raises(LayerwiseError, match="'conv2'"):  # the pass stopped before conv2
        model.backward_from(conv2, np.ones((2, 16, 10, 10)))
    with pytest.raises(LayerwiseError, match="must have shape 2×6×28×28"):
        model.backward_from(conv1, np.ones((1, 6, 28, 28)))
    grad = model.backward_from(conv1, np.ones((2, 6, 28, 28)))
    assert grad.shape == (2, 1, 28, 28)
    again = model.backward_from(conv1, np.ones((2, 6, 28, 28)))  # caches are only read
    np.testing.assert_array_equal(grad, again)
    assert model.backward_from(conv1, np.ones((2, 6, 28, 28)), input_grad=False) is None


def test_backward_from_the_logits_equals_backward(lenet):
    _, model = lenet
    x = np.random.default_rng(5).standard_normal((3, *model.input_shape))
    grad = np.random.default_rng(6).standard_normal((3, 10))
    model.forward_logits(x, training=True)
    expected, expected_params = model.backward(grad), model.grads.copy()
    model.forward_to(x, [model.logits_node.id], keep_for_backward=True)
    np.testing.assert_allclose(model.backward_from(model.logits_node.id, grad), expected, rtol=1e-12)
    np.testing.assert_allclose(model.grads, expected_params, rtol=1e-12, atol=1e-15)


def test_introspection_changes_no_weights_or_statistics():
    doc = example("resnet_block", BRANCHED["resnet_block"])
    model = random_model(doc)
    params, buffers = model.params.copy(), {k: v.copy() for k, v in model.buffers.items()}
    x = sample(model)
    effective_receptive_field(model, x, doc.node_by_name("block2_out").id, 3, 4, 4)
    activation_percentiles(model, x[None], [doc.node_by_name("block1_bn1").id])
    np.testing.assert_array_equal(model.params, params)
    for key, value in buffers.items():
        np.testing.assert_array_equal(model.buffers[key], value)


# -- effective receptive fields ---------------------------------------------------------------


def erf_support_cases():
    yield "lenet5", None
    yield "digits_cnn", None
    yield from BRANCHED.items()


@pytest.mark.parametrize(("name", "input_shape"), list(erf_support_cases()))
def test_effective_field_lies_inside_the_theoretical_one(name, input_shape):
    doc = example(name, input_shape)
    model = random_model(doc)
    x = sample(model)
    fields = receptive_fields(doc)
    rng = random.Random(0)
    checked = 0
    for node in model.order[1:]:
        if fields[node.id] is None:
            continue
        shape = model.shapes[node.id]
        height, width = (shape[1], shape[2]) if len(shape) == 3 else (1, 1)
        units = [(rng.randrange(shape[0]), row, col) for row, col in probe_units(height, width)]
        gradients = unit_input_gradients(model, x, node.id, units)
        erfs = np.abs(gradients).sum(axis=1)
        for (channel, row, col), erf in zip(units, erfs):
            top, left, bottom, right = unit_input_region(doc, node.id, row, col).clipped
            outside = np.ones(erf.shape, dtype=bool)
            outside[top : bottom + 1, left : right + 1] = False
            assert not erf[outside].any(), (node.name, channel, row, col)
            if node.type_name == "Conv2D":  # linear in its input: some pixel always matters
                assert erf.any(), (node.name, channel, row, col)
            checked += 1
        assert erfs.any(), node.name  # dead ReLUs may silence a unit, never a whole probe
    assert checked > 20


def test_effective_field_of_a_linear_network_is_exactly_what_its_taps_reach():
    rng = random.Random(8)
    for _ in range(12):
        while True:
            height, width = rng.randint(6, 14), rng.randint(6, 14)
            doc = NetworkDocument("linear")
            node = doc.add_node("Input", {"shape": [2, height, width]}, name="input")
            windows, layers = [], []
            for _ in range(rng.randint(1, 3)):
                kernel, stride = [rng.randint(1, 3), rng.randint(1, 3)], [rng.randint(1, 2), rng.randint(1, 2)]
                pads = [rng.randint(0, kernel[0] - 1), rng.randint(0, kernel[1] - 1), rng.randint(0, kernel[0] - 1), 0]
                dilation = [rng.randint(1, 2), 1]
                if rng.random() < 0.6:
                    params = {"kernel_size": kernel, "stride": stride, "padding": pads, "dilation": dilation}
                    layers.append(("Conv2D", {"filters": 2, **params}, None))
                else:
                    dilation = [1, 1]
                    layers.append(("AvgPool2D", {"pool_size": kernel, "stride": stride, "padding": pads}, None))
                windows.append((kernel, stride, pads, dilation))
            node = doc.chain(node.id, layers)
            check = check_graph(doc)
            if check.ok:
                break
        sizes = [check.shapes[n.id][1:] for n in check.order]
        model = Model(doc, dtype=np.float64, seed=rng.randrange(100))
        x = sample(model)
        out_h, out_w = sizes[-1]
        for row, col in probe_units(out_h, out_w):
            erf = effective_receptive_field(model, x, node.id, 1, row, col)
            rows, cols = taps_back(row, 0, windows, sizes), taps_back(col, 1, windows, sizes)
            expected = np.zeros(erf.shape, dtype=bool)
            expected[np.ix_(sorted(rows), sorted(cols))] = True
            np.testing.assert_array_equal(erf > 0, expected)


def numeric_gradient(model, x, node_id, unit, pixels, eps=1e-6):
    channel, row, col = unit
    values = []
    for pixel in pixels:
        shifted = []
        for sign in (1, -1):
            moved = x.copy()
            moved[pixel] += sign * eps
            shifted.append(feature_maps(model, moved, node_id)[channel, row, col])
        values.append((shifted[0] - shifted[1]) / (2 * eps))
    return np.array(values)


@pytest.mark.parametrize(
    ("name", "input_shape", "layer"),
    [("resnet_block", BRANCHED["resnet_block"], "block2_out"), ("lenet5", None, "pool2")],
)
def test_unit_gradient_agrees_with_central_differences(name, input_shape, layer):
    doc = example(name, input_shape)
    model = random_model(doc)
    x = sample(model)
    node_id = doc.node_by_name(layer).id
    maps = feature_maps(model, x, node_id)
    channel, row, col = np.unravel_index(np.argmax(maps[:, 1:-1, 1:-1]), maps[:, 1:-1, 1:-1].shape)
    unit = (int(channel), int(row) + 1, int(col) + 1)  # an active unit away from the border
    gradient = unit_input_gradients(model, x, node_id, [unit])[0]
    top, left, bottom, right = unit_input_region(doc, node_id, unit[1], unit[2]).clipped
    rng = np.random.default_rng(3)
    inside = [
        (int(rng.integers(x.shape[0])), int(rng.integers(top, bottom + 1)), int(rng.integers(left, right + 1)))
        for _ in range(6)
    ]
    strongest = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(gradient)), gradient.shape))
    outside = [(0, 0, 0) if bottom < x.shape[1] - 1 or right < x.shape[2] - 1 else None]
    pixels = [p for p in [*inside, strongest, *outside] if p is not None]
    numeric = numeric_gradient(model, x, node_id, unit, pixels)
    analytic = np.array([gradient[p] for p in pixels])
    assert abs(analytic[len(inside)]) > 1e-3  # the strongest pixel is really tested
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_mean_effective_field_averages_every_channel():
    doc = example("digits_cnn")
    model = random_model(doc)
    x = sample(model)
    node_id = doc.node_by_name("conv2").id
    mean = mean_effective_receptive_field(model, x, node_id, 3, 4, chunk=5)
    each = [effective_receptive_field(model, x, node_id, c, 3, 4) for c in range(model.shapes[node_id][0])]
    np.testing.assert_allclose(mean, np.mean(each, axis=0), rtol=1e-12)
    assert mean.shape == (8, 8)


def test_a_dense_unit_looks_at_the_whole_image(lenet):
    doc, model = lenet
    erf = effective_receptive_field(model, sample(model), doc.node_by_name("fc3").id, 2)
    assert erf.shape == (28, 28) and (erf > 0).mean() > 0.9


def test_effective_field_errors():
    vector, _ = network((5,), ("Dense", {"units": 3}, "fc"))
    model = Model(vector, dtype=np.float64)
    with pytest.raises(IntrospectionError, match="need an image input"):
        effective_receptive_field(model, np.zeros(5), vector.node_by_name("fc").id, 0)
    doc = example("digits_cnn")
    model = Model(doc, dtype=np.float64)
    conv1 = doc.node_by_name("conv1").id
    with pytest.raises(IntrospectionError, match="outside the output 16×8×8 of layer 'conv1'"):
        effective_receptive_field(model, np.zeros((1, 8, 8)), conv1, 16, 0, 0)
    with pytest.raises(IntrospectionError, match="'conv1'"):
        effective_receptive_field(model, np.zeros((1, 8, 8)), conv1, 0, 8, 0)
    with pytest.raises(IntrospectionError, match="input's shape"):
        effective_receptive_field(model, np.zeros((8, 8)), conv1, 0, 0, 0)


# -- feature maps and filters -------------------------------------------------------------------


def test_feature_maps_are_one_sample_of_forward_to(lenet):
    doc, model = lenet
    x = sample(model)
    for name, shape in [("pool1", (6, 14, 14)), ("fc2", (84,))]:
        node_id = doc.node_by_name(name).id
        maps = feature_maps(model, x, node_id)
        assert maps.shape == shape
        np.testing.assert_array_equal(maps, model.forward_to(x[None], [node_id])[node_id][0])


def test_conv_filters_and_the_mixing_matrix_of_a_grouped_pointwise_convolution():
    doc, _ = network((4, 5, 5), ("Conv2D", {"filters": 6, "kernel_size": 1, "groups": 2}, "mix"), conv(3, 3, name="c3"))
    model = Model(doc, dtype=np.float64)
    mix, c3 = doc.node_by_name("mix").id, doc.node_by_name("c3").id
    assert conv_filters(model, c3).shape == (3, 6, 3, 3) and conv_filters(model, mix).shape == (6, 2, 1, 1)
    matrix = channel_mixing_matrix(model, mix)
    assert matrix.shape == (6, 4)
    assert not matrix[:3, 2:].any() and not matrix[3:, :2].any()  # groups do not mix
    x = sample(model)
    bias = model.ops[mix].params["bias"]
    np.testing.assert_allclose(feature_maps(model, x, mix), np.einsum("oc,chw->ohw", matrix, x) + bias[:, None, None])
    filters = conv_filters(model, c3)
    filters[...] = 0  # a copy
    assert model.ops[c3].params["weight"].any()
    with pytest.raises(IntrospectionError, match="'c3' has a 3×3 kernel"):
        channel_mixing_matrix(model, c3)
    with pytest.raises(IntrospectionError, match="'input' \\(Input\\) is not a Conv2D"):
        conv_filters(model, doc.node_by_name("input").id)


def test_transposed_convolution_filters_are_its_kernels_by_output_channel():
    # One input pixel stamps each kernel once: output channel f is the sum of its filter's
    # slices weighted by the input channels of its group, plus its bias.
    upconv = ("Conv2DTranspose", {"filters": 6, "kernel_size": 3, "stride": 2, "groups": 2}, "up")
    doc, up = network((4, 1, 1), upconv)
    model = Model(doc, dtype=np.float64)
    random_weights = np.random.default_rng(3).standard_normal(model.ops[up.id].params["weight"].shape)
    model.ops[up.id].params["weight"][...] = random_weights  # (C_in 4, C_out / groups 3, 3, 3)
    filters = conv_filters(model, up.id)
    assert filters.shape == (6, 2, 3, 3)
    np.testing.assert_array_equal(filters[4], random_weights[2:4, 1])  # group 1, its second output channel
    x = sample(model)
    groups = x[:, 0, 0].reshape(2, 2)
    expected = np.concatenate([np.einsum("fikl,i->fkl", filters[g * 3 : (g + 1) * 3], groups[g]) for g in range(2)])
    bias = model.ops[up.id].params["bias"]
    np.testing.assert_allclose(feature_maps(model, x, up.id), expected + bias[:, None, None])
    assert filters_are_stamped(model, up.id)
    filters[...] = 0  # a copy
    assert model.ops[up.id].params["weight"].any()
    assert doc.node(up.id).layer.inside_views() == ("filters",)
    with pytest.raises(IntrospectionError, match="'up' is a transposed convolution"):
        channel_mixing_matrix(model, up.id)
    conv_doc, c3 = network((2, 5, 5), conv(3, 3, name="c3"))
    assert not filters_are_stamped(Model(conv_doc), c3.id)


# -- activation percentiles ----------------------------------------------------------------------


def test_percentiles_are_exact_sorted_and_shaped(lenet):
    doc, model = lenet
    x = np.random.default_rng(9).standard_normal((7, *model.input_shape))
    ids = [doc.node_by_name(n).id for n in ("conv1", "relu2", "fc1")]
    result = activation_percentiles(model, x, ids)
    chunked = activation_percentiles(model, x, ids, batch_size=3)
    outputs = model.forward_to(x, ids)
    for node_id in ids:
        assert result[node_id].shape == (7,) and result[node_id].dtype == np.float64
        assert np.all(np.diff(result[node_id]) >= 0)
        np.testing.assert_allclose(result[node_id], np.percentile(outputs[node_id], [1, 5, 25, 50, 75, 95, 99]))
        np.testing.assert_allclose(chunked[node_id], result[node_id])
    assert result[ids[1]][0] == 0.0  # after a ReLU the low percentiles sit at zero


def test_percentiles_of_a_subsample_stay_sorted_and_in_range(lenet):
    doc, model = lenet
    x = np.random.default_rng(4).standard_normal((5, *model.input_shape))
    node_id = doc.node_by_name("conv1").id
    values = model.forward_to(x, [node_id])[node_id]
    result = activation_percentiles(model, x, [node_id], percentiles=(0, 10, 50, 90, 100), batch_size=2, max_values=500)
    assert result[node_id].shape == (5,) and np.all(np.diff(result[node_id]) >= 0)
    assert values.min() <= result[node_id][0] and result[node_id][-1] <= values.max()
    exact = np.percentile(values, 50)
    assert abs(result[node_id][2] - exact) < 0.3 * values.std()


def test_percentile_errors(lenet):
    _doc, model = lenet
    x = np.zeros((2, *model.input_shape))
    with pytest.raises(IntrospectionError, match="percentiles must lie in"):
        activation_percentiles(model, x, [model.output_node.id], percentiles=(50, 101))
    with pytest.raises(IntrospectionError, match="at least one sample"):
        activation_percentiles(model, x[:0], [model.output_node.id])
    with pytest.raises(IntrospectionError, match="not a layer"):
        activation_percentiles(model, x, ["missing"])


# -- merges of branches with different strides ---------------------------------------------------


def test_effective_field_of_a_merge_with_mixed_strides_stays_in_the_rectangle():
    doc, coarse = network((1, 8, 8), conv(kernel=1, stride=2, name="coarse"))
    fine = doc.chain(doc.node_by_name("input").id, [conv(kernel=5, name="fine")])
    add = doc.merge("Add", [coarse.id, fine.id], name="add")
    model = Model(doc, dtype=np.float64)
    x = sample(model)
    for unit in range(4):
        erf = effective_receptive_field(model, x, add.id, 0, unit, unit)
        top, _left, bottom, _right = unit_input_region(doc, add.id, unit, unit).clipped
        rows = np.flatnonzero(erf.any(axis=1))
        assert top <= rows.min() and rows.max() <= bottom


def test_a_merge_with_mixed_strides_gets_the_exact_union_per_unit():
    # coarse: unit u sees row 2u; fine (5×5 valid): rows u … u+4. The union is [min(2u, u), max(2u, u+4)].
    doc, coarse = network((1, 8, 8), conv(kernel=1, stride=2, name="coarse"))
    fine = doc.chain(doc.node_by_name("input").id, [conv(kernel=5, name="fine")])
    add = doc.merge("Add", [coarse.id, fine.id], name="add")
    for unit in range(4):
        region = unit_input_region(doc, add.id, unit, unit)
        assert (region.top, region.bottom) == (unit, max(2 * unit, unit + 4))
        assert region.size == (region.bottom - region.top + 1,) * 2
        assert not region.aligned
