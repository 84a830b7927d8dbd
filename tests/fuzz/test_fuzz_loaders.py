"""Malformed inputs for every loader of untrusted files: a short, reproducible campaign and regressions.

The campaign runs in a sandboxed worker (see :mod:`tests.fuzz.harness`); the long one is
``bench/fuzz.py``. Each regression test below is an input the fuzzer once found to
escape as another exception, allocate gigabytes or hang; they run in this process.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from tests.fuzz.corpus import LOADERS, TINY_NETWORK, Payload, idx_bytes, network_text, seeds, tiny_model
from tests.fuzz.harness import ERROR, OK, Outcome, Sandbox, run_case, write_payload
from tests.fuzz.mutators import mutate, npy_member, with_deep_graph

EXAMPLES = {"network_file": 500, "onnx": 500, "weights": 400, "dataset_idx": 400, "dataset_npz": 400,
            "dataset_cifar": 400, "dataset_images": 300}  # fmt: skip
"""Mutated inputs per loader in the test suite (bench/fuzz.py runs 10,000 each)."""

FUZZ = settings(
    deadline=2000,
    derandomize=True,  # the same inputs on every run and machine
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL_MEMORY = 64 << 20
"""Peak traced allocation a regression input may cause (the originals took gigabytes)."""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def assert_clean(outcome: Outcome) -> None:
    """A load or a LayerwiseError naming the file; the traceback of anything else."""
    assert not outcome.failed, f"{outcome.describe()}\n{outcome.trace}"


# -- the short campaign ----------------------------------------------------------------------------


@pytest.mark.parametrize("loader", LOADERS)
def test_mutated_inputs_raise_only_layerwise_errors(sandbox, loader):
    pool = seeds(loader)

    @settings(FUZZ, max_examples=EXAMPLES[loader])
    @given(rng=st.randoms(use_true_random=False))
    def mutated(rng):
        assert_clean(sandbox.run(loader, mutate(loader, pool, rng)))

    mutated()


@pytest.mark.parametrize("loader", LOADERS)
def test_random_bytes_in_any_file_raise_only_layerwise_errors(sandbox, loader):
    pool = seeds(loader)

    @settings(FUZZ, max_examples=60)
    @given(index=st.integers(0, 100), content=st.binary(max_size=600))
    def random_bytes(index, content):
        payload = pool[index % len(pool)]
        names = sorted(payload.files)
        assert_clean(sandbox.run(loader, payload.with_file(names[index % len(names)], content)))

    random_bytes()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@settings(FUZZ, max_examples=200)
@given(layer=st.integers(0, len(TINY_NETWORK["layers"]) - 1), field=st.sampled_from(["params", "inputs", "name",
       "type", "position", "shape", "filters", "kernel_size", "padding", "units"]), value=JSON_VALUES)  # fmt: skip
def test_network_files_with_any_json_value_in_a_field(sandbox, layer, field, value):
    data = json.loads(json.dumps(TINY_NETWORK))
    entry = data["layers"][layer]
    if field in ("params", "inputs", "name", "type", "position"):
        entry[field] = value
    else:
        entry["params"][field] = value
    assert_clean(sandbox.run("network_file", Payload({"net.json": network_text(data)}, "net.json")))


# -- helpers for the regressions --------------------------------------------------------------------


def refusal(loader: str, payload: Payload, tmp_path: Path, *, trace_memory: bool = True) -> str:
    """Run ``payload`` in this process; assert it is refused cleanly and fast; return the message.

    ``trace_memory`` also asserts a small peak allocation; tests of speed turn it off,
    ``tracemalloc`` slowing allocation-heavy code several times.
    """
    if trace_memory:
        tracemalloc.start()
    try:
        outcome = run_case(loader, payload, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.kind == ERROR, f"{outcome.describe()}\n{outcome.trace}"
    assert peak < SMALL_MEMORY, f"peak allocation {peak:,} bytes"
    return outcome.detail


def npz(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def weights_with(**changes: bytes) -> Payload:
    """The tiny model's weights with some members replaced by raw ``.npy`` bytes."""
    members = {f"{key}.npy": _npy(value) for key, value in tiny_model().state_dict().items()}
    members.update({f"{key}.npy": data for key, data in changes.items()})
    return Payload({"weights.npz": npz(**members)}, "weights.npz")


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def onnx_payload(model: onnx.ModelProto, **extra: bytes) -> Payload:
    return Payload({"model.onnx": model.SerializeToString(), **extra}, "model.onnx")


