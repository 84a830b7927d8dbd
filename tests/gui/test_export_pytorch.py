"""File → Export PyTorch Project…: the folder it writes, and what it asks before overwriting."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QMessageBox

from core.torch_export.project import PROJECT_FILES
from core.torch_export.train_script import DATA_FILE
from gui import main_window as main_window_module


def choose_folder(monkeypatch, folder) -> None:
    monkeypatch.setattr(main_window_module.QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(folder))


def test_the_action_writes_the_project_folder(window, tmp_path, monkeypatch):
    folder = tmp_path / "lenet"
    choose_folder(monkeypatch, folder)
    window.export_pytorch_action.trigger()
    assert sorted(p.name for p in folder.iterdir()) == sorted((*PROJECT_FILES, DATA_FILE))
    source = (folder / "model.py").read_text()
    assert "class LeNet5(nn.Module):" in source and "def build_model(pretrained: bool = True)" in source
    assert "Exported PyTorch project to" in window.statusBar().currentMessage()


def test_existing_files_are_overwritten_only_when_the_user_agrees(window, tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "model.py").write_text("mine")
    choose_folder(monkeypatch, folder)
    asked = []

    def answer(reply):
        def question(parent, title, text, *args):
            asked.append(text)
            return reply

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    window.export_pytorch_action.trigger()
    assert "already holds model.py" in asked[0]
    assert (folder / "model.py").read_text() == "mine"
    assert sorted(p.name for p in folder.iterdir()) == ["model.py"]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    window.export_pytorch_action.trigger()
    assert (folder / "model.py").read_text() != "mine"
    assert sorted(p.name for p in folder.iterdir()) == sorted((*PROJECT_FILES, DATA_FILE))


def test_a_cancelled_dialog_writes_nothing(window, tmp_path, monkeypatch):
    before = sorted(tmp_path.iterdir())
    choose_folder(monkeypatch, "")
    window.export_pytorch_action.trigger()
    assert sorted(tmp_path.iterdir()) == before


def test_train_py_takes_the_training_docks_settings_and_data(window, tmp_path, monkeypatch):
    form = window.training_panel.form
    form.epochs.setValue(3)
    form.batch_size.setValue(16)
    train, val = window.training_panel._split_data()
    folder = tmp_path / "project"
    choose_folder(monkeypatch, folder)
    window.export_pytorch_action.trigger()
    script = (folder / "train.py").read_text()
    assert "EPOCHS = 3\n" in script and "BATCH_SIZE = 16\n" in script
    with np.load(folder / DATA_FILE) as data:
        np.testing.assert_array_equal(data["y_train"], train.y)
        np.testing.assert_array_equal(data["x_val"], val.x)
    assert f"train.py trains on {train.name}" in window.statusBar().currentMessage()
