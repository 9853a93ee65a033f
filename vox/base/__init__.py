"""Lowest layer: errors, progress bars, device selection, measurement primitives."""
