"""Spectrogram pictures as people look at them: time on x, Hz on y, dB."""
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vox.data import audio  # noqa: E402


def to_db(mag):
    return 20.0 * np.log10(np.maximum(np.asarray(mag, np.float64), 1e-5))


def save_spectrograms(path, panels, title=None, db_range=None):
    """One PNG with one panel per ``(label, magnitude (T, 256))``.

    Magnitudes are raw (not the [0, 1] map); all panels share one dB colour
    scale (``db_range`` or the panels' max down 80 dB) so they compare.
    """
    dbs = [to_db(m) for _, m in panels]
    top = max(float(d.max()) for d in dbs)
    vmin, vmax = db_range or (top - 80.0, top)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4),
                             squeeze=False, constrained_layout=True)
    hz = audio.SAMPLE_RATE / audio.N_FFT
    for ax, (label, _), db in zip(axes[0], panels, dbs):
        t = db.shape[0] * audio.HOP / audio.SAMPLE_RATE
        image = ax.imshow(db.T, origin='lower', aspect='auto', cmap='magma',
                          vmin=vmin, vmax=vmax,
                          extent=(0, t, hz * audio.FIRST_BIN,
                                  hz * (audio.FIRST_BIN + audio.N_BINS)))
        ax.set_title(label)
        ax.set_xlabel('time [s]')
        ax.set_ylabel('frequency [Hz]')
    fig.colorbar(image, ax=axes[0].tolist(), label='dB')
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=80)
    plt.close(fig)
