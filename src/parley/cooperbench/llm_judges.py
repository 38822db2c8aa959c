"""LLM-judge failure-symptom classifiers through any :class:`parley.llm.ChatModel` backend.

arXiv 2601.13295 (Sec. 6, Fig. 7) names failure symptoms that need reading comprehension rather than
string matching; parley asks a judge model about six of them at once, for one coop record:

* **divergent_architecture**: the agents build incompatible designs for shared code.
* **parameter_flow**: a value/argument one feature needs is not passed through the other's code.
* **unverifiable_claims**: an agent states something about its work the partner cannot check (and
  the patches do not bear out).
* **broken_commitment**: an agent promises an action ("I will add X") and its patch does not do it.
* **dependency_access**: an agent needs code the partner owns (an import, a helper) and cannot reach it.
* **timing_dependency**: an agent waits on, or assumes, the partner's work finishing first.

The judge sees the transcript and both patches. When that context exceeds ``max_context_chars``, the
transcript is summarised chunk by chunk by the same model (keeping claims, commitments, files,
functions and parameters) and each patch is reduced to its parsed outline (files, hunks, touched
functions, added definitions) instead of being cut at an arbitrary message count. The answer must be
a JSON object validated by :class:`JudgeAnswer`; an invalid answer is re-asked once, then the record
is reported ``not_run`` with the validation error (never counted as "not detected").
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence

from pydantic import BaseModel, Field, ValidationError

from parley.cooperbench.diffs import parse_patch, touched_functions
from parley.cooperbench.types import Finding, RunRecord
from parley.llm.base import ChatModel
from parley.llm.types import Message, SamplingParams

JUDGE_MODES: dict[str, str] = {
    "divergent_architecture": "the two agents implement incompatible designs or abstractions for shared code",
    "parameter_flow": "a parameter or value one feature needs is not passed through the other agent's code",
    "unverifiable_claims": "an agent claims something about its work that the partner cannot verify and the "
    "patches do not support",
    "broken_commitment": "an agent promised a concrete action in a message and its patch does not do it",
    "dependency_access": "an agent needs code owned by the partner (import, helper, module) and cannot access it",
    "timing_dependency": "an agent's work depends on the partner finishing first, or assumes an order of work",
}
DEFAULT_MAX_CONTEXT_CHARS = 12_000
SUMMARY_CHUNK_CHARS = 6_000


class ModeVerdict(BaseModel):
    """The judge's verdict on one failure mode."""

    detected: bool
    evidence: str = Field(default="", max_length=2000)


class JudgeAnswer(BaseModel):
    """The whole answer: one verdict per mode in :data:`JUDGE_MODES` (extra keys rejected)."""

    model_config = {"extra": "forbid"}

    divergent_architecture: ModeVerdict
    parameter_flow: ModeVerdict
    unverifiable_claims: ModeVerdict
    broken_commitment: ModeVerdict
    dependency_access: ModeVerdict
    timing_dependency: ModeVerdict


def extract_json(text: str) -> object:
    """The first JSON object in ``text`` (markdown fences allowed); raises ``ValueError`` if none."""
    cleaned = re.sub(r"```(?:json)?", "", text)
    start = cleaned.find("{")
    if start < 0:
        raise ValueError("no JSON object in the answer")
    obj, _ = json.JSONDecoder().raw_decode(cleaned[start:])
    return obj


def transcript_text(record: RunRecord) -> str:
    """The messages as ``[i] sender -> recipient: text`` lines."""
    return "\n".join(f"[{i}] {m.sender} -> {m.recipient or '?'}: {m.text}" for i, m in enumerate(record.messages))


def patch_outline(patch: str) -> str:
    """A compact outline of a patch: files, hunk ranges, touched functions, added definitions."""
    parsed = parse_patch(patch)
    lines = [f"problems: {'; '.join(parsed.problems)}"] if parsed.problems else []
    for f in parsed.files:
        funcs = ", ".join(sorted(touched_functions(f))) or "-"
        ranges = ", ".join(f"{h.old_range[0]}-{h.old_range[1]}" for h in f.hunks)
        lines.append(f"{f.path}: +{len(f.added_lines)} lines, hunks at {ranges}, functions: {funcs}")
        lines += [f"  + {t.strip()}" for t in f.added_lines if re.match(r"\s*(def|class|async def)\s", t)][:20]
    return "\n".join(lines)


