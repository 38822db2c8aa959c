"""The one async interface every model backend implements."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from parley.llm.types import Completion, Message, SamplingParams

if TYPE_CHECKING:
    from parley.llm.structured import StructuredCompletion

SchemaT = TypeVar("SchemaT", bound=BaseModel)


class ChatModel(abc.ABC):
    """An async chat model.

    Implementations: :class:`parley.llm.hf.HFChatModel` (local transformers checkpoint, returns token ids
    and log-probs, batches concurrent calls into one forward pass), :class:`parley.llm.litellm_backend.
    LiteLLMChatModel` and :class:`parley.llm.openai_backend.OpenAIChatModel`.

    ``complete`` is safe to call from many asyncio tasks at once; backends enforce their own limits.
    """

    name: str

    @abc.abstractmethod
    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        """Sample one completion for ``messages``."""

    async def complete_many(
        self, requests: Sequence[tuple[Sequence[Message], SamplingParams]]
    ) -> list[Completion]:
        """Sample several completions concurrently (backends that batch do so across these calls)."""
        return list(await asyncio.gather(*(self.complete(m, p) for m, p in requests)))

    async def complete_structured(
        self,
        messages: Sequence[Message],
        schema: type[SchemaT],
        params: SamplingParams,
        max_reasks: int = 2,
    ) -> StructuredCompletion[SchemaT]:
        """Sample a reply that validates against the pydantic model ``schema``.

        Re-asks at most ``max_reasks`` times with the validation error, then raises
        :class:`~parley.llm.errors.StructuredOutputError` (see :mod:`parley.llm.structured`).
        """
        from parley.llm.structured import complete_structured

        return await complete_structured(self, messages, schema, params, max_reasks=max_reasks)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Release clients, threads or GPU memory. Idempotent."""

    @property
    def returns_token_ids(self) -> bool:
        """Whether completions carry exact token ids and log-probs (needed for RL training)."""
        return False
