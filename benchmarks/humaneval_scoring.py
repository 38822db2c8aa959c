"""Wall time to score all 164 HumanEval canonical solutions in the sandbox.

Compares the warm :class:`SandboxPool` (one forked job per program) with a fresh bubblewrap sandbox
per program (:class:`Sandbox`), on the same programs, and checks every canonical solution passed.

    .venv/bin/python benchmarks/humaneval_scoring.py [--workers 2] [--cold-sample 40]
"""

from __future__ import annotations

import argparse
import time

from parley.rewards.code import load_humaneval, score_batch
from parley.sandbox import Sandbox, SandboxConfig, SandboxPool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cold-sample", type=int, default=40, help="Problems timed with a cold sandbox each.")
    args = parser.parse_args()
    config = SandboxConfig(timeout_s=15, cpu_time_s=15)
    problems = load_humaneval()
    items = [(p, p["canonical_solution"]) for p in problems]

    start = time.perf_counter()
    with SandboxPool(config, size=args.workers) as pool:
        startup = time.perf_counter() - start
        scored = time.perf_counter()
        results = score_batch(items, pool)
        warm_s = time.perf_counter() - scored
        isolation = pool.isolation
    passed = sum(r.passed for r in results)

    sample = items[: args.cold_sample]
    sandbox = Sandbox(config)
    cold_start = time.perf_counter()
    cold_results = score_batch(sample, sandbox, max_workers=args.workers)
    cold_per = (time.perf_counter() - cold_start) / len(sample)

    print(f"isolation: {isolation}   workers: {args.workers}")
    print(f"warm pool: {passed}/{len(items)} canonical solutions passed in {warm_s:.2f} s "
          f"({warm_s / len(items) * 1000:.1f} ms/problem; pool start-up {startup:.2f} s)")
    print(f"cold sandbox per program: {sum(r.passed for r in cold_results)}/{len(sample)} passed, "
          f"{cold_per * 1000:.1f} ms/problem -> ~{cold_per * len(items):.2f} s for all {len(items)} "
          f"({cold_per * len(items) / warm_s:.1f}x the warm pool)")


if __name__ == "__main__":
    main()
