"""Sizes and colours of the canvas, in one place; colours come in a light and a dark theme."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QPalette

NODE_WIDTH = 204.0
NODE_HEADER_HEIGHT = 24.0
PORT_RADIUS = 5.0

CATEGORY_COLOURS = {
    "Input": "#5B6B7C",
    "Convolution": "#2F67D8",
    "Pooling": "#0F7C74",
    "Resampling": "#6B6A12",
    "Normalization": "#7A4CD9",
    "Activation": "#C4511A",
    "Regularization": "#B8325E",
    "Merge": "#2E7D3A",
    "Dense": "#9A5B13",
}
"""Colour of each palette category (hex): palette icons and node headers, white text on each."""


@dataclass(frozen=True)
class CanvasTheme:
    """Colours of everything the canvas draws apart from the category headers."""

    background: str
    grid: str
    node_body: str
    node_border: str
    node_text: str
    node_text_dim: str
    edge: str
    edge_selected: str
    selection: str
    error: str


LIGHT = CanvasTheme(
    background="#f4f6f8",
    grid="#e3e7eb",
    node_body="#ffffff",
    node_border="#b9c0c8",
    node_text="#1f2933",
    node_text_dim="#5f6b76",
    edge="#8a96a3",
    edge_selected="#1e88e5",
    selection="#1e88e5",
    error="#c62828",
)
DARK = CanvasTheme(
    background="#1b1d20",
    grid="#25282c",
    node_body="#2a2d31",
    node_border="#464b52",
    node_text="#e2e5e9",
    node_text_dim="#9aa3ad",
    edge="#7d8893",
    edge_selected="#5aa9f0",
    selection="#5aa9f0",
    error="#ef5350",
)


def theme_for(palette: QPalette) -> CanvasTheme:
    """The dark theme when the window background is dark, the light one otherwise."""
    return DARK if palette.color(QPalette.ColorRole.Window).lightness() < 128 else LIGHT
