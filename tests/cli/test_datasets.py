"""`main.py datasets`: list, get (by name or URL), path, remove, and training on what was fetched.

Catalogue entries point at a local server; nothing here reaches the internet.
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager

import pytest

import main
from cli import datasets as datasets_cli
from core.data.download import Progress
from core.data.store import datasets_dir, drop_dir
from tests.core.data.http_server import unreachable_url
from tests.core.data.test_store import (
    IDX_NAMES,
    point_entry,
    serve_mnist,
    sha256,
    tiny_idx_files,
    tiny_npz,
)

pytestmark = pytest.mark.usefixtures("no_internet")


def run(capsys, *argv):
    status = main.main(["datasets", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_get_then_train_on_it_by_name(capsys, data_dir, server, monkeypatch):
    serve_mnist(monkeypatch, server, n_train=80, n_test=20)
    status, out, err = run(capsys, "get", "mnist")
    assert status == 0, err
    assert out == f"{datasets_dir() / 'mnist'}\n"
    assert "train-images-idx3-ubyte.gz:" in err and "(done)" in err  # plain lines off a terminal
    status = main.main(["train", "lenet5", "--dataset", "mnist", "--epochs", "1", "--batch-size", "32"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Training LeNet-5 on mnist: 64 training / 16 validation samples" in out
    assert "on 20 held-out samples" in out


def test_list_path_and_remove(capsys, data_dir, server, monkeypatch):
    serve_mnist(monkeypatch, server)
    status, out, _ = run(capsys, "list")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DATASET", "DOWNLOAD", "SPLIT", "ON", "THIS", "COMPUTER"]
    row = next(line for line in lines if line.startswith("cifar10 "))
    assert "170 MB" in row and "50,000 train / 10,000 test" in row and row.endswith("no")
    assert f"Stored in {datasets_dir()}" in out
    assert run(capsys, "get", "mnist")[0] == 0
    npz = tiny_npz()
    url = server.serve("/files/digits.npz", npz)
    assert run(capsys, "get", url, "--sha256", sha256(npz), "--name", "digits-npz")[0] == 0
    _, out, _ = run(capsys, "list")
    mnist_row = next(line for line in out.splitlines() if line.startswith("mnist "))
    assert "yes, " in mnist_row
    assert "Other datasets on this computer:" in out and f"from {url}" in out
    status, out, _ = run(capsys, "path", "mnist")
    assert (status, out) == (0, f"{datasets_dir() / 'mnist'}\n")
    status, out, _ = run(capsys, "path", "digits-npz")
    assert out == f"{datasets_dir() / 'digits-npz' / 'digits.npz'}\n"
    status, out, _ = run(capsys, "remove", "mnist")
    assert status == 0 and out.startswith("removed mnist (") and str(datasets_dir() / "mnist") in out
    status, out, err = run(capsys, "path", "mnist")
    assert status == 2 and out == ""
    assert re.fullmatch(
        r"layerwise: 'mnist' is not on this computer yet: layerwise datasets get mnist \(about [\d.]+ kB\)\n", err
    )


def test_get_url_trains_like_any_dataset(capsys, data_dir, server):
    npz = tiny_npz()
    url = server.serve("/files/digits.npz", npz)
    status, out, err = run(capsys, "get", url, "--sha256", sha256(npz).upper(), "--name", "mine")
    assert status == 0, err
    assert out.strip().endswith("mine/digits.npz")
    status = main.main(["train", "lenet5", "--dataset", "mine", "--epochs", "1", "--val-split", "0"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "on 9 held-out samples" in out


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["get", "https://example.org/a.npz", "--name", "a"], "needs --sha256"),
        (["get", "https://example.org/a.npz", "--sha256", "0" * 64], "needs --sha256 HEX"),
        (["get", "mnist", "--sha256", "0" * 64], "go with a URL"),
        (["get", "mnsit"], "did you mean 'mnist'"),
        (["remove", "mnist"], "not on this computer"),
        (["path", "nothing-here"], "not on this computer and not in the catalogue"),
    ],
)
def test_mistakes_exit_2_with_one_line(capsys, data_dir, argv, problem):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.startswith("layerwise: ") and err.count("\n") == 1 and problem in err


def test_offline_the_message_names_the_url_and_the_drop_folder(capsys, data_dir, monkeypatch):
    url = unreachable_url("/mnist")
    point_entry(monkeypatch, "mnist", tiny_idx_files(), [url])
    status, out, err = run(capsys, "get", "mnist")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and f"{url}/{IDX_NAMES[0]}" in err and str(drop_dir("mnist")) in err


def test_a_mirror_given_on_the_command_line_is_asked_first(capsys, data_dir, server, monkeypatch):
    files = tiny_idx_files()
    for name, data in files.items():
        server.serve(f"/lab/{name}", data)
    point_entry(monkeypatch, "mnist", files, [unreachable_url("/publisher")])
    status, _, err = run(capsys, "get", "mnist", "--mirror", server.url("/lab"))
    assert status == 0, err
    assert {seen.path for seen in server.requests} == {f"/lab/{name}" for name in files}


def test_cancelling_keeps_what_was_received_and_says_how_to_resume(capsys, data_dir, server, monkeypatch):
    serve_mnist(monkeypatch, server, n_train=1000)
    reports = []

    @contextmanager
    def interrupted_after_first_report():
        yield lambda: bool(reports)

    monkeypatch.setattr(datasets_cli, "cancel_on_interrupt", interrupted_after_first_report)
    real_show = datasets_cli.DownloadPrinter.show
    monkeypatch.setattr(datasets_cli.DownloadPrinter, "show", lambda self, p: (reports.append(p), real_show(self, p)))
    status, out, err = run(capsys, "get", "mnist")
    assert status == 130 and out == ""
    assert "download cancelled" in err and str(drop_dir("mnist")) in err and "again to resume" in err
    assert (drop_dir("mnist") / f"{IDX_NAMES[0]}.part").stat().st_size > 0


def test_the_cancel_switch_turns_on_at_the_first_interrupt():
    import signal

    before = signal.getsignal(signal.SIGINT)
    with datasets_cli.cancel_on_interrupt() as cancelled:
        assert not cancelled()
        signal.raise_signal(signal.SIGINT)
        assert cancelled()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # the second one interrupts at once
    assert signal.getsignal(signal.SIGINT) is before


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place():
    stream = Terminal()
    printer = datasets_cli.DownloadPrinter(stream)
    url = "https://example.org/data/train-images-idx3-ubyte.gz"
    printer.show(Progress(url, 4_200_000, 9_900_000, 1_300_000.0))
    printer.show(Progress(url, 9_900_000, 9_900_000, 1_300_000.0))
    text = stream.getvalue()
    assert text.count("\r\033[K") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "train-images-idx3-ubyte.gz " in text and "4.2 of 9.9 MB, 1.3 MB/s, 5 s left" in text
    assert "█" * 24 in text
