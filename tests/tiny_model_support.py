"""Builds the tiny model once per test process, for the hf backend and serve tests.

Test modules call :func:`tiny_model_dir` from a session fixture; the first call builds the model
(~1 s) under pytest's session temp dir and later calls reuse it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.llm.tiny import build_tiny_model

_BUILT: dict[str, Path] = {}


def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of a default-recipe tiny model (seed 0), built on first use."""
    if "default" not in _BUILT:
        _BUILT["default"] = build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model", seed=0)
    return _BUILT["default"]
