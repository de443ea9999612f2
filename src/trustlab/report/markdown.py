"""A bench's claims.json as a Markdown table (for READMEs: the numbers come from a command).

    python -m trustlab.report.markdown reports/demo/claims.json [--only okd/] [--redecide]

One row per claim: id, suite and seeds, verdict (an INVALID one with its reason: the validity gate
that failed; a FAIL by the effect of interest with that rule), margin with its 90% interval and unit, seconds.
``--redecide`` decides each claim again from its stored per-seed margins under today's rule and registered
effect of interest (``bench.claims.decide_with_effect``; an INVALID verdict, a failed validity gate, stays
INVALID): for a claims.json written by an older trustlab, without retraining anything.
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


def redecide(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with every claim that stored its per-seed margins decided again under the current rule (see the
    module docstring); claims not registered any more, or without margins, are left as they were."""
    import trustlab.methods  # noqa: F401  (fills the claim registry)
    from trustlab.bench.claims import decide_with_effect
    from trustlab.registry import CLAIMS

    out = dict(doc)
    out["claims"] = []
    for c in doc.get("claims", []):
        c = dict(c)
        diffs = c.get("diffs")
        if diffs and str(c.get("id")) in CLAIMS.names():
            verdict, iv, note = decide_with_effect([float(d) for d in diffs], CLAIMS.get(str(c["id"])).effect)
            c["verdict"] = "INVALID" if c.get("verdict") == "INVALID" else verdict
            c["passed"], c["interval"] = c["verdict"] == "PASS", iv
            if note and c["verdict"] != "INVALID" and note not in str(c.get("notes") or ""):
                c["notes"] = f"{c.get('notes') or ''} {note}".strip()
        out["claims"].append(c)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("claims_json", nargs="+")
    ap.add_argument("--only", action="append", default=None, metavar="CLAIM_PREFIX")
    ap.add_argument("--redecide", action="store_true",
                    help="decide each claim again from its stored per-seed margins under the current rule")
    args = ap.parse_args(argv)
    for path in args.claims_json:
        doc = json.loads(Path(path).read_text())
        if args.redecide:
            doc = redecide(doc)
        print(f"<!-- {path}: {doc.get('created', '?')}, jobs {doc.get('jobs', '?')}, "
              f"{float(doc.get('seconds') or 0):.0f} s{', re-decided under the current rule' if args.redecide else ''}"
              " -->")
        print(table(doc, args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
