"""The corpus manifest (vox/data/corpus/manifest.py)."""
from pathlib import Path

import pytest

from vox.data.corpus.manifest import (ManifestError, Utterance, read_manifest,
                                 write_manifest)


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'RIFF')
    return path


def test_round_trip_relative_and_absolute(tmp_path):
    inside = _touch(tmp_path / 'corpus' / 'wav' / 'a.wav')
    outside = _touch(tmp_path / 'elsewhere' / 'b.wav')
    utts = [Utterance(inside, 'spk01', 'north', 'M'),
            Utterance(outside, 'spk02', 'south', 'F')]
    m = write_manifest(tmp_path / 'corpus' / 'manifest.tsv', utts)
    lines = m.read_text().splitlines()
    assert lines[0] == 'path\tspeaker\tbirthplace\tsex'
    assert lines[1] == 'wav/a.wav\tspk01\tnorth\tM'      # relative inside
    assert lines[2].split('\t')[0] == str(outside)      # absolute outside
    assert read_manifest(m) == utts
    assert all(u.path.is_absolute() for u in read_manifest(m))
    assert not [p for p in m.parent.iterdir() if p.name.endswith('.tmp')]


def test_optional_columns_and_spellings(tmp_path):
    _touch(tmp_path / 'a.wav')
    _touch(tmp_path / 'b.wav')
    m = tmp_path / 'm.tsv'
    m.write_text('speaker\tpath\textra\nx\ta.wav\t1\ny\tb.wav\t2\n\n')
    utts = read_manifest(m)
    assert [(u.speaker, u.birthplace, u.sex) for u in utts] == [
        ('x', None, None), ('y', None, None)]
    m.write_text('path\tspeaker\tsex\na.wav\tx\tfemale\nb.wav\ty\tm\n')
    assert [u.sex for u in read_manifest(m)] == ['F', 'M']
    # A column that is all None is left out when writing.
    out = write_manifest(tmp_path / 'w.tsv', read_manifest(m))
    assert out.read_text().splitlines()[0] == 'path\tspeaker\tsex'


def _error(path):
    with pytest.raises(ManifestError) as e:
        read_manifest(path)
    msg = str(e.value)
    assert '\n' not in msg
    assert str(path) in msg
    return msg


def test_missing_file(tmp_path):
    msg = _error(tmp_path / 'nope.tsv')
    assert 'not found' in msg


def test_missing_header_or_column(tmp_path):
    m = tmp_path / 'm.tsv'
    m.write_text('')
    assert ':1:' in _error(m)
    m.write_text('path\tbirthplace\nx.wav\tnorth\n')
    msg = _error(m)
    assert ':1:' in msg and '"speaker"' in msg and 'header' in msg


def test_wrong_field_count(tmp_path):
    _touch(tmp_path / 'a.wav')
    m = tmp_path / 'm.tsv'
    m.write_text('path\tspeaker\tbirthplace\tsex\n'
                 'a.wav\tx\tnorth\tM\n'
                 'a.wav\tx\tnorth\n')
    msg = _error(m)
    assert ':3:' in msg and '3 tab-separated fields' in msg


def test_missing_audio(tmp_path):
    _touch(tmp_path / 'a.wav')
    m = tmp_path / 'm.tsv'
    m.write_text('path\tspeaker\na.wav\tx\nb.wav\tx\n')
    msg = _error(m)
    assert ':3:' in msg and 'b.wav' in msg and 'does not exist' in msg


def test_bad_sex_and_empty(tmp_path):
    _touch(tmp_path / 'a.wav')
    m = tmp_path / 'm.tsv'
    m.write_text('path\tspeaker\tsex\na.wav\tx\tX\n')
    assert ':2:' in _error(m)
    m.write_text('path\tspeaker\n')
    assert 'no utterances' in _error(m)


def test_write_rejects_tabs(tmp_path):
    with pytest.raises(ValueError):
        write_manifest(tmp_path / 'm.tsv',
                       [Utterance(Path(tmp_path / 'a.wav'), 'a\tb')])


def test_japanese_sexes_read_like_prepare_reads_them(tmp_path):
    """read_manifest (training) accepts what read_table (vox prepare)
    accepts: one table of spellings for both."""
    from vox.data.corpus import readers
    from vox.data.corpus.manifest import SEX_SPELLINGS
    for name in ('a.wav', 'b.wav', 'c.wav', 'd.wav'):
        _touch(tmp_path / name)
    m = tmp_path / 'm.tsv'
    m.write_text('path\tspeaker\tsex\na.wav\tx\t男\nb.wav\ty\t女\n'
                 'c.wav\tz\t男性\nd.wav\tw\t女性\n', encoding='utf-8')
    assert [u.sex for u in read_manifest(m)] == ['M', 'F', 'M', 'F']
    assert [u.sex for u in readers.read_table(m).utterances] == [
        'M', 'F', 'M', 'F']
    assert {'男', '女'} <= set(SEX_SPELLINGS)
