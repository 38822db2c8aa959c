"""Math verification throughput: the default worker pool vs calling math-verify in-process.

Prints, side by side: verifications/s over 2,000 distinct mixed (gold, prediction) pairs with the
default pool (one worker per core) vs single-process in-process calls; p50/p99 latency of one call
at a time through the pool vs in-process; and the ratio (the cost of the process boundary).
No memo hits: every pair is distinct and the memo is disabled.

Run: .venv/bin/python benchmarks/math_verify_throughput.py [--pairs 2000] [--latency-sample 300]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

from parley.rewards.extract import extract_answer
from parley.rewards.math import MathVerifier, MathVerifierConfig, compare_answers
from parley.rewards.pool import VerifierPool


def make_pairs(n: int, offset: int = 0) -> list[tuple[str, str]]:
    """Distinct mixed pairs: fractions, decimals, percent, radicals, sets, intervals, equations, text."""
    pairs: list[tuple[str, str]] = []
    for k in range(offset, offset + n):
        a, b = k + 2, k + 3
        kind = k % 10
        if kind == 0:
            pairs.append((rf"\frac{{{a}}}{{{2 * a}}}", f"The answer is {0.5}. (#{k})"))
        elif kind == 1:
            pairs.append((f"{a}", rf"so \boxed{{{a if k % 3 else a + 1}}}"))
        elif kind == 2:
            pairs.append((rf"{a}\%", f"{a / 100}"))
        elif kind == 3:
            pairs.append((rf"{a}\sqrt{{2}}", rf"\sqrt{{{2 * a * a}}}"))
        elif kind == 4:
            pairs.append((rf"\{{{a},{b}\}}", rf"\boxed{{\{{{b},{a}\}}}}"))
        elif kind == 5:
            pairs.append((f"({a},{b}]", f"Final answer: ({a}, {b})"))
        elif kind == 6:
            pairs.append((f"x={a}", f"#### {a}"))
        elif kind == 7:
            pairs.append((f"{a:,}000", f"{a}000"))
        elif kind == 8:
            pairs.append((rf"{a}\text{{ cm}}", f"It is {a} cm long"))
        else:
            pairs.append((rf"\frac{{{a}\pi}}{{3}}", rf"\boxed{{{a}\pi/3}}"))
    return pairs


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--latency-sample", type=int, default=300)
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    pairs = make_pairs(args.pairs)
    assert len(set(pairs)) == len(pairs), "pairs must be distinct (no memo hits)"
    warmup = make_pairs(20, offset=10_000_000)
    sample = pairs[: args.latency_sample]

    with VerifierPool() as pool:
        verifier = MathVerifier(pool, MathVerifierConfig(timeout_s=60, memo_size=0))
        verifier.verify_many(warmup)  # boot the workers and warm sympy outside the timing
        start = time.perf_counter()
        results = verifier.verify_many(pairs)
        pool_wall = time.perf_counter() - start
        pool_lat = []
        for gold, pred in sample:
            t0 = time.perf_counter()
            verifier.verify(gold, pred)
            pool_lat.append(time.perf_counter() - t0)
        workers = pool.size
    statuses = {s: sum(r.status == s for r in results) for s in {r.status for r in results}}

    for gold, pred in warmup:  # in-process: extract + compare, the same work without the boundary
        found = extract_answer(pred)
        compare_answers(gold, found.text if found else "")
    inproc_lat_all = []
    start = time.perf_counter()
    for gold, pred in pairs:
        t0 = time.perf_counter()
        found = extract_answer(pred)
        if found is not None:
            compare_answers(gold, found.text)
        inproc_lat_all.append(time.perf_counter() - t0)
    inproc_wall = time.perf_counter() - start
    inproc_lat = inproc_lat_all[: args.latency_sample]

    pool_rate, inproc_rate = len(pairs) / pool_wall, len(pairs) / inproc_wall
    p50_pool, p99_pool = _pct(pool_lat, 0.5) * 1e3, _pct(pool_lat, 0.99) * 1e3
    p50_in, p99_in = _pct(inproc_lat, 0.5) * 1e3, _pct(inproc_lat, 0.99) * 1e3
    print(f"math-verify throughput, {len(pairs)} distinct mixed pairs, {os.cpu_count()} cores, no memo hits")
    print(f"statuses through the pool: {statuses}")
    print(f"{'':34}{'pool (' + str(workers) + ' workers)':>20}{'in-process (1 core)':>22}{'ratio':>10}")
    print(f"{'verifications/s':34}{pool_rate:>20.1f}{inproc_rate:>22.1f}{pool_rate / inproc_rate:>10.2f}x")
    print(f"{'latency p50, one call at a time':34}{p50_pool:>17.1f} ms{p50_in:>19.1f} ms{p50_pool / p50_in:>10.2f}x")
    print(f"{'latency p99, one call at a time':34}{p99_pool:>17.1f} ms{p99_in:>19.1f} ms{p99_pool / p99_in:>10.2f}x")
    print(f"process-boundary cost per call (p50 difference): {p50_pool - p50_in:.2f} ms")


if __name__ == "__main__":
    main()
