"""Reasoning-gym scoring, made safe to run on model output.

``reasoning_gym.get_score_answer_fn(name)(answer, entry)`` returns a float in [0, 1]; parley calls
an answer correct iff the score is exactly 1.0 and keeps the float as partial credit.

Why this needs care: several reasoning-gym scorers (0.1.19) pass the *model's answer* to Python's
``eval`` (``string_insertion``, ``spiral_matrix``, ``binary_matrix``, ``n_queens``) or to sympy's
``parse_expr``, which is ``eval`` underneath (``puzzle24``, ``countdown``, ``simple_integration``,
``intermediate_integration``, ``polynomial_multiplication``). :func:`make_scorers_safe` rebinds those
names *inside those modules only* (module globals shadow builtins):

- ``eval`` -> :func:`ast.literal_eval`: the scorers only ``eval`` to read a Python list literal for
  partial credit, which ``literal_eval`` does without running code;
- ``parse_expr`` -> :func:`safe_parse_expr`, which tokenises the string first and admits only
  numbers, arithmetic operators, parentheses, commas and whitelisted names (single letters and
  common math functions). No strings, dots, underscores, brackets or keywords get through, so
  nothing but arithmetic reaches sympy. Exponent bombs (``9**9**9``) are caught by the pool's
  hard timeout.

The scorers run in the verifier pool's worker processes (never in the caller's process), where an
audit hook additionally refuses process creation, network and file writes (see
:mod:`parley.rewards._worker`). Timeout and isolation are therefore the pool's; this module is pure.
"""

from __future__ import annotations

import ast
import importlib
import io
import logging
import tokenize
from collections.abc import Callable
from typing import Any, Final

logger = logging.getLogger(__name__)

EVAL_ANSWER_MODULES: Final = (
    "reasoning_gym.algorithmic.string_insertion",
    "reasoning_gym.algorithmic.spiral_matrix",
    "reasoning_gym.algorithmic.binary_matrix",
    "reasoning_gym.games.n_queens",
)
PARSE_EXPR_NAME_MODULES: Final = ("reasoning_gym.games.puzzle24", "reasoning_gym.games.countdown")
SYMPY_ATTR_MODULES: Final = {
    "reasoning_gym.algebra.simple_integration": "sympy",
    "reasoning_gym.algebra.intermediate_integration": "sympy",
    "reasoning_gym.algebra.polynomial_multiplication": "sp",
}

_ALLOWED_FUNCTIONS: Final = frozenset(
    {
        "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan", "sinh", "cosh", "tanh",
        "exp", "log", "ln", "sqrt", "pi", "oo", "Abs", "abs",
    }
)  # fmt: skip
_ALLOWED_OPS: Final = frozenset({"+", "-", "*", "/", "**", "^", "(", ")", ","})
_ALLOWED_TOKEN_TYPES: Final = frozenset(
    {tokenize.NUMBER, tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT}
)


class UnsafeExpressionError(ValueError):
    """An answer was refused before reaching ``parse_expr`` (it is not plain arithmetic)."""


def check_arithmetic(text: str, max_chars: int = 2_000) -> None:
    """Raise :class:`UnsafeExpressionError` unless ``text`` is plain arithmetic over whitelisted names."""
    if not isinstance(text, str):
        raise UnsafeExpressionError(f"expected a string, got {type(text).__name__}")
    if len(text) > max_chars:
        raise UnsafeExpressionError(f"expression is {len(text)} characters (limit {max_chars})")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise UnsafeExpressionError(f"not an expression: {exc}") from None
    for tok in tokens:
        if tok.type in _ALLOWED_TOKEN_TYPES:
            continue
        if tok.type == tokenize.OP and tok.string in _ALLOWED_OPS:
            continue
        if tok.type == tokenize.NAME and (
            (len(tok.string) == 1 and tok.string.isascii() and tok.string.isalpha())
            or tok.string in _ALLOWED_FUNCTIONS
        ):
            continue
        raise UnsafeExpressionError(f"token {tok.string!r} is not allowed in an arithmetic answer")


def safe_parse_expr(s: str, *args: Any, **kwargs: Any) -> Any:
    """sympy's ``parse_expr``, after :func:`check_arithmetic` has admitted ``s``."""
    from sympy.parsing.sympy_parser import parse_expr

    check_arithmetic(s)
    return parse_expr(s, *args, **kwargs)


class _SafeSympy:
    """Stands in for the ``sympy`` module inside a scorer module: ``parse_expr`` is gated."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @staticmethod
    def parse_expr(s: str, *args: Any, **kwargs: Any) -> Any:
        return safe_parse_expr(s, *args, **kwargs)


_patched = False


def make_scorers_safe() -> None:
    """Rebind ``eval`` / ``parse_expr`` in the reasoning-gym scorer modules listed above. Idempotent."""
    global _patched
    if _patched:
        return
    for name in EVAL_ANSWER_MODULES:
        module = importlib.import_module(name)
        module.eval = ast.literal_eval  # type: ignore[attr-defined]
    for name in PARSE_EXPR_NAME_MODULES:
        module = importlib.import_module(name)
        if not hasattr(module, "parse_expr"):
            raise RuntimeError(f"{name} no longer imports parse_expr; review parley.rewards.reasoning")
        module.parse_expr = safe_parse_expr  # type: ignore[attr-defined]
    for name, alias in SYMPY_ATTR_MODULES.items():
        module = importlib.import_module(name)
        real = getattr(module, alias, None)
        if real is None:
            raise RuntimeError(f"{name} has no {alias!r}; review parley.rewards.reasoning")
        setattr(module, alias, _SafeSympy(real))
    _patched = True


_scorers: dict[str, Callable[[str, dict[str, Any]], float]] = {}


def _scorer(source_dataset: str) -> Callable[[str, dict[str, Any]], float]:
    if source_dataset not in _scorers:
        import reasoning_gym

        make_scorers_safe()
        try:
            _scorers[source_dataset] = reasoning_gym.get_score_answer_fn(source_dataset)
        except ValueError:
            raise ValueError(f"unknown reasoning-gym dataset {source_dataset!r}") from None
    return _scorers[source_dataset]


def score_reasoning_answer(source_dataset: str, answer: str, entry: dict[str, Any]) -> float:
    """The reasoning-gym score of ``answer`` for ``entry`` (call inside a pool worker)."""
    score = float(_scorer(source_dataset)(answer, entry))
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"reasoning-gym scorer {source_dataset!r} returned {score}, outside [0, 1]")
    return score
