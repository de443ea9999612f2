"""AdvSim's paper protocol for ``trustlab bench --suite paper`` (AdvSim: Generating Safety-Critical Scenarios for
Self-Driving Vehicles, arXiv:2101.06549): declared, not wired.

The paper's LiDAR simulator is not public; the issue's stand-in is ``highway-env`` (gymnasium, LiDAR observation)
scenarios whose actor trajectories the adversary perturbs, against an agent the user brings. Not wired: highway-env is
not a dependency and no recipe drives it; trustlab's own scenario runs stay in the smoke/quick/full suites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import PaperRun, Protocol, register_paper


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    return []  # see the module docstring


register_paper(Protocol(
    "advsim", "AdvSim: Generating Safety-Critical Scenarios for Self-Driving Vehicles (arXiv:2101.06549)", [], runs,
    metrics=("collision_rate",),
    not_wired="highway-env (the public simulator standing in for the paper's) is not a dependency and no recipe "
              "drives it",
))
