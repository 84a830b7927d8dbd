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
    "Input": "#546e7a",
    "Convolution": "#1565c0",
    "Pooling": "#00838f",
    "Normalization": "#6a1b9a",
    "Activation": "#ef6c00",
    "Regularization": "#795548",
    "Merge": "#2e7d32",
    "Dense": "#ad1457",
}
"""Node header colours per palette category (white text on each)."""