def seed_model(opset: int = 17) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.ParseFromString(seeds("onnx")[0 if opset == 9 else 1].files["model.onnx"])
    return model


def node_named(model: onnx.ModelProto, op_type: str) -> onnx.NodeProto:
    return next(node for node in model.graph.node if node.op_type == op_type)


# -- weights ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda good: good.replace(b"PK\x01\x02", b"PK\x01\x03", 1), "Bad magic number for central directory"),
        (lambda good: good[: good.rindex(b"PK\x05\x06") + 4], "File is not a zip file"),
        (lambda good: b"not a zip at all", "File is not a zip file"),
    ],
)
def test_damaged_weight_archives(tmp_path, damage, fragment):
    content = damage(seeds("weights")[0].files["weights.npz"])
    # Before: zipfile.BadZipFile escaped np.load.
    message = refusal("weights", Payload({"weights.npz": content}, "weights.npz"), tmp_path)
    assert f"cannot be read as weights: is not a readable .npz file: {fragment}" in message


def test_weights_with_a_bad_crc(tmp_path):
    good = seeds("weights")[0].files["weights.npz"]
    offset = good.index(b"\x93NUMPY") + 130  # the .npy header takes 128 bytes: this is in the data
    broken = good[:offset] + bytes([good[offset] ^ 0xFF]) + good[offset + 1 :]
    # Before: zipfile.BadZipFile ("Bad CRC-32") escaped while reading the array.
    assert "Bad CRC-32" in refusal("weights", Payload({"weights.npz": broken}, "weights.npz"), tmp_path)


def test_weights_header_with_a_boolean_dimension(tmp_path):
    member = npy_member("<f4", "False", "(True,)", b"\0" * 4)
    # Before: TypeError "an integer is required" from NumPy's reshape.
    message = refusal("weights", weights_with(**{"dense/bias": member}), tmp_path)
    assert "array dense/bias has a header that is not a plain array's" in message


@pytest.mark.parametrize("shape", [(2**32,), (2**32, 2**32, 2**32)])
def test_weights_header_announcing_gigabytes_is_refused_before_reading(tmp_path, shape):
    member = npy_member("|u1", "False", repr(shape), b"\0" * 16)
    # Before: NumPy allocated the announced 4 GiB (MemoryError, or gigabytes of address space);
    # a first fix built a zero-stride stand-in of the announced shape, which NumPy refuses past 2**63 bytes.
    message = refusal("weights", weights_with(**{"dense/bias": member}), tmp_path)
    assert f"dense/bias has shape {'×'.join(map(str, shape))}, the network needs 3" in message
    message = refusal("weights", weights_with(extra=member), tmp_path)
    assert "not in this network: extra" in message


def test_weights_of_another_network_are_refused_by_name_first(tmp_path):
    state = {key: _npy(value) for key, value in tiny_model().state_dict().items()}
    state["dense/bias"] = _npy(np.zeros(7, np.float32))
    state["other/weight"] = _npy(np.zeros(2, np.float32))
    payload = Payload({"weights.npz": npz(**{f"{key}.npy": data for key, data in state.items()})}, "weights.npz")
    assert "does not fit the network (not in this network: other/weight)" in refusal("weights", payload, tmp_path)


