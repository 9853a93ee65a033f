"""The model vox builds against the blog's diagrams: traces, errata checks."""
