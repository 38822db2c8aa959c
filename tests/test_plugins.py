"""Units registered by a user are selectable from YAML like the built-ins.

This file defines a plug-in of every kind the issue names (model backend, debate protocol, dataset
loader, reward verifier, shaping strategy), registers them, selects them from a YAML config and runs
them through parley's own code: ``load_config`` -> ``run_generation`` (build agents, run the
protocol, score through the reward registry, write the store) -> ``shape``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from parley.config import ConfigError, ModelConfig, ParleyConfig, ProtocolConfig, load_config
from parley.config.registries import BACKENDS, PROTOCOLS
from parley.data import Problem, known_datasets, load_problems
from parley.data.loaders import LOADERS, register_loader
from parley.debate import DebateContext, Outcome, protocol, protocol_roles
from parley.debate.parsing import parse_solver
from parley.llm import ChatModel, Completion, Message, SamplingParams, Usage, create_model, register_backend
from parley.rewards import VERIFIERS, RewardResult, Verifier, VerifierPool, VerifierSettings, register_verifier
from parley.rewards.shaping import STRATEGIES, ShapingBatch, ShapingStrategyConfig, register, required_inputs, shape
from parley.rewards.signals import debate_signals, exact_match_oracle
from parley.store import TrajectoryStore


class CountingModel(ChatModel):
    """A real (if simple) model: answers ``Add a and b.`` with the sum, one off on its first attempt."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        prompt = messages[-1]["content"]
        words = prompt.replace(".", " ").split()
        a, b = int(words[words.index("Add") + 1]), int(words[words.index("and") + 1])
        retry = "Attempt 1" in prompt
        return Completion(text=f"Answer: {a + b if retry else a + b + 1}", model=self.name, usage=Usage(5, 3))


def counting_backend(config: ModelConfig, *, model_path: Path | None = None) -> ChatModel:
    return CountingModel(config.name)


async def solver_twice(ctx: DebateContext, cfg: ProtocolConfig) -> Outcome:
    """The solver answers, then answers again seeing its first attempt; the second answer is final."""
    attempts: list[dict[str, str | None]] = []
    answer = None
    for round_index in range(2):
        turn = await ctx.call("solver", ctx.messages("solver_system", "solver", question=ctx.problem.question,
                                                     attempts=attempts), parse_solver, round_index=round_index)
        answer = turn.parsed.answer
        attempts.append({"answer": answer, "critique": "check again"})
    return Outcome(answer, "max_rounds", 2)


def load_sums(cfg: object, arg: str) -> list[Problem]:
    return [Problem(id=f"sum-{i}", question=f"Add {i} and {10 * i}.", answer=str(11 * i), domain="sums")
            for i in range(int(arg or 3))]


class SumsVerifier(Verifier):
    """Exact integer comparison with the gold answer (no sandbox needed: nothing is evaluated)."""

    def score_batch(self, items: Sequence[tuple[Problem, str | None]]) -> list[RewardResult]:
        out = []
        for problem, answer in items:
            if answer is None:
                out.append(RewardResult.no_answer())
            else:
                ok = answer.strip() == problem.answer
                out.append(RewardResult(ok, 1.0 if ok else 0.0, answer.strip(), None, "ok", {}))
        return out


def sums_verifier(pool: VerifierPool, settings: VerifierSettings) -> Verifier:
    return SumsVerifier()


class LastTurnConfig(ShapingStrategyConfig):
    """``last_turn``: only each debate's last turn is credited, with weight ``weight``."""

    name: Literal["last_turn"] = "last_turn"
    weight: float = Field(default=1.0, gt=0)


def last_turn(cfg: LastTurnConfig, batch: ShapingBatch) -> list[list[float]]:
    return [[0.0] * (s.num_turns - 1) + [cfg.weight * s.outcome] for s in batch.signals]


