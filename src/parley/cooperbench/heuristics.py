"""Heuristic failure-symptom classifiers (arXiv 2601.13295, Sec. 6, Fig. 7 failure symptoms).

* **repetition**: an agent restates its own earlier messages (word n-gram / content-word similarity,
  taxonomy codes C4a + C4b).
* **unresponsiveness**: a question the partner never answers or ignores (C1a + C1b).
* **work overlap**: both agents edit the same file *and* the same function or overlapping base lines.
  Patches are parsed with :mod:`parley.cooperbench.diffs`; Python function spans come from :mod:`ast`
  on the base file when the caller supplies it, so edits inside an existing function count.
* **placeholder misuse**: added code that stubs the feature out (``raise NotImplementedError``,
  ``pass  # TODO``, a bare ``...`` body, "placeholder" in a comment) with false-positive filters:
  test files and ``.pyi`` stubs are skipped; abstract methods, ``@overload`` and ``Protocol`` stubs are
  legitimate; ``placeholder=`` keyword arguments and string literals (form/UI placeholders) are not
  code placeholders; ``...`` inside type hints or slices does not count.

Each returns a :class:`Finding`; a classifier that cannot look (no messages, no patches, one agent) says
``not_run`` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from parley.cooperbench.diffs import FileDiff, parse_patch, ranges_overlap, touched_functions
from parley.cooperbench.taxonomy import classify_communication
from parley.cooperbench.types import Finding, RunRecord

BaseSources = Mapping[str, str]


def repetition(record: RunRecord) -> Finding:
    """Repetition symptom: the taxonomy's C4a/C4b codes on this record's messages."""
    base = classify_communication(record)
    if base.status == "not_run":
        return base.model_copy(update={"classifier": "repetition"})
    labels = [c for c in base.labels if c in ("C4a", "C4b")]
    return Finding(
        classifier="repetition",
        status="detected" if labels else "not_detected",
        labels=labels,
        evidence=[e for e in base.evidence if e.split(":")[0] in labels],
    )


def unresponsiveness(record: RunRecord) -> Finding:
    """Unresponsiveness symptom: unanswered (C1a) or ignored (C1b) questions."""
    base = classify_communication(record)
    if base.status == "not_run":
        return base.model_copy(update={"classifier": "unresponsiveness"})
    labels = [c for c in base.labels if c in ("C1a", "C1b")]
    return Finding(
        classifier="unresponsiveness",
        status="detected" if labels else "not_detected",
        labels=labels,
        evidence=[e for e in base.evidence if e.split(":")[0] in labels],
    )


def _agent_patches(record: RunRecord) -> tuple[list[tuple[str, str]], str | None]:
    if len(record.agents) < 2:
        return [], "one agent (solo run): nothing can overlap"
    patches = [(a.agent_id, a.patch) for a in record.agents if a.patch is not None]
    if len(patches) < 2:
        return [], "no agent patches in the input (records files carry none; use a logs directory)"
    return [(aid, p) for aid, p in patches if p is not None], None


def work_overlap(record: RunRecord, base_sources: BaseSources | None = None) -> Finding:
    """Whether the two agents' patches touch the same function or overlapping lines of a shared file."""
    patches, why = _agent_patches(record)
    if why:
        return Finding(classifier="work_overlap", status="not_run", reason=why)
    (id_a, text_a), (id_b, text_b) = patches[:2]
    pa, pb = parse_patch(text_a), parse_patch(text_b)
    problems = [f"{id_a}: {p}" for p in pa.problems] + [f"{id_b}: {p}" for p in pb.problems]
    if not pa.files or not pb.files:
        return Finding(classifier="work_overlap", status="not_run", reason="; ".join(problems) or "empty patch")
    files_a = {f.path: f for f in pa.files}
    files_b = {f.path: f for f in pb.files}
    shared = sorted(set(files_a) & set(files_b))
    labels: list[str] = ["file"] if shared else []
    evidence: list[str] = []
    for path in shared:
        fa, fb = files_a[path], files_b[path]
        src = (base_sources or {}).get(path)
        funcs = touched_functions(fa, src) & touched_functions(fb, src)
        if funcs:
            evidence.append(f"{path}: both edit {', '.join(sorted(funcs))}")
            if "function" not in labels:
                labels.append("function")
        if any(ranges_overlap(ha.old_range, hb.old_range) for ha in fa.hunks for hb in fb.hunks):
            evidence.append(f"{path}: overlapping base line ranges")
            if "lines" not in labels:
                labels.append("lines")
        if not funcs:
            evidence.append(f"{path}: both edit this file")
    detected = "function" in labels or "lines" in labels
    return Finding(
        classifier="work_overlap",
        status="detected" if detected else "not_detected",
        labels=labels,
        evidence=evidence + problems,
    )


_PLACEHOLDER_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("not_implemented", re.compile(r"^\s*raise\s+NotImplementedError\b")),
    ("todo_pass", re.compile(r"^\s*pass\s*#\s*(?:TODO|FIXME|XXX)\b", re.I)),
    ("todo_implement", re.compile(r"#\s*(?:TODO|FIXME)\b.*\b(?:implement|fill in|add logic|placeholder)", re.I)),
    ("ellipsis_body", re.compile(r"^\s*\.\.\.\s*(?:#.*)?$")),
    ("placeholder_comment", re.compile(r"#.*\bplaceholder\b", re.I)),
    (
        "placeholder_return",
        re.compile(r"^\s*return\s+(?:None|0|\"\"|''|\[\]|\{\})\s*#.*\b(?:placeholder|TODO|stub)\b", re.I),
    ),
]
_LEGIT_STUB_CONTEXT = re.compile(r"@(?:abc\.)?abstractmethod|@(?:typing\.)?overload|\bProtocol\b|\bABC\b")


def _is_test_or_stub(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (
        path.endswith(".pyi")
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name.endswith("_test.go")
        or "/tests/" in f"/{path}"
        or "/test/" in f"/{path}"
    )


def _placeholders_in(diff: FileDiff) -> list[str]:
    hits: list[str] = []
    for hunk in diff.hunks:
        context = hunk.section
        window: list[str] = []
        for line in hunk.added:
            window = [*window[-4:], line]
            for label, pattern in _PLACEHOLDER_PATTERNS:
                if not pattern.search(line):
                    continue
                if label in ("not_implemented", "ellipsis_body") and (
                    _LEGIT_STUB_CONTEXT.search(context) or any(_LEGIT_STUB_CONTEXT.search(w) for w in window)
                ):
                    continue
                hits.append(f"{diff.path}: {label}: {line.strip()[:100]}")
                break
    return hits


def placeholder_misuse(record: RunRecord) -> Finding:
    """Whether any agent's added code leaves the feature as a stub (see module docstring filters)."""
    patches = [(a.agent_id, a.patch) for a in record.agents if a.patch]
    if not patches:
        return Finding(
            classifier="placeholder_misuse",
            status="not_run",
            reason="no agent patches in the input (records files carry none; use a logs directory)",
        )
    evidence: list[str] = []
    for agent_id, text in patches:
        for diff in parse_patch(text or "").files:
            if _is_test_or_stub(diff.path):
                continue
            evidence.extend(f"{agent_id}: {hit}" for hit in _placeholders_in(diff))
    return Finding(
        classifier="placeholder_misuse",
        status="detected" if evidence else "not_detected",
        evidence=evidence[:10],
    )


HEURISTICS: dict[str, Callable[[RunRecord], Finding]] = {
    "work_overlap": work_overlap,
    "repetition": repetition,
    "unresponsiveness": unresponsiveness,
    "placeholder_misuse": placeholder_misuse,
}
