"""Fetched datasets: downloaded from a local server, verified, assembled whole, found by name, removed.

Catalogue entries are pointed at :class:`~tests.core.data.http_server.LocalServer`, which
serves tiny files in the real formats (IDX ``.gz``, a CIFAR-10 ``.tar.gz``, ``.npz``);
nothing here reaches the internet. ``LAYERWISE_DATA_DIR`` is a fresh folder per test.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from core.data import DatasetError, load_dataset
from core.data import store as store_module
from core.data.catalogue import CATALOGUE, CatalogueEntry, RemoteFile
from core.data.download import MIRROR_VARIABLE, DownloadCancelled, DownloadError
from core.data.store import (
    MANIFEST,
    data_root,
    dataset_path,
    datasets_dir,
    drop_dir,
    fetch,
    fetch_url,
    installed,
    load_fetched,
    remove,
)
from tests.core.data.http_server import LocalServer, unreachable_url

IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


pytestmark = pytest.mark.usefixtures("no_internet")


# --- files in the real formats ------------------------------------------------------------------


def idx_gz(array: np.ndarray) -> bytes:
    """``array`` (uint8, 1 or 3 dimensions) as a gzipped IDX file."""
    magic = 0x801 if array.ndim == 1 else 0x803
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def tiny_idx_files(n_train: int = 60, n_test: int = 20, seed: int = 0) -> dict[str, bytes]:
    """The four MNIST files with ``n_train`` and ``n_test`` random 28×28 images of 10 classes."""
    rng = np.random.default_rng(seed)
    arrays = (
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        np.arange(n_train, dtype=np.uint8) % 10,
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        np.arange(n_test, dtype=np.uint8) % 10,
    )
    return {name: idx_gz(array) for name, array in zip(IDX_NAMES, arrays, strict=True)}


def _batch(count: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    content = {
        b"batch_label": b"batch",
        b"labels": [int(k) % 10 for k in range(count)],
        b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
    }
    return pickle.dumps(content, protocol=4)  # arrays rebuilt by _reconstruct, as in the original files


def tiny_cifar10_tar_gz() -> bytes:
    """A ``cifar-10-python.tar.gz`` with two training batches, a test batch and the class names."""
    return tar_gz(
        {
            "cifar-10-batches-py/data_batch_1": _batch(20, 1),
            "cifar-10-batches-py/data_batch_2": _batch(20, 2),
            "cifar-10-batches-py/test_batch": _batch(10, 3),
            "cifar-10-batches-py/batches.meta": pickle.dumps(
                {b"label_names": [f"class{k}".encode() for k in range(10)]}, protocol=4
            ),
        }
    )


def _cifar100_part(count: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    fine = [int(k) % 100 for k in range(count)]
    content = {
        b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
        b"fine_labels": fine,
        b"coarse_labels": [label // 5 for label in fine],
    }
    return pickle.dumps(content, protocol=4)


def tiny_cifar100_tar_gz() -> bytes:
    """A ``cifar-100-python.tar.gz``: ``train`` (100 images), ``test`` (20) and ``meta`` with both name lists."""
    names = {
        b"fine_label_names": [f"fine{k}".encode() for k in range(100)],
        b"coarse_label_names": [f"coarse{k}".encode() for k in range(20)],
    }
    return tar_gz(
        {
            "cifar-100-python/train": _cifar100_part(100, 1),
            "cifar-100-python/test": _cifar100_part(20, 2),
            "cifar-100-python/meta": pickle.dumps(names, protocol=4),
        }
    )


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tiny_npz(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        y_train=np.arange(30) % 10,
        x_test=rng.integers(0, 256, (9, 28, 28), dtype=np.uint8),
        y_test=np.arange(9) % 10,
    )
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remote(name: str, data: bytes, *urls: str) -> RemoteFile:
    return RemoteFile(name, tuple(urls), sha256(data), len(data))


def point_entry(monkeypatch, name: str, files: dict[str, bytes], base_urls: list[str]) -> CatalogueEntry:
    """Make catalogue entry ``name`` list ``files``, found under each of ``base_urls`` in turn."""
    entry = dataclasses.replace(
        CATALOGUE[name],
        files=tuple(remote(f, data, *(f"{base}/{f}" for base in base_urls)) for f, data in files.items()),
    )
    monkeypatch.setitem(CATALOGUE, name, entry)
    return entry


def serve_mnist(monkeypatch, server: LocalServer, **sizes: int) -> dict[str, bytes]:
    files = tiny_idx_files(**sizes)
    for name, data in files.items():
        server.serve(f"/mnist/{name}", data)
    point_entry(monkeypatch, "mnist", files, [server.url("/mnist")])
    return files


# --- where things live --------------------------------------------------------------------------


def test_the_data_folder_follows_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERWISE_DATA_DIR", str(tmp_path / "here"))
    assert data_root() == tmp_path / "here"
    assert datasets_dir() == tmp_path / "here" / "datasets"
    assert drop_dir("mnist") == tmp_path / "here" / "datasets" / "downloads" / "mnist"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG rules are those of Linux and the BSDs")
def test_without_the_variable_it_is_where_qt_puts_the_app_data(monkeypatch, tmp_path, qapp):
    from PySide6.QtCore import QStandardPaths

    monkeypatch.delenv("LAYERWISE_DATA_DIR", raising=False)
    names = (qapp.organizationName(), qapp.applicationName())
    qapp.setOrganizationName("Layerwise")
    qapp.setApplicationName("Layerwise")
    try:
        for xdg in (str(tmp_path / "xdg"), "relative/ignored", ""):
            monkeypatch.setenv("XDG_DATA_HOME", xdg)
            location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
            assert data_root() == Path(location)
    finally:
        qapp.setOrganizationName(names[0])
        qapp.setApplicationName(names[1])
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "Layerwise" / "Layerwise"


def test_the_app_keeps_its_logs_in_the_same_folder(data_dir):
    from gui.error_handler import user_data_dir

    assert user_data_dir() == data_dir == data_root()
    assert data_dir.is_dir()


# --- fetching a catalogue dataset ---------------------------------------------------------------


def test_fetch_downloads_verifies_and_assembles_an_idx_dataset(data_dir, server, monkeypatch):
    files = serve_mnist(monkeypatch, server)
    reports = []
    path = fetch("mnist", progress=reports.append)
    assert path == datasets_dir() / "mnist"
    assert sorted(p.name for p in path.iterdir()) == sorted([*IDX_NAMES, MANIFEST])
    for name, data in files.items():
        assert (path / name).read_bytes() == data  # kept as they are: the reader reads .gz
    assert reports and reports[-1].done == reports[-1].total
    assert not drop_dir("mnist").exists()  # the downloads moved into the dataset
    assert [p.name for p in datasets_dir().iterdir() if p.name.startswith(".")] == []
    (item,) = installed()
    assert (item.name, item.path, item.source) == ("mnist", path, "catalogue")
    assert item.bytes >= sum(len(d) for d in files.values())
    assert dataset_path("mnist") == path
    data = load_fetched("mnist")
    assert data.name == "mnist" and len(data) == 60 and data.sample_shape == (1, 28, 28)
    assert data.test is not None and len(data.test) == 20
    assert load_dataset("mnist").x.shape == (60, 1, 28, 28)
    # A second fetch finds it and asks nothing.
    count = len(server.requests)
    assert fetch("mnist") == path
    assert len(server.requests) == count


def test_the_publisher_failing_the_next_mirror_is_tried(data_dir, server, monkeypatch):
    files = tiny_idx_files()
    for name, data in files.items():
        server.serve(f"/mirror/{name}", data)
    point_entry(monkeypatch, "mnist", files, [server.url("/gone"), server.url("/mirror")])
    fetch("mnist")
    assert {seen.path.split("/")[1] for seen in server.requests} == {"gone", "mirror"}


def test_a_mirror_is_asked_first(data_dir, server, monkeypatch):
    files = tiny_idx_files()
    for name, data in files.items():
        server.serve(f"/lab/{name}", data)
    point_entry(monkeypatch, "mnist", files, [unreachable_url("/publisher")])
    fetch("mnist", mirror=server.url("/lab/"))
    assert dataset_path("mnist") is not None
    monkeypatch.setenv(MIRROR_VARIABLE, server.url("/lab"))
    remove("mnist")
    fetch("mnist")
    assert dataset_path("mnist") is not None


def test_a_cifar10_archive_is_unpacked(data_dir, server, monkeypatch):
    archive = tiny_cifar10_tar_gz()
    server.serve("/kriz/cifar-10-python.tar.gz", archive)
    point_entry(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": archive}, [server.url("/kriz")])
    path = fetch("cifar10")
    assert path == datasets_dir() / "cifar10" / "cifar-10-batches-py"
    assert (path / "data_batch_2").is_file()
    assert not drop_dir("cifar10").exists()  # the archive is not kept beside its content
    data = load_dataset("cifar10")
    assert data.name == "cifar10" and len(data) == 40 and data.sample_shape == (3, 32, 32)
    assert data.class_names[3] == "class3" and len(data.test) == 10


def test_cifar100_fine_and_coarse_come_from_the_same_archive(data_dir, server, monkeypatch):
    archive = tiny_cifar100_tar_gz()
    server.serve("/kriz/cifar-100-python.tar.gz", archive)
    for name in ("cifar100", "cifar100-coarse"):
        point_entry(monkeypatch, name, {"cifar-100-python.tar.gz": archive}, [server.url("/kriz")])
        assert fetch(name) == datasets_dir() / name / "cifar-100-python"
    fine, coarse = load_dataset("cifar100"), load_dataset("cifar100-coarse")
    assert len(fine.class_names) == 100 and len(coarse.class_names) == 20
    assert coarse.class_names[3] == "coarse3" and fine.class_names[99] == "fine99"
    assert (fine.y // 5 == coarse.y).all() and len(coarse.test) == 20
    assert coarse.name == "cifar100-coarse" and coarse.test.name == "cifar100-coarse test"
    # The second label set is made from the first one's files: the archive was fetched once.
    assert [seen.path for seen in server.requests] == ["/kriz/cifar-100-python.tar.gz"]
    remove("cifar100")
    assert len(load_dataset("cifar100-coarse")) == len(coarse)  # its own copy (or links) stays


def test_cifar100_entries_read_the_labels_they_name(data_dir, monkeypatch):
    folder = datasets_dir() / "cifar100-coarse"
    (folder / "cifar-100-python").mkdir(parents=True)
    (folder / MANIFEST).write_text('{"data": "cifar-100-python", "labels": "coarse", "source": "catalogue"}')
    seen = {}

    def fake_import(path, **options):
        seen.update(options, path=path)
        return load_dataset("xor")

    monkeypatch.setattr(store_module, "import_dataset", fake_import)
    assert load_fetched("cifar100-coarse").name == "cifar100-coarse"
    assert seen == {"path": folder / "cifar-100-python", "cifar100_labels": "coarse"}


def test_a_catalogue_name_not_fetched_says_how_to_get_it(data_dir):
    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist")
    assert str(caught.value) == "'mnist' is not on this computer yet: layerwise datasets get mnist (about 11.6 MB)"
    with pytest.raises(DatasetError, match="170 MB"):
        load_dataset("cifar10")


def test_a_real_path_and_builtin_names_come_first(data_dir, tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, data in tiny_idx_files(n_train=12, n_test=4).items():
        (folder / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    assert len(load_dataset("mnist")) == 12  # the folder called mnist, not the catalogue's
    assert load_dataset("xor").name == "xor"


# --- offline use, dropped files, cancelling -----------------------------------------------------


def test_offline_the_error_names_the_url_and_the_drop_folder(data_dir, monkeypatch):
    url = unreachable_url("/mnist")
    point_entry(monkeypatch, "mnist", tiny_idx_files(), [url])
    with pytest.raises(DownloadError) as caught:
        fetch("mnist")
    message = str(caught.value)
    assert f"{url}/train-images-idx3-ubyte.gz" in message
    assert str(drop_dir("mnist")) in message and "\n" not in message
    assert dataset_path("mnist") is None


def test_files_dropped_by_hand_are_verified_and_used_without_a_request(data_dir, server, monkeypatch):
    files = tiny_idx_files()
    point_entry(monkeypatch, "mnist", files, [server.url("/mnist")])
    drop_dir("mnist").mkdir(parents=True)
    for name, data in files.items():
        (drop_dir("mnist") / name).write_bytes(data)
    path = fetch("mnist")
    assert server.requests == []
    assert len(load_fetched("mnist")) == 60 and path == dataset_path("mnist")


def test_a_wrong_dropped_file_is_set_aside_and_downloaded_again(data_dir, server, monkeypatch):
    files = serve_mnist(monkeypatch, server)
    drop_dir("mnist").mkdir(parents=True)
    (drop_dir("mnist") / IDX_NAMES[0]).write_bytes(b"not the file")
    fetch("mnist")
    assert [seen.path for seen in server.requests] == [f"/mnist/{name}" for name in files]
    assert (drop_dir("mnist") / f"{IDX_NAMES[0]}.refused").read_bytes() == b"not the file"


def test_the_md5_is_checked_too(data_dir, server, monkeypatch):
    files = serve_mnist(monkeypatch, server)
    entry = CATALOGUE["mnist"]
    wrong = dataclasses.replace(entry.files[1], md5="0" * 32)
    monkeypatch.setitem(CATALOGUE, "mnist", dataclasses.replace(entry, files=(entry.files[0], wrong, *entry.files[2:])))
    drop_dir("mnist").mkdir(parents=True)
    (drop_dir("mnist") / IDX_NAMES[1]).write_bytes(files[IDX_NAMES[1]])
    with pytest.raises(DatasetError, match=r"MD5 is .*; the download was deleted"):
        fetch("mnist")
    assert (drop_dir("mnist") / f"{IDX_NAMES[1]}.refused").read_bytes() == files[IDX_NAMES[1]]
    assert not (drop_dir("mnist") / IDX_NAMES[1]).exists() and dataset_path("mnist") is None
    right = dataclasses.replace(wrong, md5=hashlib.md5(files[IDX_NAMES[1]]).hexdigest())
    monkeypatch.setitem(CATALOGUE, "mnist", dataclasses.replace(entry, files=(entry.files[0], right, *entry.files[2:])))
    assert fetch("mnist") == dataset_path("mnist")


def test_cancelling_keeps_the_part_and_the_next_fetch_resumes(data_dir, server, monkeypatch):
    serve_mnist(monkeypatch, server, n_train=1000)  # a 780 kB images file: several chunks
    reports = []
    with pytest.raises(DownloadCancelled):
        fetch("mnist", progress=reports.append, cancelled=lambda: bool(reports))
    part = drop_dir("mnist") / f"{IDX_NAMES[0]}.part"
    assert part.is_file() and part.stat().st_size > 0
    assert dataset_path("mnist") is None and installed() == []
    fetch("mnist")
    assert server.ranges(f"/mnist/{IDX_NAMES[0]}")[-1] == f"bytes={part_size(reports)}-"
    assert len(load_fetched("mnist")) == 1000


def part_size(reports) -> int:
    return reports[-1].done


def test_a_failed_assembly_leaves_no_dataset_and_no_leftovers(data_dir, server, monkeypatch):
    serve_mnist(monkeypatch, server)
    real = store_module.dataset_kind

    def broken(path):
        raise DatasetError(f"{path}: refused on purpose")

    monkeypatch.setattr(store_module, "dataset_kind", broken)
    with pytest.raises(DatasetError, match="on purpose"):
        fetch("mnist")
    assert sorted(p.name for p in datasets_dir().iterdir()) == ["downloads"]
    assert len(list(drop_dir("mnist").iterdir())) == 4  # verified downloads stay for the next try
    monkeypatch.setattr(store_module, "dataset_kind", real)
    count = len(server.requests)
    fetch("mnist")
    assert len(server.requests) == count


def test_an_unknown_name_is_refused_with_a_suggestion(data_dir):
    with pytest.raises(DatasetError, match="did you mean 'mnist'"):
        fetch("mnsit")


# --- any file by URL ----------------------------------------------------------------------------


def test_fetch_url_keeps_an_npz_under_its_name(data_dir, server):
    data = tiny_npz()
    url = server.serve("/files/digits.npz", data)
    path = fetch_url(url, sha256(data), "my-digits")
    assert path == datasets_dir() / "my-digits" / "digits.npz"
    (item,) = installed()
    assert (item.name, item.source) == ("my-digits", url)
    loaded = load_dataset("my-digits")
    assert loaded.name == "my-digits" and len(loaded) == 30 and len(loaded.test) == 9
    assert fetch_url(url, sha256(data), "my-digits") == path  # the same file again: nothing to do
    with pytest.raises(DatasetError, match="already on this computer"):
        fetch_url(url, "0" * 64, "my-digits")


def test_fetch_url_refuses_a_wrong_checksum_and_keeps_nothing(data_dir, server):
    url = server.serve("/files/digits.npz", tiny_npz())
    with pytest.raises(DownloadError, match="SHA-256"):
        fetch_url(url, "0" * 64, "digits")
    assert dataset_path("digits") is None


@pytest.mark.parametrize(
    ("url", "checksum", "name", "problem"),
    [
        ("https://example.org/a.npz", "0" * 64, "mnist", "catalogue dataset"),
        ("https://example.org/a.npz", "0" * 64, "../up", "cannot name a dataset"),
        ("https://example.org/a.npz", "abc", "mine", "64 hexadecimal digits"),
        ("ftp://example.org/a.npz", "0" * 64, "mine", "http"),
        ("https://example.org/", "0" * 64, "mine", "http"),
    ],
)
def test_fetch_url_checks_its_arguments_before_any_request(data_dir, url, checksum, name, problem):
    with pytest.raises(DatasetError, match=problem):
        fetch_url(url, checksum, name)
    assert not datasets_dir().exists() or installed() == []


def test_a_file_in_no_readable_format_is_refused(data_dir, server):
    data = b"just some text\n" * 10
    url = server.serve("/files/notes.txt", data)
    with pytest.raises(DatasetError, match="not a file format Layerwise recognises"):
        fetch_url(url, sha256(data), "notes")
    assert dataset_path("notes") is None


# --- removing -----------------------------------------------------------------------------------


def test_remove_deletes_the_dataset_and_its_downloads(data_dir, server, monkeypatch):
    serve_mnist(monkeypatch, server)
    path = fetch("mnist")
    drop_dir("mnist").mkdir(parents=True)
    (drop_dir("mnist") / "leftover.part").write_bytes(b"x")
    assert remove("mnist") == path
    assert not path.exists() and not drop_dir("mnist").exists()
    assert installed() == [] and dataset_path("mnist") is None
    assert [p.name for p in datasets_dir().iterdir() if p.name.startswith(".")] == []
    with pytest.raises(DatasetError, match="not on this computer"):
        remove("mnist")


def test_folders_without_a_manifest_are_not_datasets(data_dir):
    (datasets_dir() / "stray").mkdir(parents=True)
    (datasets_dir() / "broken").mkdir()
    (datasets_dir() / "broken" / MANIFEST).write_text('{"data": "../../etc"}')
    assert installed() == [] and dataset_path("stray") is None and dataset_path("broken") is None
