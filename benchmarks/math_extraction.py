"""Math answer extraction: verdicts of extraction + math-verify against cases with known verdicts.

Reads ``data/math_extraction/cases.yaml`` (model outputs, gold answers and the verdict a careful
grader gives; see the README there), scores every case with :class:`parley.rewards.math.MathVerifier`
(the real extraction, math-verify in the real worker pool) and prints, per case class and overall:

- the false-positive rate: outputs whose known verdict is *wrong* that parley scores correct, over
  all known-wrong outputs (target 0%: a reward that pays for wrong answers is the worst failure);
- the false-negative rate: known-right outputs scored wrong (target <= 5%);
- agreement with the known verdicts.

    .venv/bin/python benchmarks/math_extraction.py            # summary table
    .venv/bin/python benchmarks/math_extraction.py --show     # also every disagreement
"""

from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from parley.rewards.math import MathVerifier, MathVerifierConfig
from parley.rewards.pool import VerifierPool

CASES = Path(__file__).resolve().parent.parent / "data" / "math_extraction" / "cases.yaml"
TARGET_FP = 0.0
TARGET_FN = 0.05


@dataclass(frozen=True)
class Case:
    id: str
    cls: str
    gold: str
    output: str
    correct: bool


@dataclass(frozen=True)
class Scored:
    case: Case
    judged: bool
    extracted: str | None
    method: str | None


def load_cases(path: Path = CASES) -> list[Case]:
    """The cases in ``path``; raises ``ValueError`` naming the record when one is malformed."""
    records: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a list of cases")
    cases = []
    for n, rec in enumerate(records):
        if not isinstance(rec, dict) or set(rec) != {"id", "class", "gold", "output", "correct"}:
            raise ValueError(f"{path}: record {n} must have exactly id, class, gold, output, correct")
        if not isinstance(rec["correct"], bool):
            raise ValueError(f"{path}: {rec['id']}: correct must be true or false")
        cases.append(Case(str(rec["id"]), str(rec["class"]), str(rec["gold"]), str(rec["output"]), rec["correct"]))
    if len({c.id for c in cases}) != len(cases):
        raise ValueError(f"{path}: case ids are not unique")
    return cases


def score(verifier: MathVerifier, cases: list[Case]) -> list[Scored]:
    """Score every case with the real verifier (in input order)."""
    results = verifier.verify_many([(c.gold, c.output) for c in cases])
    return [
        Scored(c, bool(r.correct), r.extracted, (r.details or {}).get("method"))
        for c, r in zip(cases, results, strict=True)
    ]


def rates(rows: list[Scored]) -> dict[str, Any]:
    """Counts and rates of one group of scored cases."""
    negatives = [r for r in rows if not r.case.correct]
    positives = [r for r in rows if r.case.correct]
    fp = sum(r.judged for r in negatives)
    fn = sum(not r.judged for r in positives)
    return {
        "n": len(rows), "negatives": len(negatives), "fp": fp, "fn": fn,
        "fp_rate": fp / len(negatives) if negatives else 0.0,
        "fn_rate": fn / len(positives) if positives else 0.0,
        "agreement": (len(rows) - fp - fn) / len(rows) if rows else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--show", action="store_true", help="print every disagreement")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cases = load_cases(args.cases)
    with VerifierPool(2) as pool:
        scored = score(MathVerifier(pool, MathVerifierConfig(timeout_s=60.0, memo_size=0)), cases)
    by_class: dict[str, list[Scored]] = defaultdict(list)
    for row in scored:
        by_class[row.case.cls].append(row)
    print(f"{'class':18s} {'n':>4s} {'wrong':>6s} {'FP':>4s} {'FN':>4s} {'FP rate':>8s} {'FN rate':>8s} {'agree':>7s}")
    for cls, rows in [*sorted(by_class.items()), ("ALL", scored)]:
        s = rates(rows)
        print(f"{cls:18s} {s['n']:4d} {s['negatives']:6d} {s['fp']:4d} {s['fn']:4d} {s['fp_rate']:8.1%} "
              f"{s['fn_rate']:8.1%} {s['agreement']:7.1%}")
    total = rates(scored)
    fp_ok = total["fp_rate"] <= TARGET_FP
    fn_ok = total["fn_rate"] <= TARGET_FN
    print()
    print(f"false-positive rate {total['fp_rate']:.1%} ({total['fp']}/{total['negatives']} known-wrong outputs "
          f"scored correct); target {TARGET_FP:.0%}: {'PASS' if fp_ok else 'FAIL'}")
    print(f"false-negative rate {total['fn_rate']:.1%} ({total['fn']}/{total['n'] - total['negatives']} known-right "
          f"outputs scored wrong); target <= {TARGET_FN:.0%}: {'PASS' if fn_ok else 'FAIL'}")
    print(f"agreement with the known verdicts {total['agreement']:.1%} over {total['n']} cases ({args.cases.name})")
    if args.show:
        print()
        for row in scored:
            if row.judged != row.case.correct:
                kind = "FP" if row.judged else "FN"
                print(f"{kind} {row.case.id}: gold {row.case.gold!r} extracted {row.extracted!r} "
                      f"({row.method}) from {row.case.output[:90]!r}")
    return 0 if fp_ok and fn_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
