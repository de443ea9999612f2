"""Peer-reward DQN: stable-baselines3's ``DQN`` with the correlated-agreement (peer) term in its loss.

PeerPL setting 1 (Wang et al., NeurIPS 2021, https://arxiv.org/abs/2010.01748; reference
``rl-noisy-reward/gym-control/rl/agents/dqn.py``). For a replay batch of B transitions with noisy rewards
``r`` and bootstrap ``q' = (1 - done) * gamma * Q_target(s', a*)``::

    loss = L(Q(s, a), r + q') - xi(t) * L(Q(s, a), r[perm] + q')

``perm`` shuffles the rewards within the batch (the reward of another, randomly drawn transition; the
reference's ``np.random.shuffle(reward_batch_peer)``); state, action and bootstrap stay those of the sample.
``xi(t)`` follows a schedule (:mod:`.schedules`) over the training progress. With ``xi = 0`` this is SB3's
own DQN update (test: ``tests/parity/test_peerpl_parity.py``). ``double=True`` picks ``a*`` with the online
network (Double DQN, the reference's ``enable_double_dqn=True`` default); ``loss`` is SB3's Huber or the
reference's squared error (keras-rl with ``delta_clip=inf``).

    model = PeerDQN("MlpPolicy", venv, peer_xi=0.2, peer_schedule="constant", double=True)
    model.learn(10_000)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3 import DQN

from trustlab.methods.peerpl.schedules import check_schedule, peer_weight


def td_loss(q: th.Tensor, target: th.Tensor, kind: str) -> th.Tensor:
    """SB3's Huber loss, or the reference's squared error 0.5 * (q - target)^2 (keras-rl, delta_clip=inf)."""
    return F.smooth_l1_loss(q, target) if kind == "huber" else 0.5 * F.mse_loss(q, target)


def peer_td_loss(q: th.Tensor, rewards: th.Tensor, bootstrap: th.Tensor, xi: float, perm: th.Tensor | None,
                 kind: str = "huber") -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """(total, plain TD loss, peer TD loss): ``L(q, r + b) - xi * L(q, r[perm] + b)``; shapes (B, 1)."""
    plain = td_loss(q, rewards + bootstrap, kind)
    if xi == 0.0 or perm is None:
        return plain, plain, th.zeros((), device=q.device)
    peer = td_loss(q, rewards[perm] + bootstrap, kind)
    return plain - xi * peer, plain, peer


def without_log_folder(model: Any) -> Any:
    """SB3's learn() makes an empty ``$TMPDIR/SB3-<time>`` folder per call unless a logger is set; trustlab records
    its own metrics, so the model gets a logger that writes nowhere (its values are still recorded in memory)."""
    from stable_baselines3.common.logger import Logger

    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


class PeerDQN(DQN):
    """SB3 DQN + peer reward term. Extra args: ``peer_xi``, ``peer_schedule``, ``peer_start``, ``peer_end``
    (window as training fractions), ``double`` (Double DQN target), ``loss`` ("huber" | "mse")."""

    def __init__(self, *args: Any, peer_xi: float = 0.0, peer_schedule: str = "constant", peer_start: float = 0.0,
                 peer_end: float = 1.0, double: bool = False, loss: str = "huber", **kwargs: Any) -> None:
        self.peer_xi = float(peer_xi)
        self.peer_schedule = check_schedule(peer_schedule)
        self.peer_start, self.peer_end = float(peer_start), float(peer_end)
        self.double = bool(double)
        if loss not in ("huber", "mse"):
            raise ValueError(f"loss must be huber or mse, got {loss!r}")
        self.loss_kind = loss
        self.last_xi = 0.0
        super().__init__(*args, **kwargs)
        without_log_folder(self)

    def current_xi(self) -> float:
        progress = 1.0 - float(self._current_progress_remaining)
        return peer_weight(self.peer_schedule, self.peer_xi, progress, self.peer_start, self.peer_end)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        xi = self.last_xi = self.current_xi()
        losses, peer_losses = [], []
        for _ in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = data.discounts if data.discounts is not None else self.gamma
            with th.no_grad():
                next_target = self.q_net_target(data.next_observations)
                if self.double:
                    best = self.q_net(data.next_observations).argmax(dim=1, keepdim=True)
                    next_q = th.gather(next_target, 1, best)
                else:
                    next_q = next_target.max(dim=1)[0].reshape(-1, 1)
                bootstrap = (1 - data.dones) * discounts * next_q
            q = th.gather(self.q_net(data.observations), dim=1, index=data.actions.long())
            perm = th.randperm(len(data.rewards), device=data.rewards.device) if xi != 0.0 else None
            loss, plain, peer = peer_td_loss(q, data.rewards, bootstrap, xi, perm, self.loss_kind)
            losses.append(plain.item())
            if perm is not None:
                peer_losses.append(peer.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))
        self.logger.record("train/peer_xi", xi)
        if peer_losses:
            self.logger.record("train/peer_loss", float(np.mean(peer_losses)))
