"""Where ``vox evaluate`` writes its result.

Into the run folder (the default): ``evaluation.json``, the
conversion-quality section of ``summary.md`` (replaced on every
evaluation) and, when the run has one, ``report.html`` rebuilt.  Into
another folder (``--out``; the run folder is left untouched):
``evaluation.json`` and a ``summary.md`` that is the run's own with the
section added.
"""
import json
from pathlib import Path

from vox.reports import conversion_quality, findings
from vox.reports.report import write_report


def write(result, run_dir, out_dir=None):
    """Writes the files above; returns the paths of evaluation.json and
    summary.md (write_report names the report itself)."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / 'evaluation.json']
    with open(written[0], 'w') as f:
        json.dump(result, f, indent=2)
    summary = run_dir / 'summary.md'
    old = summary.read_text() if summary.exists() else ''
    written.append(out_dir / 'summary.md')
    text = conversion_quality.with_section(old, result)
    in_run = out_dir.resolve() == run_dir.resolve()
    if in_run:  # some findings read evaluation.json: check them again
        text = findings.with_section(text, findings.check_run(run_dir))
    written[-1].write_text(text)
    if in_run and (run_dir / 'report.html').exists():
        write_report(run_dir)
    return written
