"""``vox evaluate``'s result (``evaluation.json``) in words and tables.

One headline states conversion quality as a pair: how far the judge (an
e19098ab classifier) hears the targets, and how much content is kept
between floor and ceiling.  A judge that hears the targets while the
content is at the floor is fooled, and the headline says so in words;
so does a flagged judge (too few epochs, another corpus).  The same
text goes to the terminal, ``summary.md`` and ``report.html``.
"""

from vox.base.labels import GROUPS

#: The judge "hears the targets" from halfway between chance and its own
#: accuracy on unconverted crops (1 would be: as sure as on real speech).
JUDGE_HEARS = 0.5
#: ... and "some of the targets" from a quarter of the way.
JUDGE_HEARS_SOME = 0.25
#: A group where the judge's real-crop accuracy is not this far above
#: chance says nothing about conversions.
JUDGE_MIN_SEPARATION = 0.1
#: Content at or below this position (0 = floor, 1 = ceiling) is "at the
#: floor"; at or above CONTENT_KEPT it is kept.
CONTENT_LOST = 0.25
CONTENT_KEPT = 0.75

SECTION_TITLE = 'Conversion quality (vox evaluate)'
KEPT_LEGEND = ('kept: 0 = floor (source against a random other utterance), '
               '1 = ceiling (source against its copy synthesis); n/a where '
               'the ceiling does not clear the floor on this data; a '
               'position outside [0, 1] is shown and counts as 0 or 1 in '
               'the mean')


def _f(v, digits=3):
    return 'n/a' if v is None else f'{v:.{digits}f}'


def counted_groups(result):
    """The label groups the judge's combined score counts: all but those
    confounded with the speaker on this corpus (``result['confounded']``,
    a class held by a single speaker), which would count the speaker
    twice."""
    return [g for g in GROUPS if g not in (result.get('confounded') or {})]


def judge_position(result):
    """Mean over the counted label groups of where the changed-target
    accuracy lies between chance (0) and the judge's accuracy on real
    crops (1)."""
    values = []
    for g in counted_groups(result):
        acc = result['changed'][g]['accuracy']
        lo = result['chance'][g]
        hi = result['classifier_accuracy_real'][g]
        if acc is not None and hi - lo >= JUDGE_MIN_SEPARATION:
            values.append((acc - lo) / (hi - lo))
    return sum(values) / len(values) if values else None


def content_kept(result, row='converted'):
    positions = (result.get('content') or {}).get('positions', {})
    return (positions.get(row) or {}).get('content_kept')


def verdict(result):
    """A few words on the pair (judge, content)."""
    judge, kept = judge_position(result), content_kept(result)
    if judge is None or kept is None:
        return 'not enough conversions to say'
    hears = 'yes' if judge >= JUDGE_HEARS else \
        'some' if judge >= JUDGE_HEARS_SOME else 'no'
    content = 'lost' if kept <= CONTENT_LOST else \
        'kept' if kept >= CONTENT_KEPT else 'partly'
    return {
        ('yes', 'lost'): 'the judge is fooled: it hears the targets, but the '
                         'content is at the floor (the words do not survive)',
        ('some', 'lost'): 'the judge is partly fooled: it hears some of the '
                          'targets, but the content is at the floor (the '
                          'words do not survive)',
        ('no', 'lost'): 'neither converted nor content kept',
        ('yes', 'kept'): 'converts: the judge hears the targets and the '
                         'content is kept',
        ('some', 'kept'): 'content kept; the judge hears some of the '
                          'targets (a partial conversion)',
        ('no', 'kept'): 'content kept, but the judge does not hear the '
                        'targets (little conversion)',
        ('yes', 'partly'): 'the judge hears the targets; the content is '
                           'partly kept',
        ('some', 'partly'): 'the judge hears some of the targets; the '
                            'content is partly kept',
        ('no', 'partly'): 'little conversion; the content is partly kept',
    }[hears, content]


def judge_line(result):
    j = result.get('judge') or {}
    val = j.get('validation_accuracy') or {}
    crops = j.get('validation_crops')
    text = (f"judge {j.get('run', result.get('classifier_run', '?'))}: "
            f"validation accuracy " + ', '.join(
                f'{g} {_f(val.get(g), 2)}' for g in GROUPS)
            + (f' on {crops} validation crops' if crops is not None else '')
            + f", {j.get('epochs', '?')} epochs")
    if j.get('flags'):
        text += '; FLAGGED: ' + '; '.join(j['flags'])
    return text


def _positions(result, row='converted'):
    return ((result.get('content') or {}).get('positions') or {}).get(
        row) or {}


