"""Data-parallel training under Ray Train (``TorchTrainer``), beside ``accelerate launch`` / ``torchrun``.

Ray Train starts ``num_workers`` processes on the cluster (gloo on CPU, NCCL on GPUs), initialises
``torch.distributed`` in each and sets the same environment torchrun would (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); each worker then runs the
public :func:`parley.training.trainer.train`, whose :func:`~parley.training.distributed.
data_parallel_from_env` finds the group (``WORLD_SIZE`` > 1) and runs the same data-parallel code path
as under torchrun: identical rollout shards, all-gathered batches, gradients all-reduced so each
rank's equals the single-process gradient, only rank 0 writing. Nothing here changes the training
loop; it only launches it.

The output directory (``output.dir``) must be on storage every worker can reach (one machine, or a
shared filesystem): rank 0 writes checkpoints there and every rank reads them on resume. Ray Train's
own reporting (``train.report``) is not used: parley writes its metrics and checkpoints itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _runtime_env(extra_modules: list[str] | None) -> dict[str, Any]:
    package = Path(__file__).resolve().parents[1]  # the parley package directory
    return {"py_modules": [str(package), *(extra_modules or [])],
            "env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}}


def _worker(loop_config: dict[str, Any]) -> None:
    """Body of each Ray Train worker: torch.distributed is up; fill in what torchrun would have set."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        os.environ.setdefault("RANK", str(dist.get_rank()))
        os.environ.setdefault("WORLD_SIZE", str(dist.get_world_size()))
    os.environ.setdefault("LOCAL_RANK", os.environ.get("RANK", "0"))
    fn: Callable[[dict[str, Any]], None] = loop_config["fn"]
    fn(loop_config["config"])


def run_on_ray_train(fn: Callable[[dict[str, Any]], None], config: dict[str, Any], *, num_workers: int = 2,
                     use_gpu: bool = False, address: str | None = None, cpus_per_worker: float = 1.0,
                     storage_path: str | Path | None = None, name: str = "parley-train",
                     extra_modules: list[str] | None = None) -> None:
    """Run ``fn(config)`` on ``num_workers`` Ray Train workers with torch.distributed initialised.

    Args:
        fn: picklable callable (a module-level function) run by every worker.
        address: the Ray cluster (``HOST:6379``, ``auto``); None: this process's Ray (or a new local one).
        use_gpu: one GPU per worker and the NCCL backend; else gloo on CPU.
        storage_path: Ray Train's run directory (its own bookkeeping; parley's outputs go to ``output.dir``).
        extra_modules: more package directories to ship to the workers (``py_modules``).

    Raises:
        RuntimeError: a worker failed (the message carries the worker's error).
    """
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, runtime_env=_runtime_env(extra_modules), log_to_driver=False)
    try:
        resources = {"CPU": cpus_per_worker, **({"GPU": 1} if use_gpu else {})}
        trainer = TorchTrainer(
            train_loop_per_worker=_worker, train_loop_config={"fn": fn, "config": config},
            scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu, resources_per_worker=resources),
            torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
            run_config=RunConfig(name=name, storage_path=str(storage_path) if storage_path else None))
        result = trainer.fit()
        if result.error is not None:
            raise RuntimeError(f"Ray Train run {name} failed: {result.error}") from result.error
    finally:
        if started_here:
            ray.shutdown()


def _train_worker(config: dict[str, Any]) -> None:
    from parley.training.config import TrainRunConfig
    from parley.training.trainer import train

    train(TrainRunConfig.model_validate(config["cfg"]), resume=bool(config.get("resume", False)))


def train_on_ray(cfg: Any, *, num_workers: int = 2, use_gpu: bool = False, address: str | None = None,
                 resume: bool = False, storage_path: str | Path | None = None) -> None:
    """``parley train`` under Ray Train: :func:`parley.training.trainer.train` on every worker."""
    data = cfg.model_dump(mode="json")
    run_on_ray_train(_train_worker, {"cfg": data, "resume": resume}, num_workers=num_workers, use_gpu=use_gpu,
                     address=address, storage_path=storage_path or Path(cfg.output.dir).resolve() / "ray-train")
