"""Names are data, never paths: any layer name survives every file the product writes and reads.

A property-based test builds small networks whose layers carry names people and exporters
produce (``/conv1/Conv``, ``../../etc/passwd``, ``a\\b``, 255 characters, Chinese, Arabic,
emoji, names differing only in case, spaces at either end, arbitrary text) and sends each through
the network file, the weights file (both writers), a recovery file, an ONNX export and import,
the training-curves CSV and ``layerwise info --json``: names and values come back identical.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.csv_cells import csv_text_cell, text_from_csv_cell
from core.engine.model import Model, WeightsError
from core.engine.network_weights import NetworkWeights
from core.engine.weights_file import INDEX, weight_key, weights_bytes
from core.errors import GraphError, NetworkFileError
from core.graph.document import MAX_NAME_LENGTH, NetworkDocument, holdable_name, layer_name_problem
from core.graph.fileformat import load_network, network_to_dict, save_network
from core.onnx_io.export import save_onnx
from core.onnx_io.importer import import_onnx
from core.recovery import RecoverySnapshot, read_snapshot, write_snapshot
from core.training.events import ActivationsMeasured
from core.training.history import RunHistory, write_runs_csv
from main import run_command

NASTY_NAMES = (
    "/",
    "/conv1/Conv",
    "conv1/",
    "//",
    ".",
    "..",
    "../../etc/passwd",
    "/etc/passwd",
    "a\\b",
    "C:\\Windows",
    "a:b",
    "c:",
    "in side",
    " leading",
    "trailing ",
    '"quoted"',
    "it's",
    "a,b",
    "x" * MAX_NAME_LENGTH,
    "批次归一化 1",
    "طبقة الالتفاف",
    "🔥👩\u200d👩\u200d👧",
    "Conv",
    "conv",
    "CONV",
    "w0",
    "w1",
    "index",
    "weights/w0",
    "__meta__",
    "a.weight",
    "kernel",
    "%s%n",
    "{}",
    "=1+1",
    "e\u0301",
    "\u00e9",
    "\u200b",
)
"""Names that have broken file formats elsewhere: paths, separators, quotes, scripts, look-alikes."""

PIECES = ("/", "\\", "..", ":", " ", '"', "'", ".", "Conv", "批", "ع", "🔥", "_1", "w0", "\u200d")

names = st.one_of(
    st.sampled_from(NASTY_NAMES),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=MAX_NAME_LENGTH),
).filter(lambda name: layer_name_problem(name) is None)

LAYERS = (
    ("Input", {"shape": [2, 4, 4]}),
    ("Conv2D", {"filters": 3, "kernel_size": 3}),
    ("ReLU", {}),
    ("Flatten", {}),
    ("Dense", {"units": 3}),
)


def chain(layer_names: list[str]) -> NetworkDocument:
    """Input → Conv2D → ReLU → Flatten → Dense, named ``layer_names``."""
    document = NetworkDocument("names")
    previous = None
    for (type_name, params), name in zip(LAYERS, layer_names):
        node = document.add_node(type_name, params, name=name)
        if previous is not None:
            document.connect(previous.id, node.id)
        previous = node
    return document


def assert_same_state(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def a_run(name: str, layer_names: list[str]) -> RunHistory:
    run = RunHistory(name=name, epochs=[1, 2], train_loss=[0.1 + 1e-12, 1 / 3], train_data_loss=[0.1, 0.25])
    run.train_penalty, run.train_accuracy = [0.0, 1e-300], [0.5, 0.75]
    run.val_loss, run.val_accuracy, run.learning_rate = [float("nan"), 2.5], [float("nan"), 0.125], [1e-3, 1e-3]
    run.activations = [
        ActivationsMeasured(1, 1, 0.5, (5.0, 50.0), {n: [float(i), i + 0.5] for i, n in enumerate(layer_names)})
    ]
    return run


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer_names=st.lists(names, min_size=len(LAYERS), max_size=len(LAYERS), unique=True), run_name=names)
def test_any_name_round_trips_through_every_file(layer_names, run_name):
    document = chain(layer_names)
    model = Model(document, seed=7)
    state = model.state_dict()
    assert {key.rpartition("/")[0] for key in state} == {layer_names[1], layer_names[4]}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)

        # The network file, and the info JSON of it.
        save_network(document, root / "net.json")
        loaded = load_network(root / "net.json")
        assert network_to_dict(loaded) == network_to_dict(document)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert run_command(["info", str(root / "net.json"), "--json"]) == 0
        info = json.loads(out.getvalue())
        assert [layer["name"] for layer in info["layers"]] == layer_names
        assert [layer["inputs"] for layer in info["layers"]] == [[], *([name] for name in layer_names[:-1])]

        # The weights file, by both writers, into a network read back from its file.
        model.save_weights(root / "net.npz")
        again = Model(loaded, seed=8)
        again.load_weights(root / "net.npz")
        assert_same_state(again.state_dict(), state)
        kept = NetworkWeights.from_state_dict(document, state)
        kept.save(root / "kept.npz", document)
        assert_same_state(NetworkWeights.load(root / "kept.npz", loaded).state_dict(loaded), state)

        # A recovery file, with a run whose activations are keyed by layer names.
        run = a_run(run_name, layer_names)
        write_snapshot(root / "r.lwrecovery", RecoverySnapshot(network_to_dict(document), state, [run], None))
        snapshot = read_snapshot(root / "r.lwrecovery")
        assert snapshot.network == network_to_dict(document)
        assert_same_state(snapshot.weights, state)
        assert snapshot.runs[0].name == run_name
        assert snapshot.runs[0].activations[0].layers == run.activations[0].layers
        assert list(snapshot.runs[0].activations[0].layers) == layer_names

        # ONNX: the same layers, names and tensors come back, with nothing renamed.
        save_onnx(model, root / "net.onnx")
        imported = import_onnx(root / "net.onnx")
        assert [node.name for node in imported.document.nodes] == layer_names
        assert [node.type_name for node in imported.document.nodes] == [type_name for type_name, _ in LAYERS]
        assert imported.notes == []
        assert_same_state(imported.weights, state)

        # The training-curves CSV: names (a spreadsheet reads none as a formula), and numbers
        # in their exact shortest form.
        write_runs_csv(root / "runs.csv", [run])
        with open(root / "runs.csv", encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["run"] for row in rows] == [csv_text_cell(run_name)] * 2
        assert [text_from_csv_cell(row["run"]) for row in rows] == [run_name, run_name]
        assert not rows[0]["run"].startswith(("=", "+", "-", "@", "\t", "\r"))
        for row, expected in zip(rows, run.epoch_rows(), strict=True):
            for column, value in expected.items():
                if column != "run":
                    assert (row[column] == "") if math.isnan(value) else (float(row[column]) == value), column


def test_names_differing_only_in_case_or_spaces_are_different_layers(tmp_path):
    document = chain(["x", "X", " x", "x ", "x\u00a0"])
    model = Model(document, seed=0)
    model.save_weights(tmp_path / "w.npz")
    other = Model(load_network_text(document, tmp_path), seed=1)
    other.load_weights(tmp_path / "w.npz")
    assert_same_state(other.state_dict(), model.state_dict())
    assert set(model.state_dict()) == {"X/weight", "X/bias", "x\u00a0/weight", "x\u00a0/bias"}


def load_network_text(document: NetworkDocument, folder: Path) -> NetworkDocument:
    save_network(document, folder / "n.json")
    return load_network(folder / "n.json")


# -- what the document refuses, and what an importer makes of it ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("a\x00b", "holds a control character (U+0000) at position 2, which cannot be shown"),
        ("tab\there", "holds a control character (U+0009) at position 4"),
        ("line\nbreak", "holds a control character (U+000A)"),
        ("c1\x85", "holds a control character (U+0085) at position 3"),
        ("\ud800", "holds U+D800 at position 1, a lone surrogate"),
        (
            "x" * (MAX_NAME_LENGTH + 1),
            f"is {MAX_NAME_LENGTH + 1} characters long; names have at most {MAX_NAME_LENGTH}",
        ),
    ],
)
def test_names_that_cannot_be_shown_or_written_are_refused_with_the_reason(name, fragment):
    with pytest.raises(GraphError) as info:
        NetworkDocument().add_node("ReLU", name=name)
    assert fragment in str(info.value)


def test_a_network_file_with_such_a_name_names_the_layer_and_the_problem(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(
        json.dumps({"format": "layerwise.network", "version": 1, "layers": [{"name": "in\u0007put", "type": "Input"}]}),
        encoding="utf-8",
    )
    with pytest.raises(NetworkFileError) as info:
        load_network(path)
    assert str(info.value) == (
        f"{path}: layer 'in\\x07put' (layers[0]): layer name 'in\\x07put' holds a control character (U+0007) at "
        "position 3, which cannot be shown; names are one line of visible text"
    )


def test_a_network_title_json_escapes_into_a_lone_surrogate_is_refused(tmp_path):
    path = tmp_path / "net.json"
    path.write_text('{"format": "layerwise.network", "version": 1, "name": "a\\ud800", "layers": []}', encoding="utf-8")
    with pytest.raises(NetworkFileError) as info:
        load_network(path)
    assert str(info.value) == (
        f'{path}: field "name" holds U+D800, a lone surrogate: not a character, and not writable as UTF-8'
    )


@pytest.mark.parametrize(
    ("text", "holdable"),
    [
        ("/conv1/Conv", "/conv1/Conv"),
        (" spaced ", " spaced "),
        ("a\x00b", "a\ufffdb"),
        ("   ", ""),
        ("y" * 300, "y" * MAX_NAME_LENGTH),
    ],
)
def test_holdable_names_change_only_what_the_document_cannot_hold(text, holdable):
    assert holdable_name(text) == holdable
    assert holdable == "" or layer_name_problem(holdable) is None


def test_unique_names_stay_within_the_limit():
    document = NetworkDocument()
    long = "z" * MAX_NAME_LENGTH
    document.add_node("ReLU", name=long)
    free = document.unique_name(long)
    assert len(free) == MAX_NAME_LENGTH and free.endswith("_1") and layer_name_problem(free) is None


# -- the weights file ---------------------------------------------------------------------------------------


def test_the_weights_file_holds_no_layer_name_in_its_member_names(tmp_path):
    document = chain(["../../etc/passwd", "/conv1/Conv", "x", "C:\\evil", "a\\b"])
    model = Model(document, seed=0)
    model.save_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as archive:
        assert archive.files == [INDEX, "w0", "w1", "w2", "w3"]
        index = json.loads(archive[INDEX].tobytes().decode("utf-8"))
        assert index == {
            "format": "layerwise.weights",
            "version": 1,
            "tensors": [["/conv1/Conv", "weight"], ["a\\b", "weight"], ["/conv1/Conv", "bias"], ["a\\b", "bias"]],
        }
        np.testing.assert_array_equal(archive["w0"], model.state_dict()["/conv1/Conv/weight"])


def raw_npz(path: Path, **members: np.ndarray) -> Path:
    """An archive of ``members`` at ``path`` (whatever its suffix, which ``np.savez`` would change)."""
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    path.write_bytes(buffer.getvalue())
    return path


def index_array(data: object) -> np.ndarray:
    return np.frombuffer(json.dumps(data).encode("utf-8"), dtype=np.uint8)


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        ({INDEX: np.zeros(3)}, "its index is not text"),
        ({INDEX: np.frombuffer(b"{nope", np.uint8)}, "its index is not UTF-8 JSON"),
        ({INDEX: index_array([["a", "b"]])}, 'its index is not a Layerwise weights index ("format" must be'),
        (
            {INDEX: index_array({"format": "layerwise.weights", "version": 9, "tensors": []})},
            "its index has version 9; this Layerwise reads 1",
        ),
        (
            {INDEX: index_array({"format": "layerwise.weights", "version": 1, "tensors": [["a"]]})},
            'its index field "tensors" must be a list of [layer, parameter] string pairs',
        ),
        (
            {INDEX: index_array({"format": "layerwise.weights", "version": 1, "tensors": [["a", "b/c"]]})},
            "its index lists parameter 'b/c' of layer 'a'; parameter names hold no '/'",
        ),
        (
            {
                INDEX: index_array({"format": "layerwise.weights", "version": 1, "tensors": [["a", "b"], ["a", "b"]]}),
                "w0": np.zeros(1),
                "w1": np.zeros(1),
            },
            "its index lists parameter 'b' of layer 'a' twice",
        ),
        (
            {INDEX: index_array({"format": "layerwise.weights", "version": 1, "tensors": [["a", "b"]]})},
            "its index does not match its arrays (no array w0 for a/b)",
        ),
        (
            {INDEX: index_array({"format": "layerwise.weights", "version": 1, "tensors": []}), "w0": np.zeros(1)},
            "its index does not match its arrays (array w0 is not in it)",
        ),
    ],
)
def test_a_damaged_index_is_refused_naming_the_file(tmp_path, members, fragment):
    path = raw_npz(tmp_path / "w.npz", **members)
    with pytest.raises(WeightsError) as info:
        Model(chain(["i", "c", "r", "f", "d"])).load_weights(path)
    assert str(info.value).startswith(f"{path}: cannot be read as weights: ") and fragment in str(info.value)


def test_tensors_that_do_not_fit_are_named_by_layer_and_parameter(tmp_path):
    model = Model(chain(["in", "/conv1/Conv", "relu", "flat", "/fc/Gemm"]), seed=0)
    state = model.state_dict()
    del state["/conv1/Conv/bias"]
    (tmp_path / "w.npz").write_bytes(weights_bytes(state))
    with pytest.raises(WeightsError, match="does not fit the network \\(missing /conv1/Conv/bias\\)"):
        model.load_weights(tmp_path / "w.npz")


def test_recovery_files_of_version_1_still_load(tmp_path):
    document = chain(["i", "c", "r", "f", "d"])
    state = Model(document, seed=3).state_dict()
    meta = {"format": "layerwise.recovery", "version": 1, "source_path": None, "saved_at": 1.0}
    path = raw_npz(
        tmp_path / "old.lwrecovery",
        __meta__=index_array(meta),
        __network__=index_array(network_to_dict(document)),
        __runs__=index_array([]),
        **{f"weights/{key}": value for key, value in state.items()},
    )
    assert_same_state(read_snapshot(path).weights, state)


def test_a_recovery_file_keeps_its_weights_under_neutral_names(tmp_path):
    document = chain(["../x", "/conv1/Conv", "r", "f", "d"])
    state = Model(document, seed=3).state_dict()
    write_snapshot(tmp_path / "r.lwrecovery", RecoverySnapshot(network_to_dict(document), state))
    with np.load(tmp_path / "r.lwrecovery") as archive:
        assert sorted(archive.files) == ["__meta__", "__network__", "__runs__", "weights/index"] + [
            f"weights/w{i}" for i in range(4)
        ]
    assert weight_key("/conv1/Conv", "weight") in read_snapshot(tmp_path / "r.lwrecovery").weights
