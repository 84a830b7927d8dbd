"""Layerwise's Qt front end: a view and controller over :mod:`core`."""
