"""Do the verdicts survive another machine? The same bench natively and with the CPU's kernel set forced down.

Float kernels follow the CPU's instruction set (AVX-512 / AVX2 / SSE): torch's ATen picks its vectorised
kernels by ``ATEN_CPU_CAPABILITY`` and oneDNN by ``ONEDNN_MAX_CPU_ISA``. Two machines of the same seeds
therefore differ in the last digits, and a claim whose margin sits near zero can change its verdict. This
script runs one suite twice on this machine, natively and with ``ATEN_CPU_CAPABILITY=default
ONEDNN_MAX_CPU_ISA=SSE41`` (the kernel set of an old or different CPU), each into its own reports folder
with its own runs (nothing is reused between the two), and prints both verdicts per claim side by side.

    python scripts/isa_verdicts.py                     # the demo suite (make demo, twice)
    python scripts/isa_verdicts.py --suite quick --only ood/ --only minmax/
    python scripts/isa_verdicts.py --compare-only      # re-read both claims.json, train nothing
    python scripts/isa_verdicts.py --compare-only --native reports/demo/claims.json --forced F/demo/claims.json

Writes ``<out>/isa-verdicts.md`` and exits 1 when any claim's verdict differs between the two runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

FORCED = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}


def run_suite(suite: str, out: Path, only: list[str], env_extra: dict[str, str], jobs: int) -> float:
    cmd = [sys.executable, "-m", "trustlab.cli", "bench", "--suite", suite, "--out", str(out), "--reuse",
           "--jobs", str(jobs)]
    for prefix in only:
        cmd += ["--only", prefix]
    env = {**os.environ, **env_extra}
    for key in FORCED:  # the native run must not inherit a forced kernel set from the caller
        if key not in env_extra:
            env.pop(key, None)
    t = time.perf_counter()
    print(f"$ {' '.join(f'{k}={v}' for k, v in env_extra.items())} {' '.join(cmd[2:])}", file=sys.stderr)
    subprocess.run(cmd, env=env, check=True)
    return time.perf_counter() - t


def load(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"error: {path} is missing; run this script without --compare-only first")
    return json.loads(path.read_text())


def compare(native: dict, forced: dict) -> tuple[str, int]:
    """Markdown table of both runs' verdicts and margins; the number of claims whose verdict differs."""
    def fmt(c: dict | None) -> str:
        if c is None:
            return "not run"
        iv = c.get("interval") or []
        ivs = f" [{iv[0]:+.4f}, {iv[1]:+.4f}]" if len(iv) == 2 and iv[0] == iv[0] else ""
        return f"{c.get('verdict')} {c.get('margin', float('nan')):+.4f}{ivs}"

    by_id = {c["id"]: c for c in forced.get("claims", [])}
    env_n, env_f = native.get("env", {}), forced.get("env", {})
    lines = [f"native: {env_n.get('cpu_model', '?')}, ATen {env_n.get('cpu_capability', '?')}, oneDNN "
             f"{env_n.get('onednn_max_cpu_isa', '?')}; forced: ATen {env_f.get('cpu_capability', '?')}, oneDNN "
             f"{env_f.get('onednn_max_cpu_isa', '?')}", "",
             "| claim | native | ISA forced down | same verdict |", "|---|---|---|---|"]
    flips = 0
    for c in native.get("claims", []):
        other = by_id.get(c["id"])
        same = other is not None and other.get("verdict") == c.get("verdict")
        flips += not same
        lines.append(f"| `{c['id']}` | {fmt(c)} | {fmt(other)} | {'yes' if same else '**no**'} |")
    return "\n".join(lines), flips


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default="demo")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--out", default="reports/isa")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--compare-only", action="store_true")
    ap.add_argument("--native", default=None, metavar="CLAIMS_JSON",
                    help="with --compare-only: the native claims.json (e.g. make demo's)")
    ap.add_argument("--forced", default=None, metavar="CLAIMS_JSON", help="with --compare-only: the forced run's")
    args = ap.parse_args(argv)
    out = Path(args.out)
    native_dir, forced_dir = out / "native", out / "forced"
    times = {}
    if not args.compare_only:
        times["native"] = run_suite(args.suite, native_dir, args.only, {}, args.jobs)
        times["forced"] = run_suite(args.suite, forced_dir, args.only, FORCED, args.jobs)
    native_json = Path(args.native) if args.native else native_dir / args.suite / "claims.json"
    forced_json = Path(args.forced) if args.forced else forced_dir / args.suite / "claims.json"
    table, flips = compare(load(native_json), load(forced_json))
    head = (f"`python scripts/isa_verdicts.py --suite {args.suite}"
            + "".join(f" --only {o}" for o in args.only) + "`"
            + (f", native {times['native']:.0f} s, forced {times['forced']:.0f} s" if times else "")
            + f": {flips} claim(s) changed verdict\n\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / "isa-verdicts.md").write_text(head + table + "\n")
    print(head + table)
    return 1 if flips else 0


if __name__ == "__main__":
    raise SystemExit(main())
