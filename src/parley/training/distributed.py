"""Data-parallel training through ``accelerate`` (DDP semantics; gloo on CPU, NCCL on GPUs).

Launch any training config with N processes (``accelerate launch --num_processes N -m parley.cli.app
train CONFIG``, or ``torchrun --nproc_per_node N ...``); :func:`data_parallel_from_env` then returns a
:class:`DataParallel`. A plain single-process run gets :class:`SingleProcess`, the one-rank stand-in with
the same methods (identity gathers, a plain ``backward``, no-op synchronisation), so the training loop and
:mod:`parley.training.optimise` have no data-parallel branches. Four hooks:

1. rollouts: every rank draws the same problems (same seeded sampler) and runs the debates of its
   shard ``problems[rank::world]``; debate seeds depend on (step, problem, sample), not on the rank,
   so the union of the shards is the batch a single process would have generated;
2. the step's transcripts, outcomes, signals and counterfactual results are all-gathered, so shaping,
   advantages (incl. batch-wide ``reinforce_pp``) and metrics are computed on the global batch,
   identically on every rank;
3. :func:`parley.training.optimise.optimise` trains each rank on its shard of the samples. Loss
   weights are computed over the GLOBAL batch (the token / sequence totals are all-reduced), the
   gradients of every micro-batch are accumulated locally, and one all-reduce (sum) per policy per
   optimiser step makes every rank's gradient equal to the single-process gradient of the global
   batch. Every rank then takes the same clipped AdamW step, so the replicas stay identical;
4. only the main rank writes metrics, evaluations, checkpoints and final models.

Variant: this is DDP's "accumulate with ``no_sync`` and all-reduce on the last micro-batch" done by hand
(:meth:`DataParallel.sync_gradients`) rather than by wrapping the model in
``DistributedDataParallel``: ranks hold different numbers of micro-batches (shards of variable-length
debates, several roles and policies), which a DDP wrapper would deadlock on, and the rollout sampler
keeps using the plain module. The result is the same averaged-then-rescaled gradient DDP computes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import torch

if TYPE_CHECKING:
    from parley.training.counterfactuals import CounterfactualResult
    from parley.training.rollouts import RolloutBatch

T = TypeVar("T")


class DataParallel:
    """A data-parallel group of ``world_size`` processes; this process is rank ``rank``."""

    def __init__(self, accelerator: Any) -> None:
        self.accelerator = accelerator
        self.rank = int(accelerator.process_index)
        self.world_size = int(accelerator.num_processes)
        self.device: torch.device = accelerator.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items`` (strided, so shards differ in size by at most one)."""
        return list(items[self.rank::self.world_size])

    def gather_objects(self, items: Sequence[T]) -> list[T]:
        """Concatenate every rank's ``items`` in rank order (picklable objects; all ranks get all)."""
        import torch.distributed as dist

        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, list(items))
        return [item for part in parts for item in part]

    def gather_dict(self, mapping: dict[Any, Any]) -> dict[Any, Any]:
        """Union of every rank's ``mapping`` (keys must not collide with different values)."""
        return dict(self.gather_objects(list(mapping.items())))

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of ``values`` over ranks (every rank passes the same length)."""
        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        return [float(v) for v in self.accelerator.reduce(t, reduction="sum")]

    def max_floats(self, values: Sequence[float]) -> list[float]:
        import torch.distributed as dist

        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [float(v) for v in t]

    def backward(self, loss: torch.Tensor) -> None:
        """Backward through the accelerator (mixed-precision scaling when configured)."""
        self.accelerator.backward(loss)

    def sync_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Sum gradients over ranks in one flat all-reduce (a rank without samples contributes zeros).

        The local losses are already weighted by the GLOBAL token/sequence totals, so the sum of the
        ranks' gradients is the single-process gradient of the whole batch.
        """
        import torch.distributed as dist

        if not params:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params if p.grad is not None])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p in params:
            assert p.grad is not None
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n

    def barrier(self) -> None:
        self.accelerator.wait_for_everyone()

    def broadcast_object(self, obj: T) -> T:
        """The main rank's ``obj`` on every rank."""
        import torch.distributed as dist

        box: list[Any] = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


class SingleProcess:
    """The one-process group: rank 0 of 1. Every collective is the identity (see the module docstring)."""

    rank = 0
    world_size = 1
    is_main = True

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)

    def shard(self, items: Sequence[T]) -> list[T]:
        return list(items)

    def gather_objects(self, items: Sequence[T]) -> list[T]:
        return list(items)

    def gather_dict(self, mapping: dict[Any, Any]) -> dict[Any, Any]:
        return dict(mapping)

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in values]

    def max_floats(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in values]

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def sync_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Nothing to synchronise with one process."""

    def barrier(self) -> None:
        """Nothing to wait for with one process."""

    def broadcast_object(self, obj: T) -> T:
        return obj


Group = DataParallel | SingleProcess
"""What the training loop runs in: a real data-parallel group or the one-process stand-in."""


def data_parallel_from_env(device: str = "cpu") -> Group:
    """A :class:`DataParallel` when launched with more than one process (``WORLD_SIZE`` > 1), else a
    :class:`SingleProcess` on ``device``.

    On a machine without CUDA the group uses gloo over CPU processes (``Accelerator(cpu=True)``).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return SingleProcess(device)
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    if accelerator.num_processes <= 1:
        return SingleProcess(device)
    return DataParallel(accelerator)


def gather_rollouts(dp: Group, batch: RolloutBatch) -> RolloutBatch:
    """Every rank's rollouts in rank order; phase timings are the slowest rank's, other metrics the mean."""
    transcripts = dp.gather_objects(batch.transcripts)
    outcomes = dp.gather_objects(batch.outcomes)
    signals = dp.gather_objects(batch.signals)
    problems = dp.gather_dict(batch.problems)
    timing_keys = sorted(batch.timing)
    timing = dict(zip(timing_keys, dp.max_floats([batch.timing[k] for k in timing_keys]), strict=True))
    extra_keys = sorted(batch.extra_metrics)
    extra = {k: v / dp.world_size for k, v in
             zip(extra_keys, dp.sum_floats([batch.extra_metrics[k] for k in extra_keys]), strict=True)}
    return replace(batch, transcripts=transcripts, outcomes=outcomes, signals=signals, problems=problems,
                   timing=timing, extra_metrics=extra)


def gather_counterfactuals(dp: Group, result: CounterfactualResult) -> CounterfactualResult:
    """Union of every rank's counterfactual outcomes/baselines; costs summed over ranks."""
    cost = result.cost
    rollouts, turns, tokens = dp.sum_floats([cost.rollouts, cost.turns, cost.tokens])
    return replace(result, outcomes=dp.gather_dict(result.outcomes), baselines=dp.gather_dict(result.baselines),
                   rollout_outcomes=dp.gather_dict(result.rollout_outcomes),
                   debate_ids=dp.gather_objects(result.debate_ids),
                   cost=replace(cost, rollouts=int(rollouts), turns=int(turns), tokens=int(tokens)))
