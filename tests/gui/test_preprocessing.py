"""An Input's preprocessing in the app: the inspector's section, ONNX import and export, See inside."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QApplication, QMessageBox

from core.data.sample_images import load_image_file
from core.errors import ParamError
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from core.layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD, InputPreprocessing, imagenet_preprocessing
from core.onnx_io import export as export_module
from gui import main_window as main_window_module
from gui.commands import SetParamsCommand
from gui.inside.inside_panel import InsidePanel
from gui.main_window import BAKE_PREPROCESSING, IMAGENET_OFFER, METADATA_ONLY, USE_IMAGENET
from gui.panels.inspector import InspectorPanel, NodeInspector, preprocessing_formula


def input_of(document: NetworkDocument):
    return next(node for node in document.nodes if node.layer.is_network_input)


def inspect_input(qtbot, document: NetworkDocument, stack: QUndoStack) -> NodeInspector:
    panel = InspectorPanel()
    qtbot.addWidget(panel)
    panel.set_context(document, stack)
    panel.set_selection([input_of(document).id])
    view = panel.node_inspector
    assert view is not None
    return view


def type_into(qtbot, edit, text: str) -> None:
    """Replace a line edit's text as a user would, and press Enter."""
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


# -- the inspector ------------------------------------------------------------------------


def test_an_image_input_has_a_preprocessing_section_and_a_vector_input_none(qtbot):
    document, stack = load_network(example_path("cifar_cnn")), QUndoStack()
    view = inspect_input(qtbot, document, stack)
    section = view.preprocessing
    assert section is not None and not section.isHidden()
    assert list(section.editors) == ["resize", "channel_order", "value_range", "mean", "std"]
    # In their own section, not among the plain parameters; the inspector still knows every editor.
    assert all(view.editors[name] is editor for name, editor in section.editors.items())
    assert section.imagenet_button.isEnabled() and not section.none_button.isEnabled()
    assert section.formula.text() == "x = pixel, RGB in 0..1: the network reads raw pixels."

    vector = NetworkDocument()
    vector.add_node("Input", {"shape": [784]})
    view = inspect_input(qtbot, vector, QUndoStack())
    assert view.preprocessing is not None and view.preprocessing.isHidden()

    grey = load_network(example_path("lenet5"))  # 1×32×32: no ImageNet statistics for one channel
    view = inspect_input(qtbot, grey, QUndoStack())
    assert not view.preprocessing.isHidden() and not view.preprocessing.imagenet_button.isEnabled()


def test_imagenet_defaults_are_one_undo_step_and_none_another(qtbot):
    document, stack = load_network(example_path("cifar_cnn")), QUndoStack()
    view = inspect_input(qtbot, document, stack)
    section = view.preprocessing
    node = input_of(document)
    qtbot.mouseClick(section.imagenet_button, Qt.MouseButton.LeftButton)
    assert node.layer.preprocessing == imagenet_preprocessing((3, 32, 32))
    assert node.layer.preprocessing == InputPreprocessing(37, "RGB", "0..1", IMAGENET_MEAN, IMAGENET_STD)
    assert stack.count() == 1 and stack.undoText() == "Use ImageNet preprocessing for input"
    assert view.editors["mean"].edit.text() == "0.485, 0.456, 0.406" and view.editors["resize"].spin.value() == 37
    assert section.formula.text() == "x = (pixel − mean) / std per channel, RGB; pixel in 0..1."
    assert not section.imagenet_button.isEnabled() and section.none_button.isEnabled()

    stack.undo()
    assert node.layer.preprocessing.is_default
    assert view.editors["mean"].edit.text() == "" and view.editors["resize"].spin.value() == 0
    stack.redo()
    qtbot.mouseClick(section.none_button, Qt.MouseButton.LeftButton)
    assert node.layer.preprocessing.is_default and stack.count() == 2
    assert stack.undoText() == "Remove preprocessing of input"
    stack.undo()
    assert node.layer.preprocessing == imagenet_preprocessing((3, 32, 32))


