"""Environment steps per second of peer-reward DQN (trustlab PeerDQN, xi > 0) vs plain stable-baselines3 DQN.

Both train on the same noisy-reward CartPole with the same config, interleaved (A B A B ...), one torch
thread; the peer term costs one reward shuffle and one extra TD loss per update. Prints wall-clock and
process-CPU steps/s and the ratio peer / plain (target: overhead under 10%, i.e. ratio > 0.90). CPU time is
the fairer number on a machine shared with other jobs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/peerpl_speed.py --steps 2000 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import time


def one(kind: str, steps: int, seed: int, n_envs: int) -> tuple[float, float]:
    from stable_baselines3 import DQN

    from trustlab.methods.peerpl.dqn import PeerDQN
    from trustlab.methods.peerpl.envs import EnvConfig, make_vec
    from trustlab.methods.peerpl.noise import BinaryRewardNoise

    venv = make_vec(EnvConfig("CartPole-v1", n_envs), seed, lambda env, rank: BinaryRewardNoise(env, 0.2, seed=rank))
    kw = dict(learning_starts=100, train_freq=1, gradient_steps=1, batch_size=32, seed=seed, verbose=0,
              policy_kwargs={"net_arch": [16, 16, 16]}, tau=0.01, target_update_interval=1)
    model = (PeerDQN("MlpPolicy", venv, peer_xi=0.2, **kw) if kind == "peer" else DQN("MlpPolicy", venv, **kw))
    w, c = time.perf_counter(), time.process_time()
    model.learn(steps)
    w, c = time.perf_counter() - w, time.process_time() - c
    venv.close()
    return steps / w, steps / c


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n-envs", type=int, default=1)
    a = ap.parse_args()
    res: dict[str, list[tuple[float, float]]] = {"plain": [], "peer": []}
    for r in range(a.reps):
        for kind in ("plain", "peer"):
            res[kind].append(one(kind, a.steps, r, a.n_envs))
            print(f"rep {r} {kind:5s}: {res[kind][-1][0]:7.1f} steps/s wall, {res[kind][-1][1]:7.1f} steps/s CPU",
                  flush=True)
    for i, name in ((0, "wall"), (1, "CPU")):
        plain = statistics.median(x[i] for x in res["plain"])
        peer = statistics.median(x[i] for x in res["peer"])
        print(f"{name:4s} median steps/s: plain SB3 DQN {plain:.1f}, peer DQN {peer:.1f}, ratio {peer / plain:.3f} "
              f"(overhead {100 * (1 - peer / plain):+.1f}%)")


if __name__ == "__main__":
    main()