def headline(result):
    """The one line: judge score, content kept, verdict, judge flag.
    Every figure is named as the tables name it, with the count behind
    it."""
    ch = result['changed']
    judge = judge_position(result)
    counted = counted_groups(result)
    pos = _positions(result)
    outside = pos.get('outside') or {}
    text = (f"changed-target accuracy: speaker "
            f"{_f(ch['speaker']['accuracy'], 2)} over {ch['speaker']['n']} "
            f"conversions (chance {_f(result['chance']['speaker'], 2)}), "
            f"sex {_f(ch['sex']['accuracy'], 2)} over {ch['sex']['n']} "
            f"conversions to the other sex (chance "
            f"{_f(result['chance']['sex'], 2)}); judge at "
            f"{_f(judge, 2)} of the way from chance to its accuracy on the "
            f"{result.get('n_crops', '?')} real crops ({', '.join(counted)}"
            f"{' counted' if len(counted) < len(GROUPS) else ''}); content "
            f"kept {_f(content_kept(result), 2)} of the way from floor "
            f"(random other utterance) to ceiling (copy synthesis), the "
            f"mean of {pos.get('n_measures', '?')} measures clipped to "
            f"[floor, ceiling]"
            + (' (outside: ' + ', '.join(f'{m} {v:.2f}' for m, v in
                                         outside.items()) + ')'
               if outside else '')
            + f": {verdict(result)}")
    for g, why in (result.get('confounded') or {}).items():
        text += f' [{g} not counted: {why}]'
    if (result.get('judge') or {}).get('flags'):
        text += ' [judge flagged: ' + '; '.join(result['judge']['flags']) \
            + ']'
    return text


def judge_rows(result):
    """(group, target acc, changed acc, n changed, still source, chance,
    real acc) per label group."""
    rows = []
    for g in GROUPS:
        c = result['changed'][g]
        name = g + (' (confounded, not counted)'
                    if g in (result.get('confounded') or {}) else '')
        rows.append((name, _f(result['target_accuracy'][g]),
                     _f(c['accuracy']),
                     str(c['n']), _f(c['still_source']),
                     _f(result['chance'][g]),
                     _f(result['classifier_accuracy_real'][g])))
    return rows


JUDGE_HEADER = ('group', 'target acc', 'changed acc', 'n changed',
                'still source', 'chance', 'real acc')
CONTENT_HEADER = ('measure', 'floor', 'converted', 'ceiling', 'kept')


def content_rows(result, row='converted'):
    """(measure, floor, converted, ceiling, kept) per content measure."""
    c = result.get('content') or {}
    rows = c.get('rows', {})
    kept = (c.get('positions', {}).get(row) or {}).get('kept', {})
    out = []
    for name, info in c.get('measures', {}).items():
        k = kept.get(name)
        cell = _f(k, 2)
        if k is not None and not 0 <= k <= 1:  # shown apart, clipped
            cell += (f" (outside; counted as {min(max(k, 0.0), 1.0):.0f})")
        out.append((info['what'], _f(rows['floor'][name]['mean']),
                    _f(rows[row][name]['mean']),
                    _f(rows['ceiling'][name]['mean']), cell))
    return out


def counts_line(result):
    """How many crops and conversions stand behind each figure."""
    return (f"target acc: all {result.get('n_conversions', '?')} "
            f"conversions; changed acc: those whose target differs in the "
            f"group (n changed); real acc: the judge on the "
            f"{result.get('n_crops', '?')} unconverted crops; content: the "
            f"{result.get('n_conversions', '?')} conversions against "
            f"{result.get('n_crops', '?')} crops' floor and ceiling")


def _text_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows)
              for i in range(len(header))]
    return '\n'.join('  '.join(str(v).ljust(w) if i == 0 else
                               str(v).rjust(w)
                               for i, (v, w) in enumerate(zip(r, widths)))
                     for r in [header] + rows)


def text(result):
    """What ``vox evaluate`` prints: both tables, the judge, the headline."""
    lines = [_text_table(JUDGE_HEADER, judge_rows(result)),
             f"sex-conversion accuracy: {_f(result['changed']['sex']['accuracy'])}"
             f" over {result['changed']['sex']['n']} conversions to the "
             f"other sex (chance {_f(result['chance']['sex'])})",
             f"identity conversion log-spectral distance: "
             f"{result['identity_lsd_db']:.2f} dB (to the targets: "
             f"{result['conversion_lsd_db']:.2f} dB)", '',
             _text_table(CONTENT_HEADER, content_rows(result)),
             KEPT_LEGEND, counts_line(result), '',
             judge_line(result), f'conversion quality: {headline(result)}']
    return '\n'.join(lines)


def _md_table(header, rows):
    return '\n'.join(['| ' + ' | '.join(header) + ' |',
                      '|' + '---|' * len(header)]
                     + ['| ' + ' | '.join(r) + ' |' for r in rows])


def markdown(result):
    """The ``summary.md`` section (a level-2 heading and its body)."""
    return '\n'.join([
        f'## {SECTION_TITLE}', '',
        f"**{headline(result)}**", '',
        f"{result.get('snapshot', '?')}, {result['n_crops']} validation "
        f"crops of {result['crop_frames']} frames, "
        f"{result['n_conversions']} conversions; {judge_line(result)}.", '',
        _md_table(JUDGE_HEADER, judge_rows(result)), '',
        _md_table(CONTENT_HEADER, content_rows(result)), '',
        KEPT_LEGEND + '.', '', counts_line(result) + '.', ''])


def with_section(summary_md, result):
    """``summary_md`` with its conversion-quality section replaced by (or
    added as) the one for ``result``."""
    head = f'## {SECTION_TITLE}'
    before = summary_md.split(head)[0].rstrip('\n')
    return (before + '\n\n' if before else '') + markdown(result)


def section_of(summary_md):
    """The conversion-quality section of ``summary_md`` ('' if none): kept
    when a resumed training writes summary.md again."""
    head = f'## {SECTION_TITLE}'
    return head + summary_md.split(head, 1)[1] if head in summary_md else ''
