"""The Training docks against the runs, events and weights they drive."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core.data import Dataset
from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.session.engines import EngineChoice
from core.training.events import SettingChanged
from gui.commands import SetParamCommand
from gui.main_window import MainWindow

RUN_TIMEOUT_MS = 60_000


@pytest.fixture
def window_network() -> str:
    """The ``window`` fixture's network: the built-in digits dataset fits its 1×8×8 input."""
    return "digits_cnn"


@pytest.fixture(params=["numpy", "torch"])
def engine(request, window) -> str:
    """Each test taking it runs once with the NumPy engine and once with PyTorch on the CPU (where installed)."""
    if request.param == "torch":
        pytest.importorskip("torch")
        assert window.training_panel.engine.select(EngineChoice("torch", "cpu"))
    return request.param


def configure(win: MainWindow, **values) -> None:
    defaults = {"epochs": 3, "batch_size": 32, "subset": 300}
    win.training_panel.form.set_values({**defaults, **values})


def wait_until_idle(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: not win.training_panel.is_training, timeout=RUN_TIMEOUT_MS)


def wait_for_batches(qtbot, win: MainWindow, count: int = 1) -> None:
    qtbot.waitUntil(
        lambda: win.training_panel.current is not None and len(win.training_panel.current.batch_x) >= count,
        timeout=RUN_TIMEOUT_MS,
    )


def test_a_short_run_fills_both_curves(qtbot, window, engine):
    panel, plots = window.training_panel, window.curves_panel.plots
    assert panel.chooser.combo.currentData() == "builtin:digits"  # chosen to fit 1×8×8 and 10 classes
    configure(window, epochs=3)
    assert panel.start()
    wait_until_idle(qtbot, window)
    run = panel.current
    assert run.finished.reason == "completed"
    assert run.epochs == [1, 2, 3]
    for curve in ("train_loss", "val_loss", "train_acc", "val_acc"):
        assert plots.curve_points(curve) == 3, curve
    assert plots.curve_points("batch") == len(run.batch_x) == 3 * 10  # 300 samples in batches of 32
    assert run.name == "Run 1: baseline"
    assert window.weights and window.isWindowModified()
    assert "completed" in panel.progress.format()
    # The weights that came back into the network give the run's last validation accuracy in Layerwise's engine.
    model = Model(window.document)
    model.load_state_dict(window.weights.state_dict(window.document))
    val = panel._val
    accuracy = float(np.mean(model.predict(val.x).argmax(axis=1) == val.y))
    assert accuracy == pytest.approx(run.val_accuracy[-1], abs=1.5 / len(val))


def test_toggling_dropout_mid_run_leaves_an_event_and_a_marker(qtbot, window, engine):
    panel = window.training_panel
    configure(window, epochs=200)
    seen: list[SettingChanged] = []
    panel.worker.events_arrived.connect(lambda events: seen.extend(e for e in events if isinstance(e, SettingChanged)))
    assert panel.start()
    wait_for_batches(qtbot, window)
    panel.form.dropout.setChecked(False)
    qtbot.waitUntil(lambda: bool(seen), timeout=RUN_TIMEOUT_MS)
    assert (seen[0].setting, seen[0].old, seen[0].new) == ("dropout", True, False)
    qtbot.waitUntil(lambda: "dropout off" in window.curves_panel.plots.marker_labels(), timeout=5000)
    panel.stop()
    wait_until_idle(qtbot, window)
    assert panel.current.finished.reason == "stopped"
    assert "(live: dropout off)" in panel.current.name


def overfitting_network() -> NetworkDocument:
    doc = NetworkDocument("wide MLP")
    x = doc.add_node("Input", {"shape": [1, 8, 8]}, name="input")
    doc.chain(
        x.id,
        [
            ("Flatten", None, "flat"),
            ("Dense", {"units": 256}, "fc1"),
            ("ReLU", None, "relu"),
            ("Dense", {"units": 10}, "fc2"),
            ("Softmax", None, "probabilities"),
        ],
    )
    return doc


