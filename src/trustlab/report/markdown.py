"""A bench's claims.json as a Markdown table (for READMEs: the numbers come from a command).

    python -m trustlab.report.markdown reports/demo/claims.json [--only okd/]

One row per claim: id, suite and seeds, verdict (an INVALID one with its reason: the validity gate
that failed), margin with its 90% interval and unit, seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def _num(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "nan"
    return "nan" if not math.isfinite(f) else f"{f:+.4f}"


def table(doc: dict[str, Any], only: list[str] | None = None) -> str:
    """Markdown rows for the claims of one claims.json document."""
    rows = ["| claim | suite, seeds | verdict | margin [90% interval] | unit | s |", "|---|---|---|---|---|---|"]
    for c in doc.get("claims", []):
        cid = str(c.get("id", "?"))
        if only and not cid.startswith(tuple(only)):
            continue
        from trustlab.report.bench_report import reason
        from trustlab.report.bench_report import verdict as verdict_of

        verdict = verdict_of(c)
        why = reason(c)
        if why:
            verdict += ": " + why.replace("|", "\\|")
        iv = c.get("interval") or []
        interval = f" [{_num(iv[0])}, {_num(iv[1])}]" if len(iv) == 2 else ""
        seeds = ",".join(map(str, c.get("seeds") or [])) or "-"
        rows.append(f"| `{cid}` | {doc.get('suite', '?')}, {seeds} | {verdict} | {_num(c.get('margin'))}{interval} | "
                    f"{c.get('unit', '')} | {float(c.get('seconds') or 0):.0f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("claims_json", nargs="+")
    ap.add_argument("--only", action="append", default=None, metavar="CLAIM_PREFIX")
    args = ap.parse_args(argv)
    for path in args.claims_json:
        doc = json.loads(Path(path).read_text())
        print(f"<!-- {path}: {doc.get('created', '?')}, jobs {doc.get('jobs', '?')}, "
              f"{float(doc.get('seconds') or 0):.0f} s -->")
        print(table(doc, args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
