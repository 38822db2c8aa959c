"""The model catalog: names, hub ids and directories resolve to local checkpoints; clear errors otherwise."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.config.models import ModelConfig
from parley.generation.agents import resolve_model_path
from parley.llm import catalog
from parley.llm.catalog import CatalogEntry, ModelNotAvailableError, register_model, resolve_model
from parley.llm.hf import HFChatModel, resolve_device
from parley.llm.packaged_gguf import GGUFWheelSource, ModelFetchError, extract_gguf
from parley.training.config import TrainRunConfig
from parley.training.trainer import TrainingError, resolve_base_model
from tests.tiny_model_support import tiny_model_dir


def test_builtin_names_are_registered() -> None:
    names = {e.name for e in catalog.registered_models()}
    assert {"tiny", "tiny-random", "smollm2"} <= names
    assert "Q4_1" in catalog.model_notes("smollm2")


def test_registering_a_name_twice_or_a_path_like_name_is_an_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    model_dir = tiny_model_dir(tmp_path_factory)
    entry = register_model(CatalogEntry("test-mine", "a test model", resolve=lambda: model_dir))
    try:
        assert resolve_model("test-mine") == model_dir
        with pytest.raises(ValueError, match="already registered"):
            register_model(CatalogEntry("test-mine", "again", resolve=lambda: model_dir))
        # A registered name works wherever a model is named: generation, the hf backend, training.
        assert resolve_model_path(ModelConfig(name="test-mine")) == model_dir
        model = HFChatModel.from_config(ModelConfig(name="test-mine", batch_size=2))
        assert model.name == "test-mine" and model.tokenizer.chat_template
        cfg = TrainRunConfig.model_validate({"model": {"name": "test-mine"}, "protocol": {"name": "single"}})
        assert resolve_base_model(cfg) == model_dir
    finally:
        catalog.unregister_model(entry.name)
    for bad in ("org/name", "hf:x", "", "-x"):
        with pytest.raises(ValueError, match="model name"):
            register_model(CatalogEntry(bad, "bad", resolve=lambda: model_dir))


def test_directories_resolve_and_bad_ones_name_the_problem(tmp_path: Path,
                                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    model_dir = tiny_model_dir(tmp_path_factory)
    assert resolve_model(str(model_dir)) == model_dir
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailableError, match=r"no config\.json"):
        resolve_model(tmp_path / "empty")
    with pytest.raises(ModelNotAvailableError, match="not a registered name"):
        resolve_model(tmp_path / "missing")
    cfg = TrainRunConfig.model_validate({"model": {"name": str(tmp_path / "missing")}, "protocol": {"name": "single"}})
    with pytest.raises(TrainingError, match=r"model\.name"):
        resolve_base_model(cfg)


def test_hub_ids_offline_fail_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE"):
        resolve_model("hf:HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(ModelNotAvailableError, match="ORG/NAME"):
        resolve_model("hf:no-slash")


def test_smollm2_not_fetched_says_how(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path))
    with pytest.raises(ModelNotAvailableError, match="parley model fetch smollm2"):
        resolve_model("smollm2")
    result = CliRunner().invoke(app, ["model", "path", "smollm2"])
    assert result.exit_code == 2 and "parley model fetch smollm2" in result.output
    listed = CliRunner().invoke(app, ["model", "list"])
    assert listed.exit_code == 0 and "not fetched" in listed.output and "tiny-random" in listed.output


def test_tiny_random_builds_through_the_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["model", "path", "tiny-random"])
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path.parent == tmp_path / "tiny" and (path / "config.json").is_file()


def test_fetch_of_an_unknown_name_fails_cleanly() -> None:
    result = CliRunner().invoke(app, ["model", "fetch", "no-such-model"])
    assert result.exit_code == 2 and "nothing to fetch" in result.output


def _wheel(path: Path, member: str, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, payload)
        zf.writestr("pkg-0.1.dist-info/LICENSE", "Apache-2.0 text")
    return path


def test_extract_gguf_checks_the_pinned_checksum(tmp_path: Path) -> None:
    import hashlib

    payload = b"GGUF fake payload"
    wheel = _wheel(tmp_path / "pkg-0.1-py3-none-any.whl", "pkg/model.gguf", payload)
    good = GGUFWheelSource("pkg", "0.1", "pkg/model.gguf", "Q4_1", hashlib.sha256(payload).hexdigest())
    out = tmp_path / "out"
    out.mkdir()
    gguf = extract_gguf(good, wheel, out)
    assert gguf.read_bytes() == payload and (out / "LICENSE").read_text() == "Apache-2.0 text"
    bad = GGUFWheelSource("pkg", "0.1", "pkg/model.gguf", "Q4_1", "0" * 64)
    with pytest.raises(ModelFetchError, match="sha256"):
        extract_gguf(bad, wheel, out)
    moved = GGUFWheelSource("pkg", "0.1", "pkg/other.gguf", "Q4_1")
    with pytest.raises(ModelFetchError, match="layout changed"):
        extract_gguf(moved, wheel, out)
    (tmp_path / "broken.whl").write_bytes(b"not a zip")
    with pytest.raises(ModelFetchError, match="not a valid wheel"):
        extract_gguf(good, tmp_path / "broken.whl", out)


def test_device_resolution() -> None:
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_provenance_round_trip(tmp_path: Path) -> None:
    from parley.llm.packaged_gguf import PROVENANCE_FILE, is_converted, read_provenance

    (tmp_path / "config.json").write_text("{}")
    assert not is_converted(tmp_path)
    (tmp_path / PROVENANCE_FILE).write_text(json.dumps({"source": {"package": "x"}}))
    assert is_converted(tmp_path) and read_provenance(tmp_path)["source"]["package"] == "x"
