"""API throughput: ``svj`` debates through ``run_generation`` against a local OpenAI-compatible server.

The server is parley's scripted server, run in a child process (so it shares no GIL with the client)
with ``--latency`` seconds of model time per call. Its agents answer each role in the protocol's
format, correctly (solver ``Answer: <sum>``, verifier ``Verdict: PASS`` + critique, judge ``Final
answer: <sum>`` + confidence), so every debate is a real three-turn svj debate that ends with
``verifier_pass`` and is scored by the reward registry, exactly as ``parley generate`` runs it.

Figures: calls per debate (from the server's own call log), problems/hour, the ideal rate
``concurrency / latency / calls per debate`` and the share of it reached (target >= 80% at
concurrency 64), next to concurrency 1 on a few debates (extrapolated per hour), plus the client's CPU
time per call. These runs skip answer scoring (``parley generate --no-score``): the figure is the API
path. One more run at full concurrency scores every answer as ``parley generate`` does by default; it
includes the verifier pool's cold start (a few seconds of worker imports, paid once per run), which
scoring overlaps with debating but which a 5-second benchmark cannot hide.

Backends: ``openai``; ``litellm`` (``openai/scripted`` through LiteLLM with the default
``model.litellm_route: auto``, which sends OpenAI-protocol models through the openai client);
``litellm-native`` (``model.litellm_route: litellm``: LiteLLM's own request path, for comparison).

    .venv/bin/python benchmarks/api_throughput.py                       # 500 debates, c=64, 200 ms, openai
    .venv/bin/python benchmarks/api_throughput.py --backends openai litellm litellm-native
    .venv/bin/python benchmarks/api_throughput.py --debates 100 --serial-debates 5
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TARGET_SHARE = 0.80
_EXPRESSION = re.compile(r"Calculate\s+(-?\d+)\s*\+\s*(-?\d+)\s*\.")


# -- the scripted agents (server side) -------------------------------------------------------------
def debate_reply(messages: list[dict[str, Any]]) -> str:
    """Answer each svj role in the protocol format; the solver and judge compute the sum."""
    system = str(messages[0].get("content", "")) if messages and messages[0].get("role") == "system" else ""
    match = _EXPRESSION.search(str(messages[-1].get("content", ""))) if messages else None
    answer = str(int(match.group(1)) + int(match.group(2))) if match else "0"
    if "verifier" in system:
        return "I re-added the two terms and the attempt holds.\nVerdict: PASS\nCritique: the sum is right."
    if "judge" in system:
        return f"The verifier accepted the solver's answer.\nFinal answer: {answer}\nConfidence: 0.9"
    return f"Add the two terms step by step.\nAnswer: {answer}"


def serve(latency_s: float) -> int:
    """Child-process mode: serve the scripted agents until stdin closes (prints ``PORT <n>``)."""
    from parley.llm.scripted_server import ScriptedServer, ServerScript

    with ScriptedServer(ServerScript(latency_s=latency_s, reply=debate_reply)) as server:
        sys.stdout.write(f"PORT {server.port}\n")
        sys.stdout.flush()
        sys.stdin.read()
    return 0


class ServerChild:
    """This script in ``--serve`` mode as a child process; its call log is read over the admin endpoint."""

    def __init__(self, latency_s: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--latency", str(latency_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(60)
        if not line or not line[0].startswith("PORT "):
            self.stop()
            raise RuntimeError(f"scripted server child did not start (said {line!r})")
        self.port = int(line[0].split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def calls(self) -> list[dict[str, Any]]:
        response = httpx.get(f"http://127.0.0.1:{self.port}/_scripted/calls", timeout=60)
        response.raise_for_status()
        calls: list[dict[str, Any]] = response.json()
        return calls

    def reset(self) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/_scripted/reset", timeout=60).raise_for_status()

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


# -- the client side: parley generate as a Python call ---------------------------------------------
def write_dataset(path: Path, n: int, offset: int = 0) -> Path:
    """``n`` distinct sums as a JSONL problem file (domain math, scored by math-verify)."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(offset, offset + n):
            a, b = i % 97, 1000 + i
            handle.write(json.dumps({"id": f"sum-{i:05d}", "question": f"Calculate {a} + {b}.",
                                     "answer": str(a + b), "domain": "math"}) + "\n")
    return path


@dataclass
class Measurement:
    backend: str
    concurrency: int
    debates: int
    calls: int
    wall_s: float
    errors: dict[str, int]
    terminations: dict[str, int]
    accuracy: float | None
    client_cpu_s: float
    scored: bool

    @property
    def calls_per_debate(self) -> float:
        return self.calls / self.debates if self.debates else float("nan")

    @property
    def problems_per_hour(self) -> float:
        return self.debates / self.wall_s * 3600

    def ideal_per_hour(self, latency_s: float) -> float:
        return self.concurrency / latency_s / self.calls_per_debate * 3600


