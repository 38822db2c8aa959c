"""Shared fixtures: real evaluations of rule-based arithmetic agents (no model download, a few seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from parley.config import ParleyConfig
from parley.debate import Agent, AgentPool
from parley.debate.scripted_agent import ScriptedArithmeticAgent
from parley.evaluation import EvalResult, evaluate

ARITHMETIC = {"name": "reasoning_gym:basic_arithmetic", "size": 30,
              "options": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1,
                          "operators": ["+", "-"]}}


def make_config(protocol: str = "svj", dataset: dict[str, Any] | None = None, **generation: Any) -> ParleyConfig:
    return ParleyConfig.model_validate({"dataset": dataset or ARITHMETIC, "protocol": {"name": protocol},
                                        "generation": {"concurrency": 4, **generation}})


def scripted_pool(solver_error: float, checker_error: float = 0.0) -> AgentPool:
    return AgentPool(Agent(ScriptedArithmeticAgent("solver", solver_error), "shared"), {
        "verifier": Agent(ScriptedArithmeticAgent("verifier", checker_error), "verifier"),
        "judge": Agent(ScriptedArithmeticAgent("judge", checker_error), "judge"),
    })


@pytest.fixture(scope="session")
def arms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EvalResult, EvalResult]:
    """A strong debate arm (solver errs 10%, exact verifier) and a weak single-agent arm (errs 60%)."""
    out = tmp_path_factory.mktemp("eval")
    debate = evaluate(make_config("svj"), label="debate", out_dir=out, agents=scripted_pool(0.1))
    single = evaluate(make_config("single"), label="single", out_dir=out, agents=scripted_pool(0.6))
    return out, debate, single
