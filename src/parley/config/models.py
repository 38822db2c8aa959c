"""Pydantic models for every configurable component.

Field names are part of parley's interface (they appear in YAML files and in ``--set`` overrides);
``docs/configuration.md`` documents them. Every model forbids unknown fields so a typo fails at load
time, naming the field path, instead of being silently ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from parley.config.registries import PROTOCOLS
from parley.config.registries import BackendName as BackendName  # re-exported: open, registry-validated
from parley.config.registries import ProtocolName as ProtocolName

# Algorithm choices of the ``train:`` section. Their one home is here, in the lowest layer, so the
# training config validates without importing the algorithms; parley.training.advantages and
# parley.training.losses take these names from here.
Estimator = Literal["grpo", "rloo", "reinforce_pp"]
"""Advantage estimator (docs/algorithms.md section 4)."""
GROUP_ESTIMATORS: tuple[Estimator, ...] = ("grpo", "rloo")
"""The group-relative estimators: they need at least 2 rollouts per problem."""
AdvantageScale = Literal["std", "none"]
"""``grpo`` normalisation: ``std`` (GRPO) or ``none`` (Dr.GRPO)."""
Aggregation = Literal["token_mean", "seq_mean"]
"""How per-token losses are averaged (docs/algorithms.md section 5)."""


def validate_group_size(estimator: str, group_size: int, field_name: str = "group_size") -> None:
    """Reject group-relative estimators with fewer than 2 rollouts per problem.

    Raises:
        ValueError: naming ``field_name``, the value and the fix.
    """
    if estimator in GROUP_ESTIMATORS and group_size < 2:
        raise ValueError(
            f"{field_name}={group_size}: estimator {estimator!r} is group-relative and needs at least 2 "
            f"rollouts per problem (every advantage would be 0); set {field_name} >= 2 or use reinforce_pp")


class StrictModel(BaseModel):
    """Base for config sections: unknown fields are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(StrictModel):
    """Which model answers, and how parley talks to it.

    ``backend``: ``hf`` (a local transformers checkpoint; ``name`` is a directory or ``tiny`` for the
    embedded tiny model), ``litellm`` (any provider LiteLLM supports, ``name`` like
    ``cohere/command-a-03-2025``), ``openai`` (the official client against any OpenAI-compatible
    endpoint at ``api_base``), or a backend registered with ``parley.llm.register_backend``.
    """

    backend: BackendName = Field(
        default="hf", description="`hf` (local transformers checkpoint), `litellm` (any provider LiteLLM supports), "
        "`openai` (the official client against any OpenAI-compatible endpoint), or a registered backend.")
    name: str = Field(
        default="tiny", description="`hf`: a model-catalog name (`tiny`: the embedded tiny model, built and cached "
        "on first use; `smollm2` after `parley model fetch smollm2`; `hf:ORG/NAME`) or a local checkpoint "
        "directory. `litellm`: a LiteLLM model id such as `cohere/command-a-03-2025` or `openai/<served name>`. "
        "`openai`: the model name sent to the endpoint.")
    api_base: str | None = Field(
        default=None, description="Endpoint URL for remote backends, e.g. `http://127.0.0.1:8000/v1` (a `parley "
        "serve` or vLLM server).")
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the API key (also the key name looked up in a "
        "`KEY=VALUE` secrets file).")
    secrets_file: Path | None = Field(
        default=None, description="File holding the key (one line, or `KEY=VALUE` lines, `#` comments, `export` "
        "prefixes). Takes precedence over the environment; re-read once after a 401 so a rotated key is used "
        "without a restart.")
    request_timeout_s: float = Field(default=60.0, gt=0, description="Per-request timeout; a timeout is retried.")
    max_retries: int = Field(
        default=6, ge=0, le=20, description="Retries of retryable failures only (429, 5xx, 408/409, timeouts, dropped "
        "connections, malformed bodies). A 4xx such as 400 is never retried.")
    backoff_base_s: float = Field(
        default=0.5, gt=0, description="First backoff delay; doubles per attempt, with jitter. A `Retry-After` header "
        "wins when present.")
    backoff_max_s: float = Field(default=30.0, gt=0, description="Cap of one backoff delay.")
    requests_per_minute: float | None = Field(
        default=None, gt=0, description="Client-side request rate limit (token bucket); `null` = none.")
    tokens_per_minute: float | None = Field(
        default=None, gt=0, description="Client-side token rate limit; `null` = none.")
    max_concurrency: int | None = Field(
        default=None, ge=1, description="Cap on calls in flight for this model (on top of `generation.concurrency`).")
    litellm_route: Literal["auto", "litellm"] = Field(
        default="auto", description="`litellm` backend: `auto` sends models LiteLLM would reach over the OpenAI "
        "protocol (`openai/...`, and `hosted_vllm/...` with an `api_base`) through the official `openai` client, "
        "the same request at about a quarter of the client CPU; `litellm` always uses LiteLLM's own path.")
    device: str = Field(default="cpu", description="`hf`: torch device (`cpu`, `cuda`, `cuda:1`, ...); `auto`: "
                        "`cuda` when present, else `cpu`.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="float32", description="`hf`: weight dtype; `auto`: `bfloat16` on a CUDA device that supports it, "
        "else `float32`.")
    batch_size: int = Field(
        default=32, ge=1, description="`hf`: most sequences sampled in one forward pass by the micro-batcher.")
    batch_wait_ms: float = Field(
        default=5.0, ge=0, description="`hf`: how long the micro-batcher waits for more requests to fill a batch.")
    num_threads: int | None = Field(
        default=None, ge=1, description="`hf` on CPU: torch intra-op threads; default half the cores for a "
        "model on its own; for RL training, the threads of its one compute thread, default `OMP_NUM_THREADS` or "
        "the usable CPUs.")


