"""The import dialog's per-class counts and its offer of balanced class weights; the Training dock's use of both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QDialog

from core.data import Dataset
from gui.dialogs.dataset_import import DatasetImportDialog, split_counts
from gui.panels.training_curves import TrainingCurvesPanel
from gui.panels.training_panel import TrainingPanel
from tests.core.data.test_cifar100_and_splits import imbalanced_npz, split_folder

IMPORT_TIMEOUT_MS = 10_000


@pytest.fixture
def dialog(qtbot) -> DatasetImportDialog:
    widget = DatasetImportDialog()
    qtbot.addWidget(widget)
    widget.show()
    return widget


@pytest.fixture
def panel(qtbot) -> TrainingPanel:
    curves = TrainingCurvesPanel()
    widget = TrainingPanel(curves, "thread")
    qtbot.addWidget(curves)
    qtbot.addWidget(widget)
    return widget


def import_and_wait(qtbot, dialog: DatasetImportDialog, path: Path) -> None:
    dialog.path_edit.setText(str(path))
    dialog.start_import()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=IMPORT_TIMEOUT_MS)
    assert dialog.error_text() == ""


def table(dialog: DatasetImportDialog) -> list[list[str]]:
    """The counts table as text, header row first."""
    counts = dialog.counts
    header = [counts.horizontalHeaderItem(c).text() for c in range(counts.columnCount())]
    rows = [[counts.item(r, c).text() for c in range(counts.columnCount())] for r in range(counts.rowCount())]
    return [header, *rows]


def test_a_folder_with_splits_shows_the_counts_of_each_split(qtbot, dialog, tmp_path):
    import_and_wait(qtbot, dialog, split_folder(tmp_path))
    assert dialog.counts.isVisible()
    assert table(dialog) == [
        ["Class", "Training", "Validation", "Test"],
        ["cats", "3", "1", "0"],
        ["dogs", "1", "0", "2"],
        ["owls", "0", "1", "0"],
    ]
    # 3 cats to 1 dog, but owls have no training sample: balanced weights could not be computed.
    assert dialog.imbalance_label.isVisible() and "'owls' has none" in dialog.imbalance_label.text()
    assert not dialog.balanced_box.isVisible() and not dialog.use_balanced_weights()


def test_a_balanced_dataset_shows_counts_without_an_offer(qtbot, dialog, tmp_path):
    path = tmp_path / "even.npz"
    np.savez(path, x=np.zeros((12, 4, 4), dtype=np.uint8), y=np.arange(12) % 3)
    import_and_wait(qtbot, dialog, path)
    assert table(dialog) == [["Class", "Training"], ["0", "4"], ["1", "4"], ["2", "4"]]
    assert not dialog.imbalance_label.isVisible() and not dialog.balanced_box.isVisible()


def test_a_strong_imbalance_is_named_and_balanced_weights_are_offered(qtbot, dialog, tmp_path):
    import_and_wait(qtbot, dialog, imbalanced_npz(tmp_path / "skewed.npz"))
    assert table(dialog)[1] == ["0", "30"] and table(dialog)[2] == ["1", "5"]
    assert dialog.imbalance_label.isVisible() and "6.0×" in dialog.imbalance_label.text()
    assert dialog.balanced_box.isVisible() and not dialog.balanced_box.isChecked()
    dialog.balanced_box.setChecked(True)
    # A later import starts the offer afresh.
    import_and_wait(qtbot, dialog, imbalanced_npz(tmp_path / "again.npz"))
    assert not dialog.use_balanced_weights()
    dialog.balanced_box.setChecked(True)
    with qtbot.waitSignal(dialog.balanced_weights_requested, timeout=1000):
        dialog.ok_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_accepting_without_the_offer_ticked_requests_nothing(qtbot, dialog, tmp_path):
    import_and_wait(qtbot, dialog, imbalanced_npz(tmp_path / "skewed.npz"))
    with qtbot.assertNotEmitted(dialog.balanced_weights_requested):
        dialog.ok_button.click()


def test_the_offer_sets_the_training_docks_class_weights(qtbot, panel, tmp_path, monkeypatch):
    path = imbalanced_npz(tmp_path / "skewed.npz")

    def run(self):
        import_and_wait(qtbot, self, path)
        self.balanced_box.setChecked(True)
        self.accept()
        return self.result()

    monkeypatch.setattr(DatasetImportDialog, "exec", run)
    assert panel.form.recipe.class_weights.currentData() is None
    panel.chooser.choose_file()
    assert panel.form.recipe.class_weights.currentData() == "balanced"
    assert panel.form.config().class_weights == "balanced"
    assert panel.chooser.dataset().name == "skewed"


def test_the_training_dock_validates_on_the_folders_val_split(qtbot, panel, tmp_path):
    from core.data import import_dataset

    data = import_dataset(split_folder(tmp_path))
    panel.chooser.add_imported(data, tmp_path / "pets")
    train, val = panel._split_data()
    assert val is data.val and len(train) == len(data) and train.val is None and train.test is None
    np.testing.assert_array_equal(train.y, data.y)


def test_split_counts_lists_the_splits_a_dataset_has():
    x = np.zeros((2, 3), dtype=np.float32)
    data = Dataset("d", x, np.array([0, 1]), ["a", "b"], test=Dataset("t", x[:1], np.array([1]), ["a", "b"]))
    assert split_counts(data) == [("Training", [1, 1]), ("Test", [0, 1])]
