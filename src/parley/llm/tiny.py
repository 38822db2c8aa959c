"""The embedded tiny model: a locally trained tokenizer and a random-init ``LlamaForCausalLM``.

parley needs a real causal LM that runs anywhere (no hub access, 2 CPU cores) so that debate,
sampling, serving and RL training are exercised end to end. The recipe here builds one in about a
second:

- :func:`default_corpus` generates arithmetic questions with answers and the debate protocol's words
  (``Verdict: PASS``, ``Critique:``, ``Final answer:``, ``Confidence:``), deterministically.
- :func:`train_tokenizer` trains a byte-level BPE tokenizer on a corpus with parley's special tokens and
  wraps it as a :class:`~transformers.PreTrainedTokenizerFast` carrying a small Jinja chat template
  (``<|bos|><|user|>...<|end|><|assistant|>``).
- :func:`build_tiny_model` adds a seeded random-init Llama and saves model + tokenizer with
  ``save_pretrained`` (standard HF format: any transformers user can load the directory).
- :func:`ensure_tiny_model` builds into the user cache (:func:`tiny_cache_dir`) keyed by
  :func:`recipe_hash`, so the model is rebuilt only when the recipe changes.

The functions compose: training code can call :func:`train_tokenizer` and :func:`build_tiny_model` on
its own corpus, then warm-start the returned directory with SFT.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Bump when the build procedure changes in a way the recipe fields do not capture.
RECIPE_VERSION = 1

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, SYSTEM, USER, ASSISTANT, END)

#: Role markers around each message, ``<|end|>`` after it; the generation prompt is ``<|assistant|>``.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' }}{{ message['content'] }}{{ '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

RECIPE_FILE = "parley_recipe.json"


@dataclass(frozen=True)
class TinyRecipe:
    """Everything that determines the tiny model's files (with the corpus)."""

    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 512
    num_layers: int = 2
    num_heads: int = 4
    max_positions: int = 2048
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}"
            )
        if self.vocab_size < 300:
            raise ValueError(f"vocab_size={self.vocab_size}: need >= 300 (256 bytes + special tokens)")


_OPS = ("+", "-", "*")
_PHRASES = (
    "Verdict: PASS",
    "Verdict: FAIL",
    "Critique: The arithmetic is correct.",
    "Critique: The sign of the result is wrong.",
    "Critique: The second step adds instead of subtracting.",
    "Final answer: {a}",
    "Confidence: 0.{c}",
    "Let me check the answer step by step.",
    "The solver's answer is {a}. I agree.",
    "The solver's answer is {a}, but the correct result is {b}.",
    "Other agents answered {a} and {b}. Updating my answer.",
    "Solve the problem. End with 'Final answer: <answer>'.",
    "Check the proposed answer. Reply with 'Verdict: PASS' or 'Verdict: FAIL' and a critique.",
    "Read the debate and give the final answer and your confidence.",
)


def default_corpus(n_lines: int = 3000, seed: int = 0) -> list[str]:
    """Deterministic arithmetic and debate-protocol text used to train the tiny tokenizer.

    Lines look like ``Question: Calculate 5 - 3 - 6.\\nAnswer: -4`` plus protocol phrases with numbers.
    """
    rng = random.Random(seed)
    lines: list[str] = []
    for i in range(n_lines):
        if i % 3 == 2:
            template = rng.choice(_PHRASES)
            lines.append(template.format(a=rng.randint(-99, 99), b=rng.randint(-99, 99), c=rng.randint(0, 9)))
            continue
        terms = [rng.randint(-20 if i % 5 == 0 else 0, 50) for _ in range(rng.randint(2, 4))]
        ops = [rng.choice(_OPS) for _ in range(len(terms) - 1)]
        rest = [f"{op} {f'({t})' if t < 0 else t}" for op, t in zip(ops, terms[1:], strict=True)]
        expr = " ".join([str(terms[0]), *rest])
        value = _evaluate(terms, ops)
        lines.append(f"Question: Calculate {expr}.\nAnswer: {value}")
    return lines


def _evaluate(terms: Sequence[int], ops: Sequence[str]) -> int:
    """Evaluate ``terms`` joined by ``ops`` with the usual precedence (no ``eval``)."""
    # Fold multiplications first, then additions and subtractions left to right.
    values = [terms[0]]
    pending: list[str] = []
    for op, term in zip(ops, terms[1:], strict=True):
        if op == "*":
            values[-1] *= term
        else:
            pending.append(op)
            values.append(term)
    total = values[0]
    for op, value in zip(pending, values[1:], strict=True):
        total = total + value if op == "+" else total - value
    return total


