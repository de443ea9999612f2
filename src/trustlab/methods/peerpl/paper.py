"""PeerPL's paper protocol for ``trustlab bench --suite paper`` (Policy Learning Using Weak Supervision, Wang et al.,
NeurIPS 2021, arXiv:2010.01748).

Through the existing ``peerpl/*`` recipes (gymnasium ids need no data; these runs are CPU-bound: environment steps,
not FLOPs), 5 seeds each:

* noisy-reward DQN on CartPole-v1 and Acrobot-v1 at the reference's 10k steps: clean reward once, and noisy /
  surrogate / peer reward at the reference CartPole scripts' noise rates ``e_plus`` in {0.1, 0.2, 0.3}
  (``e_minus = 0``);
* peer behaviour cloning (``bc.xi`` 0 = plain BC vs 0.2) from weak PPO demonstrators on CartPole-v1;
* policy co-training (``cotrain.mode`` cotrain vs individual) on CartPole-v1 and Acrobot-v1.

Not wired: the Atari half (peer BC on Pong / Boxing / Enduro, co-training on Pong / Breakout). It needs ``ale-py``
(its wheel ships the ROMs) as a dependency, Atari preprocessing (frame skip, 84 px grey, frame stack) in
``peerpl.envs`` and a CNN policy in the recipes, all in the PeerPL method package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import Cost, PaperRun, Protocol, register_paper

ENVS = ("CartPole-v1", "Acrobot-v1")
STEPS = 10_000
NOISE_RATES = (0.1, 0.2, 0.3)
GMACS = 1e-6  # a 16-16-16 MLP Q-network


def _noisy_reward(env: str, seed: int) -> list[PaperRun]:
    cost = Cost(STEPS * 32, GMACS, cpu_bound=True)
    out = [PaperRun("peerpl/noisy-reward", {"env.id": env, "method.reward": "clean"}, {"train.steps": STEPS},
                    f"{env}/clean", env, seed, cost)]
    for e in NOISE_RATES:
        for reward in ("noisy", "surrogate", "peer"):
            out.append(PaperRun("peerpl/noisy-reward", {"env.id": env, "method.reward": reward, "noise.e_plus": e},
                                {"train.steps": STEPS}, f"{env}/e{e}/{reward}", env, seed, cost))
    return out


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for seed in seeds:
        for env in ENVS:
            out += _noisy_reward(env, seed)
        for xi in (0.0, 0.2):
            out.append(PaperRun("peerpl/bc", {"env.id": "CartPole-v1", "bc.xi": xi}, {}, f"CartPole-v1/bc-xi{xi}",
                                "CartPole-v1", seed, Cost(STEPS * 8, GMACS, cpu_bound=True)))
        for env in ENVS:
            for mode in ("cotrain", "individual"):
                out.append(PaperRun("peerpl/cotrain", {"env.id": env, "cotrain.mode": mode}, {},
                                    f"{env}/cotrain-{mode}", env, seed, Cost(STEPS * 8, GMACS, cpu_bound=True)))
    return out


register_paper(Protocol(
    "peerpl", "Policy Learning Using Weak Supervision (arXiv:2010.01748)", [], runs,
    metrics=("eval_return", "true_auc"), seeds=(0, 1, 2, 3, 4),
    not_wired="Atari (peer BC on Pong/Boxing/Enduro, co-training on Pong/Breakout): needs ale-py as a dependency, "
              "Atari preprocessing in peerpl.envs and a CNN policy (PeerPL owner)",
))
