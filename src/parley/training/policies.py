"""Trainable policies: one shared policy, or one per role; frozen roles; optional LoRA adapters.

docs/algorithms.md section 8. A :class:`Policy` owns a model, its optimiser and LR scheduler, and the
:class:`HFChatModel` that samples rollouts from the *same* module, so rollouts always use the current
weights. In ``per_role`` mode every role gets its own copy of the base weights and its own optimiser
(per-role learning rates). A ``frozen`` role's turns are generated (by its own policy in ``per_role``
mode, by the shared weights otherwise) but never trained.

LoRA (``policy.lora``, peft; Hu et al. 2021): the base weights are loaded ONCE and frozen. ``shared``
mode trains one adapter; ``per_role`` mode adds one named adapter per role to the same peft model
(peft multi-adapter), each with its own optimiser over only that adapter's parameters. The adapter is
selected per call: every role's sampler and the optimiser activate their adapter inside one re-entrant
lock shared by all samplers of the model (:class:`AdapterChatModel`), so a rollout of one role never
runs while another role's adapter is active. Only adapter weights are optimised and checkpointed
(:meth:`Policy.state_dict`); the frozen base comes from ``model.name`` again on resume. A KL reference
for LoRA policies is one frozen copy of the base (adapters start at B = 0, i.e. equal to the base).
"""

from __future__ import annotations

import copy
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from parley.debate.context import Agent, AgentPool
from parley.llm.compute import ComputeThread, run_on
from parley.llm.hf import HFChatModel
from parley.llm.types import Completion
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
    adapter: str | None = None
    """LoRA adapter name inside the (shared) peft model; None for full weights."""
    params: list[torch.nn.Parameter] | None = None
    """The parameters this policy trains (LoRA: its adapter's); None means every trainable parameter."""

    @property
    def trainable(self) -> bool:
        return self.optimizer is not None

    def parameters(self) -> list[torch.nn.Parameter]:
        if self.params is not None:
            return list(self.params)
        return [p for p in self.model.parameters() if p.requires_grad]

    def activate(self, model: Any | None = None) -> None:
        """Make this policy's adapter the active one in ``model`` (default: its own; no-op without LoRA).

        Trainable policies activate in training mode (their adapter gets ``requires_grad``).
        """
        if self.adapter is not None:
            (self.model if model is None else model).set_adapter(self.adapter, inference_mode=not self.trainable)

    @property
    def lock(self) -> Any:
        """The lock that serialises use of the (possibly shared) model: the sampler's model lock."""
        return self.sampler._model_lock

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint holds: the full weights, or only this policy's LoRA adapter."""
        if self.adapter is None:
            return dict(self.model.state_dict())
        from peft import get_peft_model_state_dict

        return dict(get_peft_model_state_dict(self.model, adapter_name=self.adapter))

    def load_state_dict(self, state: dict[str, torch.Tensor], model: Any | None = None) -> None:
        """Restore :meth:`state_dict` output into ``model`` (default: this policy's model)."""
        target = self.model if model is None else model
        if self.adapter is None:
            target.load_state_dict(state)
            return
        from peft import set_peft_model_state_dict

        result: Any = set_peft_model_state_dict(target, state, adapter_name=self.adapter)
        unexpected = [k for k in result.unexpected_keys if "lora_" in k]
        if unexpected:
            raise KeyError(f"adapter {self.adapter!r}: checkpoint keys not in the model: {unexpected[:3]}")


