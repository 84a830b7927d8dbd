"""See inside a network: receptive fields, feature maps and filters, activation distributions.

:class:`gui.inside.inside_panel.InsidePanel` is the panel the main window docks; the
computations live in :mod:`core.analysis` and run through
:class:`gui.inside.model_host.ModelHost`.
"""