REASK_BY_DEFAULT = ("instruct",)
"""Packaged prompt sets (``protocol.prompts_dir``) with structured re-asks on unless ``reask`` says otherwise."""


class ProtocolConfig(StrictModel):
    """Which debate protocol runs (docs/algorithms.md section 1) and its knobs.

    ``name``: a built-in (``svj``, ``mad``, ``single``, ``self_consistency``) or a protocol registered
    with ``parley.debate.protocols.protocol``.
    """

    name: ProtocolName = Field(
        default="svj", description="`svj` (solver -> verifier -> judge), `mad` (multi-agent debate), `single` (one "
        "answer), `self_consistency` (k samples, majority vote), or a registered protocol. See "
        "[algorithms.md](algorithms.md) section 1.")
    max_rounds: int = Field(
        default=3, ge=1, le=50, description="Most rounds. `svj` stops earlier on a verifier pass or a stall.")
    stall_rounds: int = Field(
        default=2, ge=1, description="`svj`: stop when the solver's answer did not change for this many rounds.")
    num_agents: int = Field(default=3, ge=2, le=16, description="`mad`: number of debating agents.")
    use_judge: bool | None = Field(
        default=None, description="End with a judge turn. `null` = yes for `svj`, no for `mad` (majority vote).")
    num_samples: int = Field(default=5, ge=1, le=256, description="`self_consistency`: k samples.")
    prompts_dir: Path | None = Field(
        default=None, description="Directory of Jinja templates overriding the packaged ones "
        "(`src/parley/debate/prompts/`: `solver.jinja`, `solver_system.jinja`, `verifier*.jinja`, `judge*.jinja`, "
        "`agent*.jinja`); files not present there fall back to the packaged ones.")
    reask: int | None = Field(
        default=None, ge=0, le=1, description="Structured re-asks per turn: `1` asks a reply whose expected field "
        "did not parse (no `Answer:`, no verdict, a judge without a confidence) once more for exactly that field "
        "(`reask.jinja`); the exchange is recorded in the turn's `reask`. `null` = 1 with `prompts_dir: instruct`, "
        "else 0.")

    @property
    def effective_reask(self) -> int:
        """``reask``, or when unset the prompt set's default: 1 for ``instruct``, else 0."""
        if self.reask is not None:
            return self.reask
        return 1 if self.prompts_dir is not None and str(self.prompts_dir) in REASK_BY_DEFAULT else 0

    @model_serializer(mode="wrap")
    def _omit_unset_reask(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Left out of dumps (and so of the config hash) only when unset and off: configs from before the
        # field keep their hash exactly when their behaviour is unchanged (the tiny model's prompts).
        data: dict[str, Any] = handler(self)
        if self.reask is None and self.effective_reask == 0:
            data.pop("reask", None)
        return data


class DatasetConfig(StrictModel):
    """Which problems to run.

    ``name`` forms: ``reasoning_gym:<generator>`` (e.g. ``reasoning_gym:basic_arithmetic``),
    ``champ``, ``humaneval``, ``hf:math500``, ``hf:gsm8k``, or a local ``.jsonl``/``.parquet``/``.yaml``
    path. ``limit`` takes a seeded random subset (never the first N, which can be biased by difficulty).
    """

    name: str = Field(
        default="reasoning_gym:basic_arithmetic", description="`reasoning_gym:<generator>` (seeded procedural tasks, "
        "domain `reasoning`), `champ` (270 competition math problems), `humaneval` (164 HumanEval problems, domain "
        "`code`), `hf:math500`, `hf:gsm8k` (Hugging Face `datasets`), a registered loader's name, or a local "
        "`.jsonl` / `.parquet` / `.yaml` path. An unknown name fails listing the known ones.")
    split: str = Field(default="test", description="Split for `hf:` datasets.")
    limit: int | None = Field(
        default=None, ge=1, description="Take a seeded uniform random subset of this many problems (never the first "
        "N, which can be biased by difficulty), kept in dataset order.")
    seed: int = Field(default=0, description="Seed of the subset and of reasoning-gym generation.")
    size: int = Field(
        default=500, ge=1, description="`reasoning_gym`: how many problems to generate before `limit` applies.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Loader-specific options. `reasoning_gym`: passed to the generator (e.g. "
        '`{min_terms: 2, max_terms: 2, min_digits: 1, max_digits: 1, operators: ["+", "-"]}` for '
        "`basic_arithmetic`). `hf:*`: `data_files` (a local Parquet/JSONL copy with the same columns). Local files: "
        "`domain` (default `math`).")
    skip_bad_lines: bool = Field(
        default=False, description="Local JSONL: skip malformed lines (each is logged and counted as "
        "`skipped_lines` in the summary) instead of failing with `<file>:<line>: <reason>`. Same as `parley "
        "generate --skip-bad-lines`.")


class GenerationConfig(StrictModel):
    """Sampling and batch-generation settings."""

    concurrency: int = Field(
        default=16, ge=1, le=4096, description="Debates in flight at once. Remote backends: concurrent HTTP calls; "
        "`hf`: concurrent debates whose turns meet in batched forward passes.")
    temperature: float = Field(default=0.7, ge=0, le=5, description="Sampling temperature.")
    top_p: float = Field(default=1.0, gt=0, le=1, description="Nucleus sampling mass.")
    max_new_tokens: int = Field(default=128, ge=1, le=131072, description="Most tokens per turn.")
    samples_per_problem: int = Field(
        default=1, ge=1, le=1024, description="Independent debates per problem (sample index 0..n-1); resume works "
        "per (problem, sample).")
    problem_timeout_s: float = Field(
        default=600.0, gt=0, description="Wall-clock limit of one debate; a debate past it ends with `timeout` and "
        "keeps its turns.")
    seed: int = Field(default=0, description="Base seed; each turn's seed derives from it and the (problem, sample, "
                      "turn).")
    flush_every: int = Field(
        default=16, ge=1, description="Debates buffered before a shard is scored and committed to the store. Smaller "
        "loses less work to a crash; larger writes fewer files. Scoring and writing overlap with debating.")


class OutputConfig(StrictModel):
    """Where results go. ``dir`` holds one run; rerunning with the same config resumes it."""

    dir: Path = Field(
        default=Path("runs/default"), description="The trajectory store directory of this run. Rerunning the same "
        "command resumes it: every (problem, sample) ends up there exactly once. `summary.json` is written there "
        "at the end.")


class LoggingConfig(StrictModel):
    """Structured logging through the standard ``logging`` module."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Least severe level shown.")
    json_format: bool = Field(
        default=False, alias="json", description="Emit logs as JSON lines (the CLI flags `--log-level` / "
        "`--log-json` do the same).")

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


TrackingBackend = Literal["local", "wandb", "mlflow"]


class WandbConfig(StrictModel):
    """Weights & Biases (``tracking.backends`` includes ``wandb``). Offline by default: runs are written
    under the run directory (``wandb/offline-run-*``) and uploaded later with ``wandb sync``."""

    project: str = Field(default="parley", description="W&B project the runs go to.")
    entity: str | None = Field(default=None, description="W&B entity (user or team); default: the account's.")
    mode: Literal["offline", "online"] = Field(
        default="offline",
        description="offline: write local run files only (no network, no key); online: stream to the W&B "
        "server (needs WANDB_API_KEY in the environment or `wandb login`).")
    group: str | None = Field(
        default=None, description="W&B group of the run; default: tracking.group (experiments: the experiment id).")
    tags: list[str] = Field(default_factory=list, description="Tags added to every W&B run.")
    dir: Path | None = Field(default=None, description="Where W&B writes its run files; default: the run directory.")


class MlflowConfig(StrictModel):
    """MLflow (``tracking.backends`` includes ``mlflow``), through ``MlflowClient`` against any tracking URI."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI (sqlite:////abs/path.db, http://host:5000, ...); default: a local sqlite "
        "store mlflow.db in the run directory (in an experiment: in the experiment directory).")
    experiment: str = Field(default="parley", description="MLflow experiment the runs go to (created if missing).")
    artifact_location: str | None = Field(
        default=None, description="Artifact root for a newly created experiment; default: mlartifacts/ beside a "
        "sqlite store (the server's default for other URIs).")


