"""The scripted debate team that writes the tiny model's warm-start data (column arithmetic).

Each role is a rule-based :class:`~parley.llm.base.ChatModel` over the rendered prompts of the real
protocol templates, for problems of :mod:`parley.data.arithmetic` (``What is 47 + 38?``). The numbers
come from our own dataset (parsed with a strict pattern, never evaluated) and every choice is drawn
from ``SamplingParams.seed``, so the scripted debates are reproducible.

Behaviour (the point of the design: two ways to solve, one of which drops carries):

- **solver, first attempt**: with probability ``p_columns`` it works column by column
  (``7 + 8 = 15, carry 1. 4 + 3 + 1 = 8.`` then ``Answer: 85``), slipping a column digit with
  probability ``slip``; otherwise it answers at once (``Answer: 85``) and, on a problem with a carry,
  drops the carry with probability ``drop_carry`` (``Answer: 75``), the classic hasty mistake.
- **solver, after a critique**: always works the columns (with ``slip``).
- **verifier**: always recomputes column by column (with ``slip``), then compares its sum with the
  proposed answer: ``Verdict: PASS`` / ``Verdict: FAIL`` and a critique naming its sum.
- **judge**: the last answer the verifier passed, else the last answer; with probability
  ``judge_error`` an earlier answer instead.

A model fine-tuned on these debates inherits the mixture: it sometimes answers hastily (RL can learn
to work the columns, which is what the outcome rewards) and its verifier checks by recomputing (so its
verdicts carry information about the attempt). See docs/training.md for the measured effect.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from parley.llm.base import ChatModel
from parley.llm.types import Completion, Message, SamplingParams, Usage

_PROBLEM = re.compile(r"What is (\d{1,9}) ([+-]) (\d{1,9})\?")
_PROPOSED = re.compile(r"Is the answer (.+?) correct\?")
_ROUND = re.compile(r"^Round \d+: (\S+) answered (.+?)(?:; verifier said (PASS|FAIL))?$", re.M)


@dataclass(frozen=True)
class TeamBehaviour:
    """Probabilities of the scripted team (see the module docstring)."""

    p_columns: float = 0.4
    drop_carry: float = 0.8
    slip: float = 0.05
    judge_error: float = 0.05


def parse_problem(text: str) -> tuple[int, str, int]:
    """``(a, op, b)`` of the first ``What is a op b?`` in ``text``.

    Raises:
        ValueError: no problem of that form in ``text``.
    """
    match = _PROBLEM.search(text)
    if match is None:
        raise ValueError(f"no 'What is a + b?' problem in {text[:80]!r}")
    return int(match.group(1)), match.group(2), int(match.group(3))


def column_lines(a: int, op: str, b: int, rng: random.Random | None = None, slip: float = 0.0) -> tuple[str, int]:
    """Column-by-column working of ``a op b`` and the result it arrives at (with a digit slip at rate ``slip``).

    Addition: ``7 + 8 = 15, carry 1. 4 + 3 + 1 = 8.``; subtraction: ``7 - 8 + 10 = 9, borrow 1.
    4 - 3 - 1 = 0.``. The last column writes its full value. A slip changes one column's written digit
    by one (the carries stay those of the true sum), so the result is wrong in that digit.
    """
    da = [int(c) for c in str(a)[::-1]]
    db = [int(c) for c in str(b)[::-1]]
    width = max(len(da), len(db))
    da += [0] * (width - len(da))
    db += [0] * (width - len(db))
    slipped = rng.randrange(width) if rng is not None and rng.random() < slip else -1
    parts: list[str] = []
    digits: list[int] = []
    carry = 0
    for i in range(width):
        last = i == width - 1
        if op == "+":
            value = da[i] + db[i] + carry
            terms = f"{da[i]} + {db[i]}" + (f" + {carry}" if i else "")
            new_carry = value // 10
            written = value if last else value % 10
        else:
            value = da[i] - db[i] - carry
            new_carry = 1 if value < 0 and not last else 0
            terms = f"{da[i]} - {db[i]}" + (f" - {carry}" if i else "") + (" + 10" if new_carry else "")
            value += 10 * new_carry
            written = value
        if i == slipped and rng is not None:
            step = rng.choice([-1, 1])
            if written + step < 0 or (not last and written + step > 9):
                step = -step
            written += step
        shown = written + 10 * new_carry if op == "+" and not last else written
        if last:
            parts.append(f"{terms} = {shown}.")
        else:
            parts.append(f"{terms} = {shown}, {'carry' if op == '+' else 'borrow'} {new_carry}.")
        digits.append(written % 10 if not last else written)
        carry = new_carry
    result = digits[-1]
    for d in reversed(digits[:-1]):
        result = result * 10 + d
    return " ".join(parts), result


def dropped_carry(a: int, op: str, b: int) -> int:
    """The hasty answer that ignores every carry / borrow (``47 + 38`` -> ``75``)."""
    da, db = str(a)[::-1], str(b)[::-1]
    width = max(len(da), len(db))
    total = 0
    for i in range(width):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        value = x + y if op == "+" else abs(x - y)
        total += (value if i == width - 1 else value % 10) * 10 ** i
    return total


class ScriptedTeamAgent(ChatModel):
    """Plays ``role`` (solver | verifier | judge) on column-arithmetic problems; see the module docstring."""

    def __init__(self, role: str, behaviour: TeamBehaviour | None = None) -> None:
        if role not in ("solver", "verifier", "judge"):
            raise ValueError(f"role must be solver, verifier or judge, not {role!r}")
        self.role = role
        self.behaviour = behaviour or TeamBehaviour()
        self.name = f"scripted-team-{role}"

    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        prompt = messages[-1]["content"]
        rng = random.Random(params.seed)
        if self.role == "solver":
            text = self.solve(prompt, rng)
        elif self.role == "verifier":
            text = self.verify(prompt, rng)
        else:
            text = self.judge(prompt, rng)
        usage = Usage(prompt_tokens=sum(len(m["content"].split()) for m in messages),
                      completion_tokens=len(text.split()), cost_usd=0.0)
        return Completion(text=text, model=self.name, usage=usage)

    def solve(self, prompt: str, rng: random.Random) -> str:
        a, op, b = parse_problem(prompt)
        retry = "Previous attempts:" in prompt
        if retry or rng.random() < self.behaviour.p_columns:
            lines, value = column_lines(a, op, b, rng, self.behaviour.slip)
            return f"{lines}\nAnswer: {value}"
        true = a + b if op == "+" else a - b
        hasty = dropped_carry(a, op, b)
        value = hasty if hasty != true and rng.random() < self.behaviour.drop_carry else true
        return f"Answer: {value}"

    def verify(self, prompt: str, rng: random.Random) -> str:
        a, op, b = parse_problem(prompt)
        lines, value = column_lines(a, op, b, rng, self.behaviour.slip)
        match = _PROPOSED.search(prompt)
        proposed = match.group(1).strip() if match else None
        if proposed == str(value):
            return f"Check: {lines}\nVerdict: PASS\nCritique: {value} is right."
        shown = proposed if proposed is not None and len(proposed) < 12 else "no answer"
        return f"Check: {lines}\nVerdict: FAIL\nCritique: the result is {value}, not {shown}."

    def judge(self, prompt: str, rng: random.Random) -> str:
        answers = [(answer, verdict) for _, answer, verdict in _ROUND.findall(prompt) if answer != "(no answer)"]
        if not answers:
            a, op, b = parse_problem(prompt)
            _, value = column_lines(a, op, b, rng, self.behaviour.slip)
            return f"Final answer: {value}\nConfidence: 0.3"
        passed = [a for a, v in answers if v == "PASS"]
        choice = passed[-1] if passed else answers[-1][0]
        if len(answers) > 1 and rng.random() < self.behaviour.judge_error:
            choice = rng.choice(answers[:-1])[0]
        return f"Final answer: {choice}\nConfidence: {0.9 if passed else 0.5}"
