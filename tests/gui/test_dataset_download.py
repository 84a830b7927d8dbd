"""The Training dock's "Download…": a catalogue dataset fetched from a local server with a progress bar, then trained on."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from core.data.catalogue import catalogue_names
from gui.dialogs.dataset_download import MIRROR_KEY, DatasetDownloadDialog
from gui.panels.training_panel import DOWNLOAD_ITEM, FETCHED_KIND, DatasetChooser
from tests.core.data.http_server import LocalServer
from tests.core.data.test_store import (
    point_entry,
    tiny_idx_files,
)

pytestmark = pytest.mark.usefixtures("no_internet")


def serve(monkeypatch, server: LocalServer, **behaviour) -> dict[str, bytes]:
    """MNIST in miniature (600 training images) on the local server; ``behaviour`` for its images file."""
    files = tiny_idx_files(n_train=600, n_test=50)
    for name, data in files.items():
        server.serve(f"/mnist/{name}", data, **(behaviour if name.startswith("train-images") else {}))
    point_entry(monkeypatch, "mnist", files, [server.url("/mnist")])
    return files


@pytest.fixture
def window_network() -> str:
    """LeNet-5 reads 1×28×28 images of ten classes: MNIST's."""
    return "lenet5"


def test_the_dialog_downloads_with_a_progress_bar_and_the_dock_trains_on_it(
    qtbot, window, data_dir, server, monkeypatch
):
    serve(monkeypatch, server)
    chooser = window.training_panel.chooser
    assert chooser.combo.findData(DOWNLOAD_ITEM) == chooser.combo.count() - 1
    before = chooser.combo.currentIndex()
    opened: list[DatasetDownloadDialog] = []

    def run_dialog(parent, settings, name=""):
        dialog = DatasetDownloadDialog(parent, settings, name)
        qtbot.addWidget(dialog)
        opened.append(dialog)
        dialog.show()
        dialog.select("mnist")
        assert dialog.download_button.text() == "Download"
        dialog.start()
        assert dialog.bar.isVisible()  # the window goes on while the transfer runs
        seen_progress = []
        qtbot.waitUntil(lambda: seen_progress.append(dialog.status.text()) or not dialog.busy, timeout=20_000)
        assert any((" of " in text and "MB" in text) or "kB" in text for text in seen_progress), seen_progress
        assert dialog.result() == dialog.DialogCode.Accepted, dialog.status.text()
        return dialog.name, dialog.dataset

    monkeypatch.setattr(DatasetDownloadDialog, "choose", classmethod(lambda cls, *a, **k: run_dialog(*a, **k)))
    chooser.combo.setCurrentIndex(chooser.combo.findData(DOWNLOAD_ITEM))
    qtbot.waitUntil(lambda: bool(opened) and chooser.combo.currentData() == f"{FETCHED_KIND}:mnist", timeout=30_000)
    assert chooser.combo.currentIndex() != before
    dataset = chooser.dataset()
    assert len(dataset) == 600 and dataset.test is not None and len(dataset.test) == 50
    assert (data_dir / "datasets" / "mnist").is_dir()

    # Trains on it (lenet5 reads 1×28×28, ten classes), as on any dataset.
    panel = window.training_panel
    panel.form.set_values({"epochs": 1, "batch_size": 32, "subset": 200})
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.is_training, timeout=120_000)
    run = panel.current
    assert run.finished.reason == "completed", run.finished.message
    assert run.settings["dataset"] == "mnist" and run.epochs == [1]


def test_a_fetched_dataset_is_listed_the_next_time(qtbot, data_dir, server, monkeypatch):
    from core.data.store import fetch

    serve(monkeypatch, server)
    fetch("mnist")
    chooser = DatasetChooser()
    qtbot.addWidget(chooser)
    index = chooser.combo.findData(f"{FETCHED_KIND}:mnist")
    assert index >= 0 and chooser.combo.itemText(index) == "mnist (downloaded)"
    chooser.combo.setCurrentIndex(index)
    assert chooser.class_count() == ("mnist", 10)


def test_cancel_keeps_the_window_and_what_arrived(qtbot, data_dir, server, monkeypatch):
    serve(monkeypatch, server, stall_after=200_000)
    dialog = DatasetDownloadDialog(None, None, "mnist")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.start()
    # The server goes silent after 200,000 bytes: the status says so instead of a stale rate.
    qtbot.waitUntil(lambda: "waiting for the server" in dialog.status.text(), timeout=10_000)
    assert dialog.status.text().startswith("200.0 of 470.6 kB")  # the bytes that did arrive
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5_000)  # at once, not after the 30 s time-out
    assert "Cancelled" in dialog.status.text()
    assert dialog.isVisible() and dialog.dataset is None
    assert list((data_dir / "datasets" / "downloads" / "mnist").glob("*.part"))


def test_a_failure_is_one_line_in_the_dialog(qtbot, data_dir, server, monkeypatch):
    serve(monkeypatch, server, status=404)
    dialog = DatasetDownloadDialog(None, None, "mnist")
    qtbot.addWidget(dialog)
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=20_000)
    text = dialog.status.text()
    assert "404" in text and "\n" not in text
    assert dialog.result() != dialog.DialogCode.Accepted
    assert not (data_dir / "datasets" / "mnist").exists()


def test_the_mirror_is_kept_in_the_settings(qtbot, data_dir, server, monkeypatch, tmp_path):
    files = tiny_idx_files(n_train=30, n_test=10)
    for name, data in files.items():
        server.serve(f"/mirror/{name}", data)
    point_entry(monkeypatch, "mnist", files, ["http://127.0.0.1:9/nothing-listens-here"])
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    dialog = DatasetDownloadDialog(None, settings, "mnist")
    qtbot.addWidget(dialog)
    dialog.mirror.setText(server.url("/mirror"))
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=20_000)
    assert dialog.dataset is not None, dialog.status.text()
    assert settings.value(MIRROR_KEY) == server.url("/mirror")
    assert DatasetDownloadDialog(None, settings).mirror.text() == server.url("/mirror")
    assert np.array_equal(dialog.dataset.y[:10], np.arange(10))


def test_every_catalogue_entry_is_a_row(qtbot, data_dir):
    dialog = DatasetDownloadDialog()
    qtbot.addWidget(dialog)
    assert [dialog.table.item(row, 0).text() for row in range(dialog.table.rowCount())] == catalogue_names()
