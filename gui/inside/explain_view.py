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
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
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
from gui.inside.input_chooser import InputChooser, InputSample
from gui.inside.maps import SIGNED_MAP, accent, colourise, paint_colour_bar, rgb_qimage
from gui.inside.model_host import CompiledModel, ModelHost, shielded
from gui.widgets.images import sample_to_uint8
from gui.widgets.sample_grid import muted_colour

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
LEGENDS = {
    "gradcam": (
        "strong evidence",
        "none",
        "Warm colours: the layer's features there speak for the class (the strongest is 1).",
    ),
    "saliency": ("most sensitive", "insensitive", "Warm colours: changing these pixels changes the class score most."),
    "smoothgrad": (
        "most sensitive",
        "insensitive",
        "Warm colours: pixels the class score depends on, with the noise averaged out.",
    ),
    "occlusion": (
        "hiding hurts",
        "hiding helps",
        "Red: hiding these pixels lowers the class probability; blue: hiding them raises it.",
    ),
}
"""Per method: what the top and bottom of the colour bar mean, and a sentence for the legend."""
UNSIGNED_MAP = "turbo"
TOP_K = 5
DEFAULT_OPACITY = 80
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


def heat_levels(heatmap: np.ndarray, method: str) -> tuple[float, float]:
    """The values at the bottom and top of the colour bar: ``0 … max`` or ``±max|v|`` (occlusion)."""
    finite = heatmap[np.isfinite(heatmap)]
    top = float(np.abs(finite).max()) if finite.size else 0.0
    top = top if top > 0 else 1.0
    return (-top, top) if method == "occlusion" else (0.0, top)


def colour_map_of(method: str) -> str:
    return SIGNED_MAP if method == "occlusion" else UNSIGNED_MAP


def input_rgb(x: np.ndarray) -> np.ndarray:
    """The input ``(C, H, W)`` as ``(H, W, 3)`` uint8 (grey repeated into three channels)."""
    pixels = sample_to_uint8(x)
    return pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=-1)


def overlay_weight(heat: np.ndarray, levels: tuple[float, float], opacity: float) -> np.ndarray:
    """How much of the heat map covers each pixel: ``opacity · strength``, strength in ``[0, 1]``.

    Strength is the value's share of the colour bar's top (its magnitude for occlusion), so the input
    shows through where there is little evidence and the strongest places read first.
    """
    low, high = levels
    strength = np.abs(heat) / max(abs(low), high) if low < 0 else (heat - low) / (high - low)
    return opacity * np.clip(np.nan_to_num(strength, nan=0.0), 0.0, 1.0)


def blend(image: np.ndarray, heat_rgb: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    """``(1 − w) · image + w · heat`` per pixel, both ``(H, W, 3)`` uint8; ``w`` scalar or ``(H, W)``."""
    w = np.asarray(weight, dtype=np.float32)
    w = w[..., None] if w.ndim == 2 else w
    mixed = (1.0 - w) * image.astype(np.float32) + w * heat_rgb.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


# -- the picture ---------------------------------------------------------------------------


def _fit_scale(room: float) -> float:
    """Whole-number zoom when enlarging by 2 or more, so pixels stay square."""
    return float(int(room)) if room >= 2 else room


class ExplainCanvas(QWidget):
    """The input and its heat map, overlaid or side by side, with a colour bar that says what high means."""

    BAR_ROOM = 132
    GAP = 18

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: np.ndarray | None = None
        self.heat: np.ndarray | None = None
        self.method = "gradcam"
        self.levels = (0.0, 1.0)
        self.side_by_side = False
        self.opacity = DEFAULT_OPACITY / 100
        self.input_caption = ""
        self.heat_caption = ""
        self.legend = ""
        self.message = ""
        self._input_image: QImage | None = None
        self._heat_image: QImage | None = None
        self._overlay_image: QImage | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 220)

    def set_picture(self, x: np.ndarray | None, heat: np.ndarray | None, method: str) -> None:
        """The input ``(C, H, W)`` in ``[0, 1]`` and its ``(H, W)`` map (either may be None)."""
        self.image = input_rgb(x) if x is not None else None
        self.heat, self.method = heat, method
        self._input_image = rgb_qimage(self.image) if self.image is not None else None
        if heat is not None:
            self.levels = heat_levels(heat, method)
            self._heat_image = rgb_qimage(self.heat_rgb())
        else:
            self._heat_image = None
        self._rebuild_overlay()

    def set_view(self, side_by_side: bool, opacity: float) -> None:
        self.side_by_side, self.opacity = side_by_side, opacity
        self._rebuild_overlay()

    def heat_rgb(self) -> np.ndarray:
        """The heat map's colours, ``(H, W, 3)`` uint8."""
        assert self.heat is not None
        return colourise(self.heat, *self.levels, colour_map_of(self.method))

    def overlay_rgb(self) -> np.ndarray | None:
        """What the overlay shows: the input blended with the heat map at the chosen opacity."""
        if self.image is None or self.heat is None or self.image.shape[:2] != self.heat.shape:
            return None
        return blend(self.image, self.heat_rgb(), overlay_weight(self.heat, self.levels, self.opacity))

    def _rebuild_overlay(self) -> None:
        overlay = self.overlay_rgb() if not self.side_by_side else None
        self._overlay_image = rgb_qimage(overlay) if overlay is not None else None
        self.update()

    def _panes(self) -> list[QRectF]:
        """One square-pixel pane per picture shown, centred, below room for a caption."""
        if self.image is None:
            return []
        h, w = self.image.shape[:2]
        count = 2 if self.side_by_side else 1
        line = QFontMetrics(self.font()).height()
        area = QRectF(self.rect()).adjusted(8, 16 + line, -8 - self.BAR_ROOM, -16 - line)
        room_w = (area.width() - self.GAP * (count - 1)) / count
        scale = _fit_scale(max(min(room_w / w, area.height() / h), 0.1))
        pane_w, pane_h = w * scale, h * scale
        total = count * pane_w + (count - 1) * self.GAP
        left = area.left() + max((area.width() - total) / 2, 0)
        return [QRectF(left + i * (pane_w + self.GAP), area.top(), pane_w, pane_h) for i in range(count)]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        panes = self._panes()
        if not panes or self._heat_image is None:
            painter.setPen(muted_colour(palette))
            text = self.message or "Computing…"
            painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), text)
            return
        assert self.image is not None
        smooth = panes[0].width() < self.image.shape[1] * 2  # whole-number zoom: keep pixels crisp
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        if self.side_by_side:
            pictures = [(self._input_image, self.input_caption), (self._heat_image, self.heat_caption)]
        else:
            pictures = [(self._overlay_image or self._heat_image, self.heat_caption)]
        for pane, (image, caption) in zip(panes, pictures):
            painter.setPen(text_colour)
            metrics = QFontMetrics(self.font())
            painter.drawText(
                QPointF(pane.left(), pane.top() - 8),
                metrics.elidedText(caption, Qt.TextElideMode.ElideRight, int(pane.width() + self.BAR_ROOM)),
            )
            if image is not None:
                painter.drawImage(pane, image)
            painter.setPen(QPen(muted_colour(palette), 1))
            painter.drawRect(pane)
        self._paint_colour_bar(painter, panes[-1], palette)
        painter.setPen(muted_colour(palette))
        legend = QRectF(panes[0].left(), panes[0].bottom() + 6, self.width() - panes[0].left() - 8, 40)
        painter.drawText(legend, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), self.legend)

    def _paint_colour_bar(self, painter: QPainter, pane: QRectF, palette: QPalette) -> None:
        height = min(pane.height(), 260.0)
        bar = QRectF(pane.right() + 14, pane.top() + (pane.height() - height) / 2, 12, height)
        small = paint_colour_bar(painter, bar, colour_map_of(self.method), muted_colour(palette), self.font())
        metrics = QFontMetrics(small)
        high_word, low_word, _ = LEGENDS[self.method]
        low, high = self.levels
        left = bar.right() + 6
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        painter.drawText(QPointF(left, bar.top() + metrics.ascent()), f"{high:.2g}")
        painter.drawText(QPointF(left, bar.bottom() - metrics.descent()), f"{low:.2g}")
        painter.setPen(muted_colour(palette))
        painter.drawText(QPointF(left, bar.top() + metrics.ascent() + metrics.height()), high_word)
        painter.drawText(QPointF(left, bar.bottom() - metrics.descent() - metrics.height()), low_word)
        if self.method == "occlusion":
            painter.drawText(QPointF(left, bar.center().y() + metrics.ascent() / 2), "0")
        painter.setFont(self.font())

    def sizeHint(self) -> QSize:
        return QSize(560, 320)


