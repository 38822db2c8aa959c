"""Training configuration (the ``train:`` section), validated at load time.

Cross-field rules fail with messages that name the fields: a group-relative estimator with
``group_size`` 1, a KL weight without a reference model, LoRA together with ``full_finetune``, every
role frozen (nothing to train), an unknown shaping strategy (the discriminated union lists the known).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parley.config.models import DatasetConfig, ParleyConfig, ProtocolConfig, ProtocolName
from parley.rewards.shaping import IdentityConfig, ShapingConfig
from parley.training.advantages import validate_group_size


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoRAConfig(_Strict):
    """LoRA adapters (peft) per role over one shared base model."""

    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])


class RolePolicyConfig(_Strict):
    """Per-role overrides: ``frozen`` roles are generated but never trained; ``lr`` overrides the default."""

    frozen: bool = False
    lr: float | None = Field(default=None, gt=0)


class PolicyConfig(_Strict):
    """``shared``: one policy for all roles; ``per_role``: separate weights and optimiser per role."""

    mode: Literal["shared", "per_role"] = "shared"
    roles: dict[str, RolePolicyConfig] = Field(default_factory=dict)
    lora: LoRAConfig | None = None
    full_finetune: bool = True

    @model_validator(mode="after")
    def _check(self) -> PolicyConfig:
        if self.lora is not None and self.full_finetune:
            raise ValueError("train.policy.lora and train.policy.full_finetune=true are exclusive; "
                             "set train.policy.full_finetune=false to train LoRA adapters")
        if self.lora is None and not self.full_finetune:
            raise ValueError("train.policy.full_finetune=false needs train.policy.lora (else nothing trains)")
        return self


class CounterfactualConfig(_Strict):
    """Extra rollouts for ``difference`` (K per role) and ``coma`` (M per turn)."""

    k: int = Field(default=1, ge=1)
    m: int = Field(default=2, ge=1)
    fraction: float = Field(default=1.0, gt=0, le=1)
    null: Literal["empty", "reference"] = "empty"


class EvalConfig(_Strict):
    """Held-out evaluation during and after training."""

    dataset: DatasetConfig | None = None
    every: int = Field(default=0, ge=0, description="Evaluate every N steps (0: only at the end).")
    protocols: list[ProtocolName] = Field(default_factory=lambda: list[ProtocolName](["svj"]))
    temperature: float = Field(default=0.0, ge=0)
    disjoint_questions: bool = Field(
        default=True,
        description="Drop evaluation problems whose question text occurs among the training problems. Small "
        "procedural task families repeat questions across seeds; with false the overlap is still reported.")


class TrainConfig(_Strict):
    """Online multi-agent RL (docs/algorithms.md sections 3-9)."""

    steps: int = Field(default=20, ge=1)
    problems_per_step: int = Field(default=8, ge=1)
    group_size: int = Field(default=4, ge=1, description="Rollouts per problem (G).")
    estimator: Literal["grpo", "rloo", "reinforce_pp"] = "grpo"
    scale: Literal["std", "none"] = "std"
    epochs: int = Field(default=1, ge=1, description="Optimisation epochs per batch of rollouts.")
    micro_batch_size: int = Field(default=16, ge=1, description="Samples per forward/backward.")
    lr: float = Field(default=1e-4, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=0, ge=0)
    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    max_grad_norm: float = Field(default=1.0, gt=0)
    eps_low: float = Field(default=0.2, gt=0, lt=1)
    eps_high: float = Field(default=0.2, gt=0)
    aggregation: Literal["token_mean", "seq_mean"] = "token_mean"
    kl_beta: float = Field(default=0.0, ge=0)
    reference: bool | None = Field(default=None, description="Load a frozen reference (default: if kl_beta > 0).")
    temperature: float = Field(default=1.0, gt=0)
    shaping: ShapingConfig = Field(default_factory=IdentityConfig)
    counterfactual: CounterfactualConfig = Field(default_factory=CounterfactualConfig)
    selection: Literal["none", "majority_label"] = "none"
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint_every: int = Field(default=5, ge=1)
    keep_checkpoints: int = Field(default=2, ge=1)
    seed: int = 0
    offline_store: Path | None = Field(default=None, description="Train from this trajectory store instead.")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        validate_group_size(self.estimator, self.group_size, field_name="train.group_size")
        if self.shaping.name == "difference" and self.counterfactual.null == "reference" and self.reference is False:
            raise ValueError("train.counterfactual.null=reference samples null turns from the frozen reference; "
                             "it needs train.reference=true (or unset)")
        if self.kl_beta > 0 and self.reference is False:
            raise ValueError(f"train.kl_beta={self.kl_beta} needs a reference model but train.reference=false; "
                             "set train.reference=true or train.kl_beta=0")
        return self

    @property
    def use_reference(self) -> bool:
        """Whether a frozen reference copy is kept (KL penalty, or reference-sampled null turns)."""
        if self.reference is not None:
            return self.reference
        return self.kl_beta > 0 or (self.shaping.name == "difference" and self.counterfactual.null == "reference")


class TrainRunConfig(ParleyConfig):
    """A whole training run: the usual sections plus ``train``."""

    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _check_roles(self) -> TrainRunConfig:
        roles = protocol_roles(self.protocol)
        frozen = {r for r, c in self.train.policy.roles.items() if c.frozen}
        unknown = set(self.train.policy.roles) - set(roles)
        if unknown:
            raise ValueError(f"train.policy.roles: {sorted(unknown)} not in protocol {self.protocol.name!r} "
                             f"(roles: {', '.join(roles)})")
        if set(roles) <= frozen:
            raise ValueError(f"train.policy.roles: every role of {self.protocol.name!r} is frozen "
                             f"({', '.join(sorted(frozen))}); nothing would be trained")
        if self.model.backend != "hf":
            raise ValueError("model.backend: training needs the local 'hf' backend (exact token ids and "
                             f"log-probs); got {self.model.backend!r}")
        return self


def protocol_roles(protocol: ProtocolConfig) -> list[str]:
    """The roles a protocol's transcripts contain."""
    if protocol.name == "svj":
        return ["solver", "verifier", "judge"] if protocol.use_judge is not False else ["solver", "verifier"]
    if protocol.name == "mad":
        roles = [f"agent_{k}" for k in range(protocol.num_agents)]
        return [*roles, "judge"] if protocol.use_judge else roles
    return ["solver"]
