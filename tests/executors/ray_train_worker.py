"""The Ray Train side of the gradient check: each worker runs tests/training/dp_worker.py's rank body."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def dp_rank(config: dict[str, Any]) -> None:
    """One Ray Train worker: the same code torchrun runs in tests/training/test_distributed.py."""
    from tests.training.dp_worker import main

    main(Path(config["model_dir"]), Path(config["out_dir"]))
