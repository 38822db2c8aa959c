"""The tiny model recipe: deterministic build, exact save/reload, chat template, cache keyed by recipe."""

from __future__ import annotations

import ast
import operator
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from parley.llm.tiny import (
    SPECIAL_TOKENS,
    TinyRecipe,
    build_tiny_model,
    default_corpus,
    ensure_tiny_model,
    recipe_hash,
    tiny_cache_dir,
    train_tokenizer,
)
from tests.tiny_model_support import tiny_model_dir


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def _logits(model_dir: Path, ids: list[int]) -> torch.Tensor:
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits


def test_build_is_deterministic_and_reloads_exactly(tiny_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again", seed=0)
    assert (again / "tokenizer.json").read_bytes() == (tiny_dir / "tokenizer.json").read_bytes()
    assert (again / "model.safetensors").read_bytes() == (tiny_dir / "model.safetensors").read_bytes()

    ids = [1, 4, 50, 60, 70, 6, 5]
    first = _logits(tiny_dir, ids)
    # A reloaded model saved again round-trips to the same logits.
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    model.save_pretrained(tmp_path / "resaved")
    AutoTokenizer.from_pretrained(tiny_dir).save_pretrained(tmp_path / "resaved")
    assert torch.equal(first, _logits(tmp_path / "resaved", ids))

    other = build_tiny_model(tmp_path / "seed1", seed=1)
    assert not torch.equal(first, _logits(other, ids))


def test_model_shape_and_special_tokens(tiny_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    assert model.config.model_type == "llama"
    assert model.config.hidden_size == 128 and model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tok) == 1024
    for token in SPECIAL_TOKENS:
        assert len(tok.encode(token, add_special_tokens=False)) == 1, token
    assert tok.decode(tok.encode("Verdict: PASS", add_special_tokens=False)) == "Verdict: PASS"
    # Byte-level: any text survives a round trip, including characters absent from the corpus.
    text = "Ünïcode → 漢字 and emoji 🙂"
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_chat_template(tiny_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Question: Calculate 5 - 3 - 6."},
    ]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == ("<|bos|><|system|>Be brief.<|end|><|user|>Question: Calculate 5 - 3 - 6.<|end|><|assistant|>")
    assert not tok.apply_chat_template(messages, tokenize=False).endswith("<|assistant|>")


def test_default_corpus_answers_are_correct() -> None:
    lines = default_corpus(300)
    assert lines == default_corpus(300)
    checked = 0
    for line in lines:
        if line.startswith("Question: Calculate "):
            expr, answer = line.removeprefix("Question: Calculate ").split(".\nAnswer: ")
            # The corpus generator is the thing under test; Python's own arithmetic is the oracle.
            assert int(answer) == _python_arithmetic(expr), line
            checked += 1
    assert checked > 100


def _python_arithmetic(expr: str) -> int:
    """Python's parser decides precedence; only +, -, * on integer literals are accepted."""
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}

    def walk(node: ast.expr) -> int:
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return int(ops[type(node.op)](walk(node.left), walk(node.right)))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        raise AssertionError(f"unexpected expression node {ast.dump(node)}")

    return walk(ast.parse(expr, mode="eval").body)


def test_recipe_hash_tracks_the_recipe() -> None:
    base = recipe_hash()
    assert base == recipe_hash(TinyRecipe())
    assert base != recipe_hash(TinyRecipe(seed=1))
    assert base != recipe_hash(TinyRecipe(hidden_size=256))
    assert base != recipe_hash(None, ["other corpus"])


def test_ensure_tiny_model_builds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path / "cache"))
    recipe = TinyRecipe(hidden_size=64, num_heads=2, intermediate_size=128, vocab_size=400)
    corpus = default_corpus(200)
    path = ensure_tiny_model(recipe, corpus)
    assert path == tiny_cache_dir(recipe, corpus)
    assert path.parent == tmp_path / "cache" / "tiny"
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(recipe, corpus) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp dirs left behind


def test_train_tokenizer_on_custom_corpus() -> None:
    tok = train_tokenizer(["alpha beta gamma"] * 20, vocab_size=300)
    assert len(tok) <= 300
    assert tok.decode(tok.encode("alpha beta", add_special_tokens=False)) == "alpha beta"


def test_recipe_validation() -> None:
    with pytest.raises(ValueError, match="divisible"):
        TinyRecipe(hidden_size=130, num_heads=4)
