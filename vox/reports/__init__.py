"""What a run shows people: report.html, summary, comparisons across runs."""
