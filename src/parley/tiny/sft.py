"""The embedded tiny model: a local tokenizer + small Llama, warm-started by SFT on scripted debates.

Recipe (what ``parley model init-tiny`` builds, cached by content hash):

1. Problems of the tiny task family: two-digit column addition (``What is 47 + 38?``, :data:`TINY_TASK`
   of :mod:`parley.data.arithmetic`).
2. Synthetic ``svj`` debates written by the scripted team of :mod:`parley.tiny.scripted`: a solver that
   works the columns (``7+8=15, carry 1. ...``) on a share ``p_columns`` of its first attempts and
   otherwise answers at once, dropping the carry most of the time; a verifier that recomputes column by
   column on a share ``p_check`` of its turns and passes or fails the attempt against its own sum, and
   otherwise glances and passes; a judge that keeps the last verified answer. Extra verifier examples on
   corrupted attempts balance the verifier's data so that wrong attempts make up
   ``verifier_wrong_share`` of it (without them the verifier sees mostly correct attempts and learns to
   pass everything: the class-imbalance trap of docs/algorithms.md).
3. A byte-level BPE tokenizer that splits digits (one token per digit, so column facts are learnable)
   trained on those transcripts and a random-init ``LlamaForCausalLM`` (:func:`parley.llm.tiny.
   build_tiny_model`).
4. Supervised fine-tuning on every turn (:mod:`parley.tiny.sft_trainer`, data-parallel over
   ``workers`` local processes): loss on the completion tokens only (the agent's own text plus
   ``<|end|>``), the rendered chat context as the prompt.

The model inherits the team's mixture: greedy first attempts are mostly hasty (so a single agent drops
carries), its verifier recomputes (so its verdicts carry information and debate can beat a single agent)
and RL can learn to work the columns, which the outcome reward favours. docs/training.md has the
measured warm start and the designs that were tried.

The result is a standard Hugging Face directory every backend and ``parley serve`` can load.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley.config.models import DatasetConfig, ProtocolConfig
from parley.data.loaders import load_problems
from parley.data.problem import Problem
from parley.debate.context import Agent, AgentPool
from parley.debate.engine import run_protocol
from parley.debate.prompts import PromptSet
from parley.debate.types import Transcript
from parley.llm.types import Message, SamplingParams
from parley.tiny.scripted import ScriptedTeamAgent, TeamBehaviour, column_lines, dropped_carry, parse_problem
from parley.tiny.sft_trainer import SFTExample, sft_train

logger = logging.getLogger(__name__)

SFT_RECIPE_VERSION = 2
TINY_TASK: dict[str, Any] = {"digits": 2, "operators": ["+"]}
"""``dataset.options`` of the tiny model's task family (:mod:`parley.data.arithmetic`)."""

TINY_DATASET = "arithmetic"
SFT_INFO_FILE = "parley_sft.json"


