"""Pydantic models for every configurable component.

Field names are part of parley's interface (they appear in YAML files and in ``--set`` overrides);
``docs/configuration.md`` documents them. Every model forbids unknown fields so a typo fails at load
time, naming the field path, instead of being silently ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Backend = Literal["hf", "litellm", "openai"]
ProtocolName = Literal["svj", "mad", "single", "self_consistency"]


class StrictModel(BaseModel):
    """Base for config sections: unknown fields are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(StrictModel):
    """Which model answers, and how parley talks to it.

    ``backend``: ``hf`` (a local transformers checkpoint; ``name`` is a directory or ``tiny`` for the
    embedded tiny model), ``litellm`` (any provider LiteLLM supports, ``name`` like
    ``cohere/command-a-03-2025``) or ``openai`` (the official client against any OpenAI-compatible
    endpoint at ``api_base``).
    """

    backend: Backend = "hf"
    name: str = "tiny"
    api_base: str | None = None
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the API key (e.g. OPENAI_API_KEY)."
    )
    secrets_file: Path | None = Field(
        default=None,
        description="File holding the API key (one line, or KEY=VALUE lines); re-read once on a 401.",
    )
    request_timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=6, ge=0, le=20)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1, description="Per-model cap on calls in flight.")
    litellm_route: Literal["auto", "litellm"] = Field(
        default="auto",
        description="litellm backend: 'auto' sends OpenAI-protocol models (openai/..., hosted_vllm/... with "
        "api_base) through the official openai client; 'litellm' always uses LiteLLM's own request path.",
    )
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    batch_size: int = Field(default=32, ge=1, description="hf: most sequences sampled in one forward pass.")
    batch_wait_ms: float = Field(
        default=5.0, ge=0, description="hf: how long to wait for more requests to fill a batch."
    )
    num_threads: int | None = Field(
        default=None, ge=1, description="hf on CPU: torch threads (process-wide); default half the cores."
    )


class ProtocolConfig(StrictModel):
    """Which debate protocol runs (ALGORITHMS.md section 1) and its knobs."""

    name: ProtocolName = "svj"
    max_rounds: int = Field(default=3, ge=1, le=50)
    stall_rounds: int = Field(
        default=2, ge=1, description="svj: stop when the solver's answer did not change this many rounds."
    )
    num_agents: int = Field(default=3, ge=2, le=16, description="mad: number of debating agents.")
    use_judge: bool | None = Field(
        default=None, description="End with a judge turn. Default: yes for svj, no for mad (majority vote)."
    )
    num_samples: int = Field(default=5, ge=1, le=256, description="self_consistency: k samples.")
    prompts_dir: Path | None = Field(
        default=None, description="Directory with template files overriding the packaged prompts."
    )


class DatasetConfig(StrictModel):
    """Which problems to run.

    ``name`` forms: ``reasoning_gym:<generator>`` (e.g. ``reasoning_gym:basic_arithmetic``),
    ``champ``, ``humaneval``, ``hf:math500``, ``hf:gsm8k``, or a local ``.jsonl``/``.parquet``/``.yaml``
    path. ``limit`` takes a seeded random subset (never the first N, which can be biased by difficulty).
    """

    name: str = "reasoning_gym:basic_arithmetic"
    split: str = "test"
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    size: int = Field(default=500, ge=1, description="reasoning_gym: how many problems to generate.")
    options: dict[str, Any] = Field(default_factory=dict, description="Loader-specific options.")
    skip_bad_lines: bool = False


class GenerationConfig(StrictModel):
    """Sampling and batch-generation settings."""

    concurrency: int = Field(default=16, ge=1, le=4096)
    temperature: float = Field(default=0.7, ge=0, le=5)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_new_tokens: int = Field(default=128, ge=1, le=131072)
    samples_per_problem: int = Field(default=1, ge=1, le=1024)
    problem_timeout_s: float = Field(default=600.0, gt=0)
    seed: int = 0
    flush_every: int = Field(default=16, ge=1, description="Debates buffered before a shard is written.")


class OutputConfig(StrictModel):
    """Where results go. ``dir`` holds one run; rerunning with the same config resumes it."""

    dir: Path = Path("runs/default")


class LoggingConfig(StrictModel):
    """Structured logging through the standard ``logging`` module."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(default=False, alias="json")

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


class ParleyConfig(StrictModel):
    """The whole resolved configuration of one parley command.

    ``models`` optionally gives a different model per role (``solver``, ``verifier``, ``judge``,
    ``agent_0``...); roles not listed use ``model``.
    """

    model: ModelConfig = Field(default_factory=ModelConfig)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _check_roles(self) -> ParleyConfig:
        known = {"solver", "verifier", "judge"}
        for role in self.models:
            if role not in known and not role.startswith("agent_"):
                raise ValueError(
                    f"models.{role}: unknown role; allowed: solver, verifier, judge, agent_<k>"
                )
        return self

    def model_for(self, role: str) -> ModelConfig:
        """The model configuration a role uses (its own entry in ``models``, else ``model``)."""
        return self.models.get(role, self.model)
