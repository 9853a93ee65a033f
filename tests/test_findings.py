"""The blog's findings checked on constructed run folders whose verdict is
known: for every finding of every experiment one folder that must give
"reproduced" and one that must give "not reproduced" (or, for a finding
no run can test, "not comparable" with the reason), and the blur-mask
findings over nine constructed runs.  Plus the report and summary.md
carrying the table first."""
import json

import numpy as np
import yaml

from vox.base.labels import BLOG_N_CLASSES
from vox.reports import blurmask_findings, findings, report
from vox.reports.findings import (NOT_COMPARABLE, NOT_REPRODUCED,
                                  REPRODUCED, check_run, load_findings)

BLOG_GPU = {'device': '@cupy:0'}


def make_run(tmp_path, exp_id, name, *, log=(), summary=None,
             evaluation=None, env=BLOG_GPU, profile='faithful',
             n_classes=BLOG_N_CLASSES, manifest=None):
    d = tmp_path / exp_id / name
    d.mkdir(parents=True)
    corpus = {'n_classes': list(n_classes)}
    if manifest is not None:
        (d / 'manifest.tsv').write_text(manifest)
        corpus['manifest'] = str(d / 'manifest.tsv')
    (d / 'config.yaml').write_text(yaml.safe_dump(
        {'id': exp_id, 'profile': profile, 'corpus': corpus,
         'train': {'epochs': 1000}}))
    (d / 'log').write_text(json.dumps(list(log)))
    (d / 'environment.json').write_text(json.dumps(env))
    if summary is not None:
        (d / 'summary.json').write_text(json.dumps(summary))
    if evaluation is not None:
        (d / 'evaluation.json').write_text(json.dumps(evaluation))
    return d


def verdicts(run_dir):
    return {v['id']: v for v in check_run(run_dir)['findings']}


def acc_for(kappa, n):
    """The accuracy whose chance-corrected score is ``kappa``."""
    chance = 1 / n
    return chance + kappa * (1 - chance)


# -- e19098ab ---------------------------------------------------------------

def test_e19098ab_speakers_and_birthplace(tmp_path):
    good = make_run(tmp_path, 'e19098ab', 'good', log=[{
        'epoch': 1000, 'validation/main/acc_speaker': acc_for(0.8, 1421),
        'validation/main/acc_birthplace': acc_for(0.3, 53)}])
    v = verdicts(good)
    assert v['speakers_separable']['verdict'] == REPRODUCED
    assert v['birthplace_poor']['verdict'] == REPRODUCED
    assert '0.8 ' in v['speakers_separable']['test']
    bad = make_run(tmp_path, 'e19098ab', 'bad', log=[{
        'epoch': 1000, 'validation/main/acc_speaker': acc_for(0.2, 1421),
        'validation/main/acc_birthplace': acc_for(0.9, 53)}])
    v = verdicts(bad)
    assert v['speakers_separable']['verdict'] == NOT_REPRODUCED
    assert v['birthplace_poor']['verdict'] == NOT_REPRODUCED


def test_chance_correction_uses_this_corpus_class_counts(tmp_path):
    # 0.5 on 2 speakers is chance: not "telling them apart"
    d = make_run(tmp_path, 'e19098ab', 'two', n_classes=(2, 2, 2), log=[{
        'epoch': 5, 'validation/main/acc_speaker': 0.5,
        'validation/main/acc_birthplace': 0.5}])
    v = verdicts(d)['speakers_separable']
    assert v['verdict'] == NOT_REPRODUCED and v['value'] == 0.0
    assert 'chance 0.5' in v['baseline']


def test_training_hours_compare_only_on_the_blogs_setting(tmp_path):
    hours = {'elapsed_seconds': 16.0 * 3600, 'epoch': 1000}
    same = make_run(tmp_path, 'e19098ab', 'same', summary=hours)
    assert verdicts(same)['training_hours']['verdict'] == REPRODUCED
    slow = make_run(tmp_path, 'e19098ab', 'slow',
                    summary={'elapsed_seconds': 80 * 3600, 'epoch': 1000})
    assert verdicts(slow)['training_hours']['verdict'] == NOT_REPRODUCED
    cpu = make_run(tmp_path, 'e19098ab', 'cpu', summary=hours,
                   env={'device': '@numpy'}, n_classes=(18, 3, 2),
                   profile='smoke')
    v = verdicts(cpu)['training_hours']
    assert v['verdict'] == NOT_COMPARABLE
    assert '18/3/2' in v['reason'] and '@numpy' in v['reason'] \
        and 'smoke profile' in v['reason']


