"""Why this class? Heat maps of the input pixels a classifier's decision rests on.

Grad-CAM, saliency, SmoothGrad or occlusion (:mod:`core.analysis.explain`) for the shared
input image, drawn over the image or beside it, with the five most probable classes;
clicking one of them explains that class instead. Grad-CAM looks at the layer chosen on
the canvas when it is a feature map that feeds the class scores, else at the last one.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.analysis.explain import SMOOTHGRAD_SAMPLES, ExplainError, Explanation, default_gradcam_layer, explain
from core.data.dataset import Dataset
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument
from core.graph.validation import check_graph
from core.shapes import format_shape, is_image
from gui.inside.explain_canvas import DEFAULT_OPACITY, LEGENDS, ClassBars, ExplainCanvas
from gui.inside.input_chooser import InputChooser, InputSample
from gui.inside.model_host import CompiledModel, ModelHost, shielded

METHODS = (
    ("gradcam", "Grad-CAM", "Where a convolutional layer sees evidence for the class (Selvaraju et al. 2017)."),
    (
        "saliency",
        "Saliency",
        "|∂ class score / ∂ pixel|: the pixels whose change moves the score most (Simonyan 2014).",
    ),
    ("smoothgrad", "SmoothGrad", "Saliency averaged over 25 noisy copies of the image: less speckle (Smilkov 2017)."),
    ("occlusion", "Occlusion", "How much the class probability drops when a square of pixels is hidden (Zeiler 2014)."),
)
METHOD_TITLES = {key: title for key, title, _ in METHODS}
TOP_K = 5
UNTRAINED_NOTE = "The network is untrained: maps show what random weights respond to."
OTHER_METHODS_HINT = "Saliency, SmoothGrad and Occlusion need no feature map: choose one of them under Method."
LayerMode = str
"""``"selected"`` (the panel's layer, when it is a feature map) or ``"default"`` (the last feature map)."""


# -- computing (any thread) ----------------------------------------------------------------


@dataclass(frozen=True)
class ExplainRequest:
    """What to explain, fixed when it is asked for.

    Attributes
    ----------
    layer_id
        Grad-CAM's layer; ``None`` for the last feature map.
    strict
        The user chose ``layer_id`` in this tab: a layer that cannot be used is an error. Otherwise
        (it follows the canvas selection) the last feature map stands in, with the reason.
    """

    method: str
    class_index: int | None
    layer_id: str | None
    strict: bool
    window: int
    stride: int


@dataclass(frozen=True)
class ExplainResult:
    """An explanation with what the view says about it."""

    explanation: Explanation
    class_count: int
    fallback_reason: str
    """Why the selected layer was not used for Grad-CAM; empty when it was (or for other methods)."""
    trained: bool
    weights_note: str


def compute_explanation(compiled: CompiledModel, x: np.ndarray, request: ExplainRequest) -> ExplainResult:
    """Run ``request`` on one sample with the compiled model (GUI or background thread)."""
    model = compiled.model
    run = functools.partial(
        explain,
        model,
        x,
        request.method,
        class_index=request.class_index,
        window=request.window,
        stride=request.stride,
        k=TOP_K,
    )
    layer_id = request.layer_id if request.method == "gradcam" else None
    reason = ""
    try:
        explanation = run(layer_id=layer_id)
    except ExplainError as exc:
        if layer_id is None or request.strict:
            raise
        default_gradcam_layer(model)  # no feature map at all: that is the message, not the layer's
        reason = str(exc)
        explanation = run()
    class_count = int(model.shapes[model.logits_node.id][0])
    return ExplainResult(explanation, class_count, reason, compiled.trained, compiled.weights_note())


def occlusion_defaults(height: int, width: int) -> tuple[int, int]:
    """A window a quarter of the shorter side and half a window of stride: about 50 occluded copies."""
    window = max(1, min(height, width) // 4)
    return window, max(1, window // 2)


def window_count(height: int, width: int, window: int, stride: int) -> int:
    """How many occluded copies the occlusion method runs (one forward pass each)."""
    if window > min(height, width):
        return 0
    return ((height - window) // stride + 1) * ((width - window) // stride + 1)


class ExplainView(QWidget):
    """Why this class? One explanation of the shared input, its controls and the top classes.

    Attributes
    ----------
    method, class_choice, layer_choice, window, stride
        The controls; ``class_choice`` holds ``None`` for the predicted class, else the index.
    canvas
        The picture; ``canvas.heat`` is the map shown.
    bars
        The top classes.
    title
        What is explained ("Why 3?") and how.
    result
        The last result shown, or None while there is none (then :attr:`message` says why).
    """

    def __init__(self, host: ModelHost, chooser: InputChooser, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host, self.chooser = host, chooser
        self.node_id: str | None = None
        self.result: ExplainResult | None = None
        self._dataset_provider: Callable[[], Dataset | None] = lambda: None
        self._strict_layer = False
        self._request_key: tuple | None = None
        self._network_version: int | None = None
        self._sample: InputSample | None = None
        self.method = QComboBox()
        for key, title, tooltip in METHODS:
            self.method.addItem(title, key)
            self.method.setItemData(self.method.count() - 1, tooltip, Qt.ItemDataRole.ToolTipRole)
        self.class_choice = QComboBox()
        self.class_choice.addItem("predicted", None)
        self.class_choice.setMinimumContentsLength(12)
        self.class_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.class_choice.setToolTip("The class whose score is explained.")
        self.layer_label = QLabel("Layer")
        self.layer_choice = QComboBox()
        self.layer_choice.addItem("selected layer", "selected")
        self.layer_choice.addItem("last feature map", "default")
        self.layer_choice.setToolTip(
            "Grad-CAM reads one feature map: the layer chosen on the canvas (when it is a feature map that feeds "
            "the class scores) or the last one before the scores."
        )
        self.window = QSpinBox()
        self.window.setPrefix("window ")
        self.window.setSuffix(" px")
        self.stride = QSpinBox()
        self.stride.setPrefix("stride ")
        self.stride.setSuffix(" px")
        for spin in (self.window, self.stride):
            spin.setRange(1, 4096)
            spin.setKeyboardTracking(False)
        self.window.setToolTip("Side of the square of pixels hidden (filled with 0).")
        self.stride.setToolTip("Step between hidden squares; each position costs one forward pass.")
        self._occlusion_shape: tuple[int, int] | None = None
        self.view_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        for key, title in (("overlay", "Overlay"), ("side", "Side by side")):
            button = QToolButton()
            button.setText(title)
            button.setCheckable(True)
            group.addButton(button)
            self.view_buttons[key] = button
        self.view_buttons["overlay"].setChecked(True)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(DEFAULT_OPACITY)
        self.opacity.setMaximumWidth(110)
        self.opacity.setToolTip("How strongly the heat map covers the input.")
        self.opacity_label = QLabel("Opacity")
        controls = QHBoxLayout()
        controls.setSpacing(6)
        for widget in (QLabel("Method"), self.method, QLabel("Class"), self.class_choice):
            controls.addWidget(widget)
        controls.addSpacing(8)
        for widget in (self.layer_label, self.layer_choice, self.window, self.stride):
            controls.addWidget(widget)
        controls.addStretch(1)
        for widget in (*self.view_buttons.values(), self.opacity_label, self.opacity):
            controls.addWidget(widget)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.notes = QLabel()
        self.notes.setTextFormat(Qt.TextFormat.RichText)
        self.notes.setWordWrap(True)
        self.canvas = ExplainCanvas()
        self.bars = ClassBars()
        self.top_title = QLabel(f"Top {TOP_K} classes")
        self.top_title.setProperty("role", "section")
        side = QVBoxLayout()
        side.addWidget(self.top_title)
        side.addWidget(self.bars)
        hint = QLabel("Orange: the prediction.\nShaded: the class explained.\nClick a class to explain it.")
        hint.setProperty("role", "muted")
        side.addWidget(hint)
        side.addStretch(1)
        picture = QVBoxLayout()
        picture.addWidget(self.canvas, 1)
        content = QWidget()
        body = QHBoxLayout(content)
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(picture, 1)
        body.addSpacing(8)
        body.addLayout(side)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pages = QStackedWidget()
        self.pages.addWidget(content)
        self.pages.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(controls)
        layout.addWidget(self.title)
        layout.addWidget(self.notes)
        layout.addWidget(self.pages, 1)
        self.method.currentIndexChanged.connect(lambda _i: self._controls_changed())
        self.class_choice.activated.connect(lambda _i: self._controls_changed())
        self.layer_choice.activated.connect(self._layer_mode_chosen)
        self.window.valueChanged.connect(lambda _v: self._controls_changed())
        self.stride.valueChanged.connect(lambda _v: self._controls_changed())
        group.buttonClicked.connect(lambda _b: self._view_changed())
        self.opacity.valueChanged.connect(lambda _v: self._view_changed())
        self.bars.class_clicked.connect(self.choose_class)
        self._update_controls()

    # -- public ----------------------------------------------------------------------

    @property
    def heatmap(self) -> np.ndarray | None:
        """The map shown, ``(H, W)``, or None."""
        return self.canvas.heat if self.result is not None else None

    def set_dataset_provider(self, provider: Callable[[], Dataset | None]) -> None:
        """Where class names come from when the input is a dataset sample."""
        self._dataset_provider = provider

    def set_layer(self, node_id: str | None, refresh: bool = True) -> None:
        """Follow the panel's layer: Grad-CAM uses it when it is a feature map feeding the scores."""
        if node_id != self.node_id:
            self.node_id = node_id
            self._strict_layer = False
            self.layer_choice.setCurrentIndex(self.layer_choice.findData("selected"))
            if refresh:
                self.refresh()

    @shielded
    def set_method(self, method: str) -> None:
        """Choose one of ``gradcam``, ``saliency``, ``smoothgrad``, ``occlusion``."""
        self.method.setCurrentIndex(self.method.findData(method))

    @shielded
    def choose_class(self, class_index: int | None) -> None:
        """Explain ``class_index`` (``None``: the predicted class)."""
        index = self.class_choice.findData(class_index)
        if index < 0:
            return
        self.class_choice.setCurrentIndex(index)
        self._controls_changed()

    @shielded
    def choose_layer_mode(self, mode: LayerMode) -> None:
        """``"selected"`` insists on the panel's layer (a layer that is no feature map is an error); ``"default"``."""
        self.layer_choice.setCurrentIndex(self.layer_choice.findData(mode))
        self._layer_mode_chosen(self.layer_choice.currentIndex())

    def set_side_by_side(self, side_by_side: bool) -> None:
        self.view_buttons["side" if side_by_side else "overlay"].setChecked(True)
        self._view_changed()

    def refresh(self) -> None:
        """Recompute from the network, weights, input and controls as they are now."""
        try:
            self._refresh()
        except Exception as exc:  # noqa: BLE001 — never raised into Qt
            self.show_error(str(exc) if isinstance(exc, LayerwiseError) else f"{type(exc).__name__}: {exc}")

    def show_error(self, message: str) -> None:
        """Show why nothing can be explained, in place of the picture."""
        self.result = None
        self._request_key = None
        self.title.setText("<b>Why this class?</b>")
        self.notes.setText("")
        self.message.setText(message)
        self.pages.setCurrentWidget(self.message)

    # -- internals -------------------------------------------------------------------

    def _method(self) -> str:
        return str(self.method.currentData())

    def _update_controls(self) -> None:
        method = self._method()
        for widget in (self.layer_label, self.layer_choice):
            widget.setVisible(method == "gradcam")
        for widget in (self.window, self.stride):
            widget.setVisible(method == "occlusion")
        overlay = self.view_buttons["overlay"].isChecked()
        self.opacity.setVisible(overlay)
        self.opacity_label.setVisible(overlay)

    @shielded
    def _controls_changed(self) -> None:
        self._update_controls()
        self.refresh()

    @shielded
    def _layer_mode_chosen(self, _index: int) -> None:
        self._strict_layer = self.layer_choice.currentData() == "selected"
        self.refresh()

    @shielded
    def _view_changed(self) -> None:
        self._update_controls()
        self.canvas.set_view(self.view_buttons["side"].isChecked(), self.opacity.value() / 100)

    def _fit_occlusion(self, x: np.ndarray) -> None:
        """New image size: sensible window and stride, bounded by the image."""
        height, width = int(x.shape[1]), int(x.shape[2])
        if self._occlusion_shape == (height, width):
            return
        self._occlusion_shape = (height, width)
        window, stride = occlusion_defaults(height, width)
        for spin, value, top in ((self.window, window, min(height, width)), (self.stride, stride, max(height, width))):
            blocked = spin.blockSignals(True)
            spin.setRange(1, top)
            spin.setValue(value)
            spin.blockSignals(blocked)

    def _layer_request(self) -> tuple[str | None, bool]:
        """Grad-CAM's layer and whether it must be used; the last feature map when ``None``."""
        if self.layer_choice.currentData() == "default":
            return None, False
        document = self.host.document
        if self.node_id is None or document is None or self.node_id not in document:
            return None, False
        if not self._strict_layer:
            shape = _shape_of(document, self.node_id)
            if shape is None or not is_image(shape):
                return None, False  # the canvas selection is no map: the last feature map, said in the notes
        return self.node_id, self._strict_layer

    def _refresh(self) -> None:
        document = self.host.document
        if document is None:
            self.show_error("No network.")
            return
        sample = self.chooser.sample()
        self._sample = sample
        if sample is None:
            cause = self.chooser.error() or "No input image."
            self.show_error(f"Nothing to explain: {cause}.")
            return
        self._fit_occlusion(sample.x)
        self._forget_class_after_edits()
        method = self._method()
        layer_id, strict = self._layer_request()
        class_index = self.class_choice.currentData()
        request = ExplainRequest(method, class_index, layer_id, strict, self.window.value(), self.stride.value())
        key = (self.host.state_key(), sample.key, request)
        if key == self._request_key and self.result is not None:
            return
        self._request_key = key
        self.notes.setText(f"<i>Computing {METHOD_TITLES[method]}…</i>")
        x = sample.x
        self.host.request(
            "explain",
            lambda compiled: compute_explanation(compiled, x, request),
            lambda result: self._arrived(key, result),
            self._failed(key),
            f"Computing {METHOD_TITLES[method]}",
            passes=self._passes(method, x),
        )

    def _passes(self, method: str, x: np.ndarray) -> int:
        """Forward passes the method makes on one sample: SmoothGrad one per noisy copy, occlusion one per window."""
        if method == "smoothgrad":
            return SMOOTHGRAD_SAMPLES
        if method == "occlusion":
            windows = window_count(int(x.shape[1]), int(x.shape[2]), self.window.value(), self.stride.value())
            return windows + 1  # and the unoccluded image
        return 1

    def _forget_class_after_edits(self) -> None:
        """An edited network may have other classes: explain the predicted one again."""
        state = self.host.state_key()
        version = state[0] if state else None
        if version != self._network_version:
            self._network_version = version
            self.class_choice.setCurrentIndex(0)

    def _failed(self, key: tuple) -> Callable[[str], None]:
        def failed(message: str) -> None:
            if key != self._request_key:
                return
            if key[2].method == "gradcam" and "feature map" in message:
                message += f".\n\n{OTHER_METHODS_HINT}"
            self.show_error(message)

        return failed

    @shielded
    def _arrived(self, key: tuple, result: ExplainResult) -> None:
        if key != self._request_key or self._sample is None:
            return  # the view moved on while it was computed
        self.result = result
        explanation = result.explanation
        names = self._class_names(result.class_count)
        self._fill_classes(names, explanation.top[0][0] if explanation.top else None)
        self.canvas.set_picture(self._sample.x, explanation.heatmap, explanation.method)
        self.canvas.set_view(self.view_buttons["side"].isChecked(), self.opacity.value() / 100)
        self.canvas.input_caption = f"Input · {self._sample.description}"
        self.canvas.heat_caption = self._heat_caption(explanation)
        self.bars.set_classes(explanation.top, names, explanation.class_index)
        self.title.setText(self._title(explanation, names))
        self.notes.setText(self._notes(result))
        self.canvas.legend = LEGENDS[explanation.method][2]
        self.pages.setCurrentIndex(0)

    def _class_names(self, count: int) -> list[str]:
        """The dataset's class names when the input is one of its samples; else ``class k``."""
        sample = self._sample
        if sample is not None and sample.key and sample.key[0] == "dataset":
            try:
                dataset = self._dataset_provider()
            except Exception:  # noqa: BLE001 — names are a nicety; the chooser shows dataset errors
                dataset = None
            if dataset is not None and dataset.name == sample.key[1] and len(dataset.class_names) == count:
                return [str(name) for name in dataset.class_names]
        return [f"class {k}" for k in range(count)]

    def _fill_classes(self, names: list[str], predicted: int | None) -> None:
        chosen = self.class_choice.currentData()
        blocked = self.class_choice.blockSignals(True)
        self.class_choice.clear()
        label = f"predicted ({names[predicted]})" if predicted is not None else "predicted"
        self.class_choice.addItem(label, None)
        for index, name in enumerate(names):
            self.class_choice.addItem(name, index)
        found = self.class_choice.findData(chosen) if chosen is not None else 0
        self.class_choice.setCurrentIndex(max(found, 0))
        self.class_choice.blockSignals(blocked)

    def _layer_name(self, node_id: str | None) -> str:
        document = self.host.document
        return document.node(node_id).name if document is not None and node_id in document else str(node_id)

    def _heat_caption(self, explanation: Explanation) -> str:
        where = f" · {self._layer_name(explanation.layer_id)}" if explanation.layer_id else ""
        return f"{METHOD_TITLES[explanation.method]}{where}"

    def _title(self, explanation: Explanation, names: list[str]) -> str:
        name = html.escape(names[explanation.class_index])
        probabilities = dict(explanation.top)
        predicted = explanation.top[0][0] if explanation.top else None
        if explanation.class_index == predicted:
            how = f"the predicted class, {probabilities[predicted]:.1%}"
        else:
            chance = probabilities.get(explanation.class_index)
            odds = f", {chance:.1%}" if chance is not None else ""
            how = f"not the prediction{odds}; the network predicts {html.escape(names[predicted])}"  # type: ignore[index]
        method = METHOD_TITLES[explanation.method]
        return f"<b>Why “{name}”?</b> ({how}) · {method} on <b>{html.escape(self._sample_name())}</b>"

    def _sample_name(self) -> str:
        return self._sample.description if self._sample is not None else "the input"

    def _notes(self, result: ExplainResult) -> str:
        explanation, notes = result.explanation, []
        if explanation.method == "gradcam":
            layer = html.escape(self._layer_name(explanation.layer_id))
            chosen = self.node_id is not None and explanation.layer_id == self.node_id
            if chosen and self.layer_choice.currentData() == "selected":
                notes.append(f"Grad-CAM reads <b>{layer}</b>, the selected layer (Layer above, or the canvas).")
            else:
                notes.append(f"Grad-CAM reads <b>{layer}</b>, the last feature map before the class scores.")
                selected = self._unusable_selection(result)
                if selected:
                    notes.append(selected)
        elif explanation.method == "occlusion":
            height, width = explanation.heatmap.shape
            count = window_count(height, width, self.window.value(), self.stride.value())
            notes.append(f"{count} hidden squares of {self.window.value()}×{self.window.value()} px, one pass each.")
        if not result.trained:
            return f"<span style='color:#c62828'>{UNTRAINED_NOTE}</span> " + " ".join(notes)
        notes.append(html.escape(result.weights_note.capitalize()) + ".")
        return " ".join(notes)

    def _unusable_selection(self, result: ExplainResult) -> str:
        """Why the canvas selection is not Grad-CAM's layer, or ``""``."""
        document = self.host.document
        if self.layer_choice.currentData() != "selected" or document is None or self.node_id not in document:
            return ""
        name = html.escape(document.node(self.node_id).name)  # type: ignore[arg-type]
        if result.fallback_reason:
            return f"The selected layer {name} cannot be used: {html.escape(result.fallback_reason)}."
        shape = _shape_of(document, self.node_id)  # type: ignore[arg-type]
        shown = format_shape(shape) if shape is not None else "unknown"
        return f"The selected layer {name} outputs {shown}, not a feature map."


def _shape_of(document: NetworkDocument, node_id: str) -> tuple | None:
    try:
        shape = check_graph(document).shapes.get(node_id)
    except LayerwiseError:
        return None
    return tuple(shape) if shape is not None else None
