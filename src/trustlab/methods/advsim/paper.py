"""AdvSim's paper protocol for ``trustlab bench --suite paper`` (AdvSim: Generating Safety-Critical Scenarios for
Self-Driving Vehicles, arXiv:2101.06549).

The paper's LiDAR simulator is not public; its stand-in is ``highway-env`` (``pip install 'trustlab[advsim-sim]'``):
``advsim/highway`` perturbs actor trajectories in highway-env scenes (``highway-v0``, ``merge-v0``,
``intersection-v0``, LiDAR observation) against the agent the user brings, the black-box search (BO) beside random
search at the same query budget and seeds, and the unperturbed scenes (the paper's "original" collision rate).

Data: ``--data agent=MODEL.zip`` (optional), a stable-baselines3 checkpoint trained on these scenes (class
``agent.algo``, DQN unless overridden); without it the agent is highway-env's constant-speed, lane-keeping IDLE
policy. trustlab's own LiDAR stack (``advsim/attack``, ``advsim/adv-train``) stays in the smoke/quick/full suites.
Not wired: adversarial training of the user's agent (it is the user's to retrain on the found scenes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import Cost, DataNeed, PaperRun, Protocol, register_paper

ENVS = ("highway-v0", "merge-v0", "intersection-v0")
SCALE = {"env.scenarios": 50, "adversary.budget": 50, "env.steps": 10}  # 5 s horizon as the paper's
AGENT = DataNeed("agent", "your highway-env agent", "a stable-baselines3 .zip checkpoint (class: agent.algo, DQN)",
                 "https://stable-baselines3.readthedocs.io/en/master/guide/save_format.html", kind="file",
                 optional=True)


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    agent = str(data["agent"]) if "agent" in data else "idle"
    name = "agent" if "agent" in data else "idle"
    # queries: scenes x budget x 2 arms (BO, random) + the unperturbed drives; environment steps, not FLOPs
    cost = Cost(SCALE["env.scenarios"] * (2 * SCALE["adversary.budget"] + 2) * SCALE["env.steps"], 1e-6,
                cpu_bound=True)
    return [PaperRun("advsim/highway", {"env.id": env, "agent.policy": agent}, dict(SCALE), f"{env}/{name}",
                     "agent" if "agent" in data else env, seed, cost)
            for seed in seeds for env in ENVS]


register_paper(Protocol(
    "advsim", "AdvSim: Generating Safety-Critical Scenarios for Self-Driving Vehicles (arXiv:2101.06549)", [AGENT],
    runs, metrics=("base_collision_rate", "collision_rate", "clean_collision_rate", "found_rate", "mean_worst_gap",
                   "random"),
    not_wired="adversarial training of the user's agent on the found scenes (the paper's last table); the paper's "
              "LiDAR simulator is not public: highway-env stands in",
))
