"""PyTorch as a training engine of the app (optional: needs the ``torch`` extra)."""
