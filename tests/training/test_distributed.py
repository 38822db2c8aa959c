"""Data-parallel training (2 CPU processes, gloo): the averaged gradient equals the single-process one.

The worker (:mod:`tests.training.dp_worker`) runs the real :func:`optimise` on its shard of a fixed
global batch under ``torch.distributed.run``; this test runs the same call on the whole batch in one
process and compares every trainable parameter's gradient (and the updated weights) per case: shared
policy with token_mean and 2 epochs, per-role policies with seq_mean, LoRA with a KL term.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from parley.llm.tiny import build_tiny_model
from parley.training.optimise import optimise
from tests.training.dp_worker import CASES, build, case_samples, snapshot

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("dp")
    model_dir = build_tiny_model(base / "model", hidden_size=32, num_layers=1, num_heads=2, vocab_size=320,
                                 intermediate_size=64)
    out_dir = base / "out"
    out_dir.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(ROOT / "tests" / "training" / "dp_worker.py"), str(model_dir),
           str(out_dir)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return model_dir, out_dir


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_process_gradient_equals_single_process_gradient(dp_run: tuple[Path, Path], case: str) -> None:
    model_dir, out_dir = dp_run
    ranks = [torch.load(out_dir / f"{case}-rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["n_local"] for r in ranks] == [4, 3]  # uneven shards of the 7-sample global batch
    policies = build(model_dir, case)
    samples = case_samples(case, int(policies.tokenizer.vocab_size))
    metrics = optimise(policies, samples, CASES[case], pad_id=0)
    single = snapshot(policies)
    assert single["grad"], "no trainable parameters"
    # (LoRA's A matrices get zero gradient at init, B = 0; the B matrices and full weights do not.)
    assert sum(float(g.abs().sum()) for g in single["grad"].values() if g is not None) > 0
    for rank in ranks:
        snap = rank["snapshot"]
        assert set(snap["grad"]) == set(single["grad"])
        for name, grad in single["grad"].items():
            assert grad is not None, name
            torch.testing.assert_close(snap["grad"][name], grad, atol=1e-6, rtol=1e-5, msg=name)
            torch.testing.assert_close(snap["weight"][name], single["weight"][name], atol=1e-6, rtol=1e-5, msg=name)
        # Logged metrics are global: the same trained-token counts, gradient norms and (token_mean: the
        # micro-batch split does not change a token-weighted mean) losses as one process.
        keys = ("trained_tokens/", "grad_norm/", *(("policy_loss/",) if CASES[case].aggregation == "token_mean"
                                                   else ()))
        for key, value in metrics.items():
            if key.startswith(keys):
                assert rank["metrics"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
