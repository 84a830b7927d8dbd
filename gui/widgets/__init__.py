"""Reusable widgets: image thumbnails, sample grids and dataset previews."""
