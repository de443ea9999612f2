"""advsim from the CLI: your own scenario files run; bad scenario files and bounds give one `error:` line,
exit 2 and no finished run; `trustlab data show advsim-scenarios` draws bird's-eye views."""

from __future__ import annotations

import json

import pytest

from tests.e2e.helpers import cli, run_dir

TINY = ["--set", "detector.samples=48", "--set", "detector.steps=4", "--set", "detector.batch=8",
        "--set", "adversary.budget=2", "--set", "figures=1", "--quiet"]


def _scenario(i: int, **actor) -> dict:
    a = {"id": "lead", "x": 18 + i, "y": -1.75, "yaw": 0, "v": 5, "length": 4.5, "width": 2.0, "adversarial": True}
    a.update(actor)
    return {"format": "trustlab-advsim-scenario/1", "name": f"mine_{i}", "kind": "following", "dt": 0.5, "steps": 6,
            "roads": [{"centerline": [[-50, 0], [150, 0]], "lanes": 2, "lane_width": 3.5}],
            "sdv": {"x": 0, "y": -1.75, "yaw": 0, "v": 8, "length": 4.5, "width": 2.0,
                    "controls": [[-0.5, 0]] * 6},
            "actors": [a]}


def _folder(tmp_path, scenarios):
    root = tmp_path / "scen"
    root.mkdir()
    for i, s in enumerate(scenarios):
        (root / f"{i}.json").write_text(json.dumps(s))
    return root


def _one_error(proc, needle, runs):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip() and not ln.startswith("trustlab: building")]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], proc.stderr
    assert not runs.exists() or not list(runs.rglob("done"))


def test_your_own_scenarios(tmp_path):
    root = _folder(tmp_path, [_scenario(0), _scenario(1)])
    proc = cli("run", "advsim/attack", "--set", f"data.root={root}", *TINY, runs=tmp_path / "runs", check=True)
    s = json.loads((run_dir(proc.stdout) / "summary.json").read_text())
    assert s["n_scenarios"] == 2 and s["scenarios"] == ["mine_0", "mine_1"]


# overlapping actors at t=0 and an empty folder are the same DataError path; their messages are unit-tested
# (tests/unit/test_advsim_world.py), the CLI cases below check exit 2, one line and no finished run
@pytest.mark.parametrize("case,needle", [
    ("missing", "is missing field(s) width"),
    ("empty", "empty scenario set"),
    ("bounds", "implausible: off road"),
])
def test_bad_input(case, needle, tmp_path):
    runs = tmp_path / "runs"
    extra: list[str] = []
    if case == "missing":
        s = _scenario(0)
        del s["actors"][0]["width"]
        root = _folder(tmp_path, [s])
    elif case == "empty":
        root = _folder(tmp_path, [])
    else:
        root = _folder(tmp_path, [_scenario(0)])
        extra = ["--set", "adversary.lat=[30,40]"]
    proc = cli("run", "advsim/attack", "--set", f"data.root={root}", *extra, *TINY, runs=runs)
    _one_error(proc, needle, runs)


def test_data_show(tmp_path):
    root = _folder(tmp_path, [_scenario(0), _scenario(3)])
    out = cli("data", "show", "advsim-scenarios", "--root", str(root), "--out", str(tmp_path / "show"),
              check=True).stdout
    assert (tmp_path / "show" / "advsim-scenarios.png").is_file() and "advsim-scenarios" in out
