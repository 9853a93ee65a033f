from vox.functions.frequency_blur import frequency_blur  # noqa: F401