def corpus_digest(corpus: Iterable[str]) -> str:
    """SHA-256 over the corpus lines (order matters)."""
    h = hashlib.sha256()
    for line in corpus:
        h.update(line.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def recipe_hash(recipe: TinyRecipe | None = None, corpus: Iterable[str] | None = None) -> str:
    """Content hash of the build recipe (fields, corpus and :data:`RECIPE_VERSION`); 16 hex chars."""
    recipe = recipe or TinyRecipe()
    lines = list(corpus) if corpus is not None else default_corpus()
    payload = {
        "version": RECIPE_VERSION,
        "recipe": dataclasses.asdict(recipe),
        "corpus": corpus_digest(lines),
        "template": CHAT_TEMPLATE,
        "special_tokens": list(SPECIAL_TOKENS),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 1024, *, split_digits: bool = False) -> Any:
    """Train a byte-level BPE tokenizer on ``corpus``; returns a ``PreTrainedTokenizerFast``.

    Byte-level means any text encodes (no unknown tokens). The special tokens get the first ids
    (``<|pad|>`` = 0). Training is deterministic for a given corpus and vocabulary size. With
    ``split_digits`` every digit is its own token (as in LLaMA's tokenizer), so numbers are spelled digit
    by digit and column arithmetic is learnable by a small model.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                             if split_digits else byte_level)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(corpus), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        padding_side="left",
        model_max_length=TinyRecipe().max_positions,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [SYSTEM, USER, ASSISTANT, END]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    out_dir: Path,
    *,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    vocab_size: int = TinyRecipe.vocab_size,
    hidden_size: int = TinyRecipe.hidden_size,
    intermediate_size: int = TinyRecipe.intermediate_size,
    num_layers: int = TinyRecipe.num_layers,
    num_heads: int = TinyRecipe.num_heads,
    max_positions: int = TinyRecipe.max_positions,
    split_digits: bool = False,
) -> Path:
    """Build the tokenizer and a seeded random-init Llama and save both to ``out_dir``.

    Deterministic given the arguments: the same seed and corpus give byte-identical weights.
    Returns ``out_dir`` (loadable with ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained``).
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    recipe = TinyRecipe(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_layers=num_layers,
        num_heads=num_heads,
        max_positions=max_positions,
        seed=seed,
    )
    lines = list(corpus) if corpus is not None else default_corpus()
    if not lines:
        raise ValueError("corpus: empty; pass at least one line of text to train the tokenizer on")
    tokenizer = train_tokenizer(lines, vocab_size=recipe.vocab_size, split_digits=split_digits)
    tokenizer.model_max_length = recipe.max_positions
    stop_ids = [tokenizer.convert_tokens_to_ids(END), tokenizer.eos_token_id]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_layers,
        num_attention_heads=recipe.num_heads,
        num_key_value_heads=recipe.num_heads,
        max_position_embeddings=recipe.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stop_ids,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    fork_devices: list[Any] = []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(recipe.seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stop_ids,
        pad_token_id=tokenizer.pad_token_id,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    info = {
        "recipe": dataclasses.asdict(recipe),
        "recipe_hash": recipe_hash(recipe, lines),
        "recipe_version": RECIPE_VERSION,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    (out_dir / RECIPE_FILE).write_text(json.dumps(info, indent=2) + "\n")
    logger.info("built tiny model", extra={"dir": str(out_dir), "parameters": info["parameters"]})
    return out_dir


def cache_root() -> Path:
    """Cache root: ``$PARLEY_CACHE_DIR``, else ``$XDG_CACHE_HOME/parley``, else ``~/.cache/parley``."""
    if env := os.environ.get("PARLEY_CACHE_DIR"):
        return Path(env)
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "parley"
    return Path.home() / ".cache" / "parley"


def tiny_cache_dir(recipe: TinyRecipe | None = None, corpus: Iterable[str] | None = None) -> Path:
    """Where :func:`ensure_tiny_model` keeps the model for this recipe: ``<cache>/tiny/<recipe-hash>``."""
    return cache_root() / "tiny" / recipe_hash(recipe, corpus)


def ensure_tiny_model(recipe: TinyRecipe | None = None, corpus: Iterable[str] | None = None) -> Path:
    """Return the cached tiny model directory for ``recipe``, building it first if absent.

    The build goes to a temporary sibling directory that is renamed into place, so concurrent
    processes never see a half-written model.
    """
    recipe = recipe or TinyRecipe()
    lines = list(corpus) if corpus is not None else default_corpus()
    target = tiny_cache_dir(recipe, lines)
    if (target / RECIPE_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build_tiny_model(tmp, corpus=lines, **dataclasses.asdict(recipe))
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process won the race and its complete build is already in place.
            if not (target / RECIPE_FILE).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target
