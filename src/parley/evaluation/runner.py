"""``evaluate``: run a protocol over held-out problems and score it, refusing to report a fake zero.

The run goes through :func:`parley.generation.run_generation` (the same generation and scoring path
as ``parley generate``) into ``<out_dir>/<label>/store``, so an interrupted evaluation resumes. The
per-problem results are then read back from the store and written to ``<out_dir>/<label>/results.jsonl``
with the summary (accuracy with its Wilson interval, breakdowns, tokens, cost) in ``summary.json``.

A missing dataset, model or verifier is an :class:`EvaluationError`, never a score of zero
(LESSONS.md): the domains are checked against the reward registry before anything runs, and after the
run every (problem, sample) must be in the store with a verdict.

Compute-matched self-consistency (docs/algorithms.md section 9): evaluate the debate and a ``single`` run
first, then pick ``protocol.num_samples`` with :func:`matched_self_consistency_k` and evaluate
``self_consistency`` with it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from parley.config import ParleyConfig
from parley.config.models import OutputConfig
from parley.data import DatasetError, Problem, load_problems
from parley.debate.context import AgentPool
from parley.debate.types import Transcript
from parley.evaluation.results import BREAKDOWN_KEYS, EvalResult, EvaluationError, ProblemResult, save_eval, summarize
from parley.evaluation.statistics import DEFAULT_ALPHA

if TYPE_CHECKING:
    from parley.generation.runner import ProgressCallback, Scorer

logger = logging.getLogger(__name__)

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def matched_self_consistency_k(debate_tokens_per_problem: float, single_tokens_per_problem: float) -> int:
    """Samples ``k`` for self-consistency at the debate's token budget.

    ``k = round(debate tokens / single-sample tokens)``, at least 1 (Python's ``round``: halves go to
    the even integer). Use the same token count for both (e.g. ``summary["tokens"]["per_sample"]`` of a
    debate evaluation and of a ``single`` evaluation, prompt plus completion tokens).

    Raises:
        ValueError: a non-positive single-sample token count or a negative debate token count.
    """
    if single_tokens_per_problem <= 0:
        raise ValueError(f"single_tokens_per_problem must be positive, got {single_tokens_per_problem}")
    if debate_tokens_per_problem < 0:
        raise ValueError(f"debate_tokens_per_problem must be >= 0, got {debate_tokens_per_problem}")
    return max(1, round(debate_tokens_per_problem / single_tokens_per_problem))


def _load_problems(cfg: ParleyConfig) -> list[Problem]:
    try:
        return load_problems(cfg.dataset)
    except DatasetError as exc:
        raise EvaluationError(f"dataset {cfg.dataset.name!r}: {exc}") from exc
    except ModuleNotFoundError as exc:
        raise EvaluationError(f"dataset {cfg.dataset.name!r} needs a package that is not installed: "
                              f"{exc.name}") from exc


def _check_verifiers(problems: Sequence[Problem], scorer: Any) -> None:
    counts: dict[str, int] = {}
    for p in problems:
        if not scorer.has_verifier(p.domain):
            counts[p.domain] = counts.get(p.domain, 0) + 1
    if counts:
        detail = ", ".join(f"{domain!r} ({n} problems)" for domain, n in sorted(counts.items()))
        raise EvaluationError(
            f"no verifier for domain {detail}: these problems cannot be scored. Evaluate a dataset whose "
            "domains have verifiers (math, reasoning, code) or register a verifier for the domain.")
    no_gold = [p.id for p in problems if p.domain == "math" and p.answer is None]
    if no_gold:
        raise EvaluationError(f"{len(no_gold)} math problems have no gold answer (e.g. {no_gold[0]!r}), so they "
                              "cannot be scored; give every problem an 'answer'")


@dataclass(frozen=True)
class _Sample:
    """The fields of one transcript an evaluation keeps (transcripts carry full contexts; these do not)."""

    correct: bool | None
    answer: str | None
    termination: str
    error: str | None
    reward_error: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    metadata: dict[str, Any]


def _collect(transcripts: Iterable[Transcript], problems: Sequence[Problem], samples: int,
             store_dir: Path) -> list[ProblemResult]:
    wanted = {p.id for p in problems}
    by_problem: dict[str, dict[int, _Sample]] = {}
    for t in transcripts:
        if t.problem_id in wanted and t.sample_index < samples:
            by_problem.setdefault(t.problem_id, {})[t.sample_index] = _Sample(
                t.correct, t.final_answer, t.termination_reason, t.error, t.reward_error, t.prompt_tokens,
                t.completion_tokens, t.cost_usd, dict(t.metadata))
    missing = [(p.id, s) for p in problems for s in range(samples) if s not in by_problem.get(p.id, {})]
    if missing:
        raise EvaluationError(f"{store_dir}: {len(missing)} (problem, sample) results missing after the run, "
                              f"e.g. {missing[0]}; rerun to resume")
    every = [(pid, x) for pid, per in by_problem.items() for x in per.values()]
    unscored = [(pid, x) for pid, x in every if x.correct is None]
    if unscored:
        pid, x = unscored[0]
        raise EvaluationError(
            f"{len(unscored)} results have no verdict (e.g. problem {pid!r}: "
            f"{x.reward_error or 'not scored'}); an unscored answer is not a wrong answer")
    errors = [x for _, x in every if x.termination == "error"]
    if len(errors) == len(every):
        raise EvaluationError(f"every run ended in an agent error (e.g. {errors[0].error}); the model is "
                              "not working, so there is no accuracy to report")
    results = []
    for p in sorted(problems, key=lambda q: q.id):
        xs = [by_problem[p.id][s] for s in range(samples)]
        costs = [x.cost_usd for x in xs]
        results.append(ProblemResult(
            problem_id=p.id, correct=[bool(x.correct) for x in xs], answers=[x.answer for x in xs],
            terminations=[x.termination for x in xs],
            prompt_tokens=sum(x.prompt_tokens for x in xs), completion_tokens=sum(x.completion_tokens for x in xs),
            cost_usd=None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None)),
            metadata=xs[0].metadata,
        ))
    return results


ROLES_FILE = "roles.jsonl"


def _write_roles(store: Any, problems: Sequence[Problem], scorer: Any, arm_dir: Path) -> dict[str, Any]:
    """Write ``roles.jsonl`` (one :class:`~parley.evaluation.roles.RoleRow` per problem, first sample) and
    return summary fields: per-role metrics, and for self-consistency the share of problems whose samples
    all gave the same answer (``samples_identical_share``: near 1, the vote adds nothing)."""
    from parley.debate.parsing import normalize_for_vote
    from parley.evaluation.roles import role_row, role_stats

    by_id = {p.id: p for p in problems}
    transcripts = sorted((t for t in store.iter_transcripts() if t.sample_index == 0 and t.problem_id in by_id),
                         key=lambda t: t.problem_id)
    pairs = sorted({(t.problem_id, a) for t in transcripts
                    for a in (t.final_answer, *(u.parsed.answer for u in t.turns)) if a is not None})
    verdicts = dict(zip(pairs, scorer.score_batch([(by_id[pid], a) for pid, a in pairs]), strict=True))

    def oracle_for(t: Transcript) -> Any:
        return lambda a: a is not None and bool(verdicts[(t.problem_id, a)].correct)

    rows = [role_row(t, oracle_for(t)) for t in transcripts]
    tmp = arm_dir / f".{ROLES_FILE}.tmp"
    tmp.write_text("".join(json.dumps(r.as_dict()) + "\n" for r in rows))
    os.replace(tmp, arm_dir / ROLES_FILE)
    out: dict[str, Any] = {"roles": {k: v.as_dict() for k, v in role_stats(rows).items()}}
    if transcripts and transcripts[0].protocol == "self_consistency":
        same = [len({normalize_for_vote(u.parsed.answer) if u.parsed.answer is not None else None
                     for u in t.turns}) == 1 for t in transcripts if t.turns]
        out["samples_identical_share"] = sum(same) / max(len(same), 1)
    return out


def evaluate(
    cfg: ParleyConfig,
    *,
    label: str,
    out_dir: str | Path,
    agents: AgentPool | None = None,
    breakdown_keys: Sequence[str] = BREAKDOWN_KEYS,
    alpha: float = DEFAULT_ALPHA,
    progress: ProgressCallback | None = None,
) -> EvalResult:
    """Run (or resume) ``cfg.protocol`` on ``cfg.dataset`` as arm ``label`` and score it.

    Args:
        cfg: the resolved config; ``cfg.output`` is ignored (the store goes to ``out_dir/label/store``).
            ``protocol.num_samples`` is used as given (set it with :func:`matched_self_consistency_k`).
        label: the arm's name, also its directory name (letters, digits, ``.``, ``_``, ``-``).
        out_dir: parent directory of the arm's directory.
        agents: use these agents instead of building them from ``cfg`` (e.g. scripted or preloaded).
        breakdown_keys: problem metadata keys to break accuracy down by, when present.
        alpha: 1 - confidence level of the intervals.
        progress: passed to ``run_generation`` (called after every committed transcript).

    Raises:
        EvaluationError: unknown dataset, domain without a verifier, missing model, a store holding a
            different config, unscored results, or a run where every call failed.
    """
    if not _LABEL.match(label):
        raise EvaluationError(f"label {label!r}: use letters, digits, '.', '_' and '-' (it names a directory)")
    arm_dir = Path(out_dir) / label
    store_dir = arm_dir / "store"
    problems = _load_problems(cfg)
    from parley.generation import run_generation
    from parley.llm.errors import LLMError
    from parley.rewards.registry import default_registry
    from parley.store import StoreError, TrajectoryStore

    run_cfg = cfg.model_copy(deep=True)
    run_cfg.output = OutputConfig(dir=store_dir)
    scorer = default_registry()
    try:
        _check_verifiers(problems, scorer)
        arm_dir.mkdir(parents=True, exist_ok=True)
        try:
            generation = run_generation(run_cfg, agents=agents, scorer=cast("Scorer", scorer), progress=progress)
        except FileNotFoundError as exc:
            raise EvaluationError(f"model: {exc}") from exc
        except LLMError as exc:
            raise EvaluationError(f"model {cfg.model.name!r}: {exc}") from exc
        except StoreError as exc:
            raise EvaluationError(f"{store_dir}: {exc} (use a new --label, or delete the directory to "
                                  "start over)") from exc
        except DatasetError as exc:
            raise EvaluationError(f"dataset {cfg.dataset.name!r}: {exc}") from exc
        with TrajectoryStore.read(store_dir) as store:
            results = _collect(store.iter_transcripts(), problems, cfg.generation.samples_per_problem, store_dir)
            extra_roles = _write_roles(store, problems, scorer, arm_dir)
    finally:
        scorer.close()
    models = (sorted({m.name for m in agents.models()}) if agents is not None
              else sorted({cfg.model_for(role).name for role in ("solver", "verifier", "judge")}))
    extra: dict[str, Any] = {"label": label, "protocol": cfg.protocol.name, "dataset": cfg.dataset.name,
                             "models": models, "config_hash": generation.config_hash,
                             "run_id": generation.run_id, "store": str(store_dir)}
    extra["temperature"] = cfg.generation.temperature
    extra.update(extra_roles)
    if cfg.protocol.name == "self_consistency":
        extra["num_samples"] = cfg.protocol.num_samples
    summary = summarize(results, breakdown_keys=breakdown_keys, alpha=alpha, extra=extra)
    result = EvalResult(label=label, directory=arm_dir, problems=results, summary=summary)
    save_eval(result)
    logger.info("evaluation %s: accuracy %.4f on %d problems", label, summary["accuracy"], summary["n"])
    return result
