"""Atomic, checksummed training checkpoints that are verified on save and on load.

Layout of ``<run>/checkpoints/step-000012/``: ``policies/<policy_id>/{model,optimizer,scheduler}.pt``
(``model.pt``: full weights, or only the policy's LoRA adapter),
``state.pt`` (step, data position, RNG states of python/numpy/torch), ``meta.json`` and
``checksums.json`` (SHA-256 of every file). A checkpoint is written into a temporary sibling directory
and renamed into place, so a crash mid-save never leaves a half checkpoint that looks complete. After a
save the weights are reloaded from disk into a copy of each model and a fixed probe batch's logits are
compared with the live model's (they must be identical). Loading verifies every checksum first; a
mismatch raises :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from parley.errors import WorkFailedError
from parley.training.policies import PolicySet

CHECKPOINT_DIR = "checkpoints"


class CheckpointError(WorkFailedError, RuntimeError):
    """A checkpoint is missing, corrupted (checksum mismatch) or does not match the run."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary directories are ignored)."""
    root = run_dir / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-"))


def _probe_logits(model: Any, probe: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=probe).logits


def save_checkpoint(run_dir: Path, policies: PolicySet, *, step: int, data_state: dict[str, Any],
                    meta: dict[str, Any], probe: torch.Tensor, keep: int) -> Path:
    """Write the checkpoint of ``step`` atomically, verify it, and prune to the newest ``keep``."""
    root = run_dir / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for pid, policy in policies.policies.items():
        pdir = tmp / "policies" / pid
        pdir.mkdir(parents=True)
        torch.save(policy.state_dict(), pdir / "model.pt")  # LoRA: the adapter only
        if policy.optimizer is not None and policy.scheduler is not None:
            torch.save(policy.optimizer.state_dict(), pdir / "optimizer.pt")
            torch.save(policy.scheduler.state_dict(), pdir / "scheduler.pt")
    state = {"step": step, "data": data_state, "python_rng": random.getstate(),
             "numpy_rng": np.random.get_state(), "torch_rng": torch.get_rng_state()}
    torch.save(state, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps({**meta, "step": step}, indent=2, default=str))
    checksums = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    (tmp / "checksums.json").write_text(json.dumps(checksums, indent=2))
    for name in ("state.pt", "meta.json", "checksums.json"):
        with (tmp / name).open("rb") as f:
            os.fsync(f.fileno())
    # Verify: reload the saved weights into copies and compare a probe batch's logits.
    for pid, policy in policies.policies.items():
        clone = copy.deepcopy(policy.model)
        policy.load_state_dict(torch.load(tmp / "policies" / pid / "model.pt", weights_only=True), model=clone)
        clone.eval()
        policy.activate(clone)
        policy.activate()
        was_training = policy.model.training
        policy.model.eval()
        same = torch.equal(_probe_logits(clone, probe), _probe_logits(policy.model, probe))
        policy.model.train(was_training)
        if not same:
            shutil.rmtree(tmp)
            raise CheckpointError(f"checkpoint of step {step}: policy {pid!r} reloaded from disk gives different "
                                  "logits on the probe batch; not saved")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in checkpoint_dirs(run_dir)[:-keep]:
        shutil.rmtree(old)
    return final


def verify_checkpoint(path: Path) -> dict[str, str]:
    """Check every file against ``checksums.json``; returns the checksums. Raises naming the bad file."""
    sums_path = path / "checksums.json"
    if not sums_path.is_file():
        raise CheckpointError(f"{sums_path}: missing; {path} is not a complete checkpoint")
    try:
        sums: dict[str, str] = json.loads(sums_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{sums_path}: corrupted ({exc})") from None
    for rel, expected in sums.items():
        file = path / rel
        if not file.is_file():
            raise CheckpointError(f"{file}: missing from checkpoint")
        if _sha256(file) != expected:
            raise CheckpointError(f"{file}: checksum mismatch (file corrupted or modified)")
    return sums


def load_checkpoint(path: Path, policies: PolicySet) -> dict[str, Any]:
    """Restore weights, optimiser/scheduler and RNG states; returns the saved state (step, data)."""
    verify_checkpoint(path)
    for pid, policy in policies.policies.items():
        pdir = path / "policies" / pid
        if not (pdir / "model.pt").is_file():
            raise CheckpointError(f"{pdir / 'model.pt'}: no weights for policy {pid!r} (was the policy mode changed?)")
        policy.load_state_dict(torch.load(pdir / "model.pt", weights_only=True))
        if policy.optimizer is not None and policy.scheduler is not None:
            policy.optimizer.load_state_dict(torch.load(pdir / "optimizer.pt", weights_only=True))
            policy.scheduler.load_state_dict(torch.load(pdir / "scheduler.pt", weights_only=True))
    state: dict[str, Any] = torch.load(path / "state.pt", weights_only=False)
    random.setstate(state["python_rng"])
    np.random.set_state(state["numpy_rng"])
    torch.set_rng_state(state["torch_rng"])
    return state
