"""Layer runtimes: forward and backward passes on NumPy arrays for fixed input shapes.

This floor sits below the layer classes, which build their runtimes from it
(``Layer.build``); it knows nothing of layers, documents or training.
"""