def test_early_stopping_on_an_overfit_draws_best_and_stop_markers(qtbot, window, engine):
    panel, plots = window.training_panel, window.curves_panel.plots
    window.set_document(overfitting_network(), None)
    # 40 training samples, a wide layer and a large step: validation loss soon rises.
    configure(
        window,
        epochs=300,
        subset=40,
        batch_size=8,
        val_percent=50,
        early_enabled=True,
        patience=25,
        monitor="val_loss",
        learning_rate=0.03,
    )
    assert panel.start()
    wait_until_idle(qtbot, window)
    run = panel.current
    assert run.finished.reason == "early_stopped"
    assert run.finished.epochs_run < 300
    labels = plots.marker_labels()
    assert any(label.startswith(f"best: epoch {run.finished.best_epoch}, val loss") for label in labels)
    assert f"stopped at {run.finished.epochs_run} after 25 epochs without improvement" in labels
    assert plots.overfit_regions(), "the rise of validation loss is shaded"
    start, end = plots.overfit_regions()[-1]
    # The shading follows smoothed losses, so it starts at or after the best epoch.
    assert run.finished.best_epoch <= start < end <= run.finished.epochs_run


def test_pause_and_resume(qtbot, window, engine):
    panel = window.training_panel
    configure(window, epochs=200)
    assert panel.start()
    wait_for_batches(qtbot, window)
    panel.pause_button.click()
    qtbot.waitUntil(lambda: panel.pause_button.text() == "Resume", timeout=RUN_TIMEOUT_MS)
    batches = len(panel.current.batch_x)
    qtbot.wait(400)
    assert len(panel.current.batch_x) == batches
    panel.pause_button.click()
    wait_for_batches(qtbot, window, batches + 3)
    assert panel.pause_button.text() == "Pause"
    panel.stop_button.click()
    wait_until_idle(qtbot, window)
    assert panel.current.finished.reason == "stopped"
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()


def test_a_dataset_that_cannot_fit_the_input_is_refused_with_its_reason(window):
    panel = window.training_panel
    panel.chooser.select_builtin("spirals")  # points, for a network reading 1×8×8 images
    assert not panel.start()
    assert "spirals" in panel.status.text() and panel.runs == []


def test_a_run_the_worker_refuses_says_why_and_leaves_no_run(qtbot, window, tmp_path):
    panel = window.training_panel
    rng = np.random.default_rng(0)
    four_classes = Dataset("four", rng.random((80, 1, 8, 8), dtype=np.float32), np.arange(80) % 4, list("abcd"))
    panel.chooser.add_imported(four_classes, tmp_path / "four.npz")
    assert panel.chooser.combo.currentText().startswith("four.npz")
    assert panel.start()
    wait_until_idle(qtbot, window)
    assert "4 classes" in panel.status.text()
    assert panel.runs == [] and panel.current is None


def test_editing_the_structure_while_training_asks_to_stop_first(qtbot, window, monkeypatch):
    panel, document = window.training_panel, window.document
    configure(window, epochs=200)
    assert panel.start()
    wait_for_batches(qtbot, window)
    fc1 = document.node_by_name("fc1")
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Cancel)
    window.undo_stack.push(SetParamCommand(document, fc1.id, "units", 32))
    assert fc1.layer.params["units"] != 32 and panel.is_training
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    window.undo_stack.push(SetParamCommand(document, fc1.id, "units", 32))
    assert document.node(fc1.id).layer.params["units"] == 32
    assert not panel.is_training
    assert panel.current.finished.reason == "stopped"


