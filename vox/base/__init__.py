"""Lowest layer: errors, progress bars, device selection, paths, labels,
snapshot names."""
