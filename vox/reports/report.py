"""A run's report: ``RUN/report.html``, one self-contained page.

Shaped like the blog post it reruns: title, ID and date, the model diagram
(drawn from the traced model as SVG, with the mermaid source the blog
embeds collapsed below), the training parameters, the
training time, the summary table beside the blog's figures, the PlotReport
PNGs, the spectrogram samples with audio players, and the experiment's
ERRATA.  Every image and sound is embedded as a base64 ``data:`` URI and
nothing is loaded from the network, so the file can be mailed or opened
offline (``tools/check_report_browser.sh`` opens it in headless chromium).

Written at the end of every run (``vox.runs.runner.run``) and on demand with
``vox report RUN``.
"""
import base64
import datetime
import html
import json
import re
import traceback
from pathlib import Path


from vox.base.labels import BLOG_N_CLASSES
from vox.base.errors import VoxError
from vox.config import load_yaml, EXPERIMENTS_DIR
from vox.faithfulness.diagram import (NoDiagram, describe_run_models,
                                      to_mermaid)
from vox.faithfulness.drawing import draw
from vox.reports import conversion_quality, findings
# the same numbers and rows as summary.md
from vox.reports.summary import (CONFIG_FIGURES, config_value, format_value,
                                 metric_rows)

#: Embedded samples stop here (the page stays openable); the rest are
#: listed by name.
SAMPLE_BUDGET_BYTES = 40 * 2 ** 20

CSS = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto;
      font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