def test_weights_holding_a_pickled_object_array(tmp_path):
    pickled = io.BytesIO()
    np.save(pickled, np.array([object()], dtype=object), allow_pickle=True)
    message = refusal("weights", weights_with(**{"dense/bias": pickled.getvalue()}), tmp_path)
    assert "array dense/bias holds object values; only numbers are accepted" in message


def test_valid_weights_still_load_fortran_order_and_big_endian(tmp_path):
    state = tiny_model().state_dict()
    state["dense/weight"] = np.asfortranarray(state["dense/weight"]).astype(">f4")
    members = {f"{key}.npy": _npy(value) for key, value in state.items()}
    path = write_payload(Payload({"w.npz": npz(**members)}, "w.npz"), tmp_path)
    model = tiny_model()
    before = model.params.copy()
    model.params[...] = 0
    model.load_weights(path)
    assert np.array_equal(model.params, before)


# -- .npz datasets ----------------------------------------------------------------------------------


def npz_dataset(x: bytes, y: bytes | None = None) -> Payload:
    y = y if y is not None else _npy(np.array([0, 1]))
    return Payload({"data.npz": npz(**{"x.npy": x, "y.npy": y})}, "data.npz")


def test_npz_header_of_minus_signs_does_not_exhaust_the_parser(tmp_path):
    member = npy_member("<f4", "False", "(" + "-" * 9000 + "1,)", b"")
    # Before: MemoryError from ast.literal_eval inside NumPy's header parser.
    assert "has a header that is not a plain array's" in refusal("dataset_npz", npz_dataset(member), tmp_path)


def test_npz_header_with_a_boolean_dimension(tmp_path):
    member = npy_member("<f4", "False", "(True, 2)", b"\0" * 8)
    # Before: TypeError "an integer is required".
    assert "has a header that is not a plain array's" in refusal("dataset_npz", npz_dataset(member), tmp_path)


def test_npz_array_announcing_two_gigabytes_with_a_few_bytes(tmp_path):
    member = npy_member("|u1", "False", "(2, 1073741823)", b"\0" * 64)
    # Before: NumPy allocated the 2 GiB the header announces, then found the data short.
    message = refusal("dataset_npz", npz_dataset(member), tmp_path)
    assert "array x is 2×1073741823 uint8 = 2,147,483,646 bytes, but the archive holds 64" in message


def test_npz_member_with_an_empty_name(tmp_path):
    content = bytearray(npz(**{"x.npy": _npy(np.zeros((2, 2))), "y.npy": _npy(np.array([0, 1]))}))
    # Rename "y.npy" to "" in the central directory only: zipfile reads names from there.
    directory = content.rindex(b"PK\x01\x02")
    name_length = struct.unpack_from("<H", content, directory + 28)[0]
    struct.pack_into("<H", content, directory + 28, 0)
    del content[directory + 46 : directory + 46 + name_length]
    directory_size = len(content) - 22 + 12  # in the end-of-central-directory record
    struct.pack_into("<I", content, directory_size, struct.unpack_from("<I", content, directory_size)[0] - name_length)
    # zipfile.ZipInfo.is_dir() raises IndexError on an empty name (the new reader's first version used it).
    message = refusal("dataset_npz", Payload({"data.npz": bytes(content)}, "data.npz"), tmp_path)
    assert "data.npz" in message


def test_npz_from_a_newer_zip_version(tmp_path):
    content = bytearray(npz(**{"x.npy": _npy(np.zeros((2, 2))), "y.npy": _npy(np.array([0, 1]))}))
    directory = content.index(b"PK\x01\x02")
    struct.pack_into("<H", content, directory + 6, 255)  # "version needed to extract": 25.5
    # Before: NotImplementedError ("zip file version 25.5") escaped.
    message = refusal("dataset_npz", Payload({"data.npz": bytes(content)}, "data.npz"), tmp_path)
    assert "is not a readable .npz file: zip file version 25.5" in message