class TrackingConfig(StrictModel):
    """Where metrics, parameters, debate samples and artifacts go (docs/metrics.md names the metrics).

    The local sink (``metrics.jsonl`` / ``params.json`` in the run directory) is always written; ``wandb`` and
    ``mlflow`` are added with ``backends`` (they need the ``tracking`` extra). Not part of the config hash:
    changing where results are logged never changes the results.
    """

    backends: list[TrackingBackend] = Field(
        default_factory=lambda: list[TrackingBackend](["local"]),
        description="Sinks to log to: local (always on), wandb, mlflow.")
    group: str | None = Field(
        default=None, description="Groups related runs (W&B group, MLflow parent run); experiments set it to "
        "the experiment id.")
    table_rows: int = Field(
        default=8, ge=0, le=1024, description="Debates per training step logged as a sample table (0: none).")
    wandb: WandbConfig = Field(default_factory=WandbConfig, description="Weights & Biases settings (below).")
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig, description="MLflow settings (below).")


class ParleyConfig(StrictModel):
    """The whole resolved configuration of one parley command.

    ``models`` optionally gives a different model per role (``solver``, ``verifier``, ``judge``,
    ``agent_0``...); roles not listed use ``model``.
    """

    model: ModelConfig = Field(default_factory=ModelConfig, description="The model every role uses by default.")
    models: dict[str, ModelConfig] = Field(
        default_factory=dict, description="Per-role models: role -> a full `model` section.")
    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig, description="Which debate runs.")
    dataset: DatasetConfig = Field(default_factory=DatasetConfig, description="Which problems.")
    generation: GenerationConfig = Field(
        default_factory=GenerationConfig, description="Sampling and batch generation.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="Where results go.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Structured logging.")
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Where metrics, debate samples and artifacts are logged.")

    @model_validator(mode="after")
    def _check_roles(self) -> ParleyConfig:
        known = {"solver", "verifier", "judge"}
        # A plug-in protocol may add roles; it declared them when it registered (built-ins are not
        # imported here: their roles are the ones above).
        entry = PROTOCOLS.loaded(self.protocol.name)
        declared = list(entry.meta("roles")(self.protocol)) if entry is not None and entry.meta("roles") else []
        for role in self.models:
            if role not in known and role not in declared and not role.startswith("agent_"):
                allowed = ", ".join(["solver", "verifier", "judge", "agent_<k>",
                                     *(r for r in declared if r not in known and not r.startswith("agent_"))])
                raise ValueError(f"models.{role}: unknown role; allowed: {allowed}")
        return self

    def model_for(self, role: str) -> ModelConfig:
        """The model configuration a role uses (its own entry in ``models``, else ``model``)."""
        return self.models.get(role, self.model)
