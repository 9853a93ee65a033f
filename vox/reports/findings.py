"""Did the rerun find what the blog found?  ``vox findings RUN``.

Each experiment folder states its post's findings as data
(``experiments/<ID>/findings.yaml``; the nine blur-mask runs share
``experiments/blurmask-findings.yaml``, see vox.reports.blurmask_findings).
A finding names the measure that tests it (a log key, an evaluation
figure, a summary or bench figure), how that measure is scored against
its baseline, the comparison and threshold, and the conditions under
which a run cannot test it at all.  :func:`check_run` gives one verdict
per finding:

* ``reproduced`` / ``not reproduced``: the measure passed / failed the
  comparison, with the numbers;
* ``not comparable``: the run cannot have the data (another corpus than
  the blog's, no GPU, an experiment the blog did not publish) or lacks
  the measure (no ``vox evaluate`` yet), and the reason says which.

A run of a named profile (smoke, test, ...) is labelled so in every
verdict: a few epochs at a fraction of the width say what that short run
shows, not what the blog's full run would.
"""
import json
from pathlib import Path


from vox.base.labels import BLOG_N_CLASSES, GROUPS
from vox.base.errors import VoxError
from vox.config import load_yaml, EXPERIMENTS_DIR
from vox.reports import (bench_figures, blurmask_findings,
                         conversion_quality)

REPRODUCED = 'reproduced'
NOT_REPRODUCED = 'not reproduced'
NOT_COMPARABLE = 'not comparable'

OPS = {'<': lambda a, b: a < b, '<=': lambda a, b: a <= b,
       '>': lambda a, b: a > b, '>=': lambda a, b: a >= b}

SECTION_TITLE = 'Findings: does this run find what the blog found?'
#: Closes the section in summary.md (invisible when rendered), so a
#: rerun replaces exactly it.
SECTION_END = '<!-- end of findings -->'
HEADER = ('finding', 'the blog', 'this run', 'baseline', 'verdict')


def findings_file(exp_id):
    """``experiments/<ID>/findings.yaml``, or the blur-mask runs' shared
    one; None where the experiment states no findings."""
    if str(exp_id).startswith('blurmask-'):
        path = EXPERIMENTS_DIR / 'blurmask-findings.yaml'
    else:
        path = EXPERIMENTS_DIR / str(exp_id) / 'findings.yaml'
    return path if path.exists() else None


def load_findings(exp_id):
    path = findings_file(exp_id)
    if path is None:
        return []
    return (load_yaml(path, what='findings file') or {}).get('findings') or []


# -- what a run folder holds ------------------------------------------------

def _json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


class RunFacts:
    """The files of one run folder that findings read, each read once."""

    def __init__(self, run_dir):
        self.path = Path(run_dir)
        try:
            self.config = load_yaml(self.path / 'config.yaml') or {}
        except VoxError:
            self.config = {}
        if not isinstance(self.config, dict):
            self.config = {}
        self.log = _json(self.path / 'log', [])
        self.summary = _json(self.path / 'summary.json', {})
        self.evaluation = _json(self.path / 'evaluation.json', None)
        self.environment = _json(self.path / 'environment.json', {})

    @property
    def profile(self):
        return self.config.get('profile', 'faithful')

    @property
    def n_classes(self):
        n = (self.config.get('corpus') or {}).get('n_classes')
        return tuple(n) if n else None

    def last(self, key):
        """The newest logged value of ``key`` (an entry may lack it)."""
        for entry in reversed(self.log):
            if key in entry:
                return entry[key], entry.get('epoch')
        return None, None


# -- conditions under which a finding cannot be tested ----------------------

def _corpus_not_blog(facts, finding):
    if facts.n_classes is None:
        return "this run's class counts are unknown (no corpus in config.yaml)"
    if tuple(facts.n_classes) != BLOG_N_CLASSES:
        return (f'this corpus has {_classes(facts.n_classes)} classes, the '
                f"blog's {_classes(BLOG_N_CLASSES)} (most likely CSJ)")
    return None


