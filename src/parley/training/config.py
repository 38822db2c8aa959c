"""Training configuration (the ``train:`` section), validated at load time.

Every field is described once, here; docs/configuration.md's train table is generated from these
descriptions. Cross-field rules fail with messages that name the fields: a group-relative estimator with
``group_size`` 1, a KL weight without a reference model, LoRA together with ``full_finetune``, every role
frozen (nothing to train), ``shaping.roles`` naming no role of the protocol, a potential whose shaped
reward is constant by construction for a trained role, an unknown shaping strategy (the known ones
are listed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from parley.config.models import (
    AdvantageScale,
    Aggregation,
    DatasetConfig,
    Estimator,
    ParleyConfig,
    ProtocolName,
    StrictModel,
    validate_group_size,
)
from parley.debate.protocols import protocol_roles
from parley.rewards.shaping import IdentityConfig, ShapingConfig, required_inputs

__all__ = ["CounterfactualConfig", "EvalConfig", "LoRAConfig", "PolicyConfig", "RolePolicyConfig", "TrainConfig",
           "TrainRunConfig"]


class LoRAConfig(StrictModel):
    """LoRA adapters (peft; Hu et al. 2021) per policy over one frozen base model."""

    r: int = Field(default=8, ge=1, description="Rank of the adapter matrices.")
    alpha: int = Field(default=16, ge=1, description="LoRA scaling numerator (the update is scaled by alpha / r).")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="Dropout on the adapter input.")
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"],
                                      description="Names of the linear layers that get adapters.")


class RolePolicyConfig(StrictModel):
    """Per-role overrides of the policy."""

    frozen: bool = Field(default=False, description="Generate this role's turns but never train them.")
    lr: float | None = Field(default=None, gt=0, description="Learning rate of this role's policy (default train.lr).")


class PolicyConfig(StrictModel):
    """Which weights play which role."""

    mode: Literal["shared", "per_role"] = Field(
        default="shared", description="shared: one policy for every role; per_role: separate weights and optimiser "
        "per role.")
    roles: dict[str, RolePolicyConfig] = Field(default_factory=dict, description="Per-role overrides (frozen, lr).")
    lora: LoRAConfig | None = Field(default=None, description="Train LoRA adapters instead of the full weights.")
    full_finetune: bool = Field(default=True, description="Train every weight (false needs train.policy.lora).")

    @model_validator(mode="after")
    def _check(self) -> PolicyConfig:
        if self.lora is not None and self.full_finetune:
            raise ValueError("train.policy.lora and train.policy.full_finetune=true are exclusive; "
                             "set train.policy.full_finetune=false to train LoRA adapters")
        if self.lora is None and not self.full_finetune:
            raise ValueError("train.policy.full_finetune=false needs train.policy.lora (else nothing trains)")
        return self


class CounterfactualConfig(StrictModel):
    """Extra rollouts of the current policy for ``difference`` (K per role) and ``coma`` (M per turn)."""

    k: int = Field(default=1, ge=1, description="difference: rollouts averaged for G(z without role).")
    m: int = Field(default=2, ge=1, description="coma: alternative samples per turn averaged for its baseline.")
    fraction: float = Field(default=1.0, gt=0, le=1, description="Share of the step's problem groups that get "
                            "counterfactuals (whole groups; the others are logged, not trained on).")
    null: Literal["empty", "reference"] = Field(
        default="empty", description="difference: the null contribution replacing a role's turns: an empty "
        "message, or a sample from the frozen reference policy.")


class EvalConfig(StrictModel):
    """Held-out evaluation during and after training."""

    dataset: DatasetConfig | None = Field(default=None, description="Held-out problems (training problems are "
                                          "removed by id).")
    every: int = Field(default=0, ge=0, description="Evaluate every N steps (0: only at the start and the end).")
    protocols: list[ProtocolName] = Field(default_factory=lambda: list[ProtocolName](["svj"]),
                                          description="Protocols evaluated each time.")
    temperature: float = Field(default=0.0, ge=0, description="Sampling temperature of evaluations (0: greedy).")
    disjoint_questions: bool = Field(
        default=True,
        description="Drop evaluation problems whose question text occurs among the training problems. Small "
        "procedural task families repeat questions across seeds; with false the overlap is still reported.")


PACK_ROW_TOKENS = 512
"""Default ``train.pack_row_tokens``: attention costs rows x nodes^2, so rows stay near a few contexts long."""


class TrainConfig(StrictModel):
    """Online multi-agent RL (docs/algorithms.md sections 3-9)."""

    steps: int = Field(default=20, ge=1, description="Optimisation steps (each on fresh rollouts).")
    problems_per_step: int = Field(default=8, ge=1, description="Problems drawn per step.")
    group_size: int = Field(default=4, ge=1, description="Rollouts per problem (G).")
    estimator: Estimator = Field(default="grpo", description="Advantage estimator: grpo, rloo or reinforce_pp.")
    scale: AdvantageScale = Field(default="std", description="grpo: divide by the group std ('none': Dr.GRPO).")
    epochs: int = Field(default=1, ge=1, description="Optimisation epochs per batch of rollouts.")
    micro_batch_size: int = Field(default=16, ge=1, description="Samples per forward/backward.")
    packing: Literal["prefix", "pad"] = Field(
        default="prefix", description="How a micro-batch is laid out for the forward: `prefix` puts the samples "
        "in token tries so each shared prefix (the G rollouts' common context) is computed once (exact up to "
        "float rounding; models that cannot take it fall back to `pad`); `pad` right-pads every sample.")
    pack_row_tokens: int = Field(
        default=PACK_ROW_TOKENS, ge=1, description="`packing: prefix`: most trie nodes per packed row (a longer "
        "sample gets a row of its own); below it a sample joins a row only when that costs less than its own row "
        "(attention in a row is dense).")
    skip_zero_advantage: bool = Field(
        default=True, description="Leave samples whose advantage is exactly 0 out of the forward/backward when "
        "`kl_beta` is 0: their loss term and gradient are exactly 0, so the update is the same up to float "
        "rounding (the loss is still divided by every sample's tokens); entropy, clip and ratio metrics then "
        "cover the trained tokens, and `skipped_tokens/<role>` counts the others.")
    lr: float = Field(default=1e-4, gt=0, description="AdamW learning rate.")
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay.")
    warmup_steps: int = Field(default=0, ge=0, description="Linear learning-rate warm-up (optimiser updates).")
    lr_schedule: Literal["constant", "cosine", "linear"] = Field(
        default="constant", description="Decay after warm-up: constant, cosine (to 10%) or linear (to 0).")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient clipping norm per policy.")
    eps_low: float = Field(default=0.2, gt=0, lt=1, description="PPO clip range below 1 (ratio >= 1 - eps_low).")
    eps_high: float = Field(default=0.2, gt=0, description="PPO clip range above 1 (ratio <= 1 + eps_high).")
    aggregation: Aggregation = Field(default="token_mean", description="Loss aggregation: token_mean or seq_mean.")
    kl_beta: float = Field(default=0.0, ge=0, description="Weight of the k3 KL penalty to the frozen reference.")
    reference: bool | None = Field(default=None, description="Keep a frozen reference copy (default: when kl_beta "
                                   "> 0 or counterfactual.null=reference).")
    temperature: float = Field(default=1.0, gt=0, description="Rollout sampling temperature (log-probs are "
                               "recomputed at it).")
    shaping: ShapingConfig = Field(default_factory=IdentityConfig, description="Reward shaping strategy "
                                   "(credit assignment); see docs/algorithms.md section 6.")
    counterfactual: CounterfactualConfig = Field(default_factory=CounterfactualConfig,
                                                 description="Counterfactual rollouts for difference / coma.")
    selection: Literal["none", "majority_label"] = Field(
        default="none", description="majority_label: the group's majority answer replaces the gold answer (TTRL).")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Shared or per-role weights, LoRA, "
                                 "frozen roles.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Held-out evaluation.")
    checkpoint_every: int = Field(default=5, ge=1, description="Checkpoint every N steps (and at the last).")
    keep_checkpoints: int = Field(default=2, ge=1, description="Newest checkpoints kept.")
    seed: int = Field(default=0, description="Seed of the data order, rollouts and initialisation.")
    offline_store: Path | None = Field(default=None, description="Train from this trajectory store instead of "
                                       "fresh rollouts.")

    @model_serializer(mode="wrap")
    def _omit_default_layout(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The batch layout and the zero-advantage skip change results only by float rounding: at their
        # defaults these fields are left out of dumps (and the config hash), so configs from before them
        # keep their hash.
        data: dict[str, Any] = handler(self)
        if self.packing == "prefix":
            data.pop("packing", None)
        if self.skip_zero_advantage:
            data.pop("skip_zero_advantage", None)
        if self.pack_row_tokens == PACK_ROW_TOKENS:
            data.pop("pack_row_tokens", None)
        return data

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        validate_group_size(self.estimator, self.group_size, field_name="train.group_size")
        if (self.counterfactual.null == "reference" and self.reference is False
                and "counterfactual_outcomes" in required_inputs(self.shaping)):
            raise ValueError("train.counterfactual.null=reference samples null turns from the frozen reference; "
                             "it needs train.reference=true (or unset)")
        if "potential_fn" in required_inputs(self.shaping):
            raise ValueError("train.shaping: potential with phi=callable needs a Python potential function, which a "
                             "config cannot hold; train it from Python through parley.rewards.shaping with a "
                             "ShapingBatch.potential_fn, or use phi=answer_correct or phi=length")
        if self.kl_beta > 0 and self.reference is False:
            raise ValueError(f"train.kl_beta={self.kl_beta} needs a reference model but train.reference=false; "
                             "set train.reference=true or train.kl_beta=0")
        return self

    @property
    def use_reference(self) -> bool:
        """Whether a frozen reference copy is kept (KL penalty, or reference-sampled null turns)."""
        if self.reference is not None:
            return self.reference
        return self.kl_beta > 0 or (self.counterfactual.null == "reference"
                                    and "counterfactual_outcomes" in required_inputs(self.shaping))


class TrainRunConfig(ParleyConfig):
    """A whole training run: the usual sections plus ``train``."""

    train: TrainConfig = Field(default_factory=TrainConfig, description="Training (see TrainConfig).")

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
        shaping = self.train.shaping
        shaped_roles: tuple[str, ...] | None = getattr(shaping, "roles", None)
        if shaped_roles is not None:
            missing = [r for r in shaped_roles if r not in roles]
            if missing:
                raise ValueError(f"train.shaping.roles: {missing} not in protocol {self.protocol.name!r} (roles: "
                                 f"{', '.join(roles)}); {shaping.name} would shape nothing for them")
        if (shaping.name == "potential" and getattr(shaping, "phi", None) == "answer_correct"
                and getattr(shaping, "target", None) == "step"):
            constant = [r for r in roles if r == "verifier" and r not in frozen]
            if constant:
                raise ValueError("train.shaping: potential with phi=answer_correct and target=step gives every "
                                 "verifier turn reward 0 (a verdict never changes the latest answer), so the verifier "
                                 "would get no gradient; use target=return_to_go (the default) or freeze the verifier "
                                 "(train.policy.roles.verifier.frozen=true)")
        return self
