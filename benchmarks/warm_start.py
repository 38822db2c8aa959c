"""How good is a tiny-model warm start, role by role? (the designs table of docs/training.md)

Builds (or reuses from the cache) the warm-started tiny model for the default recipe with ``--recipe``
overrides, then runs the single-agent and svj protocols greedily on held-out problems of the recipe's
task family and prints, per protocol, final-answer accuracy and the per-role metrics of
:func:`parley.evaluation.roles.role_metrics` (solver first-attempt accuracy, verifier balanced accuracy
against the truth of the attempt it checked, pass rate, flip rates, rounds) with 95% intervals, the
share of first attempts that work the columns, and one svj transcript.

    .venv/bin/python benchmarks/warm_start.py                                  # the default recipe
    .venv/bin/python benchmarks/warm_start.py --recipe '{"steps": 2500}'       # a variant
    .venv/bin/python benchmarks/warm_start.py --recipe '{"task": {"digits": 3, "operators": ["+"]}}' \\
        --max-new-tokens 96

The held-out problems come from the evaluation seed (``EVAL_SEED``), as in ``parley model init-tiny``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable

from parley.config.models import ProtocolConfig
from parley.data import load_problems
from parley.debate.context import Agent, AgentPool
from parley.debate.engine import run_protocol
from parley.debate.prompts import PromptSet
from parley.debate.types import Transcript
from parley.evaluation.roles import role_metrics
from parley.llm.hf import HFChatModel
from parley.llm.types import SamplingParams
from parley.rewards.registry import default_registry
from parley.tiny.sft import EVAL_SEED, TinySFTRecipe, ensure_tiny_sft_model, tiny_dataset_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="{}", help="JSON object of TinySFTRecipe fields to override.")
    ap.add_argument("--problems", type=int, default=300, help="Held-out problems.")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--max-rounds", type=int, default=2)
    args = ap.parse_args()

    recipe = TinySFTRecipe(**json.loads(args.recipe))
    t0 = time.perf_counter()

    def on_step(step: int, loss: float) -> None:
        if step % 250 == 0:
            print(f"sft step {step}/{recipe.steps} loss {loss:.3f}", flush=True)

    model_dir = ensure_tiny_sft_model(recipe, progress=on_step)
    print(f"model {model_dir} (recipe {recipe.digest()}, ready after {time.perf_counter() - t0:.0f} s)")
    problems = load_problems(tiny_dataset_config(size=args.problems, seed=EVAL_SEED, task=recipe.task))
    model = HFChatModel.from_pretrained(model_dir, batch_size=64, num_threads=1)
    pool = AgentPool(Agent(model, "shared"))
    registry = default_registry()
    by_id = {p.id: p for p in problems}

    def oracle_for(t: Transcript) -> Callable[[str | None], bool]:
        problem = by_id[t.problem_id]
        return lambda answer: answer is not None and bool(registry.score(problem, answer).correct)

    async def run(protocol: str) -> list[Transcript]:
        cfg = ProtocolConfig(name=protocol, max_rounds=args.max_rounds)
        sampling = SamplingParams(temperature=0.0, max_new_tokens=args.max_new_tokens)
        return await asyncio.gather(*[
            run_protocol(p, protocol=cfg, agents=pool, prompts=PromptSet(), sampling=sampling, run_id="warm",
                         debate_id=f"warm:{p.id}", config_hash="warm", base_seed=1) for p in problems])

    try:
        for protocol in ("single", "svj"):
            t1 = time.perf_counter()
            transcripts = asyncio.run(run(protocol))
            metrics = role_metrics(transcripts, oracle_for)
            columns = sum("carry" in t.turns[0].text for t in transcripts) / len(transcripts)
            print(f"\n{protocol}: {len(transcripts)} problems in {time.perf_counter() - t1:.1f} s; "
                  f"first attempts working the columns: {columns:.1%}")
            for name, s in metrics.items():
                print(f"  {name:34s} {s.value:6.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}]  n={s.n}")
            if protocol == "svj":
                t = transcripts[0]
                print(f"  e.g. {t.problem_id} (gold {t.gold_answer}, final {t.final_answer}):")
                for turn in t.turns:
                    print(f"    {turn.role}: {turn.text!r}")
    finally:
        asyncio.run(model.aclose())
        registry.close()


if __name__ == "__main__":
    main()