def _not_on_gpu(facts, finding):
    device = str(facts.environment.get('device', ''))
    if 'cupy' not in device and 'cuda' not in device.lower():
        return (f"trained on {device or 'an unknown device'}, the blog on a "
                f'2019 GPU')
    return None


def _not_faithful(facts, finding):
    if facts.profile != 'faithful':
        return (f'the {facts.profile} profile, not the blog\'s settings '
                f'(epochs, width, learning rate)')
    return None


def _birthplace_confounded(facts, finding):
    groups = confounded_groups(facts.path)
    if 'birthplace' in groups:
        return f"on this corpus {groups['birthplace']}"
    return None


def _judge_flagged(facts, finding):
    flags = ((facts.evaluation or {}).get('judge') or {}).get('flags')
    if flags:
        return 'the judge is flagged: ' + '; '.join(flags)
    return None


CONDITIONS = {'corpus_not_blog': _corpus_not_blog,
              'not_on_gpu': _not_on_gpu, 'not_faithful': _not_faithful,
              'birthplace_confounded': _birthplace_confounded,
              'judge_flagged': _judge_flagged}


def _classes(n):
    return '/'.join(str(v) for v in n) + ' (' + ', '.join(GROUPS) + ')'


def not_comparable_reason(facts, finding):
    """Why ``finding`` cannot be tested on this run, or None."""
    reasons = []
    for cond in finding.get('not_comparable_when') or []:
        if isinstance(cond, dict) and 'previous_experiment' in cond:
            reasons.append(
                f"needs experiment {cond['previous_experiment']}, which the "
                f'blog did not publish and vox does not rerun')
            continue
        reason = CONDITIONS[cond](facts, finding)
        if reason:
            reasons.append(reason)
    return '; '.join(reasons) or None


def confounded_groups(run_dir):
    """{group: why} for birthplace and sex groups that this corpus ties to
    single speakers (a class held by one speaker only), read from the
    run's manifest: there the group's accuracy is the speaker accuracy
    again, not a separate finding."""
    try:
        raw = load_yaml(Path(run_dir) / 'config.yaml') or {}
        manifest = (raw.get('corpus') or {}).get('manifest')
        rows = Path(manifest).read_text().splitlines() if manifest else []
    except (OSError, TypeError, AttributeError, VoxError):
        rows = []
    return confounded_from_manifest(rows)


def confounded_from_manifest(lines):
    """{group: why} from manifest.tsv lines (a header naming ``speaker``,
    ``birthplace``, ``sex`` columns): a group is confounded when one of
    its classes is held by exactly one speaker."""
    if not lines:
        return {}
    header = lines[0].split('\t')
    if not all(g in header for g in GROUPS):
        return {}
    col = {g: header.index(g) for g in GROUPS}
    speakers_of = {g: {} for g in GROUPS[1:]}
    for line in lines[1:]:
        cells = line.split('\t')
        if len(cells) < len(header):
            continue
        for g in GROUPS[1:]:
            speakers_of[g].setdefault(cells[col[g]], set()).add(
                cells[col['speaker']])
    out = {}
    for g, classes in speakers_of.items():
        single = sorted(c for c, s in classes.items() if len(s) == 1)
        if single:
            out[g] = (f'{len(single)} of {len(classes)} {g} classes are held '
                      f'by a single speaker ({", ".join(single[:3])}'
                      f'{", ..." if len(single) > 3 else ""}): that '
                      f'{g} follows from the speaker')
    return out


# -- measures ---------------------------------------------------------------

def _dig(data, dotted):
    for part in dotted.split('.'):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _chance(facts, group):
    n = facts.n_classes
    if n is None or group not in GROUPS:
        return None
    return 1.0 / n[GROUPS.index(group)]