figure { margin: 0.8em 0; } figcaption { font-size: 0.9em; color: #555; }
.meta { color: #555; } .errata h3 { font-size: 1.05em; margin-bottom: 0.2em; }
.errata ul { margin-top: 0.2em; }
.glance { margin-bottom: 0.2em; } .toc { font-size: 0.95em; }
.diagrams { display: flex; gap: 0 1em; align-items: flex-start;
            justify-content: center; width: 96vw;
            margin-left: calc(50% - 48vw); }
.side { display: flex; flex-wrap: wrap; gap: 0 2em;
        align-items: flex-start; }
.curves { display: grid; grid-template-columns: 1fr 1fr; gap: 0 1em; }
figure.diagram { flex: 0 1 auto; min-width: 0; margin: 0.5em 0; }
img.diagram { max-width: 100%; height: auto; border: none; }
details.mermaid-source summary { color: #555; font-size: 0.9em; }
"""


#: In-page anchors listed under the title, in page order.
SECTIONS = (('findings', 'Findings'), ('model', 'Model'),
            ('parameters', 'Training parameters'),
            ('results', 'Results'), ('curves', 'Learning curves'),
            ('samples', 'Samples'), ('errata', 'Errata'))


def esc(text):
    return html.escape(str(text), quote=True)


def data_uri(path, mime):
    return f'data:{mime};base64,' + base64.b64encode(
        Path(path).read_bytes()).decode('ascii')


def _read_yaml(path):
    try:
        raw = load_yaml(path) or {}
    except VoxError:
        return {}
    return raw if isinstance(raw, dict) else {}


def _read_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def _table(header, rows):
    out = ['<table>', '<tr>' + ''.join(f'<th>{esc(h)}</th>' for h in header)
           + '</tr>']
    for row in rows:
        out.append('<tr>' + ''.join(f'<td>{esc(format_value(c))}</td>' for c in row)
                   + '</tr>')
    out.append('</table>')
    return '\n'.join(out)


def markdown_to_html(text):
    """The small Markdown subset the ERRATA files use."""
    out = []
    in_list = False
    para = []

    def inline(s):
        s = esc(s)
        s = re.sub(r'`([^`]+)`', r'<code>\1</code>', s)
        return re.sub(r'\*\*([^*]+)\*\*', r'<strong>\1</strong>', s)

    def flush():
        nonlocal in_list
        if para:
            out.append('<p>' + inline(' '.join(para)) + '</p>')
            para.clear()
        if in_list:
            out.append('</ul>')
            in_list = False

    for line in text.splitlines():
        m = re.match(r'^(#{1,4})\s+(.*)$', line)
        if m:
            flush()
            level = min(len(m.group(1)) + 1, 5)
            out.append(f'<h{level}>{inline(m.group(2))}</h{level}>')
        elif line.startswith('- '):
            if para:
                out.append('<p>' + inline(' '.join(para)) + '</p>')
                para.clear()
            if not in_list:
                out.append('<ul>')
                in_list = True
            out.append(f'<li>{inline(line[2:])}</li>')
        elif not line.strip():
            flush()
        elif in_list and line.startswith('  '):
            out[-1] = out[-1][:-5] + ' ' + inline(line.strip()) + '</li>'
        else:
            if in_list:
                out.append('</ul>')
                in_list = False
            para.append(line.strip())
    flush()
    return '\n'.join(out)


def _diagram_section(exp_id, config):
    try:
        n_classes = (config.get('corpus') or {}).get('n_classes')
        if not n_classes:
            n_classes = BLOG_N_CLASSES
        d = describe_run_models(exp_id, config, tuple(n_classes))
        errata = EXPERIMENTS_DIR / exp_id / 'ERRATA.md'
        errata_text = errata.read_text() if errata.exists() else None
        pictures = [draw([g], errata_text) for g in d['graphs']]
    except NoDiagram as e:
        return f'<p>{esc(e)}.</p>'
    except Exception as e:  # the report must not fail the run
        return (f'<p>The model diagram could not be drawn: {esc(e)}</p>'
                f'<pre>{esc(traceback.format_exc(limit=3))}</pre>')
    parts = [f'<p>The models as built for this run, drawn from the traced '
             f'model (shapes <code>C x T x F</code>; labels '
             f'{esc(d["n_classes"])}); red boxes and arrows are named by an '
             f'entry of the Errata below. <code>vox diagram {esc(exp_id)} '
             f'--format svg</code> draws the blog-size model.</p>',
             '<div class="diagrams">']
    for g, svg in zip(d['graphs'], pictures):
        name = g.get('title') or g['name']
        uri = 'data:image/svg+xml;base64,' + base64.b64encode(
            svg.encode('utf-8')).decode('ascii')
        # every diagram at its own size, side by side across the window;
        # where they do not fit, flex shrinks each in proportion to its
        # width, so all keep one scale
        m = re.search(r'<svg[^>]*\swidth="([0-9.]+)pt"', svg)
        width = f' width="{round(float(m.group(1)) * 4 / 3)}"' if m else ''
        parts.append(f'<figure class="diagram"><img class="diagram" '
                     f'data-graph="{esc(g["name"])}"{width} src="{uri}" '
                     f'alt="{esc(name)} diagram (traced shapes)"></figure>')
    parts.append('</div>')
    for g in d['graphs']:
        parts.append(f'<details class="mermaid-source"><summary>Mermaid '
                     f'source of the {esc(g.get("title") or g["name"])}, '
                     f'as the blog embeds it</summary>'
                     f'<pre class="mermaid">{esc(to_mermaid(g))}</pre>'
                     f'</details>')
    return '\n'.join(parts)


def _images(paths, root):
    out = []
    for p in paths:
        out.append(f'<figure><img src="{data_uri(p, "image/png")}" '
                   f'alt="{esc(p.relative_to(root))}"><figcaption>'
                   f'{esc(p.relative_to(root))}</figcaption></figure>')
    return '\n'.join(out)


def _samples_section(run_dir):
    """Sample PNGs and WAVs, one collapsible group per folder.

    The newest group (the last in name order, e.g. ``samples/epoch_0200``)
    is open; the page keeps within ``SAMPLE_BUDGET_BYTES``, newest first.
    """
    folder = run_dir / 'samples'
    files = sorted(p for p in folder.rglob('*')
                   if p.suffix.lower() in ('.png', '.wav')) \
        if folder.is_dir() else []
    if not files:
        return '<p>This run wrote no samples.</p>'
    groups = {}
    for p in files:
        groups.setdefault(p.parent.relative_to(run_dir), []).append(p)
    spent = 0
    skipped = []
    html_groups = []
    for i, (group, members) in enumerate(reversed(list(groups.items()))):
        items = []
        for p in members:
            size = p.stat().st_size
            if spent + size > SAMPLE_BUDGET_BYTES:
                skipped.append(p)
                continue
            spent += size
            if p.suffix.lower() == '.png':
                items.append(_images([p], run_dir))
            else:
                items.append(f'<figure><audio controls preload="metadata" '
                             f'src="{data_uri(p, "audio/wav")}"></audio>'
                             f'<figcaption>{esc(p.relative_to(run_dir))}'
                             f'</figcaption></figure>')
        if items:
            html_groups.append(
                f'<details{" open" if i == 0 else ""}><summary>'
                f'{esc(group)} ({len(items)} files)</summary>\n'
                + '\n'.join(items) + '\n</details>')
    out = list(reversed(html_groups))
    if skipped:
        out.append(f'<p>{len(skipped)} older sample files not embedded '
                   f'(page size budget): ' + ', '.join(
                       esc(p.relative_to(run_dir)) for p in skipped) + '</p>')
    return '\n'.join(out)


def _metrics_tables(rows):
    """One table per owner (``dis``, ``gen``, ``main``), side by side."""
    owners = {}
    for row in rows:
        owners.setdefault(row[0].split('/')[0], []).append(row)
    return '<div class="side">' + '\n'.join(
        _table(('metric', 'training', 'validation'), members)
        for members in owners.values()) + '</div>'


def this_run_figure(row, config):
    """A reference row's figure for this run; a setting the summary missed
    (one written before the setting had a reader) from the resolved
    config."""
    value = row.get('this_run')
    if value is None and row.get('figure') in CONFIG_FIGURES:
        value = config_value(config, CONFIG_FIGURES[row['figure']])
    return value


def _evaluation_section(run_dir):
    """``vox evaluate``'s headline and tables, when the run has an
    ``evaluation.json`` (vox.reports.conversion_quality); else nothing."""
    result = _read_json(Path(run_dir) / 'evaluation.json', None)
    if not result or 'content' not in result:
        return ''
    cq = conversion_quality
    return '\n'.join([
        f'<h3>{esc(cq.SECTION_TITLE)}</h3>',
        f'<p><strong>{esc(cq.headline(result))}</strong></p>',
        f'<p>{esc(result.get("snapshot", "?"))}, {result["n_crops"]} '
        f'validation crops of {result["crop_frames"]} frames, '
        f'{result["n_conversions"]} conversions; '
        f'{esc(cq.judge_line(result))}.</p>',
        _table(cq.JUDGE_HEADER, cq.judge_rows(result)),
        _table(cq.CONTENT_HEADER, cq.content_rows(result)),
        f'<p>{esc(cq.KEPT_LEGEND)}.</p>',
        f'<p>{esc(cq.counts_line(result))}.</p>'])


def _findings_section(run_dir):
    """One row per finding of the post (vox.reports.findings), first on
    the page: the question the rerun exists to answer."""
    try:
        result = findings.check_run(run_dir)
    except Exception as e:  # the report must not fail the run
        return (f'<p>The findings could not be checked: {esc(e)}</p>'
                f'<pre>{esc(traceback.format_exc(limit=3))}</pre>')
    if not result['findings']:
        return f'<p>{esc(result["experiment"])} states no findings.</p>'
    out = []
    if result['label']:
        out.append(f'<p class="smoke"><strong>{esc(result["label"])}.'
                   f'</strong></p>')
    table = _table(findings.HEADER, findings.rows(result))
    out.append(table.replace('<table>', '<table class="findings">', 1))
    return '\n'.join(out)


def _run_date(run_dir):
    m = re.match(r'(\d{8})-(\d{6})', run_dir.name)
    if m:
        return datetime.datetime.strptime(
            m.group(1) + m.group(2), '%Y%m%d%H%M%S').strftime(
                '%Y-%m-%d %H:%M')
    cfg = run_dir / 'config.yaml'
    if cfg.exists():
        return datetime.datetime.fromtimestamp(
            cfg.stat().st_mtime).strftime('%Y-%m-%d %H:%M')
    return 'unknown'


def build_report(run_dir):
    """The report page of ``run_dir`` as an HTML string."""
    run_dir = Path(run_dir)
    config = _read_yaml(run_dir / 'config.yaml')
    exp_id = config.get('id', run_dir.parent.name)
    summary = _read_json(run_dir / 'summary.json', {})
    env = _read_json(run_dir / 'environment.json', {})
    seed = _read_yaml(EXPERIMENTS_DIR / exp_id / 'seed.yaml')
    command = (run_dir / 'command.txt').read_text().strip() \
        if (run_dir / 'command.txt').exists() else 'n/a'
    train = config.get('train') or {}
    data = config.get('data') or {}
    corpus = config.get('corpus') or {}
    title = config.get('title', exp_id)

    widths = []
    for name in ('model', 'generator', 'discriminator'):
        section = config.get(name)
        if isinstance(section, dict) and 'width' in section:
            widths.append(f"{name} {section['width']}")
    decay = train.get('lr_decay')
    params = [
        ('optimizer', train.get('optimizer')),
        ('learning rate', train.get('lr')),
        ('lr decay', f"x {format_value(decay['factor'])} every "
         f"{decay['every_epochs']} "
         f"epochs" if decay else 'none'),
        ('minibatch size', train.get('batch_size')),
        ('epochs', train.get('epochs')),
        ('profile', config.get('profile', 'faithful')),
        ('width', ', '.join(widths) or 'n/a'),
        ('input', f"1 x {data.get('crop_frames', '?')} x 256 "
         f"({data.get('scale', '?')})"),
        ('corpus', f"{corpus.get('manifest', 'n/a')} (classes "
         f"{corpus.get('n_classes', 'n/a')})"),
        ('device', env.get('device', 'n/a')),
        ('code revision', env.get('git_revision', 'n/a')),
        ('command', command),
    ]
    elapsed = summary.get('elapsed_seconds')
    blog_hours = (config.get('reference') or {}).get('training_hours')
    if elapsed is not None:
        time_text = (f"{elapsed / 3600:.2f} hours ({elapsed / 60:.1f} min) "
                     f"for {summary.get('epoch')} epochs, "
                     f"{summary.get('iteration')} iterations")
    else:
        time_text = 'n/a (no summary.json: the run did not finish)'
    if blog_hours is not None:
        time_text += f'; the blog: {blog_hours} hours'

    ref_rows = [(r.get('figure'), r.get('blog'), this_run_figure(r, config),
                 r.get('note')) for r in summary.get('reference', [])]
    metrics = metric_rows(summary.get('final_metrics') or {})
    plots = sorted(run_dir.glob('*.png'))
    errata = EXPERIMENTS_DIR / exp_id / 'ERRATA.md'

    body = [
        f'<h1>{esc(exp_id)}: {esc(title)}</h1>',
        f'<p class="meta">Experiment {esc(exp_id)}, blog post dated '
        f'{esc(seed.get("date") or "unknown")}; rerun '
        f'{esc(_run_date(run_dir))} in <code>{esc(run_dir)}</code> '
        f'(status in the blog: {esc(config.get("status", "n/a"))}).</p>',
        f'<p class="glance"><strong>{esc(config.get("profile", "faithful"))}'
        f'</strong> profile on {esc(env.get("device", "an unknown device"))}: '
        f'{esc(time_text)}.</p>',
        '<nav class="toc">' + ' · '.join(
            f'<a href="#{a}">{t}</a>' for a, t in SECTIONS) + '</nav>',
        '<h2 id="findings">Findings: does this run find what the blog '
        'found?</h2>', _findings_section(run_dir),
        '<h2 id="model">Model</h2>', _diagram_section(exp_id, config),
        '<h2 id="parameters">Training parameters</h2>',
        _table(('parameter', 'value'), params),
        '<h2 id="results">Results</h2>',
        f'<p>Training time: {esc(time_text)}</p>',
        '<h3>This run beside the blog</h3>',
        _table(('figure', 'blog (2019)', 'this run', 'note'), ref_rows)
        if ref_rows else '<p>No reference figures.</p>',
        _evaluation_section(run_dir),
        '<h3>Final metrics</h3>',
        _metrics_tables(metrics) if metrics else '<p>No metrics logged.</p>',
        '<h3 id="curves">Learning curves</h3>',
        '<div class="curves">' + _images(plots, run_dir) + '</div>'
        if plots else '<p>No plots.</p>',
        '<h2 id="samples">Samples</h2>', _samples_section(run_dir),
        '<h2 id="errata">Errata</h2>',
        '<div class="errata">' + markdown_to_html(errata.read_text())
        + '</div>' if errata.exists() else
        f'<p>No ERRATA.md for {esc(exp_id)}.</p>',
    ]
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">'
            f'\n<title>{esc(exp_id)}: {esc(title)}</title>\n'
            f'<style>{CSS}</style>\n</head>\n<body>\n'
            + '\n'.join(body) + '\n</body>\n</html>\n')


def write_report(run_dir):
    """Writes ``run_dir/report.html``; returns its path."""
    run_dir = Path(run_dir)
    path = run_dir / 'report.html'
    path.write_text(build_report(run_dir), encoding='utf-8')
    print(f'vox: report {path}')
    return path
