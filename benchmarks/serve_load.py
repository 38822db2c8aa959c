"""`parley serve` under a burst of concurrent requests: answered, rejected (503), latency, throughput.

Starts ``parley serve MODEL`` (default ``tiny``, the embedded warm-started model) as a child process
on 127.0.0.1 and sends ``--requests`` chat completions at once from one asyncio client, for each
``--max-pending`` bound given:

- with a plain HTTP client (no retries): how many are answered (200) and how many are rejected with
  503 + Retry-After, anything else (the target: nothing else, and the server still healthy after);
- with the official ``openai`` client (``max_retries=8``, which honours Retry-After): how many are
  answered in the end, as a client with default retry behaviour sees it.

Latency is per request from the burst's start; throughput is answered completions per second of
the burst's wall time.

    .venv/bin/python benchmarks/serve_load.py                              # tiny, 200 requests, bounds 256 and 64
    .venv/bin/python benchmarks/serve_load.py --model path/to/checkpoint --requests 500 --max-pending 128
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx
import openai


@dataclass
class Burst:
    label: str
    statuses: dict[int, int]
    latencies_s: list[float]
    wall_s: float
    healthy_after: bool

    def line(self) -> str:
        answered = self.statuses.get(200, 0)
        lat = sorted(self.latencies_s) or [float("nan")]
        p50 = statistics.median(lat)
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        return (f"{self.label:40s} answered {answered:4d}  rejected 503 {self.statuses.get(503, 0):4d}  "
                f"other {sum(v for k, v in self.statuses.items() if k not in (200, 503)):3d}  "
                f"wall {self.wall_s:6.2f}s  {answered / self.wall_s:7.1f} completions/s  "
                f"latency p50 {p50:5.2f}s p95 {p95:5.2f}s max {lat[-1]:5.2f}s  "
                f"healthy after: {'yes' if self.healthy_after else 'NO'}")


class ServeChild:
    def __init__(self, model: str, max_pending: int, batch_size: int) -> None:
        cmd = [sys.executable, "-m", "parley.cli.app", "serve", model, "--port", "0",
               "--max-pending", str(max_pending), "--batch-size", str(batch_size)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"parley serve did not start: {line!r}")
        self.base_url = line.split("listening on", 1)[1].split()[0]
        self.model_id = line.rsplit("(model ", 1)[1].rstrip(")\n").strip("'")

    def healthy(self) -> bool:
        try:
            return httpx.get(self.base_url.removesuffix("/v1") + "/health", timeout=30).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _body(model: str, i: int, max_tokens: int) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": f"Question: Calculate {i % 10} + {i % 7}."}],
            "max_tokens": max_tokens, "temperature": 0.7, "seed": i}


async def plain_burst(server: ServeChild, n: int, max_tokens: int) -> tuple[dict[int, int], list[float], float]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=600) as client:
        t0 = time.perf_counter()

        async def one(i: int) -> tuple[int, float]:
            response = await client.post("/chat/completions", json=_body(server.model_id, i, max_tokens))
            return response.status_code, time.perf_counter() - t0

        results = await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return statuses, [t for s, t in results if s == 200], wall


async def openai_burst(server: ServeChild, n: int, max_tokens: int) -> tuple[dict[int, int], list[float], float]:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=8, timeout=600)
    t0 = time.perf_counter()

    async def one(i: int) -> tuple[int, float]:
        try:
            await client.chat.completions.create(**_body(server.model_id, i, max_tokens))
            return 200, time.perf_counter() - t0
        except openai.APIStatusError as exc:
            return exc.status_code, time.perf_counter() - t0

    try:
        results = await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await client.close()
    wall = time.perf_counter() - t0
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return statuses, [t for s, t in results if s == 200], wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-pending", type=int, nargs="+", default=[256, 64])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    bursts: list[Burst] = []
    for bound in args.max_pending:
        server = ServeChild(args.model, bound, args.batch_size)
        try:
            asyncio.run(plain_burst(server, 4, args.max_tokens))  # warm-up: first batches, connection set-up
            for kind, run in (("plain client", plain_burst), ("openai client (retries)", openai_burst)):
                statuses, latencies, wall = asyncio.run(run(server, args.requests, args.max_tokens))
                burst = Burst(f"max-pending {bound:4d}, {kind}", statuses, latencies, wall, server.healthy())
                bursts.append(burst)
                print(burst.line(), flush=True)
        finally:
            server.stop()
    print()
    print(f"{args.requests} concurrent requests to parley serve {args.model} (batch size {args.batch_size}, "
          f"max_tokens {args.max_tokens}); target: every request answered or rejected with 503, server up")
    ok = all(set(b.statuses) <= {200, 503} and b.healthy_after for b in bursts)
    print(f"every request answered or rejected with 503, server healthy after every burst: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
