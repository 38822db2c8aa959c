"""A training run's directory: identity, resume point, logs, checkpoints and results.

Layout of ``output.dir``:

- ``train_run.json``: run id, config hash and resolved config (written once; a rerun without
  ``--resume`` is refused, and ``--resume`` with a different config hash is refused);
- ``metrics.jsonl`` / ``params.json``: the tracker (:mod:`parley.tracking`); on resume every record
  after the checkpoint's step is dropped, so no step is logged twice;
- ``rollouts/``: a :class:`~parley.store.TrajectoryStore` of every step's debates with what training
  made of each turn in ``metadata["training"]`` (local signal, shaped reward, advantage, counterfactual
  outcomes; the format is documented in docs/training.md). A step redone after a resume keeps the
  record written first (store keys are unique);
- ``checkpoints/step-NNNNNN/``: :mod:`parley.training.checkpoint`; ``eval/``: held-out evaluations;
  ``final/<policy>/``: the final policies in Hugging Face format.

Only the main process of a data-parallel group writes; every process agrees on the run id.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from parley.config import config_hash
from parley.debate.types import Transcript
from parley.store import TrajectoryStore, make_debate_id
from parley.tracking import LocalTracker
from parley.training.checkpoint import checkpoint_dirs, load_checkpoint, save_checkpoint
from parley.training.config import TrainRunConfig
from parley.training.distributed import Group
from parley.training.policies import PolicySet

logger = logging.getLogger(__name__)

RUN_FILE = "train_run.json"
ROLLOUTS_DIR = "rollouts"


class TrainingError(RuntimeError):
    """The run cannot start or continue (existing run without --resume, config changed, bad inputs, ...)."""


@dataclass
class TrainResult:
    """Where a finished run's results are."""

    run_dir: Path
    final_step: int
    final_models: dict[str, Path]
    eval_accuracy: dict[str, dict[int, float]] = field(default_factory=dict)


class TrainRun:
    """The run directory of one training run (see the module docstring)."""

    def __init__(self, cfg: TrainRunConfig, run_dir: Path, run_id: str, digest: str, group: Group,
                 resume: bool) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.run_id = run_id
        self.digest = digest
        self.group = group
        self.resume = resume
        self._tracker: LocalTracker | None = None
        self._rollouts: TrajectoryStore | None = None
        self.start_step = 1

    @classmethod
    def open(cls, cfg: TrainRunConfig, *, resume: bool, group: Group, prefix: str = "train",
             record: dict[str, Any] | None = None) -> TrainRun:
        """Create the run directory, or check that it holds this run when ``resume`` is set."""
        run_dir = Path(cfg.output.dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise TrainingError(f"output.dir={run_dir} is a file; give a directory for the training run")
        digest = config_hash(cfg)
        run_file = run_dir / RUN_FILE
        exists = run_file.exists()
        group.barrier()  # every rank has looked before rank 0 writes the run file
        if exists:
            info = json.loads(run_file.read_text())
            if not resume:
                raise TrainingError(f"{run_dir} already holds a training run ({info['run_id']}); pass --resume to "
                                    "continue it or choose a new output.dir")
            if info["config_hash"] != digest:
                raise TrainingError(f"{run_dir}: config hash {digest} differs from the run's {info['config_hash']}; "
                                    "resume with the same config or use a new output.dir")
            run_id = str(info["run_id"])
        else:
            run_dir.mkdir(parents=True, exist_ok=True)
            run_id = f"{prefix}-{digest[:8]}-{os.urandom(4).hex()}"
            if group.is_main:
                data = {"run_id": run_id, "config_hash": digest, **(record or {}),
                        "config": cfg.model_dump(mode="json")}
                run_file.write_text(json.dumps(data, indent=2))
        return cls(cfg, run_dir, group.broadcast_object(run_id), digest, group, resume)

    # ---- resume ---------------------------------------------------------------------------------
    def restore(self, policies: PolicySet) -> dict[str, Any] | None:
        """Load the newest checkpoint into ``policies`` when resuming; returns its data position (or None).

        Sets :attr:`start_step` to the step after the checkpoint.
        """
        existing = checkpoint_dirs(self.run_dir)
        if not (self.resume and existing):
            return None
        state = load_checkpoint(existing[-1], policies)
        self.start_step = int(state["step"]) + 1
        logger.info("resumed", extra={"checkpoint": str(existing[-1]), "step": self.start_step})
        data: dict[str, Any] = state["data"]
        return data

    # ---- logs -----------------------------------------------------------------------------------
    def open_logs(self, params: dict[str, Any]) -> None:
        """Open the tracker and the rollout log (main process only) and record the run's parameters."""
        if not self.group.is_main:
            return
        self._tracker = LocalTracker(self.run_dir, resume_step=self.start_step - 1 if self.resume else None)
        self._tracker.log_params({"config": self.cfg.model_dump(mode="json"), "config_hash": self.digest,
                                  "run_id": self.run_id, **params})
        self._rollouts = TrajectoryStore.open(self.run_dir / ROLLOUTS_DIR, run_id=self.run_id,
                                              config_hash=self.digest, config={"train_run": self.run_id})

    def log(self, step: int, metrics: dict[str, float], debates: Sequence[Transcript] = ()) -> None:
        """Log ``step``'s metrics and its annotated debates (main process only)."""
        if self._tracker is None:
            return
        self._tracker.log_metrics(step, metrics)
        if debates and self._rollouts is not None:
            self._write_rollouts(step, debates)

    def _write_rollouts(self, step: int, debates: Sequence[Transcript]) -> None:
        assert self._rollouts is not None
        done = self._rollouts.completed_keys()
        counts: dict[str, int] = {}
        records = []
        for t in debates:
            index = (step - 1) * self.cfg.train.group_size + counts.get(t.problem_id, 0)
            counts[t.problem_id] = counts.get(t.problem_id, 0) + 1
            if (t.problem_id, index) in done:
                continue  # a step redone after a resume: the first record stays
            meta = dict(t.metadata)
            meta["training"] = {**meta.get("training", {}), "debate_id": t.debate_id}
            records.append(t.model_copy(update={
                "run_id": self.run_id, "config_hash": self.digest, "sample_index": index, "metadata": meta,
                "debate_id": make_debate_id(self.run_id, t.problem_id, index)}))
        self._rollouts.write(records)

    # ---- checkpoints and results -----------------------------------------------------------------
    def checkpoint_due(self, step: int) -> bool:
        return step % self.cfg.train.checkpoint_every == 0 or step == self.cfg.train.steps

    def checkpoint(self, step: int, policies: PolicySet, data_state: dict[str, Any], probe: torch.Tensor) -> None:
        """Write (and verify) the checkpoint of ``step`` (main process only)."""
        if self.group.is_main:
            save_checkpoint(self.run_dir, policies, step=step, data_state=data_state,
                            meta={"run_id": self.run_id, "config_hash": self.digest}, probe=probe,
                            keep=self.cfg.train.keep_checkpoints)

    def finish(self, policies: PolicySet, eval_accuracy: dict[str, dict[int, float]]) -> TrainResult:
        """Save the final policies (main process) and return the result; every process waits for it."""
        final = policies.save_pretrained(self.run_dir / "final") if self.group.is_main else {}
        self.group.barrier()
        return TrainResult(self.run_dir, self.cfg.train.steps, final, eval_accuracy)

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
        if self._rollouts is not None:
            self._rollouts.close()
