"""RL training of debate policies: samples, advantages, losses, counterfactual rollouts.

Modules: :mod:`parley.training.samples` (one sample per trainable turn), :mod:`parley.training.advantages`
(GRPO / Dr.GRPO / RLOO / REINFORCE++), :mod:`parley.training.losses` (token-level PPO-clip, k3 KL,
per-token log-probs), :mod:`parley.training.counterfactuals` (extra rollouts for ``difference`` and
``coma`` shaping). Import from those modules directly (they pull in torch only where needed).
"""