# -- IDX ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_header_announcing_two_gigabytes_with_a_few_bytes(tmp_path, suffix):
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (2, 32768, 32767))
    labels = idx_bytes(np.array([0, 1]))
    pack = (lambda data: gzip.compress(data, mtime=0)) if suffix else (lambda data: data)
    payload = Payload({f"train-images-idx3-ubyte{suffix}": pack(header + b"\0" * 10),
                       f"train-labels-idx1-ubyte{suffix}": pack(labels)})  # fmt: skip
    # Before: file.read(announced + 1) allocated the 2 GiB before finding 10 bytes.
    assert "the file holds 10" in refusal("dataset_idx", payload, tmp_path)


# -- CIFAR ---------------------------------------------------------------------------------------------


def cifar(content: bytes) -> Payload:
    return Payload({"data_batch_1": content}, "data_batch_1")


def test_cifar_label_of_a_billion_does_not_build_a_billion_class_names(tmp_path):
    batch = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10**9]}, protocol=4)
    start = time.perf_counter()
    # Before: ["0", "1", …, "1000000000"] was built: minutes and gigabytes.
    message = refusal("dataset_cifar", cifar(batch), tmp_path)
    assert "holds label 1,000,000,000; Layerwise classifies into at most 10,000 classes" in message
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\x80\x02}r\x00\xe1\xf5\x05.", "stores memo entry 100000000 after only 0"),  # memo table of 800 MB
        (b"\x80\x04\x8e" + (2**31).to_bytes(8, "little") + b"x.", "expected 2147483648 bytes in a bytes8"),
        (b"\x80\x02\x8b" + (2**30).to_bytes(4, "little") + b".", "not enough data in stream to read long4"),
    ],
)
def test_cifar_pickle_opcodes_that_would_allocate_blindly(tmp_path, content, fragment):
    # Before: the C unpickler allocated the announced sizes first (a catch-all turned the
    # resulting MemoryError, when there was one, into a DatasetError).
    assert fragment in refusal("dataset_cifar", cifar(content), tmp_path)


def test_cifar_pickle_calling_a_function_is_refused_unexecuted(tmp_path):
    message = refusal("dataset_cifar", cifar(b"cposix\n_exit\n(K\x07tR."), tmp_path)
    assert "refuses to load posix._exit" in message


# -- images -----------------------------------------------------------------------------------------------


def test_images_in_formats_outside_the_accepted_ones_are_not_decoded(tmp_path):
    from PIL import Image

    tiff = io.BytesIO()
    Image.new("L", (4, 4)).save(tiff, format="TIFF")
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\n0 0 moveto showpage\n"
    good = seeds("dataset_images")[0]
    # Before: Pillow picked its TIFF or EPS plugin by content (EPS renders through Ghostscript).
    for content in (tiff.getvalue(), eps):
        message = refusal("dataset_images", good.with_file("cats/other.png", content), tmp_path)
        assert "other.png: is not a readable image" in message


# -- ONNX --------------------------------------------------------------------------------------------------


def test_onnx_initializer_with_an_unknown_data_type(tmp_path):
    model = seed_model()
    model.graph.initializer[0].data_type = 99
    # Before: KeyError 99 from onnx.numpy_helper.
    message = refusal("onnx", onnx_payload(model), tmp_path)
    assert "has element type 99, which Layerwise does not read" in message


def test_onnx_initializer_whose_raw_data_is_short(tmp_path):
    model = seed_model()
    tensor = model.graph.initializer[0]
    tensor.raw_data = tensor.raw_data[:-4]
    # Before: ValueError "cannot reshape array of size …".
    message = refusal("onnx", onnx_payload(model), tmp_path)
    assert f"initializer {tensor.name!r} is damaged" in message and "bytes of data; its dims" in message


