"""Speech acts of coop-comm messages: plan, question, update, other (arXiv 2601.13295, Sec. 5.2).

The paper reads agents' messages as a few speech acts: announcing what one will do (*plan*), asking the
partner something (*question*), reporting what one has done (*update*), and the rest (*other*:
greetings, acknowledgements, thanks).

Rules (applied per sentence; a message keeps every act found, and its *primary* act is the first of
plan > question > update > other that it contains):

* Apostrophes are normalised (’ -> ') and contractions expanded first, so "I'm modifying" reads as
  "I am modifying" and "I'll add" as "I will add".
* **plan**: first-person future or ongoing intent: "I will", "I am going to", "I plan/intend to",
  "I would like to", "I am <verb>ing" (announcing work in progress, e.g. "I am modifying utils.py"),
  "let me <verb>", "my plan", "next, I".
* "let me know ..." is a request for information, **not** a plan: it counts as a question.
* **question**: a sentence ending in "?", or opening with an interrogative or an auxiliary aimed at
  the partner ("can you", "could you", "do you", "what", "which", ...).
* **update**: first-person completed work ("I have added", "I added", "I finished", "done", "is now
  implemented", "has been").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Literal

SpeechAct = Literal["plan", "question", "update", "other"]
SPEECH_ACTS: tuple[SpeechAct, ...] = ("plan", "question", "update", "other")

_CONTRACTIONS = [
    (r"\bI'm\b", "I am"),
    (r"\bI'll\b", "I will"),
    (r"\bI've\b", "I have"),
    (r"\bI'd\b", "I would"),
    (r"\bwe're\b", "we are"),
    (r"\bwe'll\b", "we will"),
    (r"\bwe've\b", "we have"),
    (r"\bit's\b", "it is"),
    (r"\blet's\b", "let us"),
    (r"\b(\w+)n't\b", r"\1 not"),
]
_SUBJ = r"(?:I|we)"
_PLAN = [
    rf"\b{_SUBJ} (?:will|shall|am going to|are going to|plan to|intend to|would like to|want to|need to)\b",
    rf"\b{_SUBJ} (?:am|are) (?!not\b|done\b|finished\b|going\b)\w+ing\b",
    r"\blet (?:me|us) (?!know\b)\w+",
    r"\bmy (?:plan|approach) (?:is|will)\b",
    r"^\s*plan\s*:",
    r"\bnext,? (?:I|we)\b",
    r"\bI(?:'ll| will) be \w+ing\b",
]
_QUESTION_START = (
    r"^(?:can|could|would|will|do|does|did|are|is|should|shall|have|has|what|which|where|when|how|why|who)\b"
)
_LET_ME_KNOW = r"\blet (?:me|us) know\b"
_UPDATE = [
    rf"\b{_SUBJ} (?:have|had) (?:now )?(?:already )?\w+(?:ed|en|one|ade|ilt|ritten)\b",
    rf"\b{_SUBJ} (?:just |already )?(?:added|implemented|created|updated|modified|fixed|finished|completed|"
    r"changed|removed|wrote|made|pushed|submitted|refactored|moved|renamed)\b",
    r"\b(?:is|are) now (?:implemented|done|complete|available|in place|added|exposed)\b",
    r"\b(?:has|have) been (?:added|implemented|updated|created|fixed|completed|done)\b",
    r"^\s*(?:done|finished|completed)\b",
]


def normalise(text: str) -> str:
    """Straight apostrophes, expanded contractions, collapsed whitespace."""
    out = text.replace("\u2019", "'").replace("\u2018", "'")
    for pattern, repl in _CONTRACTIONS:
        out = re.sub(pattern, repl, out, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", out).strip()


def _sentences(text: str) -> list[str]:
    # Keep "?" and "." with their sentence; split on line breaks and bullet starts too.
    parts = re.split(r"(?<=[.?!])\s+|\n+|(?:^|\s)[-*]\s+", text)
    return [p.strip() for p in parts if p and p.strip()]


def sentence_acts(sentence: str) -> set[SpeechAct]:
    """Speech acts of one sentence (already normalised)."""
    acts: set[SpeechAct] = set()
    low = sentence.lower()
    asks = bool(re.search(_LET_ME_KNOW, low)) or sentence.rstrip().endswith("?")
    asks = asks or bool(re.match(_QUESTION_START, low))
    if asks:
        acts.add("question")
    if any(re.search(p, sentence, flags=re.IGNORECASE) for p in _PLAN):
        # "Let me know if ..." alone never makes a plan.
        stripped = re.sub(_LET_ME_KNOW + r".*", "", sentence, flags=re.IGNORECASE)
        if any(re.search(p, stripped, flags=re.IGNORECASE) for p in _PLAN):
            acts.add("plan")
    if any(re.search(p, sentence, flags=re.IGNORECASE) for p in _UPDATE):
        acts.add("update")
    return acts


def classify_acts(text: str) -> set[SpeechAct]:
    """All speech acts in a message (``{"other"}`` when none of plan/question/update applies)."""
    acts: set[SpeechAct] = set()
    for sentence in _sentences(normalise(text)):
        acts |= sentence_acts(sentence)
    return acts or {"other"}


def primary_act(text: str) -> SpeechAct:
    """The message's primary act: the first of plan > question > update > other it contains."""
    acts = classify_acts(text)
    return next(a for a in SPEECH_ACTS if a in acts)


def act_counts(texts: Iterable[str]) -> Counter[str]:
    """Primary-act counts over messages (every act key present, possibly 0)."""
    counts: Counter[str] = Counter(dict.fromkeys(SPEECH_ACTS, 0))
    counts.update(primary_act(t) for t in texts)
    return counts


_FILE_RE = re.compile(r"[\w./-]+\.(?:py|go|rs|ts|tsx|js|jsx|java|c|h|cpp|md|toml|json|yaml|yml|cfg|txt)\b")
_LINE_RE = re.compile(r"\blines?\s*(?:#|no\.?\s*)?\d+|\bL\d+\b|:\d+(?:-\d+)?\b", re.IGNORECASE)


def mentions_file(text: str) -> bool:
    """Whether a message names a source file (e.g. ``outlines/types/__init__.py``)."""
    return bool(_FILE_RE.search(text))


def mentions_line(text: str) -> bool:
    """Whether a message names a line or line range ("line 42", "L10", "utils.py:10-20")."""
    return bool(_LINE_RE.search(text))