def test_a_refused_mean_is_shown_under_its_editor_and_changes_nothing(qtbot):
    document, stack = load_network(example_path("cifar_cnn")), QUndoStack()
    view = inspect_input(qtbot, document, stack)
    node = input_of(document)
    mean = view.editors["mean"]
    type_into(qtbot, mean.edit, "0.5, 0.5")
    assert mean.has_error
    assert mean.error_label.text().startswith("holds 2 numbers; the input has 3 channels")
    assert mean.edit.text() == "" and node.layer.preprocessing.is_default and stack.count() == 0
    type_into(qtbot, mean.edit, "0.5")  # one number serves every channel
    assert not mean.has_error and node.layer.params["mean"] == (0.5,) and stack.count() == 1
    assert view.preprocessing.formula.text() == "x = pixel − mean per channel, RGB; pixel in 0..1."
    type_into(qtbot, view.editors["std"].edit, "0")
    assert view.editors["std"].error_label.text() == "every number must be > 0, got 0"
    assert node.layer.params["std"] == () and stack.count() == 1


def test_set_params_changes_parameters_that_constrain_each_other_together():
    document = load_network(example_path("cifar_cnn"))
    node = input_of(document)
    document.set_params(node.id, {"mean": [0.5, 0.4, 0.3]})
    with pytest.raises(ParamError, match="holds 3 numbers; the input has 1 channel"):
        document.set_param(node.id, "shape", [1, 32, 32])  # alone, refused: 3 means for 1 channel
    command = SetParamsCommand(document, node.id, {"shape": [1, 32, 32], "mean": [0.5]})
    command.redo()
    assert node.layer.params["shape"] == (1, 32, 32) and node.layer.params["mean"] == (0.5,)
    command.undo()
    assert node.layer.params["shape"] == (3, 32, 32) and node.layer.params["mean"] == (0.5, 0.4, 0.3)


def test_the_formula_follows_range_order_and_statistics():
    assert preprocessing_formula(InputPreprocessing(value_range="0..255", mean=(120.0,))) == (
        "x = 255·pixel − mean per channel, RGB; pixel in 0..1."
    )
    assert preprocessing_formula(InputPreprocessing(channel_order="BGR", value_range="-1..1")) == (
        "x = 2·pixel − 1, BGR (colours reversed); pixel in 0..1."
    )


# -- ONNX import and export ------------------------------------------------------------


def rgb_model(path) -> None:
    """A 3×8×8 input through two ReLUs: an RGB image model without preprocessing."""
    nodes = [helper.make_node("Relu", ["x"], ["h"], "relu1"), helper.make_node("Relu", ["h"], ["y"], "relu2")]
    graph = helper.make_graph(
        nodes,
        "rgb",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_importing_an_rgb_model_offers_imagenet_preprocessing_in_one_message(window, monkeypatch, tmp_path):
    rgb_model(tmp_path / "rgb.onnx")
    chosen = (str(tmp_path / "rgb.onnx"), "")
    monkeypatch.setattr(main_window_module.QFileDialog, "getOpenFileName", lambda *args, **kwargs: chosen)
    window.undo_stack.setClean()
    window.import_onnx()
    box = window.import_notes_box
    assert box is not None and box.isVisible()
    assert box.windowTitle() == "Model imported" and box.text() == "Imported rgb.onnx: 3 layers."
    assert box.informativeText() == IMAGENET_OFFER
    offer = next(button for button in box.buttons() if button.text() == USE_IMAGENET)
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Ok)
    node = input_of(window.document)
    assert node.layer.preprocessing.is_default and window.undo_stack.count() == 0

    offer.click()
    assert window.import_notes_box is None  # the one message closes
    assert node.layer.preprocessing == imagenet_preprocessing((3, 8, 8))
    assert window.undo_stack.count() == 1 and window.undo_stack.undoText() == "Use ImageNet preprocessing for x"
    assert "now normalises with ImageNet's mean and std" in window.statusBar().currentMessage()
    window.undo_stack.undo()
    assert node.layer.preprocessing.is_default


