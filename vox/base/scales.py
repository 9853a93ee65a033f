"""The scales a spectrogram is given to a model in (``data.scale``, the
blur masks' ``blur_scale`` and ``target.scale``), with the value range
each has, as the blog writes ranges: 'unit' is the fixed decibel map
``vox.data.audio.to_unit`` (the classifier and the StarGANs read it),
'raw' the STFT magnitude itself (the AutoEncoder reads it)."""

#: scale -> its value range.
SCALES = {'unit': '[0, 1]', 'raw': '[0, ∞)'}


def scale_choices():
    """``"'unit' or 'raw'"``: the scales as an error message lists them."""
    return ' or '.join(map(repr, SCALES))