class AdapterChatModel(HFChatModel):
    """An :class:`HFChatModel` over one adapter of a multi-adapter peft model.

    All samplers of the same model share one re-entrant lock (``lock``); each batch activates the
    sampler's adapter inside it, so concurrent roles never sample with each other's adapter.
    """

    def __init__(self, model: Any, tokenizer: Any, *, adapter: str, lock: Any, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.adapter = adapter
        self._model_lock = lock

    def _run(self, prompts: Any, params: Any, seeds: Any) -> list[Completion]:
        with self._model_lock:
            self.model.set_adapter(self.adapter, inference_mode=True)
            return super()._run(prompts, params, seeds)

    def logprobs_of(self, prompt_ids: Any, completion_ids: Any, temperature: float = 1.0) -> list[float]:
        with self._model_lock:
            self.model.set_adapter(self.adapter, inference_mode=True)
            return super().logprobs_of(prompt_ids, completion_ids, temperature)


def _adapter_params(model: Any, adapter: str) -> list[torch.nn.Parameter]:
    """The parameters of LoRA adapter ``adapter`` (names ``...lora_A.<adapter>.weight``)."""
    out = []
    for name, p in model.named_parameters():
        parts = name.split(".")
        if adapter in parts and any(part.startswith("lora_") for part in parts):
            out.append(p)
    if not out:
        raise ValueError(f"LoRA adapter {adapter!r} has no parameters; check train.policy.lora.target_modules")
    return out


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


def _lora_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    assert cfg.policy.lora is not None
    lora = cfg.policy.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=list(lora.target_modules), task_type="CAUSAL_LM")


def _with_adapters(base: Any, names: list[str], cfg: TrainConfig) -> Any:
    """One peft model over ``base`` with one LoRA adapter per name (peft multi-adapter)."""
    from peft import get_peft_model

    model = get_peft_model(base, _lora_config(cfg), adapter_name=names[0])
    for name in names[1:]:
        model.add_adapter(name, _lora_config(cfg))
    return model


def _frozen(model: Any) -> Any:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


T = TypeVar("T")