def click_when_asked(text: str, asked: list[str]) -> None:
    """Click the button ``text`` of the next modal message, once it shows."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, click)
            return
        asked.append(box.text())
        next(button for button in box.buttons() if button.text() == text).click()

    QTimer.singleShot(0, click)


@pytest.mark.parametrize(("answer", "bake"), [(BAKE_PREPROCESSING, True), (METADATA_ONLY, False)])
def test_export_asks_whether_to_bake_a_normalising_preprocessing(make_window, monkeypatch, tmp_path, answer, bake):
    window = make_window("cifar_cnn")
    target = str(tmp_path / "net.onnx")
    monkeypatch.setattr(main_window_module.QFileDialog, "getSaveFileName", lambda *args, **kwargs: (target, ""))
    calls = []
    monkeypatch.setattr(export_module, "save_onnx", lambda model, path, **kwargs: calls.append((path, kwargs)))

    window.export_onnx()  # nothing to bake: not asked
    assert calls == [(target, {"bake_preprocessing": False})]

    node = input_of(window.document)
    window.document.set_params(node.id, imagenet_preprocessing((3, 32, 32)).to_json())
    asked: list[str] = []
    click_when_asked(answer, asked)
    window.export_onnx()
    assert asked == [f"The input 'input' normalises its images ({node.layer.preprocessing.describe()})."]
    assert calls[-1] == (target, {"bake_preprocessing": bake})
    assert window.statusBar().currentMessage().startswith(f"Exported {target}")


def test_export_is_cancelled_from_the_question(make_window, monkeypatch, tmp_path):
    window = make_window("cifar_cnn")
    node = input_of(window.document)
    window.document.set_params(node.id, {"value_range": "-1..1"})
    monkeypatch.setattr(
        main_window_module.QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(tmp_path / "n.onnx"), "")
    )
    calls = []
    monkeypatch.setattr(export_module, "save_onnx", lambda *args, **kwargs: calls.append(kwargs))
    click_when_asked("Cancel", [])
    window.export_onnx()
    assert calls == []


# -- See inside ---------------------------------------------------------------------------


def test_see_inside_fits_image_files_with_the_inputs_resize(qtbot, tmp_path):
    document = load_network(example_path("cifar_cnn"))
    panel = InsidePanel(worker_mode="thread")
    qtbot.addWidget(panel)
    panel.set_context(document, lambda: None, lambda: None)
    picture = tmp_path / "wide.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)).save(picture)
    assert panel.chooser.load_file(picture)
    before = panel.chooser.sample()
    np.testing.assert_array_equal(before.x, load_image_file(picture, (3, 32, 32)))

    node = input_of(document)
    document.set_params(node.id, imagenet_preprocessing((3, 32, 32)).to_json())  # resize 37
    panel.network_changed()
    after = panel.chooser.sample()
    assert after.key != before.key
    # Raw pixels fitted as the Input says (shorter side 37, centre 32×32): the network normalises them.
    np.testing.assert_array_equal(after.x, load_image_file(picture, (3, 32, 32), 37))
    assert not np.array_equal(after.x, before.x) and after.x.min() >= 0.0 and after.x.max() <= 1.0


def test_importing_a_model_with_open_sizes_asks_for_the_shape(window, monkeypatch, tmp_path):
    from tests.core.onnx_io.test_open_input_sizes import open_model

    onnx.save(open_model(), tmp_path / "open.onnx")
    monkeypatch.setattr(
        main_window_module.QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(tmp_path / "open.onnx"), "")
    )
    asked: list[str] = []
    answers = ["3, a, 5", "3, 16, 24"]

    def answer(parent, title, label, text=""):
        asked.append(text)
        return answers.pop(0), True

    monkeypatch.setattr(main_window_module.QInputDialog, "getText", answer)
    warnings: list[str] = []
    monkeypatch.setattr(main_window_module.QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    window.import_onnx()
    assert asked == ["3, 224, 224", "3, a, 5"]  # the suggestion, then the refused text to correct
    assert warnings == ["Write whole numbers such as 3, 224, 224; got '3, a, 5'."]
    node = input_of(window.document)
    assert node.layer.params["shape"] == (3, 16, 24)


def test_cancelling_the_shape_question_keeps_the_open_network(window, monkeypatch, tmp_path):
    from tests.core.onnx_io.test_open_input_sizes import open_model

    onnx.save(open_model(), tmp_path / "open.onnx")
    before = window.document
    monkeypatch.setattr(
        main_window_module.QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(tmp_path / "open.onnx"), "")
    )
    monkeypatch.setattr(main_window_module.QInputDialog, "getText", lambda *args, **kwargs: ("", False))
    window.import_onnx()
    assert window.document is before
