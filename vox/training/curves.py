"""How a learning-curve axis is styled, for PlotReport and ``vox compare``.

Chainer's PlotReport draws every key with Matplotlib's default cycle, so a
figure of more than ten keys repeats a colour and a key's training and
validation curves are unrelated colours.  ``style_axes`` is given to
PlotReport as its ``postprocess`` (it runs after the lines are drawn and
before the legend is made): each key gets its own colour from
``PALETTE`` in the order the plot lists them, its ``validation/`` twin the
same colour dashed, and the axis goes to log scale when a positive term
spans ``LOG_DECADES`` decades (the gradient penalty falls from ~10 to
~0.01).  ``vox compare`` uses the same rules for its figures.
"""
import numpy as np

VALIDATION = 'validation/'
#: Matplotlib's tab10 without its grey (#7f7f7f), which reads as "disabled".
PALETTE = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
           '#8c564b', '#e377c2', '#bcbd22', '#17becf')
#: A positive series whose max / min reaches 10 ** LOG_DECADES: log y.
LOG_DECADES = 2
#: At most this many keys (each with its validation twin) per axis.
MAX_KEYS_PER_AXIS = 6


def base_key(key):
    """``validation/gen/loss_rec`` -> ``gen/loss_rec``."""
    return key[len(VALIDATION):] if key.startswith(VALIDATION) else key


def is_validation(key):
    return key.startswith(VALIDATION)


def colours(keys):
    """``{base key: colour}``, one colour each, in the order of ``keys``."""
    out = {}
    for key in keys:
        base = base_key(key)
        if base not in out:
            out[base] = PALETTE[len(out) % len(PALETTE)]
    return out


def line_style(key, palette):
    """Matplotlib ``plot`` keyword arguments for ``key``."""
    return {'color': palette[base_key(key)],
            'linestyle': '--' if is_validation(key) else '-'}


def spans_decades(values, decades=LOG_DECADES):
    """True when every value is positive and max / min >= 10 ** decades."""
    values = np.asarray([v for v in values if np.isfinite(v)], float)
    if not len(values) or values.min() <= 0:
        return False
    return values.max() / values.min() >= 10 ** decades


def style_axes(figure, axes, summary=None):
    """PlotReport's ``postprocess``: colours, dashes, log scale.

    PlotReport labels each line with its key, so the lines are restyled by
    their labels; the legend PlotReport makes next picks the styles up.
    """
    lines = [line for line in axes.get_lines()
             if not line.get_label().startswith('_')]
    palette = colours([line.get_label() for line in lines])
    ys = []
    for line in lines:
        style = line_style(line.get_label(), palette)
        line.set_color(style['color'])
        line.set_linestyle(style['linestyle'])
        line.set_markersize(4)
        ys.extend(np.asarray(line.get_ydata(), float).ravel())
    if spans_decades(ys):
        axes.set_yscale('log')
