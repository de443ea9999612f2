"""PeerPL parity: the peer DQN update against SB3's own DQN update (xi = 0) and against the reference's
formulas computed by hand (numpy), on identical inputs. Tolerance: 1e-6 (float32)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch as th

from trustlab.methods.peerpl.dqn import PeerDQN, peer_td_loss
from trustlab.methods.peerpl.policies import peer_cloning_loss

pytestmark = pytest.mark.parity


def _models():
    """A PeerDQN with a filled replay buffer, and an exact copy of it (same weights, buffer, optimizer)."""
    import gymnasium as gym

    kw = dict(learning_starts=32, batch_size=16, train_freq=1000, seed=0, policy_kwargs={"net_arch": [8]}, verbose=0)
    ours = PeerDQN("MlpPolicy", gym.make("CartPole-v1"), peer_xi=0.0, double=False, loss="huber", **kw)
    ours.learn(64)  # fills the replay buffer (train_freq beyond the budget: no update yet)
    # noisy +-1 rewards (clean CartPole pays a constant +1: shuffling it changes nothing)
    rb = ours.replay_buffer
    rb.rewards[:] = np.random.default_rng(0).choice([-1.0, 1.0], size=rb.rewards.shape)
    return ours, copy.deepcopy(ours)


def test_xi_zero_is_sb3_dqn_update():
    from stable_baselines3 import DQN

    ours, ref = _models()
    for train in (ours.train, lambda **kw: DQN.train(ref, **kw)):  # ours vs SB3's own DQN.train on the copy
        np.random.seed(3)  # the replay buffer samples with numpy
        th.manual_seed(3)
        train(gradient_steps=3, batch_size=16)
    for a, b in zip(ours.policy.parameters(), ref.policy.parameters()):
        assert th.allclose(a, b, atol=1e-6)


def test_peer_td_loss_is_the_reference_formula():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(6, 1)).astype(np.float32)
    r = rng.choice([-1.0, 1.0], size=(6, 1)).astype(np.float32)
    b = rng.normal(size=(6, 1)).astype(np.float32)
    perm = np.array([3, 0, 5, 1, 2, 4])
    xi = 0.3
    total, plain, peer = peer_td_loss(th.tensor(q), th.tensor(r), th.tensor(b), xi, th.tensor(perm), kind="mse")
    # reference (keras-rl, delta_clip=inf): 0.5 (Q - (r + b))^2, peer target r_shuffled + b, weight -xi
    want_plain = np.mean(0.5 * (q - (r + b)) ** 2)
    want_peer = np.mean(0.5 * (q - (r[perm] + b)) ** 2)
    assert plain.item() == pytest.approx(want_plain, rel=1e-6)
    assert peer.item() == pytest.approx(want_peer, rel=1e-6)
    assert total.item() == pytest.approx(want_plain - xi * want_peer, rel=1e-6)


def test_peer_cloning_loss_is_the_reference_formula():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(8, 3)).astype(np.float32)
    acts = rng.integers(0, 3, size=8)
    xi = 0.5
    gen = th.Generator().manual_seed(7)
    perm = th.randperm(8, generator=th.Generator().manual_seed(7)).numpy()
    total, peer = peer_cloning_loss(th.tensor(logits), th.tensor(acts), xi, gen)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ce = -np.mean(np.log(p[np.arange(8), acts]))
    peer_ref = -np.mean(np.log(p[np.arange(8), acts[perm]] + 1e-8))  # reference: log(softmax + 1e-8)
    assert peer.item() == pytest.approx(peer_ref, rel=1e-5)
    assert total.item() == pytest.approx(ce - xi * peer_ref, rel=1e-5)


def test_peer_term_changes_the_update():
    ours, _ = _models()
    before = [p.detach().clone() for p in ours.policy.parameters()]
    twin = copy.deepcopy(ours)
    twin.peer_xi = 0.4
    for model in (ours, twin):
        np.random.seed(3)
        th.manual_seed(3)
        model.train(gradient_steps=3, batch_size=16)  # Adam's first step is sign(grad) * lr: take three
    moved = [not th.allclose(a, b) for a, b in zip(ours.policy.parameters(), twin.policy.parameters())]
    assert any(moved) and twin.last_xi == pytest.approx(0.4)
    assert any(not th.allclose(a, b) for a, b in zip(before, ours.policy.parameters()))
