"""PeerPL's paper protocol for ``trustlab bench --suite paper`` (Policy Learning Using Weak Supervision, Wang et al.,
NeurIPS 2021, arXiv:2010.01748).

Through the existing ``peerpl/*`` recipes (gymnasium ids need no data; these runs are CPU-bound: environment steps,
not FLOPs), 5 seeds each:

* noisy-reward DQN on CartPole-v1 and Acrobot-v1 at the reference's 10k steps: clean reward once, and noisy /
  surrogate / peer reward at the reference CartPole scripts' noise rates ``e_plus`` in {0.1, 0.2, 0.3}
  (``e_minus = 0``);
* peer behaviour cloning (``bc.xi`` 0 = plain BC vs 0.2) from weak PPO demonstrators on CartPole-v1;
* policy co-training (``cotrain.mode`` cotrain vs individual) on CartPole-v1 and Acrobot-v1;
* the Atari half (optional ``ale-py``, ``pip install 'trustlab[atari]'``; Nature-CNN PPO on the reference's
  ``make_atari_env`` + 4-frame-stack preprocessing, ``peerpl.envs``): peer BC vs BC on Pong / Boxing / Enduro from a
  PPO demonstrator checkpointed at 2M steps (the reference README's example; rl-baselines-zoo's Atari PPO2 values:
  8 envs x 128 steps, 4 epochs, 4 minibatches, lr 2.5e-4, clip 0.1, ent 0.01), 100 recorded games, 50 BC epochs
  (batch 128, Adam 1e-4); co-training vs individual on Pong / Breakout for 10M steps per agent (the reference's
  ``atari_arg_parser`` default), each agent seeing every other pixel. Each BC run trains its own demonstrator
  (same seed: the same one for BC and peer BC on a deterministic device); 100 games of frames are ~1e5 x 28 kB
  uint8 in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import Cost, PaperRun, Protocol, register_paper

ENVS = ("CartPole-v1", "Acrobot-v1")
STEPS = 10_000
NOISE_RATES = (0.1, 0.2, 0.3)
GMACS = 1e-6  # a 16-16-16 MLP Q-network
ATARI_BC = ("PongNoFrameskip-v4", "BoxingNoFrameskip-v4", "EnduroNoFrameskip-v4")
ATARI_COTRAIN = ("PongNoFrameskip-v4", "BreakoutNoFrameskip-v4")
ATARI_DEMO_STEPS = 2_000_000
ATARI_COTRAIN_STEPS = 10_000_000
CNN_GMACS = 0.0094  # the Nature CNN on 84x84x4 (3 convs + the 512-unit layer), forward
CNN = {"ppo.net_arch": [], "bc.net_arch": []}  # linear heads on the CNN's 512 features (the reference's CnnPolicy)


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
        out += _atari(seed)
    return out


def _game(env: str) -> str:
    return env.split("NoFrameskip")[0]


def _atari(seed: int) -> list[PaperRun]:
    out = []
    for env in ATARI_BC:  # PPO: a rollout forward + 4 epochs; BC: 50 epochs over ~1e5 frame stacks
        cost = Cost(ATARI_DEMO_STEPS * 5 + 50 * 100_000 * 3, CNN_GMACS, cpu_bound=True)
        for xi in (0.0, 0.2):
            out.append(PaperRun("peerpl/bc", {"env.id": env, "bc.xi": xi, **CNN},
                                {"demo.train_steps": ATARI_DEMO_STEPS, "demo.episodes": 100, "bc.epochs": 50},
                                f"{_game(env)}/bc-xi{xi}", env, seed, cost))
    for env in ATARI_COTRAIN:
        cost = Cost(2 * ATARI_COTRAIN_STEPS * 6, CNN_GMACS, cpu_bound=True)
        for mode in ("cotrain", "individual"):
            out.append(PaperRun("peerpl/cotrain", {"env.id": env, "cotrain.mode": mode, "ppo.net_arch": []},
                                {"train.steps": ATARI_COTRAIN_STEPS}, f"{_game(env)}/cotrain-{mode}", env, seed,
                                cost))
    return out


register_paper(Protocol(
    "peerpl", "Policy Learning Using Weak Supervision (arXiv:2010.01748)", [], runs,
    metrics=("eval_return", "true_auc"), seeds=(0, 1, 2, 3, 4),
))
