"""Test-profile runs of every kind end with a complete findings table,
and a StarGAN run with ``--judge`` logs the quality curves (drawn in
quality.png) while one without logs exactly what it logged before."""
import json

import pytest

from vox.cli import main as vox_main
from vox.evaluation.balance import balanced_snapshot
from vox.reports.findings import (NOT_COMPARABLE, NOT_REPRODUCED,
                                  REPRODUCED, SECTION_END, check_run,
                                  load_findings)
from vox.training.store import snapshots

VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_COMPARABLE)


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp('quality')
    for exp_id, name in (('e19098ab', 'judge'), ('cfcefd21', 'plain')):
        assert vox_main(['run', exp_id, '--profile', 'test', '--results',
                         str(root), '--run', name]) == 0
    assert vox_main(['run', 'cfcefd21', '--profile', 'test', '--results',
                     str(root), '--run', 'judged', '--judge',
                     str(root / 'e19098ab' / 'judge')]) == 0
    return root


def _log(run_dir):
    return json.loads((run_dir / 'log').read_text())


def test_without_a_judge_the_log_is_unchanged(results):
    plain = _log(results / 'cfcefd21' / 'plain')
    judged = _log(results / 'cfcefd21' / 'judged')
    assert not any(k.startswith('quality/') for e in plain for k in e)
    assert len(plain) == len(judged)
    for a, b in zip(plain, judged):
        b = {k: v for k, v in b.items() if not k.startswith('quality/')}
        a, b = dict(a), dict(b)
        a.pop('elapsed_time'), b.pop('elapsed_time')
        assert a == b           # the judge leaves training bit for bit alone
    assert not (results / 'cfcefd21' / 'plain' / 'quality.png').exists()


def test_with_a_judge_the_curves_are_logged_and_drawn(results):
    run_dir = results / 'cfcefd21' / 'judged'
    scored = [e for e in _log(run_dir) if 'quality/content_kept' in e]
    assert [e['epoch'] for e in scored] == [1, 2]        # every snapshot
    for e in scored:
        assert 0 <= e['quality/content_kept'] <= 1
        assert 0 <= e['quality/judge_sex'] <= 1
    assert (run_dir / 'quality.png').stat().st_size > 0
    page = (run_dir / 'report.html').read_text()
    assert 'alt="quality.png"' in page
    cfg = (run_dir / 'config.yaml').read_text()
    assert f"judge: {results / 'e19098ab' / 'judge'}" in cfg


def test_balanced_snapshot_is_the_best_min_of_the_two(results, tmp_path):
    run_dir = results / 'cfcefd21' / 'judged'
    log = _log(run_dir)
    # rewrite the scores so that the first snapshot is the balanced one
    for e, (j, k) in zip([e for e in log if 'quality/content_kept' in e],
                         ((0.5, 0.6), (0.9, 0.1))):
        e['quality/judge'], e['quality/content_kept'] = j, k
    (run_dir / 'log').write_text(json.dumps(log))
    path, why = balanced_snapshot(run_dir)
    assert path == snapshots(run_dir)[0]
    assert 'judge 0.50, content kept 0.60' in why and '0.50' in why


def test_every_kind_ends_with_a_complete_findings_table(results):
    for exp_id in ('bc7db4a2', '54314b33'):
        assert vox_main(['run', exp_id, '--profile', 'test', '--results',
                         str(results), '--run', 'test']) == 0
    assert vox_main(['run', 'blurmask-5', '--profile', 'smoke',
                     '--results', str(results), '--run', 'smoke']) == 0
    runs = {'e19098ab': 'judge', 'cfcefd21': 'plain', 'bc7db4a2': 'test',
            '54314b33': 'test', 'blurmask-5': 'smoke'}
    for exp_id, name in runs.items():
        run_dir = results / exp_id / name
        result = check_run(run_dir)
        assert len(result['findings']) == len(load_findings(exp_id)) >= 2
        for v in result['findings']:
            assert v['verdict'] in VERDICTS, v
            assert v['verdict'] != NOT_COMPARABLE or v['reason'], v
        assert result['label'].split(' ')[0] in ('test', 'smoke')
        summary = (run_dir / 'summary.md').read_text()
        own = summary.index('| quantity |' if exp_id.startswith('blurmask')
                            else '| figure |')
        assert summary.index('## Findings') < summary.index(
            SECTION_END) < own
        for v in result['findings']:
            assert f"| {v['id']} |" in summary
