"""ChatEncoder returns exactly the ids of ``apply_chat_template(..., tokenize=True)``, on its direct path and
when it has to fall back.

Tokenizers: the tiny model's (byte-level BPE with digit splitting, its own template), one trained here
with a ChatML template whose control tokens sit inside literal text (``<|im_start|>user\\n``, as SmolLM2's
and Qwen's templates write them), and SmolLM2's own when it has been fetched.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from parley.llm.catalog import smollm2_dir
from parley.llm.chat_encoding import ChatEncoder
from parley.llm.packaged_gguf import is_converted
from parley.llm.tiny import default_corpus, train_tokenizer
from tests.tiny_model_support import tiny_model_dir

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

PIECES = ["What is 47 + 38?", " ANSWER: 85", "\n\n", "  ", "\t", "<|end|>", "<|assistant|>", "<|im_end|>",
          "<|im_start|>system", "</s>", "<s>", "<|pad|>", "ünï", "中文", "0.5 * -3", "VERDICT: PASS", "FAIL.", "",
          "Check it again, column by column:", "1", "99999", "<|", "|>", "im_start", "\r\n"]


def _conversations(n: int, seed: int = 0) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        roles = ["system"] * rng.randint(0, 1) + [rng.choice(["user", "assistant"]) for _ in range(rng.randint(1, 4))]
        out.append([{"role": role, "content": "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))}
                    for role in roles])
    return out


def _reference(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    return [int(i) for i in tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                          return_dict=False)]


def _chatml_tokenizer() -> Any:
    tokenizer = train_tokenizer(default_corpus(400), vocab_size=400)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML
    return tokenizer


@pytest.fixture(scope="module", params=["tiny", "chatml", "smollm2"])
def tokenizer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "tiny":
        return AutoTokenizer.from_pretrained(tiny_model_dir(tmp_path_factory))
    if request.param == "chatml":
        return _chatml_tokenizer()
    if not is_converted(smollm2_dir()):
        pytest.skip("SmolLM2 is not fetched (`parley model fetch smollm2`)")
    return AutoTokenizer.from_pretrained(smollm2_dir())


def test_direct_ids_equal_the_chat_templates_ids(tokenizer: Any) -> None:
    encoder = ChatEncoder(tokenizer)
    assert encoder.direct  # Rust-backed tokenizers take the direct path
    conversations = _conversations(150)
    for messages in conversations + conversations[:20]:  # the repeats come from the cache
        assert encoder.encode(messages) == _reference(tokenizer, messages), messages


def test_cached_ids_are_copies_and_the_cache_is_bounded(tmp_path_factory: pytest.TempPathFactory) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir(tmp_path_factory))
    encoder = ChatEncoder(tokenizer, cache_texts=5)
    messages = [{"role": "user", "content": "What is 1 + 2?"}]
    first = encoder.encode(messages)
    first.append(-1)  # a caller mutating its list must not change later results
    assert encoder.encode(messages) == _reference(tokenizer, messages)
    for messages in _conversations(20, seed=3):
        encoder.encode(messages)
    assert len(encoder._cache) == 5


def test_a_backend_configured_differently_falls_back_to_the_template_path(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir(tmp_path_factory))
    encoder = ChatEncoder(tokenizer)
    long = [{"role": "user", "content": "What is 47 + 38? " * 20}]
    tokenizer._tokenizer.enable_truncation(8)  # someone configured the backend: its own encode would truncate
    assert len(tokenizer._tokenizer.encode("What is 47 + 38? " * 20).ids) == 8
    assert encoder._backend() is None
    assert encoder.encode(long) == _reference(tokenizer, long)
    assert len(encoder.encode(long)) > 8
    tokenizer._tokenizer.no_truncation()
    tokenizer.split_special_tokens = True  # control-token text is then plain text: the backend must agree
    assert encoder._backend() is None
    tricky = [{"role": "user", "content": "ends <|end|> here"}]
    assert encoder.encode(tricky) == _reference(tokenizer, tricky)


def test_a_python_tokenizer_uses_the_template_path(tmp_path: Path) -> None:
    from transformers import PreTrainedTokenizer

    class Chars(PreTrainedTokenizer):
        """A pure-Python character tokenizer (no Rust backend)."""

        def __init__(self, **kwargs: Any) -> None:
            self.vocab = {chr(i): i for i in range(32, 127)} | {"\n": 10}
            super().__init__(**kwargs)

        @property
        def vocab_size(self) -> int:
            return 128

        def get_vocab(self) -> dict[str, int]:
            return dict(self.vocab)

        def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
            return [c for c in text if c in self.vocab]

        def _convert_token_to_id(self, token: str) -> int:
            return self.vocab.get(token, 32)

        def _convert_id_to_token(self, index: int) -> str:
            return chr(index)

    tokenizer = Chars()
    tokenizer.chat_template = CHATML.replace("<|im_start|>", "[").replace("<|im_end|>", "]")
    encoder = ChatEncoder(tokenizer)
    assert not encoder.direct
    messages = [{"role": "user", "content": "hi there"}]
    assert encoder.encode(messages) == _reference(tokenizer, messages)
