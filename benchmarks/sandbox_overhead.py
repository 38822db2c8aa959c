"""Per-execution cost of the sandbox: warm pool vs a plain ``python -c`` subprocess vs a cold sandbox.

Target (issue 3): the warm pool's median per-execution wall time is at most 1.5x that of an unsandboxed
``python -c`` subprocess. Prints each median and the ratios side by side.

    .venv/bin/python benchmarks/sandbox_overhead.py [--runs 40]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from parley.sandbox import Sandbox, SandboxConfig, SandboxPool

PROGRAM = "import sys\nprint(sum(range(1000)))\n"


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    config = SandboxConfig(timeout_s=10)

    def plain() -> None:
        subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, check=True)

    sandbox = Sandbox(config)

    def cold() -> None:
        assert sandbox.run_python(PROGRAM).status == "ok"

    with SandboxPool(config, size=1) as pool:

        def warm() -> None:
            assert pool.run_python(PROGRAM).status == "ok"

        plain_ms = _median_ms(plain, args.runs)
        warm_ms = _median_ms(warm, args.runs)
    cold_ms = _median_ms(cold, max(args.runs // 4, 5))
    print(f"isolation: {sandbox.isolation}   runs: {args.runs}")
    print(f"{'method':<44}{'median ms':>10}{'vs plain':>10}")
    print(f"{'plain python -c subprocess (no isolation)':<44}{plain_ms:>10.1f}{1.0:>9.2f}x")
    print(f"{'warm SandboxPool.run_python':<44}{warm_ms:>10.1f}{warm_ms / plain_ms:>9.2f}x")
    print(f"{'cold Sandbox.run_python (fresh bwrap)':<44}{cold_ms:>10.1f}{cold_ms / plain_ms:>9.2f}x")
    verdict = "meets" if warm_ms <= 1.5 * plain_ms else "MISSES"
    print(f"target: warm pool <= 1.5x plain -> {warm_ms / plain_ms:.2f}x ({verdict} the target)")


if __name__ == "__main__":
    main()
