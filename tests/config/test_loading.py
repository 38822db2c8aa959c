from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.config import ConfigError, ParleyConfig, config_hash, load_config


def test_defaults_have_the_interface_paths() -> None:
    cfg = load_config(None)
    assert cfg.model.backend == "hf"
    assert cfg.protocol.name == "svj"
    for path in [
        "model.backend", "model.name", "model.api_base", "protocol.name", "protocol.max_rounds",
        "dataset.name", "dataset.limit", "dataset.seed", "generation.concurrency",
        "generation.temperature", "generation.max_new_tokens", "output.dir",
    ]:
        section, field = path.split(".")
        assert field in type(getattr(cfg, section)).model_fields, path


def test_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("protocol:\n  name: mad\n  max_rounds: 2\ndataset:\n  limit: 10\n")
    cfg = load_config(path, ["protocol.max_rounds=4", "generation.temperature=0.0", "model.api_base=http://x"])
    assert cfg.protocol.name == "mad"
    assert cfg.protocol.max_rounds == 4
    assert cfg.dataset.limit == 10
    assert cfg.generation.temperature == 0.0
    assert cfg.model.api_base == "http://x"


def test_unknown_field_names_path_and_allowed(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("protocol:\n  nme: svj\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "protocol.nme" in msg and "max_rounds" in msg and str(path) in msg


def test_unknown_backend_lists_known_backends() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, ["model.backend=vllm"])
    assert "config: model.backend: unknown model backend 'vllm'; known: hf, litellm, openai" in str(err.value)


def test_invalid_literal_lists_allowed_values() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, ["model.dtype=float8"])
    assert "model.dtype" in str(err.value)
    assert "'float32'" in str(err.value) and "'bfloat16'" in str(err.value) and "'float16'" in str(err.value)


def test_bad_value_type_names_field() -> None:
    with pytest.raises(ConfigError, match=r"generation\.concurrency"):
        load_config(None, ["generation.concurrency=lots"])


def test_unknown_role_in_models() -> None:
    with pytest.raises(ConfigError, match="models"):
        load_config(None, ["models.critic.name=x"])


def test_malformed_override() -> None:
    with pytest.raises(ConfigError, match=r"section\.field=value"):
        load_config(None, ["protocol.name"])


def test_hash_is_stable_and_ignores_output_dir() -> None:
    a = load_config(None, ["output.dir=/tmp/a"])
    b = load_config(None, ["output.dir=/tmp/b"])
    c = load_config(None, ["protocol.max_rounds=5"])
    assert config_hash(a) == config_hash(b) == config_hash(ParleyConfig())
    assert config_hash(a) != config_hash(c)
    assert len(config_hash(a)) == 16


def test_cli_config_show(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["config", "show", "--set", "protocol.name=single"])
    assert result.exit_code == 0, result.output
    assert "name: single" in result.stdout
    assert "config_hash:" in result.stdout
    bad = runner.invoke(app, ["config", "show", "--set", "protocol.name=nope"])
    assert bad.exit_code == 2
    assert "protocol.name" in bad.output