@pytest.fixture()
def plugins() -> Iterator[None]:
    register_backend("counting")(counting_backend)
    protocol("solver_twice", roles=("solver",))(solver_twice)
    register_loader("sums", forms=["sums:<n>"], domain="sums")(load_sums)
    register_verifier("sums")(sums_verifier)
    register("last_turn", LastTurnConfig, needs=("baselines",))(last_turn)
    try:
        yield
    finally:
        BACKENDS.unregister("counting")
        PROTOCOLS.unregister("solver_twice")
        LOADERS.unregister("sums")
        VERIFIERS.unregister("sums")
        STRATEGIES.unregister("last_turn")


def write_config(path: Path, out: Path) -> Path:
    path.write_text(
        "model: {backend: counting, name: counter-1}\n"
        "protocol: {name: solver_twice}\n"
        "dataset: {name: 'sums:4'}\n"
        "generation: {concurrency: 2}\n"
        f"output: {{dir: '{out}'}}\n", encoding="utf-8")
    return path


def test_plugins_selected_from_yaml_run_end_to_end(plugins: None, tmp_path: Path) -> None:
    from parley.generation import run_generation

    cfg = load_config(write_config(tmp_path / "run.yaml", tmp_path / "run"))
    assert (cfg.model.backend, cfg.protocol.name, cfg.dataset.name) == ("counting", "solver_twice", "sums:4")
    assert protocol_roles(cfg.protocol) == ["solver"]
    assert isinstance(create_model(cfg.model), CountingModel)
    assert "sums:<n>" in known_datasets()

    result = run_generation(cfg)
    transcripts = sorted(TrajectoryStore.read(tmp_path / "run").iter_transcripts(), key=lambda t: t.problem_id)
    assert len(transcripts) == 4 and result.stats.completed == 4
    for t in transcripts:
        assert t.protocol == "solver_twice" and [turn.role for turn in t.turns] == ["solver", "solver"]
        # First attempt one off, second right: the plug-in verifier scored the final answer correct.
        assert t.turns[0].parsed.answer != t.gold_answer and t.final_answer == t.gold_answer
        assert t.correct is True and t.reward == 1.0

    signals = [debate_signals(t, exact_match_oracle(t.gold_answer)) for t in transcripts]
    shaped = shape({"name": "last_turn", "weight": 0.5}, ShapingBatch(transcripts, signals))
    assert shaped.rewards == [[0.0, 0.5]] * 4


def test_plugin_shaping_selected_in_a_train_config(plugins: None, tmp_path: Path) -> None:
    from parley.training.config import TrainRunConfig

    path = tmp_path / "train.yaml"
    path.write_text("protocol: {name: solver_twice}\ntrain: {shaping: {name: last_turn, weight: 2.0}}\n",
                    encoding="utf-8")
    cfg = load_config(path, model=TrainRunConfig)
    assert isinstance(cfg.train.shaping, LastTurnConfig) and cfg.train.shaping.weight == 2.0
    assert cfg.model_dump()["train"]["shaping"] == {"name": "last_turn", "weight": 2.0}
    assert required_inputs(cfg.train.shaping) == frozenset({"baselines"})
    with pytest.raises(ConfigError, match=r"train\.shaping\.weight: Input should be greater than 0"):
        load_config(path, ["train.shaping.weight=0"], model=TrainRunConfig)
    with pytest.raises(ConfigError, match=r"train\.shaping\.wieght: unknown field of shaping strategy 'last_turn'; "
                                          r"allowed fields here: name, weight"):
        load_config(path, ["train.shaping.wieght=3"], model=TrainRunConfig)


def test_unregistered_names_fail_at_load_time_listing_the_plugins(plugins: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, ["protocol.name=solver_thrice"])
    assert ("config: protocol.name: unknown protocol 'solver_thrice'; known: mad, self_consistency, single, "
            "solver_twice, svj") in str(err.value)
    with pytest.raises(ConfigError, match="known: counting, hf, litellm, openai"):
        load_config(None, ["model.backend=countin"])


def test_plugin_names_are_unknown_once_unregistered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown protocol 'solver_twice'"):
        load_config(write_config(tmp_path / "run.yaml", tmp_path / "run"))
    with pytest.raises(Exception, match="unknown dataset 'sums:4'"):
        load_problems(ParleyConfig().dataset.model_copy(update={"name": "sums:4"}))