def test_confounded_birthplace_is_not_comparable(tmp_path):
    # birthplace "west" is held by one speaker only
    manifest = ('path\tspeaker\tbirthplace\tsex\n'
                'a.wav\ts1\tnorth\tF\nb.wav\ts2\tnorth\tM\n'
                'c.wav\ts3\twest\tF\n')
    d = make_run(tmp_path, 'e19098ab', 'conf', manifest=manifest, log=[{
        'epoch': 9, 'validation/main/acc_speaker': 0.9,
        'validation/main/acc_birthplace': 0.5}])
    v = verdicts(d)['birthplace_poor']
    assert v['verdict'] == NOT_COMPARABLE and 'west' in v['reason']


# -- 54314b33 ---------------------------------------------------------------

def evaluation(sex_acc, kept, flags=()):
    return {'n_crops': 40, 'changed': {'sex': {'n': 80,
                                               'accuracy': sex_acc}},
            'chance': {'sex': 0.5}, 'classifier_accuracy_real': {'sex': 0.9},
            'judge': {'flags': list(flags)},
            'content': {'positions': {'converted': {'content_kept': kept}}}}


def test_54314b33_from_the_evaluation(tmp_path):
    log = [{'epoch': 1000, 'validation/dis/acc_speaker': acc_for(0.1, 1421)}]
    blog_like = make_run(tmp_path, '54314b33', 'like', log=log,
                         evaluation=evaluation(0.8, 0.1))
    v = verdicts(blog_like)
    assert v['sounds_female']['verdict'] == REPRODUCED      # 0.75 >= 0.25
    assert v['content_lost']['verdict'] == REPRODUCED
    assert v['discriminator_speaker_poor']['verdict'] == REPRODUCED
    assert '80 conversions of 40 crops' in v['sounds_female']['measured']
    better = make_run(
        tmp_path, '54314b33', 'better',
        log=[{'epoch': 1000,
              'validation/dis/acc_speaker': acc_for(0.9, 1421)}],
        evaluation=evaluation(0.55, 0.9))
    v = verdicts(better)
    assert v['sounds_female']['verdict'] == NOT_REPRODUCED  # 0.125 < 0.25
    assert v['content_lost']['verdict'] == NOT_REPRODUCED
    assert v['discriminator_speaker_poor']['verdict'] == NOT_REPRODUCED


def test_54314b33_without_an_evaluation_or_with_a_flagged_judge(tmp_path):
    v = verdicts(make_run(tmp_path, '54314b33', 'none'))
    assert v['content_lost']['verdict'] == NOT_COMPARABLE
    assert 'vox evaluate' in v['content_lost']['reason']
    flagged = make_run(tmp_path, '54314b33', 'flag',
                       evaluation=evaluation(0.8, 0.1, ['trained 6 epochs']))
    v = verdicts(flagged)['sounds_female']
    assert v['verdict'] == NOT_COMPARABLE and '6 epochs' in v['reason']


# -- bc7db4a2 ---------------------------------------------------------------

def test_bc7db4a2_mse_vram_and_the_unpublished_previous(tmp_path):
    def summary(vram):
        return {'elapsed_seconds': 1.5 * 3600, 'epoch': 200,
                'reference': [{'figure': 'vram_mib', 'this_run': vram}]}
    good = make_run(tmp_path, 'bc7db4a2', 'good', summary=summary(2900),
                    log=[{'epoch': 200, 'main/mse': 0.021}])
    v = verdicts(good)
    assert v['final_mse']['verdict'] == REPRODUCED
    assert v['fits_3017_mib']['verdict'] == REPRODUCED
    assert v['training_hours']['verdict'] == REPRODUCED
    assert v['lower_than_previous']['verdict'] == NOT_COMPARABLE
    assert 'c9335bce' in v['lower_than_previous']['reason']
    bad = make_run(tmp_path, 'bc7db4a2', 'bad', summary=summary(5000),
                   log=[{'epoch': 200, 'main/mse': 0.05}])
    v = verdicts(bad)
    assert v['final_mse']['verdict'] == NOT_REPRODUCED
    assert v['fits_3017_mib']['verdict'] == NOT_REPRODUCED


# -- cfcefd21 ---------------------------------------------------------------

def test_cfcefd21_memory_ratio(tmp_path, monkeypatch):
    d = make_run(tmp_path, 'cfcefd21', 'r')
    for ratio, want in ((0.26, REPRODUCED), (1.3, NOT_REPRODUCED)):
        monkeypatch.setitem(
            findings.bench_figures.MEASURES, 'activation_ratio_quarter',
            lambda run_dir, r=ratio: (r, f'ratio {r}', None))
        v = verdicts(d)
        assert v['quarter_length_less_memory']['verdict'] == want
        assert v['previous_needs_batch_2']['verdict'] == NOT_COMPARABLE
        assert '9ada9179' in v['previous_needs_batch_2']['reason']