@pytest.mark.parametrize("change", ["cycle", "missing", "no output", "no inputs"])
def test_onnx_graph_wiring(tmp_path, change):
    model = seed_model()
    relu = node_named(model, "Relu")
    if change == "cycle":
        relu.input[0] = model.graph.node[-1].output[0]
    elif change == "missing":
        relu.input[0] = "nowhere"
    elif change == "no output":
        del relu.output[:]
    else:
        del relu.input[:]
    # Before: KeyError (cycle, missing tensor) or IndexError (no output, no inputs) in the converters.
    message = refusal("onnx", onnx_payload(model), tmp_path)
    assert "model.onnx" in message and ("Relu" in message or "reads" in message)


@pytest.mark.parametrize(
    ("op_type", "attribute", "value", "fragment"),
    [
        ("Conv", "strides", 2, "attribute 'strides' must be a list of integers"),
        ("Conv", "kernel_shape", helper.make_graph([], "g", [], []), "attribute 'kernel_shape' must be a list"),
        ("Conv", "pads", [0.5, 0.5], "attribute 'pads' must be a list of integers"),
        ("Conv", "dilations", [1, 1, 1, 1], "only 2-D spatial operations are supported (dilations has 4 values)"),
        ("MaxPool", "strides", [0, 0], "attribute 'strides' must hold integers ≥ 1"),
        ("Concat", "axis", "one", "attribute 'axis' must be an integer"),
    ],
)
def test_onnx_attributes_of_the_wrong_type(tmp_path, op_type, attribute, value, fragment):
    model = seed_model()
    node = node_named(model, op_type)
    kept = [a for a in node.attribute if a.name != attribute]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute(attribute, value)])
    if op_type == "MaxPool":
        node.attribute.append(helper.make_attribute("ceil_mode", 1))
    # Before: TypeError, ZeroDivisionError (pool strides 0 with ceil_mode) or an unnamed ParamError.
    message = refusal("onnx", onnx_payload(model), tmp_path)
    assert "cannot represent" in message and fragment in message


def test_onnx_input_too_large_for_a_layer_names_the_file(tmp_path):
    model = seed_model()
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 2**40
    # Before: ParamError "shape must be ≤ 1048576" without the file's name.
    message = refusal("onnx", onnx_payload(model), tmp_path)
    assert "model.onnx: input 'input': shape must be ≤ 1048576, got 1099511627776" in message


@pytest.mark.parametrize(
    ("location", "fragment"),
    [
        ("x" * 5000, "cannot be used: [Errno 36] File name too long"),  # OSError
        ("a\x00b", "is not a file name"),  # ValueError: embedded null byte
        ("../outside.bin", "lies outside the model's folder"),
        ("/etc/passwd", "lies outside the model's folder"),
    ],
)
def test_onnx_external_data_locations(tmp_path, location, fragment):
    model = seed_model()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=location)
    assert fragment in refusal("onnx", onnx_payload(model), tmp_path)


def test_onnx_external_data_inside_a_branch_graph_is_checked(tmp_path):
    (tmp_path / "outside.bin").write_bytes(b"\0" * 16)
    model = seed_model()
    inside = model.graph.initializer[0]  # external data inside the folder: the check is reached
    inside.data_location = TensorProto.EXTERNAL
    inside.external_data.add(key="location", value="data.bin")
    hidden = numpy_helper.from_array(np.zeros(4, np.float32), "hidden")
    hidden.ClearField("raw_data")
    hidden.data_location = TensorProto.EXTERNAL
    hidden.external_data.add(key="location", value="../outside.bin")
    branch = helper.make_graph([], "branch", [], [], [hidden])
    model.graph.node.append(helper.make_node("If", ["input"], ["if_out"], then_branch=branch, else_branch=branch))
    data = inside.raw_data
    inside.ClearField("raw_data")
    payload = onnx_payload(model, **{"data.bin": data})
    # Before: only top-level tensors were checked; onnx's own check then raised ValidationError.
    assert "external data '../outside.bin' lies outside the model's folder" in refusal("onnx", payload, tmp_path)