def test_trained_weights_survive_save_and_reopen(qtbot, window, tmp_path, engine):
    configure(window, epochs=1)
    assert window.training_panel.start()
    wait_until_idle(qtbot, window)
    trained = window.weights.state_dict(window.document)
    path = tmp_path / "digits.json"
    assert window._write(path)
    assert (tmp_path / "digits.npz").exists() and not window.isWindowModified()
    assert window.open_network(path)
    reopened = window.weights.state_dict(window.document)
    assert reopened.keys() == trained.keys()
    for key in trained:
        np.testing.assert_array_equal(reopened[key], trained[key])
    # A second run may continue from them.
    window.training_panel.form.set_values({"start_from": "current"})
    assert window.training_panel._request().initial_weights.keys() == trained.keys()


def test_runs_stay_for_comparison_and_can_be_hidden_renamed_removed(qtbot, window, tmp_path):
    panel, curves = window.training_panel, window.curves_panel
    configure(window, epochs=2)
    assert panel.start()
    wait_until_idle(qtbot, window)
    panel.form.set_values({"l2_enabled": True, "dropout": False})
    assert panel.start()
    wait_until_idle(qtbot, window)
    assert [run.name for run in panel.runs] == ["Run 1: baseline", "Run 2: dropout off, L2 = 0.001"]
    runs = curves.run_list.list
    runs.item(0).setText("no regularisation")
    assert panel.runs[0].name == "no regularisation"
    runs.item(0).setCheckState(runs.item(0).checkState().Unchecked)
    assert not panel.runs[0].visible
    curves.save_csv(tmp_path / "runs.csv")
    assert "no regularisation" not in (tmp_path / "runs.csv").read_text()  # hidden runs are not exported
    assert curves.save_png(tmp_path / "runs.png") and (tmp_path / "runs.png").stat().st_size > 1000
    runs.item(0).setSelected(True)
    curves.run_list.remove_selected()
    assert [run.name for run in panel.runs] == ["Run 2: dropout off, L2 = 0.001"]


def test_closing_the_window_mid_run_stops_the_training_process(qtbot, make_window):
    win = make_window("digits_cnn", mode="process")
    configure(win, epochs=500)
    assert win.training_panel.start()
    wait_for_batches(qtbot, win)
    process = win.training_panel.session._backend._process
    started = time.perf_counter()
    assert win.close()
    assert time.perf_counter() - started < 1.5
    assert not process.is_alive()
    assert not win.training_panel.is_training


def test_a_worker_that_dies_is_reported_and_the_app_carries_on(qtbot, make_window):
    win = make_window("digits_cnn", mode="process")
    panel = win.training_panel
    configure(win, epochs=500)
    assert panel.start()
    wait_for_batches(qtbot, win, 2)
    win.training_panel.session._backend._process.kill()
    wait_until_idle(qtbot, win)
    assert "the training process ended unexpectedly" in panel.status.text()
    assert panel.current is not None and panel.current.batch_x, "what it reported before stays on the plots"
    assert panel.train_button.isEnabled()
    configure(win, epochs=1)
    assert panel.start()  # and training works again
    wait_until_idle(qtbot, win)
    assert panel.current.finished.reason == "completed"


def test_the_pytorch_engine_trains_in_the_app_s_own_training_process(qtbot, make_window):
    pytest.importorskip("torch")
    win = make_window("digits_cnn", mode="process")
    panel = win.training_panel
    assert panel.engine.select(EngineChoice("torch", "cpu"))
    configure(win, epochs=2)
    assert panel.start()
    assert "PyTorch — CPU" in panel.status.text()
    wait_until_idle(qtbot, win)
    assert panel.current.finished.reason == "completed" and panel.current.epochs == [1, 2]
    assert panel.current.settings["engine"] == "PyTorch on cpu" and win.weights
    assert panel.engine.combo.isEnabled() and not panel.is_training  # choosable again once idle


