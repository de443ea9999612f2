"""HTML reports, tables and matplotlib figures, read only from run records and claims.json.

- :func:`render_run` writes ``<run_dir>/report/index.html`` for one run record.
- :func:`render_runs_index` writes one page linking many runs' reports.
- :func:`render_bench` writes ``<suite_dir>/index.html`` from ``<suite_dir>/claims.json``.
"""

from trustlab.report.bench_report import render_bench
from trustlab.report.run_report import render_run, render_runs_index

__all__ = ["render_bench", "render_run", "render_runs_index"]
