"""Progress bars: redrawn in place on a terminal, sparse whole lines in a
log, ended before an error.  Time comes from an injected clock."""
import io

import pytest

from vox.base import progress as progress_module
from vox.base.progress import LineProgress, end_open_lines, progress


class Clock:
    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_log_gets_a_line_per_ten_seconds_and_the_last():
    out = io.StringIO()
    # 1000 items, one per 0.1 s: 100 s in all
    items = list(progress(range(1000), label='work', stream=out,
                          clock=Clock(0.1), terminal=False))
    assert items == list(range(1000))
    lines = out.getvalue().split('\n')
    assert lines[-1] == '' and '\r' not in out.getvalue()
    lines = lines[:-1]
    assert 9 <= len(lines) <= 12     # the first, one per 10 s, the last
    assert lines[0].startswith('work [') and ' 1/1000 ' in lines[0]
    assert ' 1000/1000 ' in lines[-1]


def test_log_final_line_when_the_count_falls_short():
    out = io.StringIO()
    list(progress(range(50), total=80, label='x', stream=out,
                  clock=Clock(1.0), terminal=False))
    lines = out.getvalue().splitlines()
    assert ' 50/80 ' in lines[-1]
    assert len(lines) <= 2 + 50 // 10


def test_terminal_redraws_in_place_and_ends_the_line():
    out = io.StringIO()
    list(progress(range(100), label='t', stream=out, clock=Clock(0.1),
                  terminal=True))
    text = out.getvalue()
    assert text.count('\n') == 1 and text.endswith('\n')
    # 10 s of items: the first, one per more than 0.2 s, the last
    assert 30 <= text.count('\r') <= 52


def test_an_error_in_the_loop_ends_the_open_line():
    out = io.StringIO()

    def failing():
        yield 1
        raise ValueError('boom')
    with pytest.raises(ValueError):
        for _ in progress(failing(), total=3, stream=out, clock=Clock(1),
                          terminal=True):
            pass
    assert out.getvalue().endswith('\n')


def test_end_open_lines_before_an_error_message():
    out = io.StringIO()
    bar = progress(range(3), stream=out, clock=Clock(1), terminal=True)
    next(bar), next(bar)               # item 1 drawn, the line open
    assert not out.getvalue().endswith('\n')
    end_open_lines()
    out.write('vox: error: x\n')
    assert '\nvox: error: x' in out.getvalue()
    bar.close()                        # and no second newline
    assert out.getvalue().endswith('vox: error: x\n')


def test_cli_ends_a_bar_before_its_error(monkeypatch, capsys):
    from vox import cli
    from vox.base.errors import VoxError

    class Stream(io.StringIO):
        def isatty(self):
            return True
    stream = Stream()

    def command(args):
        bar = progress(range(5), stream=stream)
        next(bar), next(bar)           # item 1 drawn, the line open
        raise VoxError('broken')
    monkeypatch.setattr(cli, 'build_parser', lambda: type(
        'P', (), {'parse_args': lambda self, argv: type(
            'A', (), {'func': staticmethod(command)})()})())
    assert cli.main([]) == 2
    assert stream.getvalue().endswith('\n')
    assert capsys.readouterr().err == 'vox: error: broken\n'
    assert progress_module._open_lines == {}


def test_line_progress_for_a_trainer():
    out = io.StringIO()
    line = LineProgress('train', out, clock=Clock(0.5))
    for i in range(1, 601):
        line.update(i, i / 600)
    lines = out.getvalue().splitlines()
    assert 25 <= len(lines) <= 32     # 300 s: the first, one per 10 s, last
    assert lines[0].startswith('train 1')
    assert lines[-1].startswith('train 600,')


def test_training_progress_in_a_log_is_sparse():
    from vox.training.common import progress_bar

    class Trigger:
        def get_training_length(self):
            return 4, 'epoch'

    class Updater:
        iteration, epoch, epoch_detail = 0, 0, 0.0

    trainer = type('Trainer', (), {'stop_trigger': Trigger(),
                                   'updater': Updater()})()
    out = io.StringIO()
    extension = progress_bar(trainer, out, clock=Clock(0.5))
    for i in range(1, 403):            # 100.5 iterations an epoch, 200 s
        trainer.updater.iteration = i
        trainer.updater.epoch_detail = i / 100.5
        trainer.updater.epoch = int(i // 100.5)
        extension(trainer)
    lines = out.getvalue().splitlines()
    assert 15 <= len(lines) <= 22
    assert lines[-1].startswith('vox: training iteration 402 (epoch 4/4)')
