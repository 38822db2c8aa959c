"""Trainable policies: one shared policy, or one per role; frozen roles; optional LoRA adapters.

ALGORITHMS.md section 8. A :class:`Policy` owns a model, its optimiser and LR scheduler, and the
:class:`HFChatModel` that samples rollouts from the *same* module, so rollouts always use the current
weights. In ``per_role`` mode every role gets its own copy of the base weights and its own optimiser
(per-role learning rates). A ``frozen`` role's turns are generated (by its own policy in ``per_role``
mode, by the shared weights otherwise) but never trained. With ``policy.lora`` each policy trains LoRA
adapters (peft) over a frozen copy of the base; only adapter weights are optimised and checkpointed.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from parley.debate.context import Agent, AgentPool
from parley.llm.hf import HFChatModel
from parley.training.config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class Policy:
    """One set of trainable weights with its optimiser, scheduler and rollout sampler."""

    policy_id: str
    model: Any
    optimizer: torch.optim.Optimizer | None
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    sampler: HFChatModel
    roles: list[str] = field(default_factory=list)
    reference: Any | None = None

    @property
    def trainable(self) -> bool:
        return self.optimizer is not None

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Warm-up then constant, cosine (to 10%) or linear (to 0) decay, over ``steps * epochs`` updates."""
    total = max(1, cfg.steps * cfg.epochs)

    def fn(update: int) -> float:
        if cfg.warmup_steps and update < cfg.warmup_steps:
            return (update + 1) / cfg.warmup_steps
        progress = min(1.0, (update - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
        if cfg.lr_schedule == "cosine":
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        if cfg.lr_schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 1.0

    return fn


def _with_lora(model: Any, cfg: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    assert cfg.policy.lora is not None
    lora = cfg.policy.lora
    return get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                            target_modules=list(lora.target_modules), task_type="CAUSAL_LM"))


class PolicySet:
    """Role -> :class:`Policy` for a protocol's roles."""

    def __init__(self, policies: dict[str, Policy], role_to_policy: dict[str, str], frozen_roles: set[str]):
        self.policies = policies
        self.role_to_policy = role_to_policy
        self.frozen_roles = frozen_roles

    @classmethod
    def build(cls, model_dir: Path, roles: list[str], cfg: TrainConfig, *, batch_size: int = 64,
              num_threads: int | None = None) -> PolicySet:
        """Load the base checkpoint and create the policies for ``roles`` as ``cfg.policy`` says."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        frozen = {r for r, c in cfg.policy.roles.items() if c.frozen}
        groups = {"shared": roles} if cfg.policy.mode == "shared" else {role: [role] for role in roles}
        policies: dict[str, Policy] = {}
        for i, (pid, members) in enumerate(groups.items()):
            model = base if i == 0 else copy.deepcopy(base)
            if cfg.policy.lora is not None:
                model = _with_lora(model, cfg)
            trainable = any(r not in frozen for r in members)
            reference = None
            if trainable and cfg.use_reference:
                reference = copy.deepcopy(model).eval()
                for p in reference.parameters():
                    p.requires_grad_(False)
            optimizer = scheduler = None
            if trainable:
                lrs = {lr for r in members if r in cfg.policy.roles and (lr := cfg.policy.roles[r].lr) is not None}
                lr = lrs.pop() if len(lrs) == 1 else cfg.lr
                params = [p for p in model.parameters() if p.requires_grad]
                optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
                scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
            else:
                for p in model.parameters():
                    p.requires_grad_(False)
            sampler = HFChatModel(model, tokenizer, name=f"policy:{pid}", batch_size=batch_size,
                                  batch_wait_ms=5.0, num_threads=num_threads)
            policies[pid] = Policy(pid, model, optimizer, scheduler, sampler, list(members), reference)
        role_to_policy = {r: pid for pid, members in groups.items() for r in members}
        return cls(policies, role_to_policy, frozen)

    @property
    def tokenizer(self) -> Any:
        return next(iter(self.policies.values())).sampler.tokenizer

    def agent_pool(self) -> AgentPool:
        """Agents for the debate engine: each role samples from its policy's current weights."""
        agents = {r: Agent(self.policies[pid].sampler, pid) for r, pid in self.role_to_policy.items()}
        first = next(iter(agents.values()))
        return AgentPool(first, agents)

    def trainable_roles(self) -> set[str]:
        return {r for r, pid in self.role_to_policy.items()
                if r not in self.frozen_roles and self.policies[pid].trainable}

    def train_mode(self, on: bool) -> None:
        for policy in self.policies.values():
            policy.model.train(on)

    async def aclose(self) -> None:
        for policy in self.policies.values():
            await policy.sampler.aclose()

    def save_pretrained(self, out_dir: Path) -> dict[str, Path]:
        """Save each policy in Hugging Face format under ``out_dir/<policy_id>`` (LoRA: merged weights)."""
        paths = {}
        for pid, policy in self.policies.items():
            target = out_dir / pid
            model = policy.model
            if hasattr(model, "merge_and_unload"):
                model = copy.deepcopy(model).merge_and_unload()
            model.save_pretrained(target)
            policy.sampler.tokenizer.save_pretrained(target)
            paths[pid] = target
        return paths