@dataclass(frozen=True)
class TinySFTRecipe:
    """Everything that determines the warm-started tiny model (hashed into its cache key)."""

    train_problems: int = 2000
    train_seed: int = 1000
    p_columns: float = 0.4
    drop_carry: float = 0.8
    slip: float = 0.05
    judge_error: float = 0.05
    p_check: float = 1.0
    verifier_wrong_share: float = 0.5
    max_rounds: int = 2
    steps: int = 1250  # measured: 1250 leaves RL headroom (svj 57%, verifier BA 0.73); docs/training.md
    batch_size: int = 16
    workers: int = 2
    lr: float = 3e-3
    warmup_steps: int = 30
    max_len: int = 384
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 512
    split_digits: bool = True
    seed: int = 0
    task: dict[str, Any] = field(default_factory=lambda: dict(TINY_TASK))
    role_weights: dict[str, float] = field(default_factory=lambda: {"solver": 0.45, "verifier": 0.4, "judge": 0.15})

    def digest(self) -> str:
        """Content hash of the recipe, including the packaged prompt templates the debates are rendered with
        and the source of the scripted team and of the fine-tuning (editing either rebuilds the model)."""
        import inspect

        from parley.tiny import scripted, sft_trainer

        prompts = PromptSet()
        templates = {name: prompts.template_text(name) for name in sorted(prompts.sources)}
        team = hashlib.sha256((inspect.getsource(scripted) + inspect.getsource(sft_trainer)).encode()).hexdigest()
        payload = {"version": SFT_RECIPE_VERSION, "templates": templates, "team": team, **dataclasses.asdict(self)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def behaviour(self) -> TeamBehaviour:
        return TeamBehaviour(p_columns=self.p_columns, drop_carry=self.drop_carry, slip=self.slip,
                             judge_error=self.judge_error, p_check=self.p_check)


def tiny_dataset_config(size: int, seed: int, limit: int | None = None,
                        task: dict[str, Any] | None = None) -> DatasetConfig:
    """The dataset config of the tiny model's task family (``task``: its options, default :data:`TINY_TASK`)."""
    return DatasetConfig(name=TINY_DATASET, size=size, seed=seed, limit=limit,
                         options=dict(TINY_TASK if task is None else task))


def sft_problems(recipe: TinySFTRecipe) -> list[Problem]:
    """The problems of the warm start's scripted SFT debates (held-out sets exclude their questions)."""
    return load_problems(tiny_dataset_config(size=recipe.train_problems, seed=recipe.train_seed, task=recipe.task))


def scripted_pool(recipe: TinySFTRecipe) -> AgentPool:
    """The scripted team (:class:`~parley.tiny.scripted.ScriptedTeamAgent` per role) of ``recipe``."""
    behaviour = recipe.behaviour
    return AgentPool(Agent(ScriptedTeamAgent("solver", behaviour), "solver"), {
        "verifier": Agent(ScriptedTeamAgent("verifier", behaviour), "verifier"),
        "judge": Agent(ScriptedTeamAgent("judge", behaviour), "judge"),
    })


def _verifier_truths(transcript: Transcript) -> list[bool]:
    """For each verifier turn: was the attempt it checked correct?"""
    out = []
    last: str | None = None
    for turn in transcript.turns:
        if turn.role == "solver":
            last = turn.parsed.answer
        elif turn.role == "verifier":
            out.append(last is not None and last == transcript.gold_answer)
    return out


def _corrupted_attempt(problem: Problem, rng: random.Random, slip: float) -> str:
    """A wrong attempt at ``problem``: a dropped carry when there is one, else a slipped column."""
    a, op, b = parse_problem(problem.question)
    hasty = dropped_carry(a, op, b)
    if hasty != (a + b if op == "+" else a - b) and rng.random() < 0.5:
        return f"Answer: {hasty}"
    for _ in range(100):
        lines, value = column_lines(a, op, b, rng, 1.0)
        if str(value) != problem.answer:
            return f"{lines}\nAnswer: {value}" if rng.random() < 0.5 else f"Answer: {value}"
    raise RuntimeError(f"could not corrupt {problem.question!r}")


def _correct_attempt(problem: Problem, rng: random.Random) -> str:
    a, op, b = parse_problem(problem.question)
    lines, value = column_lines(a, op, b)
    return f"{lines}\nAnswer: {value}" if rng.random() < 0.5 else f"Answer: {value}"


def sft_examples(recipe: TinySFTRecipe) -> list[SFTExample]:
    """(role, context messages, completion text) for every turn of the scripted training debates, plus
    extra verifier examples so wrong attempts are ``recipe.verifier_wrong_share`` of the verifier's data."""
    problems = sft_problems(recipe)
    pool = scripted_pool(recipe)
    prompts = PromptSet()
    protocol = ProtocolConfig(name="svj", max_rounds=recipe.max_rounds, stall_rounds=recipe.max_rounds)

    async def run_all() -> tuple[list[SFTExample], int, int]:
        out: list[SFTExample] = []
        wrong = right = 0
        for i, problem in enumerate(problems):
            t = await run_protocol(problem, protocol=protocol, agents=pool, prompts=prompts,
                                   sampling=SamplingParams(), run_id="sft", debate_id=f"sft:{i}",
                                   config_hash="sft", base_seed=recipe.seed)
            out.extend((turn.role, list(turn.context), turn.text) for turn in t.turns)
            truths = _verifier_truths(t)
            right += sum(truths)
            wrong += len(truths) - sum(truths)
        return out, right, wrong

    examples, right, wrong = asyncio.run(run_all())
    # Top the minority class up until wrong attempts are verifier_wrong_share of the verifier's examples.
    share = recipe.verifier_wrong_share
    total = right + wrong
    need_wrong = max(0, math.ceil((share * total - wrong) / max(1e-9, 1 - share))) if share < 1 else 0
    need_right = max(0, math.ceil(((1 - share) * total - right) / max(1e-9, share))) if share > 0 else 0
    rng = random.Random(recipe.seed + 7)
    verifier = ScriptedTeamAgent("verifier", recipe.behaviour)
    for k in range(need_wrong + need_right):
        problem = problems[rng.randrange(len(problems))]
        attempt = _corrupted_attempt(problem, rng, recipe.slip) if k < need_wrong else _correct_attempt(problem, rng)
        answer = attempt.rsplit("Answer: ", 1)[1]
        values = {"question": problem.question, "attempt": attempt, "answer": answer}
        messages: list[Message] = [{"role": "system", "content": prompts.render("verifier_system", **values)},
                                   {"role": "user", "content": prompts.render("verifier", **values)}]
        text = verifier.verify(messages[-1]["content"], random.Random(rng.getrandbits(31)))
        examples.append(("verifier", messages, text))
    return examples


def tiny_model_dir(recipe: TinySFTRecipe | None = None) -> Path:
    """Cache directory of the warm-started tiny model for ``recipe``."""
    from parley.llm.tiny import cache_root

    recipe = recipe or TinySFTRecipe()
    return cache_root() / "tiny-sft" / recipe.digest()


def ensure_tiny_sft_model(recipe: TinySFTRecipe | None = None, *, force: bool = False,
                          progress: Callable[[int, float], None] | None = None) -> Path:
    """Build (or reuse from the cache) the warm-started tiny model; returns its directory.

    The build happens in a temporary sibling directory renamed into place, so an interrupted build
    never leaves a half-written model behind.
    """
    from parley.llm.tiny import build_tiny_model

    recipe = recipe or TinySFTRecipe()
    target = tiny_model_dir(recipe)
    if (target / SFT_INFO_FILE).is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        t0 = time.perf_counter()
        examples = sft_examples(recipe)
        corpus = [m["content"] for _, messages, _ in examples[:3000] for m in messages] + [t for _, _, t in examples]
        build_tiny_model(tmp, seed=recipe.seed, corpus=corpus, vocab_size=recipe.vocab_size,
                         hidden_size=recipe.hidden_size, intermediate_size=recipe.intermediate_size,
                         num_layers=recipe.num_layers, num_heads=recipe.num_heads,
                         split_digits=recipe.split_digits)
        metrics = sft_train(tmp, examples, recipe, progress=progress)
        info = {"recipe": dataclasses.asdict(recipe), "digest": recipe.digest(), **metrics,
                "total_seconds": time.perf_counter() - t0}
        (tmp / SFT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    logger.info("tiny model ready", extra={"dir": str(target)})
    return target


EVAL_SEED = 424242
"""Seed of the tiny task's held-out problems (disjoint from the SFT seed)."""


def warm_start_accuracy(model_dir: Path, n: int = 200, protocol: str = "single") -> tuple[float, int]:
    """Greedy final-answer accuracy of ``model_dir`` on ``n`` held-out tiny-task problems (reward registry)."""
    from parley.llm.hf import HFChatModel
    from parley.rewards.registry import default_registry

    problems = load_problems(tiny_dataset_config(size=n, seed=EVAL_SEED))
    model = HFChatModel.from_pretrained(model_dir, batch_size=64)
    pool = AgentPool(Agent(model, "shared"))
    cfg = ProtocolConfig(name=protocol)

    async def run() -> list[Transcript]:
        try:
            return await asyncio.gather(*[
                run_protocol(p, protocol=cfg, agents=pool, prompts=PromptSet(),
                             sampling=SamplingParams(temperature=0.0, max_new_tokens=48), run_id="warm",
                             debate_id=f"warm:{p.id}", config_hash="warm") for p in problems])
        finally:
            await model.aclose()

    transcripts = asyncio.run(run())
    registry = default_registry()
    try:
        results = registry.score_batch([(p, t.final_answer) for p, t in zip(problems, transcripts, strict=True)])
    finally:
        registry.close()
    correct = [bool(r.correct) for r in results]
    return sum(correct) / len(correct), len(correct)