def test_every_finding_has_a_verdict_and_the_smoke_label(tmp_path):
    for exp_id in ('e19098ab', '54314b33', 'bc7db4a2', 'cfcefd21'):
        d = make_run(tmp_path, exp_id, 'smoke', profile='smoke')
        result = check_run(d)
        assert len(result['findings']) == len(load_findings(exp_id)) >= 2
        assert all(v['verdict'] in (REPRODUCED, NOT_REPRODUCED,
                                    NOT_COMPARABLE) for v in
                   result['findings'])
        assert result['label'].startswith('smoke run')


# -- the blur-mask notes over nine runs -------------------------------------

BLUR = {  # id: (lambda, on, conserve, relu)
    1: (0.1, 'entropy', False, False), 2: (0.01, 'entropy', False, False),
    3: (1e-6, 'entropy', False, False), 4: (10.0, 'entropy', False, False),
    5: (1.0, 'entropy', False, False), 6: (1e-3, 'entropy', False, False),
    7: (1.0, 'entropy', True, False), 8: (1e5, 'mse', True, False),
    9: (1e4, 'mse', True, True)}


def make_blur_runs(tmp_path, like_notes):
    rng = np.random.RandomState(0)
    for i, (lam, on, conserve, relu) in BLUR.items():
        mean = np.log10(lam) + 7 if like_notes else 10 - np.log10(lam)
        spread = 0.01 if like_notes else 0.5
        m = mean * (1 + spread * rng.randn(32, 16))
        if i == 8:
            m = rng.randn(32, 16) * (3 if like_notes else 0.01) + \
                (0.5 if like_notes else 5)
        if i == 9:
            m = np.full((32, 16), 5.0) + (0 if like_notes else
                                          rng.rand(32, 16))
        d = tmp_path / f'blurmask-{i}' / 'r'
        d.mkdir(parents=True)
        np.savez(d / 'final.npz', m=m)
        total = 100.0 if conserve == like_notes else 97.0
        (d / 'summary.json').write_text(json.dumps({
            'id': f'blurmask-{i}', 'profile': 'faithful', 'lambda': lam,
            'lambda_on': on, 'conserve_total': conserve, 'relu_on_m': relu,
            'input_fft_total': 100.0,
            'final': {'m_mean': float(m.mean()),
                      'm_negative': float((m < 0).mean()),
                      'fft_total': total if conserve else 97.0}}))


def test_blurmask_findings_as_the_notes(tmp_path):
    make_blur_runs(tmp_path, like_notes=True)
    v = {f['id']: f for f in blurmask_findings.check_results(tmp_path)}
    assert {k: f['verdict'] for k, f in v.items()} == {
        k: REPRODUCED for k in v}, v
    assert len(v) == 5


def test_blurmask_findings_against_the_notes(tmp_path):
    make_blur_runs(tmp_path, like_notes=False)
    v = {f['id']: f for f in blurmask_findings.check_results(tmp_path)}
    # here the "conserving" runs 7-9 lose 3 % of the total as 1-6 do
    assert {k: f['verdict'] for k, f in v.items()} == {
        k: NOT_REPRODUCED for k in v}, v


def test_blurmask_findings_missing_runs_are_not_comparable(tmp_path):
    v = blurmask_findings.check_results(tmp_path)
    assert all(f['verdict'] == NOT_COMPARABLE and f['reason'] for f in v)


def test_conserve_total_fails_when_the_total_drifts(tmp_path):
    make_blur_runs(tmp_path, like_notes=True)
    s = tmp_path / 'blurmask-7' / 'r' / 'summary.json'
    data = json.loads(s.read_text())
    data['final']['fft_total'] = 90.0
    s.write_text(json.dumps(data))
    v = {f['id']: f for f in blurmask_findings.check_results(tmp_path)}
    assert v['conserve_keeps_total']['verdict'] == NOT_REPRODUCED


# -- where the table goes ---------------------------------------------------

def test_summary_md_and_report_put_the_findings_first(tmp_path):
    d = make_run(tmp_path, 'e19098ab', 'rep', profile='smoke', log=[{
        'epoch': 6, 'validation/main/acc_speaker': 0.9,
        'validation/main/acc_birthplace': 0.5}])
    result = check_run(d)
    md = findings.with_section('# e19098ab (smoke)\n\nTrained 6 epochs\n\n'
                               '| figure | blog |\n', result)
    assert md.index(findings.SECTION_TITLE) < md.index('Trained 6 epochs')
    assert findings.with_section(md, result) == md
    page = report.build_report(d)
    assert page.index('class="findings"') < page.index('id="model"')
    assert 'smoke run' in page[:page.index('id="model"')]
