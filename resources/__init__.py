"""Data shipped with Layerwise: example networks, icons, styles."""
