"""AdvSim world: bicycle model, roads, box geometry, the scenario file format and its errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trustlab.errors import DataError
from trustlab.methods.advsim.world import (
    Limits,
    bicycle_rollout,
    box_gap,
    curved_road,
    load_scenario,
    load_scenario_dir,
    scenario_from_dict,
)


def test_bicycle_straight_and_circle():
    s = bicycle_rollout(np.array([0, 0, 0, 5.0, 0]), np.zeros((10, 2)), 0.5)
    assert s[-1, 0] == pytest.approx(25.0) and s[-1, 1] == pytest.approx(0.0)
    # constant curvature 0.1 (radius 10) at 5 m/s: after pi*10 m the car has turned half a circle
    st = bicycle_rollout(np.array([0, 0, 0, 5.0, 0.1]), np.zeros((int(round(math.pi * 10 / 5 / 0.01)), 2)), 0.01)
    assert st[-1, 2] == pytest.approx(math.pi, abs=0.02) and st[-1, 1] == pytest.approx(20.0, abs=0.1)


def test_bicycle_limits_clip_controls():
    lim = Limits(v_max=10, a_max=2, kappa_max=0.05, kdot_max=0.01)
    s = bicycle_rollout(np.array([0, 0, 0, 9.0, 0]), np.tile([[50.0, 5.0]], (20, 1)), 0.5, lim)
    assert s[:, 3].max() <= 10 + 1e-9 and s[1, 3] == pytest.approx(10.0)
    assert np.abs(s[:, 4]).max() <= 0.05 + 1e-12 and s[1, 4] == pytest.approx(0.005)
    assert bicycle_rollout(np.array([0, 0, 0, 1.0, 0]), np.full((5, 2), -9.0), 0.5, lim)[-1, 3] == 0.0


def test_box_gap():
    a = np.array([0, 0, 0, 4, 2])
    assert box_gap(a, np.array([7, 0, 0, 4, 2])) == pytest.approx(3.0)
    assert box_gap(a, np.array([0, 3, 0, 4, 2])) == pytest.approx(1.0)
    assert box_gap(a, np.array([1, 0.5, 0.3, 4, 2])) < 0
    assert box_gap(a, np.array([0, 0, np.pi / 2, 4, 2])) < 0
    # broadcasting: (3, 1, 5) vs (1, 4, 5)
    g = box_gap(np.stack([a] * 3)[:, None], np.stack([a + [10 * k, 0, 0, 0, 0] for k in range(4)])[None])
    assert g.shape == (3, 4) and g[0, 0] < 0 and g[0, 1] == pytest.approx(6.0)


def test_road_project_pose_roundtrip():
    r = curved_road(radius=60, lanes=2)
    s = np.array([5.0, 50.0, 90.0])
    d = np.array([-1.75, 0.0, 1.75])
    p = r.pose(s, d)
    s2, d2 = r.project(p[:, :2])
    assert np.allclose(s2, s, atol=0.3) and np.allclose(d2, d, atol=0.05)


def _minimal(**over):
    d = {"dt": 0.5, "steps": 4, "roads": [{"centerline": [[-50, 0], [150, 0]], "lanes": 2}],
         "sdv": {"x": 0, "y": -1.75, "yaw": 0, "v": 8, "length": 4.5, "width": 2.0},
         "actors": [{"x": 20, "y": -1.75, "yaw": 0, "v": 5, "length": 4.5, "width": 2.0}]}
    d.update(over)
    return d


def test_user_written_minimal_file(tmp_path):
    p = tmp_path / "mine.json"
    p.write_text(json.dumps(_minimal()))
    sc = load_scenario(p)
    assert sc.name == "mine" and sc.actors[0].controls.shape == (4, 2) and sc.adversary == 0
    assert sc.actor_log(0)[-1, 0] == pytest.approx(30.0)
    again = scenario_from_dict(json.loads(json.dumps(sc.to_json())))
    assert np.allclose(again.sdv_log(), sc.sdv_log())


@pytest.mark.parametrize("drop,needle", [("roads", "missing field(s) roads"), ("steps", "missing field(s) steps")])
def test_missing_scenario_fields(drop, needle):
    d = _minimal()
    del d[drop]
    with pytest.raises(DataError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        scenario_from_dict(d, "x.json")


def test_missing_actor_field_and_bad_controls():
    d = _minimal()
    del d["actors"][0]["width"]
    with pytest.raises(DataError, match=r"actors\[0\] is missing field\(s\) width"):
        scenario_from_dict(d)
    d = _minimal()
    d["actors"][0]["controls"] = [[0, 0]] * 3
    with pytest.raises(DataError, match="4 rows"):
        scenario_from_dict(d)


def test_overlapping_actors_at_t0():
    d = _minimal()
    d["actors"].append({"id": "twin", "x": 21, "y": -1.5, "yaw": 0.1, "v": 5, "length": 4.5, "width": 2.0})
    with pytest.raises(DataError, match="'a0' and 'twin' overlap at t=0"):
        scenario_from_dict(d)


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(DataError, match="no \\*.json scenario files"):
        load_scenario_dir(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_scenario_dir(tmp_path / "nope")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not readable JSON"):
        load_scenario_dir(tmp_path)
