"""A rule-based arithmetic agent that plays any debate role with controlled error rates.

It is a real :class:`ChatModel` (it reads the rendered prompt and answers in the protocol's format), used
to write synthetic debate transcripts for the tiny model's supervised warm start and as a
deterministic opponent when testing protocols. It only handles arithmetic questions of the
reasoning-gym ``basic_arithmetic`` form; the expression comes from our own dataset, never from model
output, and it is evaluated with a whitelist AST walker over exact fractions (no ``eval``).

Behaviour per role (``error_rate`` = probability of a mistake, drawn from ``SamplingParams.seed``):
- ``solver`` / ``agent``: states the expression and the result; wrong results are the truth plus a small
  offset. After a FAIL critique it retries (and is right with probability ``1 - error_rate``).
- ``verifier``: PASS when the proposed answer equals the truth, FAIL otherwise; flipped with
  probability ``error_rate``.
- ``judge``: the last answer the verifier passed, else the last answer; with probability ``error_rate`` an
  earlier answer instead.
"""

from __future__ import annotations

import ast
import operator
import random
import re
from collections.abc import Sequence
from fractions import Fraction

from parley.llm.base import ChatModel
from parley.llm.types import Completion, Message, SamplingParams, Usage

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_EXPR = re.compile(r"(?:Calculate|Compute|Evaluate|What is)\s+(.+?)\s*[.?]?\s*$", re.I | re.M)
_PROPOSED = re.compile(r"Is the answer (.+?) correct\?")
_ROUND = re.compile(r"^Round \d+: (\S+(?: \d+)?) answered (.+?)(?:; verifier said (PASS|FAIL).*)?$", re.M)


def evaluate_arithmetic(expression: str) -> Fraction:
    """Exact value of an integer arithmetic expression (+ - * / and parentheses only).

    Raises:
        ValueError: anything other than numbers and those operators, or division by zero.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from exc

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(
                node.value, bool):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ValueError("division by zero")
            return Fraction(_OPS[type(node.op)](left, right))
        raise ValueError(f"unsupported element {type(node).__name__} in {expression!r}")

    return walk(tree)


def format_number(value: Fraction) -> str:
    """Integers as integers; other values as a decimal rounded to 4 places."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.4f}".rstrip("0").rstrip(".")


class ScriptedArithmeticAgent(ChatModel):
    """Plays ``role`` (solver | verifier | judge | agent) on arithmetic problems; see module docstring."""

    def __init__(self, role: str, error_rate: float = 0.3, name: str | None = None) -> None:
        if role not in ("solver", "verifier", "judge", "agent"):
            raise ValueError(f"role must be solver, verifier, judge or agent, not {role!r}")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be in [0, 1], got {error_rate}")
        self.role = role
        self.error_rate = error_rate
        self.name = name or f"scripted-{role}"

    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        prompt = messages[-1]["content"]
        rng = random.Random(params.seed)
        if self.role in ("solver", "agent"):
            text = self._solve(prompt, rng)
        elif self.role == "verifier":
            text = self._verify(prompt, rng)
        else:
            text = self._judge(prompt, rng)
        usage = Usage(prompt_tokens=sum(len(m["content"].split()) for m in messages),
                      completion_tokens=len(text.split()), cost_usd=0.0)
        return Completion(text=text, model=self.name, usage=usage)

    @staticmethod
    def _truth(prompt: str) -> tuple[str, Fraction]:
        first = prompt.split("\n", 1)[0].removeprefix("Problem:").strip()
        match = _EXPR.search(first)
        expression = match.group(1) if match else first
        return expression, evaluate_arithmetic(expression)

    def _wrong(self, truth: Fraction, rng: random.Random) -> Fraction:
        return truth + rng.choice([-1, 1]) * rng.randint(1, 10)

    def _solve(self, prompt: str, rng: random.Random) -> str:
        expression, truth = self._truth(prompt)
        value = self._wrong(truth, rng) if rng.random() < self.error_rate else truth
        return f"{expression} = {format_number(value)}\nAnswer: {format_number(value)}"

    def _verify(self, prompt: str, rng: random.Random) -> str:
        _, truth = self._truth(prompt)
        match = _PROPOSED.search(prompt)
        proposed = match.group(1).strip() if match else None
        try:
            correct = proposed is not None and Fraction(proposed) == truth
        except (ValueError, ZeroDivisionError):
            correct = False
        if rng.random() < self.error_rate:
            correct = not correct
        if correct:
            return "Verdict: PASS\nCritique: The arithmetic is right."
        return "Verdict: FAIL\nCritique: The arithmetic is wrong; recompute step by step."

    def _judge(self, prompt: str, rng: random.Random) -> str:
        rounds = _ROUND.findall(prompt)
        answers = [(a, v) for _, a, v in rounds if a != "(no answer)"]
        if not answers:
            _, truth = self._truth(prompt)
            return f"Final answer: {format_number(truth)}\nConfidence: 0.3"
        passed = [a for a, v in answers if v == "PASS"]
        choice = passed[-1] if passed else answers[-1][0]
        if rng.random() < self.error_rate and len(answers) > 1:
            choice = rng.choice(answers[:-1])[0]
        confidence = 0.9 if passed else 0.5
        return f"Final answer: {choice}\nConfidence: {confidence}"
