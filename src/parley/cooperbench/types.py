"""One typed model for CooperBench runs, whatever layout they were read from.

CooperBench (arXiv 2601.13295, "CooperBench: Why Coding Agents Cannot be Your Teammates Yet", Sec. 3)
pairs two features of one repository. In the *solo* setting one agent implements both features; in the
*coop* settings two agents each implement one feature, with (``coop-comm``) or without
(``coop-nocomm``) a message channel, and their patches are merged. A pair succeeds only when the tests
of both features pass on the merged tree.

A :class:`RunRecord` is one attempt at one pair in one setting. Anything wrong with the input is kept
on the record as a :class:`RecordFlag` (code + human reason) rather than raised, so one bad record never
stops an analysis of five hundred.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Setting = Literal["solo", "coop-comm", "coop-nocomm"]
SETTINGS: tuple[Setting, ...] = ("solo", "coop-comm", "coop-nocomm")
COOP_SETTINGS: tuple[Setting, ...] = ("coop-comm", "coop-nocomm")

#: ``clean``: git's three-way merge succeeded; ``conflict``: it stopped on conflicting hunks;
#: ``error``: the merge could not be attempted (empty or malformed patch, missing base commit...);
#: ``not_applicable``: solo runs (one patch, nothing to merge); ``None`` on a record: unknown.
MergeStatus = Literal["clean", "conflict", "error", "not_applicable"]

AgentStatus = Literal["Submitted", "LimitsExceeded", "Error", "Unknown"]

#: Flags that make a record unusable for outcome statistics (it is still listed in the report).
FATAL_FLAGS = frozenset({"duplicate", "malformed_record", "missing_result", "missing_eval"})


class RecordFlag(BaseModel):
    """Something wrong with one record's input: a stable ``code`` and a reason a person can act on."""

    model_config = ConfigDict(frozen=True)

    code: str
    reason: str


class AgentMessage(BaseModel):
    """One message on the coop-comm channel (paper Sec. 3.2: agents talk through a send_message tool)."""

    sender: str
    recipient: str | None = None
    text: str
    timestamp: float | None = None
    feature_id: int | None = None


class TrajectoryStep(BaseModel):
    """One message of an agent's own trajectory (its model calls and tool observations)."""

    role: str
    content: str


class AgentRun(BaseModel):
    """One agent of a run, as the run metadata declares it (never inferred from who sent messages).

    ``features`` are the feature ids this agent was asked to implement: both for solo, one for coop.
    ``patch`` is its final diff against the base commit (``None`` when the input has no patches).
    """

    agent_id: str
    features: list[int]
    status: AgentStatus = "Unknown"
    steps: int | None = None
    cost: float | None = None
    patch: str | None = None
    trajectory: list[TrajectoryStep] = Field(default_factory=list)


class RunRecord(BaseModel):
    """One attempt at one feature pair in one setting, with its evaluation outcome.

    ``both_passed`` is the paper's success criterion (Sec. 3.3): both features' tests pass on the merged
    tree. ``merge_status`` keeps real merge conflicts apart from evaluation errors (``eval_error`` set,
    usually an empty patch); the producer of the shared records file lumped these together.
    """

    repo: str
    task_id: int
    features: tuple[int, int]
    setting: Setting
    seed: int = 0
    run_name: str = ""
    model: str = "unknown"
    source: str = Field(default="", description="File or directory the record was read from.")
    agents: list[AgentRun] = Field(default_factory=list)
    messages: list[AgentMessage] = Field(default_factory=list)
    total_steps: int | None = None
    total_cost: float | None = None
    duration_s: float | None = None
    agent_status: AgentStatus = "Unknown"
    infra_error: bool = False
    both_passed: bool | None = None
    feature_passed: tuple[bool | None, bool | None] = (None, None)
    merge_status: MergeStatus | None = None
    merge_strategy: str | None = None
    eval_error: str | None = None
    flags: list[RecordFlag] = Field(default_factory=list)

    @property
    def pair_key(self) -> tuple[str, int, tuple[int, int]]:
        """Identifies the feature pair across settings, seeds and models."""
        return (self.repo, self.task_id, self.features)

    @property
    def record_key(self) -> tuple[str, str, int, tuple[int, int], str, int]:
        """Identifies the attempt: two records with the same key are duplicates."""
        return (self.model, self.repo, self.task_id, self.features, self.setting, self.seed)

    @property
    def record_id(self) -> str:
        """A readable unique id, e.g. ``command-a/solo/pallets_jinja_task/1465/f1_f2/s0``."""
        f1, f2 = self.features
        return f"{self.model}/{self.setting}/{self.repo}/{self.task_id}/f{f1}_f{f2}/s{self.seed}"

    @property
    def usable(self) -> bool:
        """Whether the record enters outcome statistics (no fatal flag such as ``duplicate``)."""
        return not any(f.code in FATAL_FLAGS for f in self.flags)

    @property
    def success(self) -> bool:
        """Paper success: both features passed. Unknown or errored evaluation counts as failure."""
        return bool(self.both_passed)

    @property
    def outcome(self) -> Literal["eval_error", "conflict", "clean", "not_applicable", "unknown"]:
        """Merge outcome with evaluation errors kept apart from merge conflicts."""
        if self.eval_error or self.merge_status == "error":
            return "eval_error"
        if self.merge_status is None:
            return "unknown"
        return self.merge_status

    def flag(self, code: str, reason: str) -> None:
        """Attach a flag (idempotent for the same code and reason)."""
        item = RecordFlag(code=code, reason=reason)
        if item not in self.flags:
            self.flags.append(item)


class LoadResult(BaseModel):
    """Records read from one input, plus problems that are not tied to any one record."""

    records: list[RunRecord] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    layout: Literal["records_file", "logs_dir"] = "records_file"

    @property
    def usable(self) -> list[RunRecord]:
        """Records that enter the statistics."""
        return [r for r in self.records if r.usable]


FindingStatus = Literal["detected", "not_detected", "not_run"]


class Finding(BaseModel):
    """One classifier's verdict on one record.

    ``not_run`` means the classifier could not look (no patches, no messages, no model configured):
    ``reason`` says why, and such findings never count as "not detected" in prevalence figures.
    """

    classifier: str
    status: FindingStatus
    reason: str = ""
    evidence: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list, description="Sub-labels, e.g. taxonomy codes C1a...")