@pytest.mark.parametrize(
    ("nodes", "initializers"),
    [
        ([helper.make_node("ConstantOfShape", ["big"], ["c"])], {"big": np.array([2**20, 2**20], np.int64)}),
        (
            [helper.make_node("Mul", ["col", "row"], ["c"])],
            {"col": np.ones((40000, 1), np.float32), "row": np.ones((1, 40000), np.float32)},
        ),
        ([helper.make_node("Concat", ["row"] * 10000, ["c"], axis=0)], {"row": np.ones((1, 40000), np.float32)}),
    ],
)
def test_onnx_constant_folding_that_would_take_gigabytes(tmp_path, nodes, initializers):
    model = seed_model()
    for name, value in initializers.items():
        model.graph.initializer.append(numpy_helper.from_array(value, name))
    model.graph.node.extend(nodes)
    # Before: NumPy computed the result: gigabytes, or MemoryError.
    message = refusal("onnx", onnx_payload(model), tmp_path)
    assert "cannot be evaluated (its result would take" in message


@pytest.mark.parametrize(
    ("depth", "fragment"), [(20, "cannot represent (1 node): If"), (2000, "is not a valid ONNX model")]
)
def test_onnx_graphs_nested_deeply(tmp_path, depth, fragment):
    deep = with_deep_graph(seed_model().SerializeToString(), depth)
    assert fragment in refusal("onnx", Payload({"model.onnx": deep}, "model.onnx"), tmp_path)


# -- network files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_network_file_nested_100000_deep(tmp_path, text):
    assert "is nested too deeply" in refusal("network_file", Payload({"net.json": text}, "net.json"), tmp_path)


def test_every_seed_loads():
    for loader in LOADERS:
        for payload in seeds(loader):
            assert run_case(loader, payload).kind == OK, loader


# -- sizes that made loading slow ------------------------------------------------------------------------


def chain_network(count: int) -> bytes:
    layers = [{"name": "input", "type": "Input", "params": {"shape": [4]}}]
    layers += [{"name": f"r{i}", "type": "ReLU", "inputs": ["input" if i == 0 else f"r{i - 1}"]} for i in range(count)]
    return network_text({"format": "layerwise.network", "version": 1, "layers": layers})


def test_network_file_of_twenty_thousand_layers_is_refused_at_once(tmp_path):
    start = time.perf_counter()
    # Before: loaded in minutes (every name checked against every other: quadratic).
    message = refusal(
        "network_file", Payload({"net.json": chain_network(20_000)}, "net.json"), tmp_path, trace_memory=False
    )
    assert "has 20,001 layers; Layerwise opens networks of at most 4,000" in message
    assert time.perf_counter() - start < 2


def test_onnx_model_of_thousands_of_nodes_with_nested_graphs(tmp_path):
    payload = Payload({"model.onnx": with_deep_graph(seed_model().SerializeToString(), 30)}, "model.onnx")
    model = seed_model()
    model.ParseFromString(payload.files["model.onnx"])
    model.graph.node.extend([model.graph.node[-1]] * 3000)
    start = time.perf_counter()
    # Before: 5.5 s walking 100,000 nested graphs for external data, through recursive generators.
    message = refusal("onnx", onnx_payload(model), tmp_path, trace_memory=False)
    assert "the model has over 50,000 nodes (sub-graphs included)" in message
    assert time.perf_counter() - start < 2


def test_onnx_model_of_ten_thousand_nodes_of_one_name(tmp_path):
    model = seed_model()
    nodes = list(model.graph.node)
    relu = next(i for i, node in enumerate(nodes) if node.op_type == "Relu")
    nodes[relu + 1 : relu + 1] = [nodes[relu]] * 10_000
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    start = time.perf_counter()
    # Before: 30 s (document.unique_name scanned every layer for every candidate name).
    message = refusal("onnx", onnx_payload(model), tmp_path, trace_memory=False)
    assert "the model maps to more than 4,000 layers" in message
    assert time.perf_counter() - start < 2
