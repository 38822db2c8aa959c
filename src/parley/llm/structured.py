"""Structured output: ask for JSON matching a pydantic model, validate it, re-ask a bounded number of times.

Works with any :class:`~parley.llm.base.ChatModel`. The schema is stated in the prompt (every
provider understands that; provider-specific JSON modes are not relied upon). The reply may wrap the
object in prose or a Markdown fence: the first JSON object that validates is taken. When none does,
the model sees its reply and the validation error and is asked again, at most ``max_reasks`` times;
then :class:`~parley.llm.errors.StructuredOutputError` is raised with the last error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from parley.llm.errors import StructuredOutputError
from parley.llm.types import Completion, Message, SamplingParams

if TYPE_CHECKING:
    from parley.llm.base import ChatModel

T = TypeVar("T", bound=BaseModel)
_MAX_ERROR_CHARS = 2000


@dataclass
class StructuredCompletion(Generic[T]):
    """A validated object and every completion it took (for token and cost accounting)."""

    value: T
    completions: list[Completion] = field(default_factory=list)

    @property
    def reasks(self) -> int:
        """How many times the model had to be asked again."""
        return len(self.completions) - 1


def schema_instruction(schema: type[BaseModel]) -> str:
    """The instruction appended to the prompt: reply with one JSON object matching ``schema``."""
    return "Reply with a single JSON object (no other text) that conforms to this JSON schema:\n" + json.dumps(
        schema.model_json_schema(), separators=(",", ":")
    )


def parse_structured(text: str, schema: type[T]) -> T:
    """The first JSON object in ``text`` that validates against ``schema``.

    Raises ``ValueError`` describing why nothing validated (no JSON found, or the validation error
    of the last candidate).
    """
    decoder = json.JSONDecoder()
    last_error: str = "no JSON object found in the reply"
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            last_error = f"invalid JSON: {exc}"
        else:
            try:
                return schema.model_validate(obj)
            except ValidationError as exc:
                last_error = f"JSON did not match the schema: {exc}"
        start = text.find("{", start + 1)
    raise ValueError(last_error)


async def complete_structured(
    model: ChatModel,
    messages: Sequence[Message],
    schema: type[T],
    params: SamplingParams,
    *,
    max_reasks: int = 2,
) -> StructuredCompletion[T]:
    """Ask ``model`` for an object of type ``schema``; re-ask up to ``max_reasks`` times on bad output."""
    if max_reasks < 0:
        raise ValueError(f"max_reasks: must be >= 0, got {max_reasks}")
    if not messages:
        raise ValueError("messages: at least one message is required")
    conversation: list[Message] = list(messages)
    last = conversation[-1]
    instruction = schema_instruction(schema)
    if last["role"] == "user":
        conversation[-1] = {"role": "user", "content": f"{last['content']}\n\n{instruction}"}
    else:
        conversation.append({"role": "user", "content": instruction})
    completions: list[Completion] = []
    error = ""
    for _ in range(max_reasks + 1):
        completion = await model.complete(conversation, params)
        completions.append(completion)
        try:
            return StructuredCompletion(parse_structured(completion.text, schema), completions)
        except ValueError as exc:
            error = str(exc)[:_MAX_ERROR_CHARS]
        conversation = [
            *conversation,
            {"role": "assistant", "content": completion.text},
            {"role": "user", "content": f"That reply could not be used: {error}\n\n{instruction}"},
        ]
    raise StructuredOutputError(
        f"{getattr(model, 'name', 'model')}: no valid {schema.__name__} after {len(completions)} replies "
        f"({max_reasks} re-asks); last error: {error}"
    )
