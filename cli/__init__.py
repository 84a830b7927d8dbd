"""The headless front end: one module per ``layerwise`` subcommand."""