def test_without_pytorch_the_engine_is_numpy_and_the_tooltip_says_how_to_add_it(qtbot, monkeypatch):
    import gui.widgets.engine_chooser as engine_chooser

    monkeypatch.setattr(engine_chooser, "torch_installed", lambda: False)
    chooser = engine_chooser.EngineChooser()
    qtbot.addWidget(chooser)
    assert [choice.label for choice in chooser.choices()] == ["NumPy (built-in)"]
    assert not chooser.combo.isEnabled()
    assert 'pip install "layerwise[torch]"' in chooser.combo.toolTip()
    assert chooser.choice().kind == "numpy"


def test_a_dataset_with_other_classes_offers_to_replace_the_classifier_undoably(qtbot, window, tmp_path):
    panel, document = window.training_panel, window.document
    assert panel.fit_row.isHidden()  # digits fits digits_cnn
    rng = np.random.default_rng(0)
    four_classes = Dataset("four", rng.random((80, 1, 8, 8), dtype=np.float32), np.arange(80) % 4, list("abcd"))
    panel.chooser.add_imported(four_classes, tmp_path / "four.npz")
    assert (
        not panel.fit_row.isHidden() and "outputs 10 class scores, but 'four' has 4 classes" in panel.fit_notice.text()
    )
    assert panel.replace_button.text() == "Replace classifier for 4 classes"
    qtbot.mouseClick(panel.replace_button, Qt.MouseButton.LeftButton)
    assert document.node_by_name("fc2").layer.params["units"] == 4
    assert window.undo_stack.undoText() == "Replace classifier fc2 for 4 classes"
    assert panel.fit_row.isHidden()
    configure(window, epochs=1, subset=0, val_percent=25)  # subset 0: all samples
    assert panel.start()
    wait_until_idle(qtbot, window)
    assert panel.current.finished.reason == "completed"  # trained for four classes, the convolutions kept
    window.undo_stack.undo()
    assert document.node_by_name("fc2").layer.params["units"] == 10 and not panel.fit_row.isHidden()


def test_the_recipe_reaches_the_run_and_its_schedule_is_previewed_then_drawn(qtbot, window):
    panel, form = window.training_panel, window.training_panel.form
    configure(window, epochs=4, kind="cosine", warmup_epochs=1, learning_rate=0.004, optimizer="adamw")
    form.set_values({"clip_enabled": True, "clip_norm": 2.0, "label_smoothing": 0.1, "class_weights": "balanced"})
    config = form.config()
    assert (config.schedule.kind, config.schedule.warmup_epochs, config.optimizer) == ("cosine", 1, "adamw")
    assert (config.clip_norm, config.label_smoothing, config.class_weights) == (2.0, 0.1, "balanced")
    assert form.recipe.weight_decay.isEnabled()
    _steps, rates = form.recipe.preview_curve.getData()
    assert len(rates) == 4 * 20 and rates.max() == pytest.approx(0.004) and rates[0] == pytest.approx(0.002)
    assert form.recipe.milestones.isHidden() and not form.recipe.warmup_epochs.isHidden()
    assert panel.start()
    wait_until_idle(qtbot, window)
    run = panel.current
    assert run.finished.reason == "completed" and run.learning_rate[0] == pytest.approx(0.002)
    assert window.curves_panel.plots.accuracy_plot.getAxis("right").isVisible()  # the rate, while it changes
    assert run.settings["schedule"] == {"kind": "cosine", "warmup_epochs": 1, "min_lr": 0.0}
    assert (run.settings["clip_norm"], run.settings["class_weights"]) == (2.0, "balanced")


def test_milestones_that_are_not_epochs_are_refused_by_name(window):
    form = window.training_panel.form
    form.set_values({"kind": "multistep", "milestones": "3, soon", "optimizer": "sgd"})
    assert not form.recipe.weight_decay.isEnabled()  # weight decay is AdamW's alone
    assert not window.training_panel.start()
    assert "milestones must be whole epochs" in window.training_panel.status.text()
    assert "milestones" in form.recipe.preview_plot.titleLabel.text
