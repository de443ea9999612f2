"""Seeds from a power analysis: how many seeds a claim needs to decide its effect of interest.

The bench decides a claim with a paired rule (:func:`trustlab.bench.claims.decide`): PASS when the
``CONFIDENCE`` (90%) two-sided Student-t interval on the mean per-seed margin lies above zero. That is a
one-sided t test at level ``alpha = (1 - CONFIDENCE) / 2 = 0.05``. With per-seed margins of standard
deviation ``sd`` and a true mean margin equal to the claim's effect of interest ``effect`` (its
``register_claim(effect=...)``, in the claim's own unit), the probability that ``n`` seeds give PASS is

    power(n) = P(T' > t_{1-alpha, n-1}),  T' ~ noncentral t(df = n - 1, nc = (effect / sd) * sqrt(n)),

the power of the one-sample t test (statsmodels' ``TTestPower(...).power(d, n, alpha, "larger")``, which
the tests check this against). :func:`seeds_needed` is the smallest ``n >= 3`` (the rule's minimum) with
``power(n) >= 0.8``. ``trustlab bench --suite S --power`` prints it for every claim of the suite from the
per-seed margins of the last ``trustlab bench --suite S`` (``reports/S/claims.json``).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from trustlab.bench.claims import CONFIDENCE
from trustlab.errors import NotFoundError

POWER = 0.80
MIN_SEEDS = 3  # decide() needs at least this many
MAX_SEEDS = 1000


def t_power(effect_size: float, n: int, confidence: float = CONFIDENCE) -> float:
    """Probability that ``n`` paired seeds with standardised effect ``effect_size`` (mean / sd) give PASS."""
    from scipy import stats

    if n < 2:
        return float("nan")
    alpha = (1 - confidence) / 2
    crit = stats.t.ppf(1 - alpha, n - 1)
    return float(stats.nct.sf(crit, n - 1, effect_size * math.sqrt(n)))


def seeds_needed(sd: float, effect: float, power: float = POWER, confidence: float = CONFIDENCE,
                 min_seeds: int = MIN_SEEDS) -> int | None:
    """Smallest number of seeds that decides ``effect`` (in the margin's unit) at ``power`` under the
    bench's rule, given per-seed margin standard deviation ``sd``; None if more than ``MAX_SEEDS``."""
    if not effect > 0:
        raise ValueError(f"effect of interest must be > 0, got {effect}")
    if not sd >= 0 or math.isnan(sd):
        raise ValueError(f"standard deviation must be >= 0, got {sd}")
    if sd == 0:
        return min_seeds
    d = effect / sd
    for n in range(max(2, min_seeds), MAX_SEEDS + 1):
        if t_power(d, n, confidence) >= power:
            return n
    return None


def power_rows(claims_json: str | Path) -> list[dict[str, Any]]:
    """One row per claim of a bench's claims.json: the per-seed sd of its margins, its effect of interest,
    the standardised effect, the seeds it ran and the seeds needed (with the run cost per seed)."""
    import trustlab.methods  # noqa: F401  (registers the claims)
    from trustlab.registry import CLAIMS

    path = Path(claims_json)
    if not path.is_file():
        raise NotFoundError(f"no bench results at {path}: run `trustlab bench --suite {path.parent.name}` "
                            "first (the power analysis reads the per-seed margins it measured)")
    doc = json.loads(path.read_text())
    rows = []
    for c in doc.get("claims", []):
        cid = c.get("id", "?")
        diffs = [float(d) for d in c.get("diffs") or [] if d == d]
        claim = CLAIMS.get(cid) if cid in CLAIMS.names() else None
        effect = claim.effect if claim is not None else None
        sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
        need: int | None | str
        if effect is None:
            need = "no effect stated"
        elif sd != sd:
            need = "needs >= 2 seeds to estimate the spread"
        else:
            need = seeds_needed(sd, effect)
            need = need if need is not None else f"> {MAX_SEEDS}"
        seeds = len(c.get("seeds") or [])
        rows.append({
            "claim": cid, "verdict": c.get("verdict", ""), "unit": c.get("unit", ""), "seeds run": seeds,
            "sd per seed": sd, "effect of interest": effect if effect is not None else float("nan"),
            "effect / sd": (effect / sd) if effect is not None and sd == sd and sd > 0 else float("nan"),
            "seeds needed": need,
            "seconds per seed": (float(c.get("seconds", 0.0)) / seeds) if seeds else float("nan"),
            "effect source": claim.effect_source if claim is not None else "",
        })
    return rows


def power_markdown(rows: list[dict[str, Any]]) -> str:
    """The power table as markdown (what ``trustlab bench --power`` prints and the README shows)."""
    def num(x: Any) -> str:
        return f"{x:.4g}" if isinstance(x, float) and x == x else ("n/a" if isinstance(x, float) else str(x))

    out = ["| claim | verdict | seeds run | sd per seed | effect of interest | effect / sd | seeds needed "
           "| s per seed |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| `{r['claim']}` | {r['verdict']} | {r['seeds run']} | {num(r['sd per seed'])} | "
                   f"{num(r['effect of interest'])} | {num(r['effect / sd'])} | {r['seeds needed']} | "
                   f"{num(r['seconds per seed'])} |")
    return "\n".join(out)