async def summarise_transcript(model: ChatModel, text: str, params: SamplingParams) -> str:
    """Summarise a long transcript chunk by chunk (chunks split on message boundaries)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        if current and len(current) + len(line) > SUMMARY_CHUNK_CHARS:
            chunks.append(current)
            current = ""
        current += line + "\n"
    if current:
        chunks.append(current)
    prompt = (
        "Summarise this part of a conversation between two coding agents working on one repository. Keep every "
        "commitment, claim about their own work, question, file, function, parameter and dependency they "
        "mention, with the message numbers.\n\n"
    )
    outs = await model.complete_many([([Message(role="user", content=prompt + c)], params) for c in chunks])
    return "\n".join(f"(part {i + 1}) {o.text.strip()}" for i, o in enumerate(outs))


async def build_context(
    model: ChatModel, record: RunRecord, params: SamplingParams, max_context_chars: int
) -> tuple[str, bool]:
    """Transcript and patches for the judge; returns the text and whether anything was summarised."""
    transcript = transcript_text(record) or "(no messages)"
    patches = [(a.agent_id, a.features, a.patch) for a in record.agents]
    patch_text = "\n\n".join(f"### patch of {aid} (features {f})\n{p}" for aid, f, p in patches if p)
    summarised = False
    if len(transcript) + len(patch_text) > max_context_chars:
        summarised = True
        if len(transcript) > max_context_chars // 2:
            transcript = await summarise_transcript(model, transcript, params)
        patch_text = "\n\n".join(
            f"### outline of the patch of {aid} (features {f})\n{patch_outline(p)}" for aid, f, p in patches if p
        )
    return f"## Transcript\n{transcript}\n\n## Patches\n{patch_text or '(no patches in the input)'}", summarised


def judge_prompt(context: str) -> str:
    """The judge instruction: definitions, the context, and the exact JSON shape."""
    modes = "\n".join(f"- {k}: {v}" for k, v in JUDGE_MODES.items())
    shape = json.dumps({k: {"detected": False, "evidence": "..."} for k in JUDGE_MODES})
    return (
        "Two coding agents each implemented one feature of the same repository; their patches are merged. "
        f"Decide for each failure mode whether it occurred.\n\nFailure modes:\n{modes}\n\n{context}\n\n"
        f"Answer with only a JSON object of exactly this shape:\n{shape}"
    )


async def judge_record(
    model: ChatModel,
    record: RunRecord,
    params: SamplingParams | None = None,
    max_context_chars: int = DEFAULT_MAX_CONTEXT_CHARS,
) -> list[Finding]:
    """One finding per mode in :data:`JUDGE_MODES` for ``record``."""
    params = params or SamplingParams(temperature=0.0, max_new_tokens=800)
    if not record.messages and not any(a.patch for a in record.agents):
        return [Finding(classifier=m, status="not_run", reason="no transcript and no patches") for m in JUDGE_MODES]
    context, summarised = await build_context(model, record, params, max_context_chars)
    messages: list[Message] = [Message(role="user", content=judge_prompt(context))]
    error = ""
    for _attempt in range(2):
        completion = await model.complete(messages, params)
        try:
            answer = JudgeAnswer.model_validate(extract_json(completion.text))
        except (ValueError, ValidationError) as exc:
            error = str(exc).splitlines()[0]
            messages = [
                *messages,
                Message(role="assistant", content=completion.text),
                Message(role="user", content=f"That was not valid ({error}). Answer with only the JSON object."),
            ]
            continue
        note = ["context summarised"] if summarised else []
        if not any(a.patch for a in record.agents):
            note.append("transcript only: no patches in the input")
        return [
            Finding(
                classifier=mode,
                status="detected" if getattr(answer, mode).detected else "not_detected",
                evidence=[e for e in [getattr(answer, mode).evidence, *note] if e],
            )
            for mode in JUDGE_MODES
        ]
    return [
        Finding(classifier=m, status="not_run", reason=f"judge output invalid after a re-ask: {error}")
        for m in JUDGE_MODES
    ]


async def judge_records(
    model: ChatModel,
    records: Sequence[RunRecord],
    concurrency: int = 8,
    max_context_chars: int = DEFAULT_MAX_CONTEXT_CHARS,
) -> dict[str, list[Finding]]:
    """Judge many records with at most ``concurrency`` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(r: RunRecord) -> tuple[str, list[Finding]]:
        async with gate:
            return r.record_id, await judge_record(model, r, max_context_chars=max_context_chars)

    return dict(await asyncio.gather(*(one(r) for r in records)))


def judges_not_run(records: Sequence[RunRecord], reason: str) -> dict[str, list[Finding]]:
    """``not_run`` findings for every judge mode (what is reported when no model is configured)."""
    return {r.record_id: [Finding(classifier=m, status="not_run", reason=reason) for m in JUDGE_MODES] for r in records}
