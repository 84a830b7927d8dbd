"""Sizes and colours of the canvas, in one place."""

from __future__ import annotations

NODE_WIDTH = 204.0
NODE_HEADER_HEIGHT = 24.0
PORT_RADIUS = 5.0

NODE_BODY = "#ffffff"
NODE_BORDER = "#b9c0c8"
NODE_TEXT = "#1f2933"
NODE_TEXT_DIM = "#5f6b76"
SELECTION_COLOUR = "#1e88e5"
ERROR_COLOUR = "#c62828"
EDGE_COLOUR = "#8a96a3"
EDGE_SELECTED_COLOUR = "#1e88e5"
CANVAS_BACKGROUND = "#f4f6f8"
CANVAS_GRID = "#e3e7eb"

CATEGORY_COLOURS = {
    "Input": "#5B6B7C",
    "Convolution": "#2F67D8",
    "Pooling": "#0F7C74",
    "Normalization": "#7A4CD9",
    "Activation": "#C4511A",
    "Regularization": "#B8325E",
    "Merge": "#2E7D3A",
    "Dense": "#9A5B13",
}
"""Colour of each palette category (hex): palette icons and node headers, white text on each."""
