"""PeerPL's paper protocol for ``trustlab bench --suite paper`` (Policy Learning Using Weak Supervision, Wang et al.,
NeurIPS 2021, arXiv:2010.01748).

Noisy-reward DQN (clean / noisy / surrogate / peer rewards) on CartPole-v1 and Acrobot-v1 at the paper's 10k steps
with 5 seeds, and peer behaviour cloning (xi = 0 vs 0.2) and co-training on CartPole-v1, through the existing
``peerpl/*`` recipes (gymnasium ids need no data; these runs are CPU-bound: environment steps, not FLOPs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import Cost, PaperRun, Protocol, register_paper

ENVS = ("CartPole-v1", "Acrobot-v1")
STEPS = 10_000
GMACS = 1e-6  # a 16-16-16 MLP Q-network


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for seed in seeds:
        for env in ENVS:
            for reward in ("clean", "noisy", "surrogate", "peer"):
                out.append(PaperRun("peerpl/noisy-reward", {"env.id": env, "method.reward": reward},
                                    {"train.steps": STEPS}, f"{env}/{reward}", env, seed,
                                    Cost(STEPS * 32, GMACS, cpu_bound=True)))
        for xi in (0.0, 0.2):
            out.append(PaperRun("peerpl/bc", {"env.id": "CartPole-v1", "bc.xi": xi}, {}, f"CartPole-v1/bc-xi{xi}",
                                "CartPole-v1", seed, Cost(STEPS * 8, GMACS, cpu_bound=True)))
        out.append(PaperRun("peerpl/cotrain", {"env.id": "CartPole-v1"}, {}, "CartPole-v1/cotrain", "CartPole-v1",
                            seed, Cost(STEPS * 8, GMACS, cpu_bound=True)))
    return out


register_paper(Protocol(
    "peerpl", "Policy Learning Using Weak Supervision (arXiv:2010.01748)", [], runs,
    metrics=("eval_return", "true_auc"), seeds=(0, 1, 2, 3, 4),
    not_wired="Atari (peer BC and co-training through ale-py) is not wired: ale-py is not a dependency",
))
