"""The embedded tiny model: a local tokenizer + small Llama, warm-started by SFT on scripted debates.

Recipe (what ``parley model init-tiny`` builds, cached by content hash):

1. Problems of the default task family: reasoning-gym ``basic_arithmetic`` restricted to two one-digit
   terms with ``+``/``-`` (:data:`TINY_TASK`), so a sub-million-parameter model can learn part of it.
2. Synthetic ``svj`` debates written by :class:`ScriptedArithmeticAgent` solver/verifier/judge with
   controlled error rates (solver wrong 40%, verifier wrong 15%, judge wrong 10%): the transcripts show
   the protocol's format, right and wrong answers, critiques and recoveries.
3. A byte-level BPE tokenizer trained on those transcripts and a random-init ``LlamaForCausalLM``
   (:func:`parley.llm.tiny.build_tiny_model`).
4. Supervised fine-tuning on every turn: loss on the completion tokens only (the agent's own text plus
   ``<|end|>``), the rendered chat context as the prompt. A short budget leaves the model right only part
   of the time (roughly 20-60% final-answer accuracy), so RL has something to learn.

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
from parley.debate.context import Agent, AgentPool
from parley.debate.engine import run_protocol
from parley.debate.prompts import PromptSet
from parley.debate.scripted_agent import ScriptedArithmeticAgent
from parley.debate.types import Transcript
from parley.llm.types import Message, SamplingParams

logger = logging.getLogger(__name__)

SFT_RECIPE_VERSION = 1
TINY_TASK: dict[str, Any] = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1,
                             "operators": ["+", "-"]}
"""reasoning-gym ``basic_arithmetic`` options of the tiny model's task family."""

TINY_DATASET = "reasoning_gym:basic_arithmetic"
SFT_INFO_FILE = "parley_sft.json"


@dataclass(frozen=True)
class TinySFTRecipe:
    """Everything that determines the warm-started tiny model (hashed into its cache key)."""

    train_problems: int = 1500
    train_seed: int = 1000
    solver_error: float = 0.4
    verifier_error: float = 0.15
    judge_error: float = 0.1
    max_rounds: int = 2
    steps: int = 1500
    batch_size: int = 32
    lr: float = 5e-3
    warmup_steps: int = 20
    max_len: int = 384
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 768
    seed: int = 0
    task: dict[str, Any] = field(default_factory=lambda: dict(TINY_TASK))
    role_weights: dict[str, float] = field(default_factory=lambda: {"solver": 0.7, "verifier": 0.15, "judge": 0.15})

    def digest(self) -> str:
        """Content hash of the recipe, including the packaged prompt templates the debates are rendered with
        (the model learns their format, so editing a template must rebuild it)."""
        prompts = PromptSet()
        templates = {name: prompts.template_text(name) for name in sorted(prompts.sources)}
        payload = {"version": SFT_RECIPE_VERSION, "templates": templates, **dataclasses.asdict(self)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def tiny_dataset_config(size: int, seed: int, limit: int | None = None) -> DatasetConfig:
    """The dataset config of the tiny model's task family."""
    return DatasetConfig(name=TINY_DATASET, size=size, seed=seed, limit=limit, options=dict(TINY_TASK))


def scripted_pool(recipe: TinySFTRecipe) -> AgentPool:
    solver = Agent(ScriptedArithmeticAgent("solver", recipe.solver_error), "solver")
    return AgentPool(solver, {
        "verifier": Agent(ScriptedArithmeticAgent("verifier", recipe.verifier_error), "verifier"),
        "judge": Agent(ScriptedArithmeticAgent("judge", recipe.judge_error), "judge"),
    })


SFTExample = tuple[str, list[Message], str]
"""(role, context messages, completion text)."""


def sft_examples(recipe: TinySFTRecipe) -> list[SFTExample]:
    """(role, context messages, completion text) for every turn of the scripted training debates."""
    problems = load_problems(DatasetConfig(name=TINY_DATASET, size=recipe.train_problems,
                                           seed=recipe.train_seed, options=dict(recipe.task)))
    pool = scripted_pool(recipe)
    prompts = PromptSet()
    protocol = ProtocolConfig(name="svj", max_rounds=recipe.max_rounds, stall_rounds=recipe.max_rounds)

    async def run_all() -> list[SFTExample]:
        out: list[SFTExample] = []
        for i, problem in enumerate(problems):
            t = await run_protocol(problem, protocol=protocol, agents=pool, prompts=prompts,
                                   sampling=SamplingParams(), run_id="sft", debate_id=f"sft:{i}",
                                   config_hash="sft", base_seed=recipe.seed)
            out.extend((turn.role, list(turn.context), turn.text) for turn in t.turns)
        return out

    return asyncio.run(run_all())


def _lr_lambda(recipe: TinySFTRecipe) -> Callable[[int], float]:
    def fn(step: int) -> float:
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        progress = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return fn


def sft_train(model_dir: Path, examples: list[SFTExample], recipe: TinySFTRecipe,
              progress: Callable[[int, float], None] | None = None) -> dict[str, float]:
    """Fine-tune the model in ``model_dir`` in place on ``examples``; returns final loss and timing."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(recipe.seed)
    # Small matrices: extra intra-op threads mostly contend (see parley.llm.hf); one is fastest here.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    encoded: dict[str, list[tuple[list[int], list[int]]]] = {}
    for role, messages, text in examples:
        prompt: list[int] = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                                tokenize=True, return_dict=False))
        completion = tokenizer(text, add_special_tokens=False)["input_ids"] + [end_id]
        ids = (list(prompt) + completion)[-recipe.max_len:]
        n_completion = min(len(completion), len(ids))
        encoded.setdefault(role, []).append((ids, [0] * (len(ids) - n_completion) + [1] * n_completion))
    roles = sorted(encoded)
    weights = [recipe.role_weights.get(r, 0.1) for r in roles]
    rng = random.Random(recipe.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(recipe))
    model.train()
    pad = tokenizer.pad_token_id
    t0 = time.perf_counter()
    loss_value = float("nan")
    for step in range(recipe.steps):
        picked = rng.choices(roles, weights=weights, k=recipe.batch_size)
        batch = [encoded[r][rng.randrange(len(encoded[r]))] for r in picked]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, (ids, mask) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            target = torch.tensor([i if m else -100 for i, m in zip(ids, mask, strict=True)])
            labels[row, : len(ids)] = target
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        loss_value = float(loss.detach())
        if progress:
            progress(step + 1, loss_value)
    model.save_pretrained(model_dir)
    torch.set_num_threads(threads)
    return {"final_loss": loss_value, "sft_seconds": time.perf_counter() - t0,
            "examples": sum(len(v) for v in encoded.values())}


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
                         num_layers=recipe.num_layers, num_heads=recipe.num_heads)
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
