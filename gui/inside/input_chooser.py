"""Which image the "See inside" views feed the network: a dataset sample, a photograph or a file."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QSpinBox, QWidget

from core.data.builtin import resize_bilinear
from core.data.dataset import Dataset
from core.data.sample_images import load_image_file, load_photo, sample_photo_names
from core.errors import LayerwiseError
from core.shapes import Shape, format_shape, is_image

DatasetProvider = Callable[[], "Dataset | None"]
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
LARGE_INPUT = 96
"""Inputs at least this many pixels high or wide start on a photograph rather than a dataset sample."""


@dataclass(frozen=True)
class InputSample:
    """One image fitted to the network's input.

    Attributes
    ----------
    x
        ``(C, H, W)`` float32 in ``[0, 1]``.
    key
        Identifies the image (source and shape): equal keys, equal pixels.
    description
        For captions, e.g. ``"digits #12 · label 3"`` or ``"china.jpg"``.
    """

    x: np.ndarray
    key: tuple
    description: str


def adapt_samples(x: np.ndarray, shape: Shape) -> np.ndarray:
    """Dataset images ``(N, C, H, W)`` made to fit an image input ``shape`` (resize, grey ↔ RGB).

    Raises
    ------
    LayerwiseError
        When the channel counts cannot be converted (neither is 1 or 3 on both sides).
    """
    channels, height, width = shape  # type: ignore[misc]
    if x.shape[1] != channels:
        if x.shape[1] == 1:
            x = np.repeat(x, channels, axis=1)
        elif x.shape[1] == 3 and channels == 1:
            x = (x * np.array([0.299, 0.587, 0.114], np.float32)[None, :, None, None]).sum(axis=1, keepdims=True)
        else:
            raise LayerwiseError(f"{x.shape[1]}-channel samples cannot feed a {channels}-channel input")
    if x.shape[2:] != (height, width):
        x = resize_bilinear(x, height, width)
    return np.ascontiguousarray(x, dtype=np.float32)


def _item(kind: str, value: str = "") -> str:
    """The item data of a source: ``"kind:value"`` (a plain string, which combo boxes compare reliably)."""
    return f"{kind}:{value}"


class InputChooser(QWidget):
    """A row of controls: the source of the input image and, for a dataset, which sample.

    Signals
    -------
    input_changed()
        The image (or why there is none) changed.
    """

    input_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dataset_provider: DatasetProvider = lambda: None
        self._shape: Shape | None = None
        self._resize = 0
        self._dataset: Dataset | None = None
        self._dataset_error = ""
        self._file: Path | None = None
        self._user_chose = False
        self._cache: InputSample | None = None
        self._error = ""
        self.source = QComboBox()
        self.source.setToolTip("The image the network is run on.")
        self.source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.index = QSpinBox()
        self.index.setPrefix("#")
        self.index.setKeyboardTracking(False)
        self.index.setToolTip("Which sample of the dataset.")
        self.label = QLabel()
        self.label.setProperty("role", "muted")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        caption = QLabel("Input")
        layout.addWidget(caption)
        layout.addWidget(self.source)
        layout.addWidget(self.index)
        layout.addWidget(self.label)
        self._fill_sources()
        self.source.activated.connect(self._source_activated)
        self.index.valueChanged.connect(lambda _value: self._changed())

    # -- configuration -----------------------------------------------------------

    def set_dataset_provider(self, provider: DatasetProvider) -> None:
        self._dataset_provider = provider
        self.dataset_changed()

    def dataset_changed(self) -> None:
        """Ask the provider again (the app's chosen dataset changed)."""
        try:
            self._dataset, self._dataset_error = self._dataset_provider(), ""
        except LayerwiseError as exc:
            self._dataset, self._dataset_error = None, str(exc)
        except Exception as exc:  # noqa: BLE001 — a provider must not break the view
            self._dataset, self._dataset_error = None, f"{type(exc).__name__}: {exc}"
        self._refill()

    def set_input_shape(self, shape: Shape | None, resize: int = 0) -> None:
        """Fit images to the network's input ``shape`` (``None`` when unknown) as its Input's ``resize`` says.

        Parameters
        ----------
        shape
            ``(C, H, W)`` of the network's input.
        resize
            The Input's ``resize`` for photographs and image files (see
            :func:`core.data.sample_images.fit_image`); dataset samples are used as they are.
        """
        shape = tuple(shape) if shape is not None else None
        if shape != self._shape:
            self._shape, self._resize = shape, resize
            self.dataset_changed()  # a built-in dataset is made for the input shape: ask again
        elif resize != self._resize:
            self._resize = resize
            if self._current()[0] in ("photo", "file"):
                self._changed()

    # -- sources -------------------------------------------------------------------

    def _fill_sources(self) -> None:
        blocked = self.source.blockSignals(True)
        current = self.source.currentData()
        self.source.clear()
        if self._dataset is not None:
            self.source.addItem(f"Dataset: {self._dataset.name}", _item("dataset"))
        for name in sample_photo_names():
            self.source.addItem(f"Photograph: {name}", _item("photo", name))
        if self._file is not None:
            self.source.addItem(f"File: {self._file.name}", _item("file", str(self._file)))
        self.source.addItem("Open image file…", _item("open"))
        index = self.source.findData(current) if current is not None else -1
        if index < 0 or not self._user_chose:
            index = self.source.findData(_item(*self._default_source()))
        self.source.setCurrentIndex(max(index, 0))
        self.source.blockSignals(blocked)

    def _default_source(self) -> tuple[str, str]:
        shape = self._shape
        large = shape is not None and len(shape) == 3 and max(shape[1], shape[2]) >= LARGE_INPUT
        if self._dataset is not None and not large and self._dataset.sample_shape == shape:
            return ("dataset", "")
        return ("photo", sample_photo_names()[0])

    def _refill(self) -> None:
        self._fill_sources()
        count = len(self._dataset) if self._dataset is not None else 1
        blocked = self.index.blockSignals(True)
        self.index.setRange(0, max(count - 1, 0))
        self.index.blockSignals(blocked)
        self._changed()

    def _source_activated(self, _index: int) -> None:
        kind, _ = self._current()
        if kind == "open":
            start = str(self._file.parent) if self._file is not None else ""
            path, _filter = QFileDialog.getOpenFileName(self, "Open an image", start, IMAGE_FILTER)
            if path:
                self.load_file(path)
            else:
                self._fill_sources()  # back to what was chosen before
            return
        self._user_chose = True
        self._changed()

    # -- choosing (also used by tests and scripts) -----------------------------------

    def choose(self, kind: str, value: str = "") -> None:
        """Pick ``("dataset", "")``, ``("photo", name)`` or ``("file", path)``."""
        if kind == "file":
            self.load_file(value)
            return
        self._user_chose = True
        index = self.source.findData(_item(kind, value))
        if index >= 0:
            self.source.setCurrentIndex(index)
        self._changed()

    def choose_sample(self, index: int) -> None:
        """Pick sample ``index`` of the dataset."""
        self.choose("dataset")
        self.index.setValue(index)

    def load_file(self, path: str | os.PathLike[str]) -> bool:
        """Use the image file at ``path``; a file that cannot be read shows its message instead."""
        self._file = Path(path)
        self._user_chose = True
        self._fill_sources()
        self.source.setCurrentIndex(self.source.findData(_item("file", str(self._file))))
        self._changed()
        return self._error == ""

    # -- the image -----------------------------------------------------------------

    def _changed(self) -> None:
        self._cache, self._error = None, ""
        kind, _ = self._current()
        self.index.setVisible(kind == "dataset")
        try:
            self._cache = self._load()
        except LayerwiseError as exc:
            self._error = str(exc)
        except Exception as exc:  # noqa: BLE001 — shown in the view, never raised into Qt
            self._error = f"{type(exc).__name__}: {exc}"
        self.label.setText(self._caption())
        self.input_changed.emit()

    def _caption(self) -> str:
        sample = self._cache
        if sample is None or self._current()[0] != "dataset" or self._dataset is None:
            return ""
        label = int(self._dataset.y[self.index.value()])
        return f"label {self._dataset.class_names[label]}"

    def _load(self) -> InputSample | None:
        shape = self._shape
        if shape is None:
            raise LayerwiseError("the network's input shape is unknown until the network computes")
        if not is_image(shape):
            raise LayerwiseError(f"the network's input is {format_shape(shape)}, not an image (C, H, W)")
        kind, value = self._current()
        if kind == "dataset":
            return self._dataset_sample(shape)
        # Raw pixels, fitted as the Input says: the network normalises them itself.
        resize = self._resize
        if kind == "photo":
            return InputSample(load_photo(value, shape, resize), ("photo", value, shape, resize), value)
        if kind == "file":
            return InputSample(load_image_file(value, shape, resize), ("file", value, shape, resize), Path(value).name)
        return None

    def _dataset_sample(self, shape: Shape) -> InputSample:
        dataset = self._dataset
        if dataset is None:
            raise LayerwiseError(self._dataset_error or "no dataset is chosen")
        index = min(self.index.value(), len(dataset) - 1)
        x = dataset.x[index : index + 1]
        if dataset.sample_shape != shape:
            if not is_image(dataset.sample_shape):
                raise LayerwiseError(
                    f"the dataset {dataset.name!r} holds vectors {format_shape(dataset.sample_shape)}, "
                    f"not images for the input {format_shape(shape)}"
                )
            x = adapt_samples(x, shape)
        label = dataset.class_names[int(dataset.y[index])]
        return InputSample(
            np.ascontiguousarray(x[0]),
            ("dataset", dataset.name, id(dataset), index, shape),
            f"{dataset.name} #{index} · label {label}",
        )

    def _current(self) -> tuple[str, str]:
        """``(kind, value)`` of the chosen source: dataset, photo, file or open."""
        data = self.source.currentData()
        if not isinstance(data, str) or ":" not in data:
            return ("photo", sample_photo_names()[0])
        kind, _, value = data.partition(":")
        return kind, value

    def sample(self) -> InputSample | None:
        """The current image, or ``None`` (then :meth:`error` says why)."""
        return self._cache

    def error(self) -> str:
        return self._error
