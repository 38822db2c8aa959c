"""Run every failure classifier over coop records (arXiv 2601.13295, Sec. 5.3 and 6).

Heuristic classifiers and the communication taxonomy always run (each says ``not_run`` with a reason
where it cannot look). LLM judges run only when a model is given; otherwise every judge finding is
``not_run`` with the reason, so reports list them as not run rather than as zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from parley.cooperbench.heuristics import placeholder_misuse, repetition, unresponsiveness, work_overlap
from parley.cooperbench.llm_judges import judge_records, judges_not_run
from parley.cooperbench.taxonomy import classify_communication
from parley.cooperbench.types import COOP_SETTINGS, Finding, RunRecord
from parley.llm.base import ChatModel


def coop_records(records: Sequence[RunRecord]) -> list[RunRecord]:
    """Usable records of the coop settings (failure modes are about cooperation)."""
    return [r for r in records if r.setting in COOP_SETTINGS and r.usable]


def run_heuristics(
    records: Sequence[RunRecord], base_sources: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, list[Finding]]:
    """Heuristic findings per record id; ``base_sources`` maps record id -> {path: base file text}."""
    out: dict[str, list[Finding]] = {}
    for r in coop_records(records):
        src = (base_sources or {}).get(r.record_id)
        out[r.record_id] = [
            classify_communication(r),
            repetition(r),
            unresponsiveness(r),
            work_overlap(r, src),
            placeholder_misuse(r),
        ]
    return out


async def run_all(
    records: Sequence[RunRecord],
    model: ChatModel | None,
    not_configured_reason: str = "no model configured",
    concurrency: int = 8,
) -> dict[str, list[Finding]]:
    """Heuristics plus LLM judges (or their ``not_run`` findings) per record id."""
    coop = coop_records(records)
    findings = run_heuristics(coop)
    judged = (
        await judge_records(model, coop, concurrency=concurrency)
        if model is not None
        else judges_not_run(coop, not_configured_reason)
    )
    for rid, items in judged.items():
        findings.setdefault(rid, []).extend(items)
    return findings
