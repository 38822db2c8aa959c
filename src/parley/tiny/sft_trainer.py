"""Supervised fine-tuning of the tiny model, data-parallel over ``recipe.workers`` local processes.

Each step draws one *global* batch of ``recipe.batch_size`` examples (roles weighted by
``recipe.role_weights``, from one seeded generator that every worker replays identically); worker ``r``
runs forward and backward on its slice ``batch[r::workers]``. The loss is the token mean over the whole
global batch: each worker sums its completion-token losses and divides by the global completion-token
count (all-reduced first), and the gradients are summed over workers (gloo, on 127.0.0.1). Every worker
therefore holds the gradient one process would compute for the global batch, clips it the same way and
takes the same AdamW step, so the replicas stay identical and worker 0 saves the result. On a 2-core
machine two workers halve the build time of the warm start (the stage runs alone); the result depends
only on the recipe, not on how many cores the machine has.

Loss on completion tokens only (the agent's own text plus ``<|end|>``); the rendered chat context is
the prompt. Learning rate: linear warm-up, then cosine decay to 10%.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parley.llm.types import Message

if TYPE_CHECKING:
    from parley.tiny.sft import TinySFTRecipe

SFTExample = tuple[str, list[Message], str]
"""(role, context messages, completion text)."""

Encoded = dict[str, list[tuple[list[int], list[int]]]]
"""role -> (token ids, completion mask) per example."""


class SFTError(RuntimeError):
    """The warm-start fine-tuning could not run (a worker failed)."""


def encode_examples(model_dir: Path, examples: Sequence[SFTExample], max_len: int) -> Encoded:
    """Chat-templated prompt + completion ids per example, with the completion mask, by role."""
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    encoded: Encoded = {}
    for role, messages, text in examples:
        prompt = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                    return_dict=False))
        completion = tokenizer(text, add_special_tokens=False)["input_ids"] + [end_id]
        ids = (prompt + completion)[-max_len:]
        n_completion = min(len(completion), len(ids))
        encoded.setdefault(role, []).append((ids, [0] * (len(ids) - n_completion) + [1] * n_completion))
    return encoded


def lr_factor(step: int, warmup: int, steps: int) -> float:
    """Warm-up to 1, then cosine to 0.1 at the last step."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, model_dir: str, encoded: Encoded, recipe: TinySFTRecipe,
            report: Callable[[str], None]) -> dict[str, float]:
    import torch
    import torch.distributed as dist
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)  # small matrices: one thread per process is fastest (see parley.llm.hf)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(recipe.seed)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    pad = int(model.config.pad_token_id or 0)
    roles = sorted(encoded)
    weights = [recipe.role_weights.get(r, 0.1) for r in roles]
    rng = random.Random(recipe.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, recipe.warmup_steps, recipe.steps))
    model.train()
    t0 = time.perf_counter()
    loss_value = float("nan")
    for step in range(recipe.steps):
        picked = rng.choices(roles, weights=weights, k=recipe.batch_size)
        batch = [encoded[r][rng.randrange(len(encoded[r]))] for r in picked]
        mine = batch[rank::world]
        width = max(len(ids) for ids, _ in mine)
        input_ids = torch.full((len(mine), width), pad, dtype=torch.long)
        attention = torch.zeros((len(mine), width), dtype=torch.long)
        targets = torch.full((len(mine), width), -100, dtype=torch.long)
        for row, (ids, mask) in enumerate(mine):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            targets[row, : len(ids)] = torch.tensor([i if m else -100 for i, m in zip(ids, mask, strict=True)])
        total = torch.tensor([float(sum(sum(mask[1:]) for _, mask in batch))])  # predicted tokens, global batch
        logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1]
        loss_sum = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                     targets[:, 1:].reshape(-1), ignore_index=-100, reduction="sum")
        loss = loss_sum / total.clamp(min=1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if world > 1:
            flat = torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros_like(p).reshape(-1)
                              for p in params])
            stats = torch.cat([flat, loss.detach().reshape(1)])
            dist.all_reduce(stats)
            offset = 0
            for p in params:
                n = p.numel()
                p.grad = stats[offset:offset + n].view_as(p).clone()
                offset += n
            loss_value = float(stats[-1])
        else:
            loss_value = float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        if rank == 0 and ((step + 1) % 10 == 0 or step + 1 == recipe.steps):
            report(json.dumps({"step": step + 1, "loss": loss_value}))
    if rank == 0:
        model.save_pretrained(model_dir)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {"final_loss": loss_value, "sft_seconds": time.perf_counter() - t0}


def sft_train(model_dir: Path, examples: Sequence[SFTExample], recipe: TinySFTRecipe,
              progress: Callable[[int, float], None] | None = None) -> dict[str, float]:
    """Fine-tune the model in ``model_dir`` in place on ``examples`` (see the module docstring).

    With ``recipe.workers`` > 1 the workers are separate ``python -m parley.tiny.sft_trainer`` processes
    (so a caller's ``__main__`` is never re-imported); worker 0 reports progress on its stdout.
    Returns the final loss, the seconds spent, the number of examples and workers.

    Raises:
        SFTError: a worker process failed (its stderr is in the message).
    """
    encoded = encode_examples(model_dir, examples, recipe.max_len)
    world = max(1, int(recipe.workers))
    if world > recipe.batch_size:
        raise SFTError(f"recipe.workers={world} exceeds recipe.batch_size={recipe.batch_size}")
    n_examples = float(sum(len(v) for v in encoded.values()))
    if world == 1:
        def report(line: str) -> None:
            if progress is not None:
                event = json.loads(line)
                progress(int(event["step"]), float(event["loss"]))

        return {**_worker(0, 1, 0, str(model_dir), encoded, recipe, report), "examples": n_examples, "workers": 1.0}
    with tempfile.TemporaryDirectory(prefix="parley-sft-") as scratch:
        job = Path(scratch) / "job.pkl"
        job.write_bytes(pickle.dumps({"model_dir": str(model_dir), "encoded": encoded, "recipe": recipe}))
        port = _free_port()
        env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo"}
        logs = [open(Path(scratch) / f"worker{r}.err", "w+b") for r in range(world)]  # noqa: SIM115
        procs = [subprocess.Popen([sys.executable, "-m", "parley.tiny.sft_trainer", "--job", str(job), "--rank", str(r),
                                   "--world", str(world), "--port", str(port)], env=env, stderr=logs[r],
                                  stdout=subprocess.PIPE if r == 0 else subprocess.DEVNULL, text=r == 0)
                 for r in range(world)]
        result: dict[str, float] = {}
        try:
            assert procs[0].stdout is not None
            for line in procs[0].stdout:
                event = json.loads(line)
                if "final_loss" in event:
                    result = event
                elif progress is not None:
                    progress(int(event["step"]), float(event["loss"]))
            codes = [p.wait() for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        if any(codes) or not result:
            errors = []
            for r, log in enumerate(logs):
                log.seek(0)
                errors.append(f"worker {r} (exit {codes[r]}): {log.read().decode(errors='replace')[-1500:]}")
            raise SFTError("tiny-model fine-tuning failed: " + " | ".join(errors))
        for log in logs:
            log.close()
    return {**result, "examples": n_examples, "workers": float(world)}


def _main(argv: list[str] | None = None) -> int:
    """Entry point of one data-parallel worker (started by :func:`sft_train`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="parley.tiny.sft_trainer")
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    job = pickle.loads(args.job.read_bytes())

    def report(line: str) -> None:
        print(line, flush=True)

    result = _worker(args.rank, args.world, args.port, job["model_dir"], job["encoded"], job["recipe"], report)
    if args.rank == 0:
        report(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