def read_measure(facts, measure):
    """(value, words, missing reason): the raw figure and where it is."""
    source, key = measure['source'], measure['key']
    if source == 'log':
        value, epoch = facts.last(key)
        if value is None:
            return None, None, f'no {key} in this run\'s log'
        return value, f'{key} {value:.4g} (epoch {epoch})', None
    if source == 'summary':
        if key == 'hours':
            s = facts.summary.get('elapsed_seconds')
            if s is None:
                return None, None, 'no summary.json (the run did not finish)'
            epochs = facts.summary.get('epoch')
            return s / 3600.0, f'{s / 3600.0:.3g} h for {epochs} epochs', None
        for row in facts.summary.get('reference') or []:
            if row.get('figure') == key and row.get('this_run') is not None:
                return row['this_run'], f"{key} {row['this_run']:.4g}", None
        return None, None, f'no {key} in summary.json'
    if source == 'evaluation':
        ev = facts.evaluation
        if not ev:
            return None, None, ('no evaluation.json: run `vox evaluate '
                                f'{facts.path}` first')
        if key == 'content_kept':
            value = conversion_quality.content_kept(ev)
        else:
            value = _dig(ev, key)
        if value is None:
            return None, None, f'no {key} in evaluation.json'
        crops = ev.get('n_crops')
        n = _dig(ev, key.rsplit('.', 1)[0] + '.n') if '.' in key else None
        what = f'{key} {value:.3g}'
        what += f' over {n} conversions' if n is not None else ''
        what += f' of {crops} crops' if crops is not None else ''
        return value, what, None
    if source == 'bench':
        return bench_figures.measure(facts.path, key)
    raise ValueError(f'unknown measure source {source!r}')


def score(facts, measure, value, how):
    """(scored value, baseline words) of a raw figure."""
    group = measure.get('group')
    if how == 'chance_corrected':
        chance = _chance(facts, group)
        if chance is None:
            return None, 'chance unknown'
        return ((value - chance) / (1 - chance),
                f'chance {chance:.3g}; scored (acc - chance) / (1 - chance)')
    if how == 'judge_relative':
        ev = facts.evaluation or {}
        lo = _dig(ev, f'chance.{group}')
        hi = _dig(ev, f'classifier_accuracy_real.{group}')
        if lo is None or hi is None or hi - lo <= 0:
            return None, 'the judge does not beat chance on real crops'
        return ((value - lo) / (hi - lo),
                f'chance {lo:.3g}, judge on real crops {hi:.3g}; scored '
                f'(acc - chance) / (real - chance)')
    return value, None


def _threshold(facts, finding):
    """(threshold value, words) of a finding; None where it has none."""
    t = finding.get('threshold')
    if isinstance(t, dict) and 'blog_times' in t:
        return finding['blog'] * t['blog_times'], \
            f"blog {finding['blog']:g} x {t['blog_times']:g}"
    if isinstance(t, dict):
        raw, what, missing = read_measure(facts, t)
        if missing:
            return None, missing
        value, _ = score(facts, t, raw, t.get('score'))
        return value, f'{what} -> {_g(value)}'
    if t is None:
        return None, None
    if finding.get('compare') == 'within_factor':
        return float(t), f"blog {finding['blog']:g} within x{t:g}"
    return float(t), f'{t:g}'


def _g(v):
    return 'n/a' if v is None else f'{v:.3g}'


def check(facts, finding):
    """One verdict dict for ``finding`` on the run ``facts``."""
    out = {'id': finding['id'], 'statement': finding['statement'],
           'blog': finding.get('blog'), 'measured': None, 'value': None,
           'baseline': finding.get('baseline'), 'verdict': NOT_COMPARABLE,
           'reason': None}
    reason = not_comparable_reason(facts, finding)
    measure = finding['measure']
    try:
        raw, what, missing = read_measure(facts, measure)
    except Exception as e:  # a finding must not fail the run it reports
        raw, what, missing = None, None, f'could not measure it: {e!r}'
    out['measured'] = what
    if reason or missing:
        out['reason'] = reason or missing
        return out
    value, baseline = score(facts, measure, raw, finding.get('score'))
    out['value'] = value
    out['baseline'] = baseline or out['baseline']
    threshold, t_words = _threshold(facts, finding)
    if value is None or threshold is None:
        out['reason'] = t_words or baseline or 'no threshold'
        return out
    op = finding['compare']
    if op == 'within_factor':
        ok = finding['blog'] / threshold <= value <= finding['blog'] * \
            threshold
    else:
        ok = OPS[op](value, threshold)
    if finding.get('score'):
        out['measured'] = f'{what} -> scored {_g(value)}'
    out['test'] = f'{_g(value)} {op} {t_words}'
    out['verdict'] = REPRODUCED if ok else NOT_REPRODUCED
    return out


