"""PeerPL: policy learning from weak supervision via correlated agreement (Wang et al., NeurIPS 2021).

Reward-noise wrappers and the surrogate correction (:mod:`.noise`), peer-reward DQN on stable-baselines3
(:mod:`.dqn`), peer behaviour cloning from weak demonstrators (:mod:`.bc`), co-training of two agents with
different state views (:mod:`.cotrain`); recipes ``peerpl/*`` and claims in :mod:`.claims`. Heavy libraries
(stable-baselines3, torch) are imported inside the functions that use them.
"""

from trustlab.methods.peerpl import claims, paper, recipes  # noqa: F401  (registration)