class ClassBars(QWidget):
    """The most probable classes as bars; the predicted one stands out, the explained one is marked.

    Signals
    -------
    class_clicked(int)
        A class's row was clicked.
    """

    class_clicked = Signal(int)
    ROW = 26
    NAME_WIDTH = 76

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.top: list[tuple[int, float]] = []
        self.names: list[str] = []
        self.explained: int | None = None
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setToolTip("Click a class to explain it.")

    def set_classes(self, top: list[tuple[int, float]], names: list[str], explained: int | None) -> None:
        self.top, self.names, self.explained = top, names, explained
        self.setFixedSize(self.sizeHint())
        self.update()

    def row_at(self, y: float) -> int | None:
        row = int(y // self.ROW)
        return row if 0 <= row < len(self.top) else None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        row = self.row_at(event.position().y())
        if row is not None:
            self.class_clicked.emit(self.top[row][0])

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        colour = accent(palette)
        bar_left, bar_room = self.NAME_WIDTH + 4, self.width() - self.NAME_WIDTH - 56
        for row, (index, probability) in enumerate(self.top):
            y = row * self.ROW
            line = QRectF(0, y + 1, self.width(), self.ROW - 2)
            if index == self.explained:
                marked = QColor(palette.color(QPalette.ColorRole.Highlight))
                marked.setAlpha(70)
                painter.fillRect(line, marked)
            font = QFont(self.font())
            font.setBold(row == 0)
            painter.setFont(font)
            metrics = QFontMetrics(font)
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            name = metrics.elidedText(self.names[index], Qt.TextElideMode.ElideRight, self.NAME_WIDTH - 6)
            centre = int(Qt.AlignmentFlag.AlignVCenter)
            painter.drawText(
                QRectF(4, y, self.NAME_WIDTH - 4, self.ROW), centre | int(Qt.AlignmentFlag.AlignLeft), name
            )
            bar = QRectF(bar_left, y + 7, max(bar_room * probability, 1.0), self.ROW - 14)
            painter.fillRect(bar, colour if row == 0 else muted_colour(palette))
            painter.drawText(
                QRectF(bar_left + bar_room + 4, y, 52, self.ROW),
                centre | int(Qt.AlignmentFlag.AlignLeft),
                f"{probability:.1%}",
            )

    def sizeHint(self) -> QSize:
        return QSize(240, max(len(self.top), 1) * self.ROW)


# -- the tab -------------------------------------------------------------------------------


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
            height, width = int(x.shape[1]), int(x.shape[2])
            window, stride = self.window.value(), self.stride.value()
            return (max(0, (height - window) // stride) + 1) * (max(0, (width - window) // stride) + 1) + 1
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
