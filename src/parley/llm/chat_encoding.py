"""Chat prompts to the exact token ids a local model is fed, at a fraction of ``apply_chat_template``'s cost.

``tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)`` renders the chat
template to text and then tokenises that text with ``tokenizer(text, add_special_tokens=False)``. For a
Rust-backed ("fast") tokenizer the second half is a call of the backend's ``encode_batch`` wrapped in
argument validation, truncation/padding set-up and a ``BatchEncoding``: on the tiny model's ~60-token
debate prompts that wrapper cost as much as the encoding itself (about 100 us of ~185 us per prompt in an
RL step, where a step encodes ~120 prompts on the critical path between two sampling batches).

:class:`ChatEncoder` renders the same way (the tokenizer's own ``apply_chat_template(tokenize=False)``)
and, where it can show the result is the same, encodes with the backend directly and remembers the ids of
recent texts (the G rollouts of a problem send the same first prompt G times):

- the tokenizer is a transformers ``TokenizersBackend`` (``PreTrainedTokenizerFast``) whose backend has no
  truncation or padding configured and splits special tokens exactly as the tokenizer would
  (``encode_special_tokens == split_special_tokens``), checked at every call (they are mutable);
- at construction both paths encode a probe conversation (every role, control-token look-alikes in the
  content, digits, whitespace, non-ASCII) and must agree; otherwise, and for any other tokenizer, every
  prompt goes through ``apply_chat_template(tokenize=True)`` unchanged.

Either way the ids are those ``apply_chat_template`` returns (tests/llm/test_chat_encoding.py compares them
on many conversations for the tiny model's tokenizer, a ChatML one trained in the test and SmolLM2's).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from jinja2.exceptions import TemplateError

from parley.llm.types import Message

try:  # transformers 5; 4.x calls it PreTrainedTokenizerFast
    from transformers.tokenization_utils_tokenizers import TokenizersBackend as _Fast
except ImportError:  # pragma: no cover  (the lock pins transformers 5)
    from transformers import PreTrainedTokenizerFast as _Fast

#: Texts whose ids are remembered (least recently used dropped first).
CACHE_TEXTS = 2048

_PROBE: list[dict[str, str]] = [
    {"role": "system", "content": "You are the verifier.  Reply PASS or FAIL.\n"},
    {"role": "user", "content": "What is 47 + 38?\n\tTabs,  spaces; <|end|> <|assistant|> </s> <s> ünï 中文 12345"},
    {"role": "assistant", "content": " ANSWER: 85\n\n"},
    {"role": "user", "content": "Check again: 0.5 * -3 = ?"},
]


class ChatEncoder:
    """``encode(messages)``: the ids ``tokenizer.apply_chat_template(messages, add_generation_prompt=True,
    tokenize=True)`` returns (see the module docstring for when it takes the direct path)."""

    def __init__(self, tokenizer: Any, *, cache_texts: int = CACHE_TEXTS) -> None:
        self.tokenizer = tokenizer
        self.cache_texts = cache_texts
        self._cache: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        backend = self._backend()
        self.direct = backend is not None
        if backend is not None:
            try:
                self.direct = _ids(backend, self.render(_PROBE)) == self._template_ids(_PROBE)
            except (TemplateError, ValueError, TypeError, KeyError):  # a template rejecting the probe
                self.direct = False

    def render(self, messages: Sequence[Message] | Sequence[dict[str, str]]) -> str:
        """The chat template's text for ``messages`` with the assistant generation prompt."""
        text = self.tokenizer.apply_chat_template([dict(m) for m in messages], add_generation_prompt=True,
                                                  tokenize=False)
        return str(text)

    def encode(self, messages: Sequence[Message]) -> list[int]:
        """The exact ids fed to the model for ``messages``."""
        backend = self._backend() if self.direct else None
        if backend is None:
            return self._template_ids(messages)
        text = self.render(messages)
        ids = self._cache.get(text)
        if ids is None:
            ids = tuple(_ids(backend, text))
            self._cache[text] = ids
            if len(self._cache) > self.cache_texts:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(text)
        return list(ids)

    def _template_ids(self, messages: Sequence[Message] | Sequence[dict[str, str]]) -> list[int]:
        ids = self.tokenizer.apply_chat_template([dict(m) for m in messages], add_generation_prompt=True,
                                                 tokenize=True, return_dict=False)
        return [int(i) for i in ids]

    def _backend(self) -> Any | None:
        """The Rust tokenizer when encoding with it equals ``tokenizer(text, add_special_tokens=False)``."""
        if not isinstance(self.tokenizer, _Fast):
            return None
        backend = getattr(self.tokenizer, "_tokenizer", None)
        if backend is None or backend.truncation is not None or backend.padding is not None:
            return None
        if bool(backend.encode_special_tokens) != bool(getattr(self.tokenizer, "split_special_tokens", False)):
            return None
        return backend


def _ids(backend: Any, text: str) -> list[int]:
    return list(backend.encode(text, add_special_tokens=False).ids)