class PolicySet:
    """Role -> :class:`Policy` for a protocol's roles."""

    def __init__(self, policies: dict[str, Policy], role_to_policy: dict[str, str], frozen_roles: set[str],
                 compute: ComputeThread | None = None):
        self.policies = policies
        self.role_to_policy = role_to_policy
        self.frozen_roles = frozen_roles
        self.compute = compute
        """Where the samplers' forward passes and the optimisation run (one OpenMP team; see
        :mod:`parley.llm.compute`); ``None``: on the calling threads."""

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the compute thread (inline without one)."""
        return run_on(self.compute, fn, *args, **kwargs)

    @classmethod
    def build(cls, model_dir: Path, roles: list[str], cfg: TrainConfig, *, batch_size: int = 64,
              num_threads: int | None = None, device: str | torch.device = "cpu") -> PolicySet:
        """Load the base checkpoint onto ``device`` and create the policies for ``roles`` as ``cfg.policy``
        says (every copy, adapter and reference lives on ``device``).

        ``device='auto'`` means CUDA when present. On CUDA a frozen LoRA base is held in bfloat16 where
        supported (peft keeps the adapters in float32); fully fine-tuned weights stay float32 (AdamW on
        bf16 weights loses updates). On CPU everything is float32.

        ``num_threads``: torch intra-op threads of the set's compute thread (default
        :func:`parley.llm.compute.default_threads`: ``OMP_NUM_THREADS`` or the usable CPUs). Every sampler's
        batches and the optimisation run there; the calling thread and the samplers' batcher threads are
        set to one thread, so only the compute thread has an OpenMP team (:mod:`parley.llm.compute`).
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from parley.llm.hf import best_dtype, resolve_device

        device = resolve_device(str(device))
        torch.set_num_threads(1)  # this thread (and threads it starts later) stay out of OpenMP
        compute = ComputeThread(num_threads)
        dtype = best_dtype(device) if cfg.policy.lora is not None else "float32"
        tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
        base: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
        base = base.to(device)
        frozen = {r for r, c in cfg.policy.roles.items() if c.frozen}
        groups = {"shared": roles} if cfg.policy.mode == "shared" else {role: [role] for role in roles}
        policies: dict[str, Policy] = {}
        lora = cfg.policy.lora is not None
        lora_reference = None
        if lora and cfg.use_reference:
            lora_reference = _frozen(copy.deepcopy(base))
        peft_model = _with_adapters(base, list(groups), cfg) if lora else None
        shared_lock = threading.RLock()
        for i, (pid, members) in enumerate(groups.items()):
            trainable = any(r not in frozen for r in members)
            if peft_model is not None:
                model, adapter = peft_model, pid
                params: list[torch.nn.Parameter] | None = _adapter_params(model, pid)
                reference = lora_reference if trainable else None
                sampler: HFChatModel = AdapterChatModel(model, tokenizer, adapter=pid, lock=shared_lock,
                                                        name=f"policy:{pid}", batch_size=batch_size,
                                                        batch_wait_ms=5.0, num_threads=1,
                                                        dispatch_when_idle=True, compute=compute)
            else:
                model, adapter, params = (base if i == 0 else copy.deepcopy(base)), None, None
                reference = _frozen(copy.deepcopy(model)) if trainable and cfg.use_reference else None
                sampler = HFChatModel(model, tokenizer, name=f"policy:{pid}", batch_size=batch_size,
                                      batch_wait_ms=5.0, num_threads=1, dispatch_when_idle=True,
                                      compute=compute)
            optimizer = scheduler = None
            if trainable:
                lrs = {lr for r in members if r in cfg.policy.roles and (lr := cfg.policy.roles[r].lr) is not None}
                lr = lrs.pop() if len(lrs) == 1 else cfg.lr
                train_params = params if params is not None else [p for p in model.parameters() if p.requires_grad]
                optimizer = torch.optim.AdamW(train_params, lr=lr, weight_decay=cfg.weight_decay)
                scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
            else:
                for p in (params if params is not None else model.parameters()):
                    p.requires_grad_(False)
            policies[pid] = Policy(pid, model, optimizer, scheduler, sampler, list(members), reference, adapter,
                                   params)
        role_to_policy = {r: pid for pid, members in groups.items() for r in members}
        return cls(policies, role_to_policy, frozen, compute)

    @property
    def tokenizer(self) -> Any:
        return next(iter(self.policies.values())).sampler.tokenizer

    def agent_pool(self) -> AgentPool:
        """Agents for the debate engine: each role samples from its policy's current weights."""
        agents = {r: Agent(self.policies[pid].sampler, pid) for r, pid in self.role_to_policy.items()}
        first = next(iter(agents.values()))
        return AgentPool(first, agents)

    def reference_pool(self) -> AgentPool:
        """Agents sampling from the frozen reference of each role's policy (``counterfactual.null:
        reference``). A frozen policy never changes, so it is its own reference.

        Raises:
            ValueError: a trainable policy has no reference copy (``train.reference`` is false).
        """
        from parley.llm.hf import HFChatModel

        agents: dict[str, Agent] = {}
        for role, pid in self.role_to_policy.items():
            policy = self.policies[pid]
            if policy.reference is not None:
                model = HFChatModel(policy.reference, policy.sampler.tokenizer, name=f"reference:{pid}",
                                    num_threads=1, compute=self.compute)
            elif not policy.trainable:
                model = policy.sampler
            else:
                raise ValueError(f"policy {pid!r} (role {role!r}) has no frozen reference copy; set "
                                 "train.reference=true to sample null turns from the reference")
            agents[role] = Agent(model, f"reference:{pid}")
        return AgentPool(next(iter(agents.values())), agents)

    def trainable_roles(self) -> set[str]:
        return {r for r, pid in self.role_to_policy.items()
                if r not in self.frozen_roles and self.policies[pid].trainable}

    def train_mode(self, on: bool) -> None:
        for policy in self.policies.values():
            policy.model.train(on)

    async def aclose(self) -> None:
        for policy in self.policies.values():
            await policy.sampler.aclose()
        if self.compute is not None:
            self.compute.close()

    def vocab_size(self) -> int:
        """Rows of the input embedding (the largest token id a sample may hold, plus one)."""
        model = next(iter(self.policies.values())).model
        return int(model.get_input_embeddings().weight.shape[0])

    def save_pretrained(self, out_dir: Path) -> dict[str, Path]:
        """Save each policy in Hugging Face format under ``out_dir/<policy_id>`` (LoRA: the base with that
        policy's adapter merged in)."""
        paths = {}
        for pid, policy in self.policies.items():
            target = out_dir / pid
            model = policy.model
            if policy.adapter is not None:
                with policy.lock:
                    model = copy.deepcopy(model).merge_and_unload(adapter_names=[policy.adapter])
            model.save_pretrained(target)
            policy.sampler.tokenizer.save_pretrained(target)
            paths[pid] = target
        return paths
