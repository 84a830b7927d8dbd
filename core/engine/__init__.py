"""The NumPy engine: layer runtimes, the model compiler, losses and optimisers.

Import :class:`core.engine.model.Model` to run or train a network document.
"""