def run_once(server: ServerChild, workdir: Path, *, backend: str, concurrency: int, debates: int,
             latency_s: float, offset: int, score: bool) -> Measurement:
    from parley.config import ParleyConfig, load_config
    from parley.generation import run_generation

    dataset = write_dataset(workdir / f"{backend}-c{concurrency}.jsonl", debates, offset)
    name = "scripted" if backend == "openai" else "openai/scripted"
    route = ["model.litellm_route=litellm"] if backend == "litellm-native" else []
    cfg: ParleyConfig = load_config(None, [
        f"model.backend={backend.removesuffix('-native')}", f"model.name={name}", f"model.api_base={server.base_url}",
        *route,
        f"model.request_timeout_s={max(30.0, 50 * latency_s)}",
        "protocol.name=svj", "protocol.max_rounds=3",
        f"dataset.name={dataset}",
        f"generation.concurrency={concurrency}", f"generation.flush_every={max(16, concurrency)}",
        "generation.max_new_tokens=64", "generation.temperature=0.7",
        f"output.dir={workdir / f'store-{backend}-c{concurrency}'}",
    ])
    server.reset()
    cpu0 = time.process_time()
    result = run_generation(cfg, score=score)
    cpu = time.process_time() - cpu0
    stats = result.stats
    calls = sum(1 for c in server.calls() if c["outcome"] == "ok")
    return Measurement(backend, concurrency, stats.completed, calls, stats.wall_s, dict(stats.errors),
                       dict(stats.terminations), stats.accuracy, cpu, score)


def report(m: Measurement, latency_s: float) -> str:
    ideal = m.ideal_per_hour(latency_s)
    scoring = "scored" if m.scored else "no-score"
    return (f"{m.backend:14s} c={m.concurrency:<3d} {scoring:8s} debates={m.debates:<4d} "
            f"calls/debate={m.calls_per_debate:.2f} wall={m.wall_s:7.2f}s  {m.problems_per_hour:10,.0f} problems/h  "
            f"ideal {ideal:10,.0f}/h  {m.problems_per_hour / ideal:6.1%} of ideal  "
            f"client CPU {m.client_cpu_s / max(m.calls, 1) * 1000:.2f} ms/call  acc={m.accuracy}  "
            f"errors={m.errors or 'none'}  terminations={m.terminations}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds of model time per call")
    parser.add_argument("--debates", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--serial-debates", type=int, default=20, help="debates for the concurrency-1 run")
    parser.add_argument("--backends", nargs="+", default=["openai"], choices=["openai", "litellm", "litellm-native"])
    parser.add_argument("--no-scored-run", action="store_true",
                        help="skip the extra concurrency-N run that also scores answers (as parley generate does)")
    args = parser.parse_args()
    if args.serve:
        return serve(args.latency)

    logging.basicConfig(level=logging.WARNING)
    server = ServerChild(args.latency)
    results: list[Measurement] = []
    try:
        with tempfile.TemporaryDirectory(prefix="parley-api-bench-") as tmp:
            workdir = Path(tmp)
            offset = 0
            for backend in args.backends:
                # A short warm-up so imports and connection set-up are not timed.
                warm = workdir / f"warm-{backend}"
                warm.mkdir()
                run_once(server, warm, backend=backend, concurrency=4, debates=4, latency_s=args.latency,
                         offset=90_000, score=False)
                runs = [(args.concurrency, args.debates, False), (1, args.serial_debates, False)]
                if not args.no_scored_run:
                    runs.append((args.concurrency, args.debates, True))
                for concurrency, n, score in runs:
                    m = run_once(server, workdir, backend=backend, concurrency=concurrency, debates=n,
                                 latency_s=args.latency, offset=offset, score=score)
                    offset += n
                    results.append(m)
                    print(report(m, args.latency), flush=True)
    finally:
        server.stop()

    print()
    print(f"latency per call {args.latency * 1000:.0f} ms; target >= {TARGET_SHARE:.0%} of ideal at "
          f"concurrency {args.concurrency}")
    ok = True
    for backend in args.backends:
        wide = next(m for m in results if m.backend == backend and m.concurrency == args.concurrency
                    and not m.scored)
        serial = next(m for m in results if m.backend == backend and m.concurrency == 1)
        share = wide.problems_per_hour / wide.ideal_per_hour(args.latency)
        verdict = "PASS" if share >= TARGET_SHARE and not wide.errors else "FAIL"
        ok &= verdict == "PASS"
        print(f"{backend}: {wide.problems_per_hour:,.0f} problems/h at c={args.concurrency} "
              f"(ideal {wide.ideal_per_hour(args.latency):,.0f}/h, {share:.1%}: {verdict}); "
              f"c=1: {serial.problems_per_hour:,.0f} problems/h (ideal {serial.ideal_per_hour(args.latency):,.0f}/h); "
              f"speed-up {wide.problems_per_hour / serial.problems_per_hour:.1f}x")
        scored = [m for m in results if m.backend == backend and m.scored]
        if scored:
            m = scored[0]
            print(f"{backend}: with scoring (verifier pool cold start included): {m.problems_per_hour:,.0f} "
                  f"problems/h ({m.problems_per_hour / m.ideal_per_hour(args.latency):.1%} of ideal)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
