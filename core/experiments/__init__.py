"""Experiments: sweeps over training settings and layer parameters, run in parallel, kept in a file."""