# -- a run's verdicts -------------------------------------------------------

def run_label(facts):
    """Empty for a faithful run; else what makes it a short run."""
    if facts.profile == 'faithful':
        return ''
    train = facts.config.get('train') or {}
    epochs = f"{train['epochs']} epochs" if 'epochs' in train else \
        f"{facts.config.get('iterations')} iterations"
    widths = [f"{name} width {(facts.config.get(name) or {}).get('width')}"
              for name in ('model', 'generator', 'discriminator')
              if isinstance(facts.config.get(name), dict)]
    return (f'{facts.profile} run ({epochs}'
            + (', ' + ', '.join(widths) if widths else '')
            + "): these verdicts say what this short run shows, not what "
              "the blog's full run would")


def check_run(run_dir):
    """``{'experiment', 'run', 'label', 'findings': [verdict, ...]}``."""
    facts = RunFacts(run_dir)
    exp_id = facts.config.get('id', facts.path.parent.name)
    if str(exp_id).startswith('blurmask-'):
        verdicts = blurmask_findings.check_results(
            facts.path.parent.parent, facts.profile)
    else:
        verdicts = [check(facts, f) for f in load_findings(exp_id)]
    return {'experiment': exp_id, 'run': str(facts.path),
            'label': run_label(facts), 'findings': verdicts,
            'short': '' if facts.profile == 'faithful' else
            f'{facts.profile} run'}


def verdict_cell(v, label=''):
    text = v['verdict'].upper() if v['verdict'] != NOT_COMPARABLE else \
        NOT_COMPARABLE
    if v.get('test'):
        text += f" ({v['test']})"
    if v.get('reason'):
        text += f": {v['reason']}"
    if label and v['verdict'] != NOT_COMPARABLE:
        text += f' [{label}]'
    return text


def rows(result):
    """(finding, the blog, this run, baseline, verdict) per finding."""
    out = []
    for v in result['findings']:
        out.append((v['id'], v['statement'], v.get('measured') or 'n/a',
                    v.get('baseline') or '',
                    verdict_cell(v, result.get('short', ''))))
    return out


def lines(result):
    """One line per finding, as ``vox findings`` prints them."""
    head = f"{result['experiment']} {result['run']}"
    if result['label']:
        head += f" -- {result['label']}"
    out = [head]
    for r in rows(result):
        out.append(f'{r[0]}: the blog: {r[1]} | this run: {r[2]}'
                   + (f' | baseline: {r[3]}' if r[3] else '')
                   + f' | {r[4]}')
    if not result['findings']:
        out.append('(this experiment states no findings)')
    return out


def markdown(result):
    """The ``summary.md`` section."""
    out = [f'## {SECTION_TITLE}', '']
    if result['label']:
        out += [f"*{result['label']}.*", '']
    out += ['| ' + ' | '.join(HEADER) + ' |', '|' + '---|' * len(HEADER)]
    out += ['| ' + ' | '.join(str(c).replace('|', '\\|') for c in r) + ' |'
            for r in rows(result)]
    return '\n'.join(out + [SECTION_END]) + '\n'


def with_section(summary_md, result):
    """``summary_md`` with the findings section first (after its title
    line), replacing an older one."""
    text = summary_md or ''
    head = f'## {SECTION_TITLE}'
    if head in text and SECTION_END in text:
        before, rest = text.split(head, 1)
        text = before.rstrip('\n') + '\n' + rest.split(SECTION_END, 1)[1]
    first, _, body = text.partition('\n')
    if first.startswith('# '):
        return first + '\n\n' + markdown(result) + '\n' + body.lstrip('\n')
    return markdown(result) + '\n' + text
