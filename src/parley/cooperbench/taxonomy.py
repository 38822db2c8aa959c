"""The paper's communication-error taxonomy, as a heuristic classifier over coop-comm messages.

arXiv 2601.13295 (Sec. 5.3, communication errors) codes inter-agent messages into error types, of
which parley detects six and groups them as the paper does:

* **C1a unanswered (no reply)**: a question whose recipient never writes again.
* **C1b unanswered (ignored)**: the recipient writes again, but its next message shares no content
  word with the question and is not answer-shaped (yes/no/sure...).
* **C2 non-answer / vague**: the reply addresses the question only vaguely ("not sure", "I'll check")
  and names nothing concrete (no file, identifier, number or code).
* **C3b incorrect claim (corrected)**: the partner's next message corrects the claim ("actually",
  "that is not correct", "does not exist", "I don't see ...").
* **C4a repetition of the same information**: a sender restates an earlier message of its own
  (content-word Jaccard >= 0.6) without copying it.
* **C4b near-duplicate blocks**: a sender sends (almost) the same block again (word 3-gram Jaccard
  >= 0.8).

Groups: Repetition = C4a + C4b, Unresponsiveness = C1a + C1b, Hallucination = C2 + C3b.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from parley.cooperbench.speech_acts import classify_acts, mentions_file, normalise
from parley.cooperbench.types import AgentMessage, Finding, RunRecord

CODES: tuple[str, ...] = ("C1a", "C1b", "C2", "C3b", "C4a", "C4b")
GROUPS: dict[str, tuple[str, ...]] = {
    "Repetition": ("C4a", "C4b"),
    "Unresponsiveness": ("C1a", "C1b"),
    "Hallucination": ("C2", "C3b"),
}
NEAR_DUPLICATE = 0.8
SAME_INFORMATION = 0.6

_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "this",
        "that",
        "these",
        "those",
        "i",
        "you",
        "we",
        "he",
        "she",
        "they",
        "me",
        "my",
        "your",
        "our",
        "its",
        "their",
        "do",
        "does",
        "did",
        "will",
        "would",
        "shall",
        "should",
        "can",
        "could",
        "may",
        "might",
        "must",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "please",
        "also",
        "just",
        "there",
        "here",
        "what",
        "which",
        "who",
        "when",
        "where",
        "how",
        "why",
        "am",
        "let",
        "know",
        "thanks",
        "thank",
        "ok",
        "okay",
        "sure",
        "going",
        "about",
        "into",
        "any",
        "all",
        "some",
        "more",
        "than",
        "too",
        "very",
    ]
)
_ANSWERISH = re.compile(r"^\s*(?:yes|no|yep|nope|sure|ok|okay|correct|right|agreed|confirmed|done)\b", re.I)
_VAGUE = re.compile(
    r"\b(?:not sure|i will check|i will look|let me check|let me look|maybe|probably|i think so|tbd|"
    r"it depends|depends on|will see|hard to say|i will get back|not certain)\b",
    re.I,
)
_CONCRETE = re.compile(r"`[^`]+`|\b\w+\(\)|\b[a-z]+_[a-z_]+\b|\b[A-Z][a-z]+[A-Z]\w*\b|\b\d+\b")
_CORRECTION = re.compile(
    r"\b(?:actually|that is not (?:right|correct|true|what)|that's not (?:right|correct|true)|incorrect|"
    r"you are wrong|does not exist|do not see|cannot find|no such|i never said|not what i said|"
    r"is not there|was not (?:added|implemented)|has not been)\b",
    re.I,
)


def content_words(text: str) -> set[str]:
    """Lower-cased words of 3+ letters, minus stop words."""
    return {w for w in re.findall(r"[a-z_][a-z0-9_]{2,}", normalise(text).lower()) if w not in _STOP}


def ngrams(text: str, n: int = 3) -> set[tuple[str, ...]]:
    """Word n-grams of a message (whole message when shorter than ``n`` words)."""
    words = re.findall(r"\w+", normalise(text).lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(
    a: set[object] | set[str] | set[tuple[str, ...]], b: set[object] | set[str] | set[tuple[str, ...]]
) -> float:
    """|a & b| / |a | b| (0 for two empty sets)."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def _recipient(msg: AgentMessage, agents: Sequence[str]) -> str | None:
    if msg.recipient:
        return msg.recipient
    others = [a for a in agents if a != msg.sender]
    return others[0] if len(others) == 1 else None


def communication_errors(messages: Sequence[AgentMessage], agents: Sequence[str]) -> dict[str, list[str]]:
    """Evidence per taxonomy code (``{code: [quoted message, ...]}``; every code present)."""
    found: dict[str, list[str]] = {c: [] for c in CODES}
    for i, msg in enumerate(messages):
        later = messages[i + 1 :]
        # C4a / C4b: compare with this sender's earlier messages.
        for prev in messages[:i]:
            if prev.sender != msg.sender:
                continue
            if jaccard(ngrams(prev.text), ngrams(msg.text)) >= NEAR_DUPLICATE:
                found["C4b"].append(f"{msg.sender} #{i}: {msg.text[:160]}")
                break
            if jaccard(content_words(prev.text), content_words(msg.text)) >= SAME_INFORMATION:
                found["C4a"].append(f"{msg.sender} #{i}: {msg.text[:160]}")
                break
        # C3b: the partner's next message corrects this one.
        reply = next((m for m in later if m.sender != msg.sender), None)
        if reply is not None and _CORRECTION.search(normalise(reply.text)):
            found["C3b"].append(f"{msg.sender} #{i}: {msg.text[:120]} -> {reply.sender}: {reply.text[:120]}")
        if "question" not in classify_acts(msg.text):
            continue
        target = _recipient(msg, agents)
        answers = [m for m in later if m.sender == target] if target else [m for m in later if m.sender != msg.sender]
        if not answers:
            found["C1a"].append(f"{msg.sender} #{i}: {msg.text[:160]}")
            continue
        answer = answers[0]
        shared = content_words(msg.text) & content_words(answer.text)
        if _VAGUE.search(normalise(answer.text)) and not (mentions_file(answer.text) or _CONCRETE.search(answer.text)):
            found["C2"].append(f"{answer.sender}: {answer.text[:160]} (to: {msg.text[:80]})")
        elif not shared and not _ANSWERISH.search(normalise(answer.text)):
            found["C1b"].append(f"{msg.sender} #{i}: {msg.text[:120]} -> ignored by: {answer.text[:120]}")
    return found


def classify_communication(record: RunRecord) -> Finding:
    """The taxonomy classifier on one record (``not_run`` without messages, with the reason)."""
    if not record.messages:
        why = "no messages (solo or no-comm setting)" if record.setting != "coop-comm" else "empty conversation"
        return Finding(classifier="communication_errors", status="not_run", reason=why)
    agents = [a.agent_id for a in record.agents] or sorted({m.sender for m in record.messages})
    found = communication_errors(record.messages, agents)
    labels = [c for c in CODES if found[c]]
    evidence = [f"{c}: {e}" for c in labels for e in found[c][:3]]
    return Finding(
        classifier="communication_errors",
        status="detected" if labels else "not_detected",
        labels=labels,
        evidence=evidence,
    )


def group_labels(labels: Sequence[str]) -> list[str]:
    """Taxonomy groups a set of codes falls into."""
    return [g for g, codes in GROUPS.items() if any(c in labels for c in codes)]
