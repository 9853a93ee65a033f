"""vox evaluate's content measures, calibrated on known cases on the
generated corpus: an identity "conversion" scores at the ceiling, a
shuffled pairing at the floor, and a pitch-shifted copy (pyworld
resynthesis with F0 x 1.5) keeps voicing and normalised F0 near the
ceiling.  Plus the headline's words and the judge's flags.

The corpus is the built-in generator's smallest useful one (4 speakers x
2 utterances, in the session's cache), cropped to 64 frames (1 s), two
crops per utterance, so the whole file runs in seconds.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from vox.data import audio
from vox.data.corpus.manifest import read_manifest
from vox.data.corpus.synth import CorpusSpec, ensure_corpus
from vox.evaluation import content, procedure
from vox.reports import conversion_quality

FRAMES = 64
STARTS = (40, 150)      # crop starts (frames) inside each 4.5-6 s utterance


@pytest.fixture(scope='module')
def crops():
    spec = CorpusSpec(birthplaces=1, speakers_per_cell=2,
                      utterances_per_speaker=2)
    manifest = ensure_corpus(Path(os.environ['VOX_CACHE']) / 'corpus', spec)
    waves, ids = [], []
    for k, utt in enumerate(read_manifest(manifest)):
        wave = audio.load_wav(utt.path)
        for s in STARTS:
            waves.append(wave[s * audio.HOP:
                              s * audio.HOP + audio.n_samples(FRAMES)])
            ids.append(k)
    x = np.stack([audio.to_unit(audio.magnitude(w))[None] for w in waves])
    return waves, x, np.asarray(ids), procedure.resynthesize_unit(x)


def test_identity_conversion_scores_at_the_ceiling(crops):
    waves, x, ids, copies = crops
    again = procedure.resynthesize_unit(x)     # output = input, resynthesised
    r = procedure.content_scores(waves, copies,
                                 {'identity': (np.arange(len(x)), again)}, ids)
    assert r['rows']['identity'] == r['rows']['ceiling']
    assert r['positions']['identity']['kept'] == {
        m: 1.0 for m in content.MEASURES}
    assert r['positions']['identity']['content_kept'] == 1.0


def test_every_measure_separates_ceiling_from_floor(crops):
    waves, x, ids, copies = crops
    rows = procedure.content_scores(waves, copies, {}, ids)['rows']
    top, low = rows['ceiling'], rows['floor']
    assert top['vuv_agreement']['mean'] > low['vuv_agreement']['mean'] + 0.2
    assert top['log_f0_correlation']['mean'] > 0.6 > 0.2 > \
        low['log_f0_correlation']['mean']
    assert top['energy_correlation']['mean'] > 0.9 > 0.3 > \
        low['energy_correlation']['mean']
    assert top['mcd_db']['mean'] < low['mcd_db']['mean'] / 2
    assert all(v['n'] == len(x) for v in top.values())


def test_shuffled_pairing_scores_at_the_floor(crops):
    waves, x, ids, copies = crops
    # another random pairing of each crop with a crop of another utterance
    shuffled = procedure.floor_partners(ids, seed=3)
    assert not (ids[shuffled] == ids).any()
    assert not (shuffled == procedure.floor_partners(ids, seed=0)).all()
    r = procedure.content_scores(waves, copies,
                                 {'shuffled': (shuffled, copies)}, ids)
    p = r['positions']['shuffled']
    assert abs(p['content_kept']) <= conversion_quality.CONTENT_LOST
    assert all(abs(v) < 0.4 for v in p['kept'].values())


def pitch_shifted(wave, factor=1.5):
    """pyworld resynthesis of ``wave`` with F0 x factor."""
    import pyworld
    x = np.asarray(wave, np.float64)
    f0, t = pyworld.dio(x, audio.SAMPLE_RATE)
    f0 = pyworld.stonemask(x, f0, t, audio.SAMPLE_RATE)
    sp = pyworld.cheaptrick(x, f0, t, audio.SAMPLE_RATE)
    ap = pyworld.d4c(x, f0, t, audio.SAMPLE_RATE)
    y = pyworld.synthesize(f0 * factor, sp, ap, audio.SAMPLE_RATE)
    return np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]


def test_pitch_shifted_copy_keeps_voicing_and_intonation(crops):
    waves, x, ids, copies = crops
    shifted = [pitch_shifted(w) for w in waves]
    ratios = [np.median(content.analyse(s).f0[both] /
                        content.analyse(w).f0[both])
              for w, s in zip(waves, shifted)
              for both in [(content.analyse(s).f0 > 0)
                           & (content.analyse(w).f0 > 0)]]
    assert 1.4 < np.median(ratios) < 1.6            # it is 1.5 x higher
    r = procedure.content_scores(waves, copies,
                                 {'pitch': (np.arange(len(x)), shifted)}, ids)
    kept = r['positions']['pitch']['kept']
    assert kept['vuv_agreement'] >= 0.75
    assert kept['log_f0_correlation'] >= 0.75


def test_dtw_aligns_a_faster_copy(crops):
    waves = crops[0]
    ref = content.analyse(waves[0])
    fast = np.repeat(np.arange(len(ref.f0)), 2)[::3]   # 1.5 x faster
    # STFT frame k lies under envelope frame k + 2 (content.compare)
    frames = np.clip(fast[2:] - 2, 0, len(ref.energy_db) - 1)
    faster = content.Analysis(ref.f0[fast], ref.cepstra[fast],
                              ref.energy_db[frames])
    i, j = content.dtw_path(np.abs(np.subtract.outer(
        np.arange(5.0), np.repeat(np.arange(5.0), 2))))
    assert (i == j // 2).all() and list(np.unique(j)) == list(range(10))
    m = content.compare(ref, faster)
    same = content.compare(ref, ref)
    assert same['mcd_db'] == 0.0 and same['vuv_agreement'] == 1.0
    other = content.compare(ref, content.analyse(waves[2]))
    assert m['mcd_db'] < other['mcd_db'] / 3 and m['vuv_agreement'] > 0.9
    assert m['energy_correlation'] > 0.9 > 0.5 > other['energy_correlation']


def test_position_reads_distances_and_similarities_alike():
    assert content.position(0.75, 0.5, 1.0) == 0.5
    assert content.position(6.0, 10.0, 2.0) == 0.5      # a distance
    assert content.position(None, 0.0, 1.0) is None
    assert content.position(0.3, 0.5, 0.5) is None
    # a ceiling that does not clear the floor says nothing
    assert content.measure_position('vuv_agreement', 0.0, 0.83, 0.84) is None
    assert content.measure_position('mcd_db', 5.0, 4.0, 6.0) is None
    assert content.measure_position('mcd_db', 6.0, 10.0, 2.0) == 0.5


# -- the headline ---------------------------------------------------------

def result(changed_acc, kept, epochs=6, same_corpus=True):
    groups = conversion_quality.GROUPS
    chance = {'speaker': 1 / 18, 'birthplace': 1 / 3, 'sex': 0.5}
    judge = {'run': 'results/e19098ab/cls', 'epochs': epochs,
             'validation_accuracy': {g: 0.9 for g in groups},
             'same_corpus': same_corpus, 'min_epochs': 100,
             'flags': ['trained 6 epochs (< 100)'] if epochs < 100 else []}
    measures = {m: {'what': w, 'higher_is_better': up, 'min_separation': g}
                for m, (w, up, g) in content.MEASURES.items()}
    row = {m: {'mean': 0.5, 'n': 10} for m in content.MEASURES}
    return {'changed': {g: {'n': 10, 'accuracy': changed_acc[g],
                            'still_source': 0.1} for g in groups},
            'chance': chance, 'target_accuracy': dict(changed_acc),
            'classifier_accuracy_real': {g: 1.0 for g in groups},
            'identity_lsd_db': 10.0, 'conversion_lsd_db': 11.0,
            'n_crops': 3, 'crop_frames': 256, 'n_conversions': 12,
            'snapshot': 'snapshot_iter_9', 'judge': judge,
            'content': {'measures': measures,
                        'rows': {'floor': row, 'ceiling': row,
                                 'converted': row},
                        'positions': {'converted': {
                            'kept': {m: kept for m in content.MEASURES},
                            'content_kept': kept}}}}


def test_headline_says_when_the_judge_is_fooled():
    fooled = result({'speaker': 0.95, 'birthplace': 0.91, 'sex': 0.88}, 0.05)
    line = conversion_quality.headline(fooled)
    assert 'the judge is fooled' in line and 'content is at the floor' in line
    assert 'sex 0.88 over 10 conversions to the other sex (chance 0.50)' \
        in line
    assert 'judge flagged: trained 6 epochs' in line
    good = result({'speaker': 0.95, 'birthplace': 0.91, 'sex': 0.88}, 0.9,
                  epochs=200)
    assert conversion_quality.headline(good).endswith(
        'converts: the judge hears the targets and the content is kept')
    copy = result({'speaker': 0.06, 'birthplace': 0.33, 'sex': 0.5}, 0.95,
                  epochs=200)
    assert 'little conversion' in conversion_quality.headline(copy)
    # judge positions: speaker 0.26, birthplace 0.4, sex 0.4: some targets
    some = result({'speaker': 0.3, 'birthplace': 0.6, 'sex': 0.7}, -0.05)
    assert 'the judge is partly fooled' in conversion_quality.headline(some)
    none = result({'speaker': 0.06, 'birthplace': 0.33, 'sex': 0.5}, 0.0)
    assert 'neither converted nor content kept' in \
        conversion_quality.headline(none)


def test_summary_section_is_replaced_not_repeated():
    r = result({'speaker': 0.95, 'birthplace': 0.91, 'sex': 0.88}, 0.05)
    once = conversion_quality.with_section('# run\n\ntable\n', r)
    twice = conversion_quality.with_section(once, r)
    assert once == twice and once.startswith('# run\n\ntable\n\n## ')
    assert once.count(conversion_quality.SECTION_TITLE) == 1
    json.dumps(r)                                   # what evaluate writes


def test_judge_is_flagged_for_few_epochs_and_another_corpus(tmp_path):
    def run(name, manifest_text, epochs):
        d = tmp_path / name
        d.mkdir()
        (d / 'm.tsv').write_text(manifest_text)
        (d / 'config.yaml').write_text(f"corpus: {{manifest: {d / 'm.tsv'}}}\n")
        (d / 'log').write_text(json.dumps(
            [{'epoch': epochs, 'validation/main/acc_sex': 0.97}]))
        return d
    sg = run('sg', 'path\tspeaker\na.wav\tx\n', 90)
    ok = procedure.judge_facts(run('cls', 'path\tspeaker\na.wav\tx\n', 300),
                               sg)
    assert ok['flags'] == [] and ok['same_corpus'] is True
    assert ok['validation_accuracy']['sex'] == 0.97 and ok['epochs'] == 300
    bad = procedure.judge_facts(run('cls2', 'path\tspeaker\nb.wav\ty\n', 6),
                                sg)
    assert bad['same_corpus'] is False and len(bad['flags']) == 2
    assert 'trained 6 epochs (< 100)' in bad['flags'][0]
