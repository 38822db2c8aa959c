"""ComputeThread runs functions on its own thread with its own torch thread count; models and the trainer
route their torch work through it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import torch

from parley.llm.compute import ComputeThread, default_threads
from parley.llm.hf import HFChatModel
from parley.llm.types import Completion, SamplingParams
from tests.tiny_model_support import tiny_model_dir


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def test_functions_run_on_the_compute_thread_with_its_thread_count() -> None:
    before = torch.get_num_threads()
    compute = ComputeThread(threads=3)
    try:
        name, threads = compute.run(lambda: (threading.current_thread().name, torch.get_num_threads()))
        assert name.startswith("parley-compute") and name != threading.current_thread().name
        assert threads == 3
        assert torch.get_num_threads() == before  # the caller's setting is its own
        # a routed function that routes another runs it inline (no deadlock)
        assert compute.run(lambda: compute.run(lambda: threading.current_thread().name)) == name
        assert compute.calls == 3
    finally:
        compute.close()


def test_exceptions_reach_the_caller_and_a_closed_thread_refuses_work() -> None:
    compute = ComputeThread(threads=1)

    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        compute.run(fail)
    assert compute.run(lambda: 7) == 7  # the thread survives its function's exception
    compute.close()
    compute.close()
    with pytest.raises(RuntimeError, match="closed"):
        compute.run(lambda: 1)
    with pytest.raises(ValueError, match="threads=0"):
        ComputeThread(threads=0)


def test_default_threads_follow_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    cpus = default_threads()
    assert cpus >= 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(cpus * 2))  # more local ranks than CPUs: one thread each
    assert default_threads() == 1


def test_a_model_on_a_compute_thread_samples_the_same_completions(tiny_dir: Path) -> None:
    compute = ComputeThread(threads=1)
    routed = HFChatModel.from_pretrained(tiny_dir)
    routed.compute = compute
    plain = HFChatModel.from_pretrained(tiny_dir)
    params = SamplingParams(temperature=1.0, max_new_tokens=12, seed=5)
    messages = [{"role": "user", "content": "What is 2 + 3?"}]

    async def both() -> tuple[Completion, Completion]:
        return await routed.complete(messages, params), await plain.complete(messages, params)

    try:
        a, b = asyncio.run(both())
        assert compute.calls == 1
        assert a.token_ids == b.token_ids and a.logprobs == b.logprobs
        assert a.prompt_token_ids is not None and a.token_ids is not None
        assert routed.logprobs_of(a.prompt_token_ids, a.token_ids) == pytest.approx(a.logprobs, abs=1e-5)
        assert compute.calls == 2
    finally:
        asyncio.run(routed.aclose())
        asyncio.run(plain.aclose())
        compute.close()

