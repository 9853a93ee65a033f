"""Learning-curve styling: PlotReport figures and vox compare."""
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vox.training import autoencoder, classifier, stargan  # noqa: E402
from vox.training.curves import (MAX_KEYS_PER_AXIS, base_key,  # noqa: E402
                                 style_axes)


def _draw(keys, values=None):
    """An axis drawn as Chainer's PlotReport draws it, then styled."""
    fig = plt.figure()
    ax = fig.add_subplot(111)
    for i, key in enumerate(keys):  # PlotReport: default cycle, label=key
        ys = values[key] if values else [1.0 + i, 0.5 + i, 0.4 + i]
        ax.plot(range(len(ys)), ys, marker='x', label=key)
    style_axes(fig, ax, None)
    lines = {line.get_label(): line for line in ax.get_lines()}
    return fig, ax, lines


@pytest.mark.parametrize('plots', [stargan.PLOTS, classifier.PLOTS,
                                   autoencoder.PLOTS])
def test_every_plotreport_axis_has_one_colour_per_key(plots):
    for png, keys in plots.items():
        bases = {base_key(k) for k in keys}
        assert len(bases) <= MAX_KEYS_PER_AXIS, png
        fig, _, lines = _draw(keys)
        colour = {}
        for key, line in lines.items():
            colour.setdefault(base_key(key), set()).add(line.get_color())
            assert line.get_linestyle() == (
                '--' if key.startswith('validation/') else '-'), key
        # a key and its validation twin share one colour ...
        assert all(len(c) == 1 for c in colour.values()), png
        # ... and no two keys share one
        assert len({c.pop() for c in colour.values()}) == len(bases), png
        plt.close(fig)


def test_the_accuracies_are_one_figure_per_label_group():
    accuracy = [k for png, keys in stargan.PLOTS.items()
                if png.startswith('accuracy') for k in keys]
    for png, keys in stargan.PLOTS.items():
        if png.startswith('accuracy_'):
            group = png[len('accuracy_'):-len('.png')]
            assert all(k.endswith(f'acc_{group}') for k in keys)
    assert len(accuracy) == 12


def test_a_term_spanning_decades_gets_a_log_axis():
    fig, ax, _ = _draw(['dis/loss_gp', 'validation/dis/loss_gp'],
                       {'dis/loss_gp': [10.0, 0.5, 0.02],
                        'validation/dis/loss_gp': [8.0, 0.3, 0.05]})
    assert ax.get_yscale() == 'log'
    plt.close(fig)
    # WGAN's critic term changes sign: it stays linear
    fig, ax, _ = _draw(['dis/loss_adv'], {'dis/loss_adv': [10, -0.5, 0.01]})
    assert ax.get_yscale() == 'linear'
    plt.close(fig)
    fig, ax, _ = _draw(['gen/loss_rec'], {'gen/loss_rec': [0.5, 0.3, 0.2]})
    assert ax.get_yscale() == 'linear'
    plt.close(fig)


def test_a_snapshot_without_the_figure_still_resumes(tmp_path):
    """A snapshot from before the StarGAN's figures were regrouped."""
    import chainer
    from vox.training.common import PlotReport
    old = PlotReport(['dis/loss_adv'], filename='dis_adversarial.png')
    old._data['dis/loss_adv'].append((1, 0.5))
    chainer.serializers.save_npz(str(tmp_path / 'snap.npz'), old)
    new = PlotReport(['dis/loss_adv'], filename='critic.png')
    chainer.serializers.load_npz(str(tmp_path / 'snap.npz'), new)  # strict
    assert not new._data['dis/loss_adv']  # starts at the resume point
    again = PlotReport(['dis/loss_adv'], filename='dis_adversarial.png')
    chainer.serializers.load_npz(str(tmp_path / 'snap.npz'), again)
    assert again._data['dis/loss_adv'] == [[1, 0.5]]


def test_compare_groups_a_stargan_as_its_plotreports():
    from vox.reports.compare import RunInfo, curve_groups
    run = RunInfo(path=None, label='r', exp_id='cfcefd21',
                  config={'kind': 'stargan'}, environment={}, command='',
                  log=[], summary={})
    keys = {k for keys in stargan.PLOTS.values() for k in keys}
    groups = curve_groups([run], keys | {'main/other'})
    assert groups['critic'] == ['dis/loss', 'dis/loss_adv', 'dis/loss_cls']
    assert groups['critic_gradient_penalty'] == ['dis/loss_gp']
    assert groups['accuracy_sex'] == ['dis/acc_sex', 'gen/acc_sex']
    assert groups['main_other'] == ['main/other']  # no PlotReport draws it
    assert len(groups) == len(stargan.PLOTS) + 1
