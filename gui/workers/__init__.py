"""Workers that keep long computations off the GUI thread."""
