"""Dataset and run-result widgets: thumbnails, sample grid, dataset preview, import dialog, confusion matrix."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QDialog, QWidget

from core.data import Dataset, load_builtin
from core.training.metrics import confusion_matrix
from gui.dialogs import dataset_import
from gui.dialogs.dataset_import import DatasetImportDialog
from gui.panels.run_results import MAX_SHOWN, ConfusionMatrixView, RunResultsWidget
from gui.widgets.dataset_preview import DatasetPreview
from gui.widgets.images import array_to_qimage
from gui.widgets.sample_grid import SampleGrid
from tests.gui.helpers import shown

IMPORT_TIMEOUT_MS = 20_000


def distinct_colours(widget: QWidget) -> int:
    """Number of distinct pixel colours of the rendered widget (1 means blank)."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.width() * image.height())
    return len(np.unique(pixels))


def click(qtbot, widget: QWidget, pos: QPoint) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def images(n: int, channels: int = 1, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, channels, size, size)).astype(np.float32)


def fake_predictions(y: np.ndarray, k: int, accuracy: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Predictions right about ``accuracy`` of the time, and a confidence for each."""
    rng = np.random.default_rng(seed)
    wrong = rng.uniform(size=len(y)) > accuracy
    pred = np.where(wrong, (y + rng.integers(1, k, len(y))) % k, y)
    return pred.astype(np.int64), rng.uniform(0.3, 1.0, len(y))


# -- array_to_qimage ----------------------------------------------------------------


def test_greyscale_sample_becomes_grey_pixels_with_clipping():
    sample = np.array([[[0.0, 0.5], [1.0, 2.0]]], dtype=np.float32)  # values above 1 clip to white
    image = array_to_qimage(sample)
    assert image.format() == QImage.Format.Format_Grayscale8
    assert (image.width(), image.height()) == (2, 2)
    assert [image.pixelColor(x, y).red() for y in range(2) for x in range(2)] == [0, 128, 255, 255]


def test_rgb_sample_keeps_its_channels():
    sample = np.zeros((3, 1, 2), dtype=np.float32)
    sample[0, 0, 0] = 1.0  # red left
    sample[2, 0, 1] = 1.0  # blue right
    image = array_to_qimage(sample)
    assert image.pixelColor(0, 0) == QColor(255, 0, 0)
    assert image.pixelColor(1, 0) == QColor(0, 0, 255)


def test_other_channel_counts_show_the_first_channel():
    sample = np.zeros((2, 2, 2), dtype=np.float32)
    sample[0] = 1.0
    image = array_to_qimage(sample)
    assert image.format() == QImage.Format.Format_Grayscale8
    assert image.pixelColor(1, 1).red() == 255


def test_scale_repeats_pixels_and_the_image_owns_its_bytes():
    sample = np.array([[[0.0, 1.0]]], dtype=np.float32)
    image = array_to_qimage(sample, scale=3)
    del sample
    gc.collect()
    np.zeros((1000, 1000), dtype=np.uint8)  # reuse freed memory; a borrowed buffer would show it
    assert (image.width(), image.height()) == (6, 3)
    assert [image.pixelColor(x, 1).red() for x in range(6)] == [0, 0, 0, 255, 255, 255]


def test_bad_samples_are_refused():
    with pytest.raises(ValueError, match="shape"):
        array_to_qimage(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="scale"):
        array_to_qimage(np.zeros((1, 2, 2)), scale=0)


# -- SampleGrid ---------------------------------------------------------------------


@pytest.fixture
def grid(qtbot) -> SampleGrid:
    return shown(qtbot, SampleGrid(), 500, 300)


def test_grid_shows_the_samples_and_captions(grid):
    captions = [f"sample {i}" for i in range(12)]
    grid.set_samples(images(12), captions, highlight=[i % 2 == 0 for i in range(12)])
    assert grid.count() == 12
    assert grid.captions() == captions
    assert grid.highlighted()[:3] == [True, False, True]
    grid.clear()
    assert grid.count() == 0
    assert grid.captions() == []


def test_clicking_a_thumbnail_emits_its_index(qtbot, grid):
    grid.set_samples(images(12), [str(i) for i in range(12)])
    for index in (0, 5, 11):
        with qtbot.waitSignal(grid.sample_clicked, timeout=1000) as blocker:
            click(qtbot, grid, grid.thumbnail_rect(index).center())
        assert blocker.args == [index]


def test_cells_do_not_overlap_and_fit_the_widget(grid):
    grid.set_samples(images(40), ["triangle"] * 40)
    rects = [grid.cell_rect(i) for i in range(40)]
    assert all(grid.rect().contains(r) for r in rects)
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])
    assert all(grid.index_at(r.center()) == i for i, r in enumerate(rects))


def test_clicking_between_thumbnails_emits_nothing(qtbot, grid):
    grid.set_samples(images(4), list("abcd"))
    emitted = []
    grid.sample_clicked.connect(emitted.append)
    click(qtbot, grid, QPoint(grid.width() - 2, grid.height() - 2))
    assert emitted == []


def test_grid_rejects_mismatched_captions(grid):
    with pytest.raises(ValueError, match="3 samples but 2 captions"):
        grid.set_samples(images(3), ["a", "b"])
    with pytest.raises(ValueError, match="highlight"):
        grid.set_samples(images(3), ["a", "b", "c"], highlight=[True])


def test_grid_renders_thumbnails_and_a_placeholder(grid):
    grid.set_placeholder("Nothing here")
    assert distinct_colours(grid) > 1  # the placeholder text
    grid.set_samples(images(6, channels=3), list("abcdef"))
    assert distinct_colours(grid) > 50


def test_grid_paints_in_a_dark_palette(grid):
    palette = QPalette(QColor("#202124"))
    grid.setPalette(palette)
    grid.set_samples(images(6), list("abcdef"), highlight=[True] * 6)
    assert distinct_colours(grid) > 20


# -- DatasetPreview -----------------------------------------------------------------


@pytest.fixture
def preview(qtbot) -> DatasetPreview:
    return shown(qtbot, DatasetPreview())


def test_preview_of_an_image_dataset_is_a_stratified_grid(preview):
    dataset = load_builtin("shapes", n_samples=80)
    preview.set_dataset(dataset, count=40, seed=3)
    assert preview.mode() == "images"
    assert preview.grid.count() == 40
    header = preview.header.text()
    for part in ("shapes", "80 samples", "1×28×28", "4 classes"):
        assert part in header
    indices = preview.shown_indices()
    assert len(set(indices.tolist())) == 40
    assert preview.grid.captions() == [dataset.class_names[k] for k in dataset.y[indices]]
    # Shapes has 20 samples of each of 4 classes: half of each is shown.
    assert np.bincount(dataset.y[indices]).tolist() == [10, 10, 10, 10]
    assert distinct_colours(preview) > 10


def test_same_seed_same_pick(preview):
    dataset = load_builtin("digits")
    preview.set_dataset(dataset, seed=5)
    first = preview.shown_indices()
    preview.set_dataset(dataset, seed=5)
    np.testing.assert_array_equal(preview.shown_indices(), first)
    preview.set_dataset(dataset, seed=6)
    assert not np.array_equal(preview.shown_indices(), first)


def test_preview_of_a_point_cloud_is_a_scatter_plot_by_class(preview):
    dataset = load_builtin("moons", n_samples=100)
    preview.set_dataset(dataset)
    assert preview.mode() == "points"
    assert "2 features" in preview.header.text()
    scatters = [i for i in preview.scatter.getPlotItem().items if isinstance(i, pg.ScatterPlotItem)]
    assert len(scatters) == 2
    assert sum(len(s.data) for s in scatters) == 100
    legend = preview.scatter.getPlotItem().legend
    assert [label.text for _, label in legend.items] == dataset.class_names
    assert distinct_colours(preview) > 10


def test_large_point_clouds_are_thinned(preview):
    points = np.random.default_rng(0).normal(size=(12_000, 2)).astype(np.float32)
    preview.set_dataset(Dataset("cloud", points, (np.arange(12_000) % 3).astype(np.int64), ["a", "b", "c"]))
    scatters = [i for i in preview.scatter.getPlotItem().items if isinstance(i, pg.ScatterPlotItem)]
    assert sum(len(s.data) for s in scatters) == 5000
    assert "5,000 of 12,000" in preview.note.text()


def test_preview_of_other_vectors_is_a_heat_map(preview):
    x = np.random.default_rng(1).normal(size=(300, 7)).astype(np.float32)
    preview.set_dataset(Dataset("table", x, (np.arange(300) % 2).astype(np.int64), ["no", "yes"]))
    assert preview.mode() == "vectors"
    images_ = [i for i in preview.heatmap.getPlotItem().items if isinstance(i, pg.ImageItem)]
    assert images_[0].image.shape == (200, 7)
    assert distinct_colours(preview) > 10


def test_preview_names_the_test_split_and_shows_an_empty_state(preview):
    train = load_builtin("shapes", n_samples=40)
    test = load_builtin("shapes", n_samples=12, seed=1)
    preview.set_dataset(Dataset("with test", train.x, train.y, train.class_names, test=test))
    assert "test split: 12" in preview.header.text()
    preview.set_dataset(None)
    assert preview.mode() == "empty"
    assert preview.empty.text() == "No dataset"
    assert preview.header.isHidden()


def test_preview_shows_arbitrary_samples(preview):
    preview.set_dataset(load_builtin("shapes", n_samples=40))
    preview.set_samples(images(6), list("abcdef"), highlight=[False] * 5 + [True])
    assert preview.mode() == "images"
    assert preview.grid.captions() == list("abcdef")
    assert preview.grid.highlighted()[-1]


def test_out_of_range_images_are_rescaled_for_display(preview):
    x = np.random.default_rng(0).uniform(0, 255, size=(10, 1, 6, 6)).astype(np.float32)
    preview.set_dataset(Dataset("raw", x, (np.arange(10) % 2).astype(np.int64), ["a", "b"]))
    assert "rescaled" in preview.note.text()
    assert distinct_colours(preview.grid) > 20


# -- DatasetImportDialog ------------------------------------------------------------


@pytest.fixture
def dialog(qtbot) -> DatasetImportDialog:
    widget = DatasetImportDialog()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def write_npz(path: Path, n: int = 30) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 256, (n, 10, 10), dtype=np.uint8), y=np.arange(n) % 3)
    return path


def import_and_wait(qtbot, dialog: DatasetImportDialog, path: Path) -> None:
    dialog.path_edit.setText(str(path))
    dialog.start_import()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=IMPORT_TIMEOUT_MS)


def test_importing_an_npz_previews_it_and_enables_ok(qtbot, dialog, tmp_path):
    path = write_npz(tmp_path / "small.npz")
    assert not dialog.ok_button.isEnabled()
    import_and_wait(qtbot, dialog, path)
    assert dialog.error_text() == ""
    assert dialog.ok_button.isEnabled()
    assert dialog.preview.mode() == "images"
    assert "30 samples" in dialog.preview.header.text()
    assert dialog.preview.grid.count() == 30
    dialog.ok_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.dataset is not None and len(dialog.dataset) == 30
    assert dialog.path == path


def test_the_import_runs_in_the_background(qtbot, dialog, tmp_path, monkeypatch):
    import threading

    release = threading.Event()
    real = dataset_import.import_dataset

    def slow(path):
        release.wait(5)
        return real(path)

    monkeypatch.setattr(dataset_import, "import_dataset", slow)
    dialog.path_edit.setText(str(write_npz(tmp_path / "slow.npz")))
    dialog.start_import()
    # The event loop runs while the worker waits: the dialog shows it is busy.
    qtbot.wait(100)
    assert dialog.is_busy()
    assert dialog.busy.isVisible()
    assert not dialog.ok_button.isEnabled()
    release.set()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=IMPORT_TIMEOUT_MS)
    assert dialog.ok_button.isEnabled()
    assert not dialog.busy.isVisible()


def test_a_corrupt_file_shows_a_message_naming_it(qtbot, dialog, tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    import_and_wait(qtbot, dialog, path)
    assert "broken.npz" in dialog.error_text()
    assert dialog.status.isVisible()
    assert "broken.npz" in dialog.status.text()
    assert dialog.status.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert not dialog.ok_button.isEnabled()
    assert dialog.dataset is None
    dialog.ok_button.click()
    assert dialog.result() != QDialog.DialogCode.Accepted


def test_an_unexpected_exception_is_a_message_too(qtbot, dialog, tmp_path, monkeypatch):
    def explode(path):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(dataset_import, "import_dataset", explode)
    import_and_wait(qtbot, dialog, tmp_path / "any.npz")
    assert "any.npz" in dialog.error_text()
    assert "RuntimeError: disk on fire" in dialog.error_text()
    assert "Traceback" not in dialog.error_text()
    assert not dialog.ok_button.isEnabled()


def test_a_missing_path_and_an_empty_path_are_messages(qtbot, dialog, tmp_path):
    import_and_wait(qtbot, dialog, tmp_path / "nowhere")
    assert "nowhere" in dialog.error_text() and "does not exist" in dialog.error_text()
    dialog.path_edit.setText("")
    dialog.start_import()
    assert "Choose a dataset" in dialog.error_text()


def test_a_later_import_replaces_an_earlier_result(qtbot, dialog, tmp_path):
    import_and_wait(qtbot, dialog, write_npz(tmp_path / "first.npz", 30))
    assert dialog.ok_button.isEnabled()
    import_and_wait(qtbot, dialog, tmp_path / "missing.npz")
    assert not dialog.ok_button.isEnabled()
    import_and_wait(qtbot, dialog, write_npz(tmp_path / "second.npz", 12))
    assert len(dialog.dataset) == 12


def test_editing_the_path_disables_ok_until_imported(qtbot, dialog, tmp_path):
    import_and_wait(qtbot, dialog, write_npz(tmp_path / "data.npz"))
    qtbot.keyClicks(dialog.path_edit, "x")
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClick(dialog.path_edit, Qt.Key.Key_Backspace)
    assert dialog.ok_button.isEnabled()


def test_choose_returns_the_dataset_and_path(qtbot, tmp_path, monkeypatch):
    path = write_npz(tmp_path / "chosen.npz")

    def run(self):
        import_and_wait(qtbot, self, path)
        self.accept()
        return self.result()

    monkeypatch.setattr(DatasetImportDialog, "exec", run)
    result = DatasetImportDialog.choose(None)
    assert result is not None
    dataset, chosen = result
    assert chosen == path and len(dataset) == 30

    monkeypatch.setattr(DatasetImportDialog, "exec", lambda self: QDialog.DialogCode.Rejected)
    assert DatasetImportDialog.choose(None) is None


# -- ConfusionMatrixView ------------------------------------------------------------


@pytest.fixture
def matrix_view(qtbot) -> ConfusionMatrixView:
    return shown(qtbot, ConfusionMatrixView(), 520, 480)


def ten_class_matrix() -> np.ndarray:
    y = np.repeat(np.arange(10), 50)
    pred, _ = fake_predictions(y, 10, 0.8)
    return confusion_matrix(y, pred, 10)


def test_clicking_a_cell_emits_true_and_predicted(qtbot, matrix_view):
    matrix = ten_class_matrix()
    matrix_view.set_matrix(matrix, [f"c{k}" for k in range(10)])
    for true, predicted in ((2, 1), (0, 9), (7, 7)):
        with qtbot.waitSignal(matrix_view.cell_clicked, timeout=1000) as blocker:
            click(qtbot, matrix_view.canvas, matrix_view.cell_rect(true, predicted).center())
        assert blocker.args == [true, predicted]
        assert matrix_view.selected_cell() == (true, predicted)


def test_title_gives_the_accuracy_and_rendering_works(matrix_view):
    matrix = np.array([[8, 2], [1, 9]])
    matrix_view.set_matrix(matrix, ["cat", "dog"])
    assert "85 %" in matrix_view.title.text()
    assert "17 of 20" in matrix_view.title.text()
    before = matrix_view.canvas.grab().toImage()
    matrix_view.set_normalised(True)
    assert matrix_view.canvas.normalised
    assert matrix_view.canvas.grab().toImage() != before  # percentages instead of counts
    assert distinct_colours(matrix_view) > 10


def test_a_hundred_classes_render_without_text(matrix_view):
    y = np.repeat(np.arange(100), 5)
    pred, _ = fake_predictions(y, 100, 0.5)
    matrix_view.set_matrix(confusion_matrix(y, pred, 100), [f"class {k}" for k in range(100)])
    geometry = matrix_view.canvas.geometry_for_size()
    assert geometry.cell < 10
    assert matrix_view.canvas._cell_text_font(geometry) is None
    assert geometry.step > 1  # every few class names only
    assert distinct_colours(matrix_view) > 5


def test_a_matrix_of_the_wrong_size_is_refused(matrix_view):
    with pytest.raises(ValueError, match="3 classes"):
        matrix_view.set_matrix(np.zeros((2, 2)), ["a", "b", "c"])


# -- RunResultsWidget ---------------------------------------------------------------


@pytest.fixture
def results(qtbot) -> RunResultsWidget:
    return shown(qtbot, RunResultsWidget(), 1000, 520)


@pytest.fixture
def digits() -> Dataset:
    return load_builtin("digits", n_samples=400)


def test_results_show_the_most_confident_mistakes(results, digits):
    pred, confidence = fake_predictions(digits.y, 10, 0.8)
    results.set_results(digits.x, digits.y, pred, confidence, digits.class_names, title="Validation")
    wrong = np.flatnonzero(pred != digits.y)
    assert len(wrong) > MAX_SHOWN
    indices = results.shown_indices()
    assert len(indices) == results.grid.count() == MAX_SHOWN
    assert (pred[indices] != digits.y[indices]).all()
    assert np.all(np.diff(confidence[indices]) <= 0)
    assert confidence[indices[-1]] >= np.sort(confidence[wrong])[-MAX_SHOWN]
    first = indices[0]
    true_name, rest = results.grid.captions()[0].split(" → ")
    predicted_name, percent = rest.removesuffix(" %)").split(" (")
    assert (true_name, predicted_name) == (str(digits.y[first]), str(pred[first]))
    assert abs(int(percent) - confidence[first] * 100) < 1
    np.testing.assert_array_equal(results.matrix_view.matrix(), confusion_matrix(digits.y, pred, 10))
    assert results.heading.text() == "Validation"
    assert distinct_colours(results) > 50


def test_clicking_a_cell_filters_the_grid_and_show_all_resets(qtbot, results, digits):
    pred, confidence = fake_predictions(digits.y, 10, 0.6, seed=4)
    results.set_results(digits.x, digits.y, pred, confidence, digits.class_names)
    matrix = confusion_matrix(digits.y, pred, 10)
    off_diagonal = matrix - np.diag(np.diag(matrix))
    true, predicted = np.unravel_index(np.argmax(off_diagonal), matrix.shape)
    canvas = results.matrix_view.canvas
    click(qtbot, canvas, results.matrix_view.cell_rect(int(true), int(predicted)).center())
    assert results.current_filter() == (true, predicted)
    indices = results.shown_indices()
    assert len(indices) == min(matrix[true, predicted], MAX_SHOWN) > 0
    assert (digits.y[indices] == true).all() and (pred[indices] == predicted).all()
    assert results.show_all_button.isVisible()
    results.show_all_button.click()
    assert results.current_filter() is None
    assert results.matrix_view.selected_cell() is None
    assert not results.show_all_button.isVisible()
    assert len(results.shown_indices()) == MAX_SHOWN


def test_a_diagonal_cell_shows_the_least_confident_correct_predictions(results, digits):
    pred, confidence = fake_predictions(digits.y, 10, 0.8)
    results.set_results(digits.x, digits.y, pred, confidence, digits.class_names)
    results.show_cell(3, 3)
    indices = results.shown_indices()
    assert (digits.y[indices] == 3).all() and (pred[indices] == 3).all()
    assert np.all(np.diff(confidence[indices]) >= 0)
    assert not any(results.grid.highlighted())


def test_clicking_a_result_thumbnail_gives_the_index_into_x(qtbot, results, digits):
    pred, confidence = fake_predictions(digits.y, 10, 0.8)
    results.set_results(digits.x, digits.y, pred, confidence, digits.class_names)
    with qtbot.waitSignal(results.sample_clicked, timeout=1000) as blocker:
        click(qtbot, results.grid, results.grid.thumbnail_rect(2).center())
    assert blocker.args == [int(results.shown_indices()[2])]


def test_vector_results_give_a_sentence_instead_of_thumbnails(results):
    moons = load_builtin("moons", n_samples=100)
    pred, confidence = fake_predictions(moons.y, 2, 0.8)
    results.set_results(moons.x, moons.y, pred, confidence, moons.class_names)
    mistakes = int((pred != moons.y).sum())
    assert results.grid.isHidden()
    assert f"{mistakes} of 100 samples are misclassified" in results.samples_label.text()
    results.show_cell(0, 1)
    assert f"{int(((moons.y == 0) & (pred == 1)).sum())} sample" in results.samples_label.text()


def test_perfect_results_and_clear(results, digits):
    confidence = np.ones(len(digits.y))
    results.set_results(digits.x, digits.y, digits.y, confidence, digits.class_names)
    assert "No mistakes" in results.samples_label.text()
    assert results.grid.count() == 0
    results.clear()
    assert results.matrix_view.matrix().shape == (0, 0)
    assert results.grid.count() == 0


def test_inconsistent_results_are_refused(results, digits):
    with pytest.raises(ValueError, match="confidence"):
        results.set_results(digits.x, digits.y, digits.y, np.ones(3), digits.class_names)
    with pytest.raises(ValueError, match="labels"):
        results.set_results(digits.x[:10], digits.y, digits.y, np.ones(10), digits.class_names)


def test_results_stack_when_narrow(qtbot, results, digits):
    results.set_results(digits.x, digits.y, digits.y, np.ones(len(digits.y)), digits.class_names)
    results.resize(400, 900)
    qtbot.waitUntil(lambda: results.matrix_view.geometry().bottom() < results.grid.geometry().top())
