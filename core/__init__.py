"""Layerwise core: a Qt-free library that knows what a network is.

Everything a user can do in the app can be done headless through this package:
build a layer graph, check it, infer shapes, count parameters and multiply-adds,
compute receptive fields, and read or write the network file.
"""
