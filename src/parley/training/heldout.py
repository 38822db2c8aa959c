"""Held-out evaluation during training: accuracy and per-role metrics of the current policies.

The evaluation problems are ``train.eval.dataset`` minus the training problems (by id; with
``train.eval.disjoint_questions`` also minus every problem whose question text occurs in training).
Each evaluation runs every protocol of ``train.eval.protocols`` once per problem at
``train.eval.temperature`` through :func:`parley.debate.run_protocol` (the inference code path) and
writes the per-problem rows to ``<run>/eval/step-NNNNNN/<protocol>.jsonl``. Logged metrics:
``eval/accuracy/<protocol>``, ``eval/n/<protocol>``, ``eval/question_overlap`` and the per-role
metrics of :mod:`parley.evaluation.roles` as ``eval/<metric>/<protocol>`` (values only; the intervals
are in the rows' summary file ``roles.json`` beside them).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parley.aio import run_coroutine
from parley.data import load_problems
from parley.data.problem import Problem
from parley.debate.context import AgentPool, derive_seed
from parley.debate.engine import run_protocol
from parley.debate.prompts import PromptSet
from parley.errors import UserError
from parley.evaluation.roles import role_metrics
from parley.llm.types import SamplingParams
from parley.training.config import TrainRunConfig
from parley.training.rollouts import AnswerScorer


class HeldOutError(UserError, ValueError):
    """No evaluation problem is left once the training problems are removed."""


def held_out(cfg: TrainRunConfig, train: Sequence[Problem]) -> tuple[list[Problem], float]:
    """Evaluation problems (not training problems) and the fraction whose question text occurs in training.

    With ``train.eval.disjoint_questions`` those overlapping problems are dropped (the fraction is then
    the share that was dropped).
    """
    if cfg.train.eval.dataset is None:
        return [], 0.0
    seen = {p.question for p in train}
    train_ids = {p.id for p in train}
    problems = [p for p in load_problems(cfg.train.eval.dataset) if p.id not in train_ids]
    overlap = sum(p.question in seen for p in problems) / max(len(problems), 1)
    if cfg.train.eval.disjoint_questions:
        problems = [p for p in problems if p.question not in seen]
    if not problems:
        raise HeldOutError("train.eval.dataset: no evaluation problem left after removing training problems")
    return problems, overlap


async def evaluate_policies(problems: Sequence[Problem], agents: AgentPool, cfg: TrainRunConfig,
                            scorer: AnswerScorer, protocol_name: str, run_id: str) -> tuple[list[dict[str, Any]],
                                                                                               dict[str, Any]]:
    """Per-problem rows and per-role metrics of ``protocol_name`` on ``problems`` with the current policies."""
    protocol = cfg.protocol.model_copy(update={"name": protocol_name})
    params = SamplingParams(temperature=cfg.train.eval.temperature, top_p=1.0,
                            max_new_tokens=cfg.generation.max_new_tokens)
    seed = derive_seed(cfg.train.seed, "eval")
    transcripts = await asyncio.gather(*[
        run_protocol(p, protocol=protocol, agents=agents, prompts=PromptSet(cfg.protocol.prompts_dir),
                     sampling=params, run_id=run_id, debate_id=f"{run_id}:eval:{protocol_name}:{p.id}",
                     config_hash="eval", base_seed=seed, timeout_s=cfg.generation.problem_timeout_s)
        for p in problems])
    pairs = [(t.problem_id, a) for t in transcripts for a in (t.final_answer, *(u.parsed.answer for u in t.turns))]
    await asyncio.to_thread(scorer.score_all, pairs)
    rows = [{"problem_id": t.problem_id, "protocol": protocol_name, "final_answer": t.final_answer,
             "correct": scorer.correct(t.problem_id, t.final_answer), "termination_reason": t.termination_reason,
             "completion_tokens": t.completion_tokens} for t in transcripts]
    roles = role_metrics(transcripts, lambda t: lambda a: scorer.correct(t.problem_id, a))
    return rows, {name: stat.as_dict() for name, stat in roles.items()}


class HeldOutEvaluator:
    """Evaluates the current policies on the held-out problems when due (see the module docstring)."""

    def __init__(self, cfg: TrainRunConfig, problems: Sequence[Problem], overlap: float, agents: AgentPool,
                 scorer: AnswerScorer, run_dir: Path, run_id: str) -> None:
        self.cfg = cfg
        self.problems = list(problems)
        self.overlap = overlap
        self.agents = agents
        self.scorer = scorer
        self.run_dir = run_dir
        self.run_id = run_id
        self.accuracy: dict[str, dict[int, float]] = {}

    def due(self, step: int) -> bool:
        """Whether ``step`` evaluates: step 0 (the warm start), every ``eval.every`` steps, and the last."""
        if not self.problems:
            return False
        every = self.cfg.train.eval.every
        return step == 0 or step == self.cfg.train.steps or bool(every and step % every == 0)

    def run(self, step: int) -> dict[str, float]:
        """Evaluate every configured protocol now; returns the ``eval/*`` metrics of ``step``."""
        out: dict[str, float] = {"eval/question_overlap": self.overlap}
        directory = self.run_dir / "eval" / f"step-{step:06d}"
        for name in self.cfg.train.eval.protocols:
            rows, roles = run_coroutine(evaluate_policies(self.problems, self.agents, self.cfg, self.scorer, name,
                                                        self.run_id))
            _write_jsonl(directory / f"{name}.jsonl", rows)
            _write_json(directory / f"{name}.roles.json", roles)
            accuracy = sum(float(r["correct"]) for r in rows) / len(rows)
            self.accuracy.setdefault(name, {})[step] = accuracy
            out[f"eval/accuracy/{name}"] = accuracy
            out[f"eval/n/{name}"] = float(len(rows))
            for metric, stat in roles.items():
                if metric != "debate_accuracy":
                    out[f"eval/{metric}/{name}"] = float(stat["value"])
        return out


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
