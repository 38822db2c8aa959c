"""The reproducibility manifest (``<experiment dir>/manifest.json``) and environment comparison.

Written when an experiment starts and rewritten when it ends (with the artifacts' checksums). Fields:
``experiment_id``, ``name``, ``labels``, ``command`` (argv), ``git`` (commit and dirty flag of the parley
checkout, or nulls with a ``reason``), ``spec`` (the full resolved spec) and ``spec_hash``, ``arms`` (id,
values), ``stages`` (id, kind, arm, config hash), ``seeds`` (every ``*.seed`` field per stage),
``packages`` (importlib.metadata versions of :data:`KEY_PACKAGES`, null when not installed),
``platform`` (python, OS, CPU count, torch, CUDA), ``datasets`` (a fingerprint per distinct dataset
config: sha256 over the loaded problems' ids, questions and answers) and ``artifacts`` (stage ->
path -> sha256 and size).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from parley.config.models import DatasetConfig
from parley.data import DatasetError, load_problems
from parley.experiments.errors import ManifestError
from parley.experiments.plan import ExperimentPlan
from parley.experiments.state import ExperimentStore
from parley.redact import redact_data

MANIFEST_VERSION = 1
KEY_PACKAGES: tuple[str, ...] = (
    "parley", "torch", "transformers", "tokenizers", "safetensors", "pydantic", "numpy", "scipy", "pyarrow",
    "pyyaml", "datasets", "reasoning-gym", "math-verify", "peft", "accelerate", "openai", "litellm",
)


def git_info(path: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the git checkout holding ``path`` (default: the parley package)."""
    where = path or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=20, check=False)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None, "reason": f"not a git checkout: {commit.stderr.strip()}"}
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"commit": None, "dirty": None, "reason": f"git unavailable: {exc}"}
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return {"commit": commit.stdout.strip(), "dirty": dirty}


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None when not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def platform_info() -> dict[str, Any]:
    """Python, OS, CPU count, torch version and CUDA availability of this machine."""
    info: dict[str, Any] = {
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "os": platform.system(), "os_release": platform.release(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torch
    except ImportError:
        info.update(torch=None, cuda_available=False, cuda_version=None, gpus=[])
        return info
    cuda = bool(torch.cuda.is_available())
    info.update(torch=torch.__version__, cuda_available=cuda, cuda_version=torch.version.cuda,
                gpus=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [])
    return info


def dataset_fingerprint(cfg: DatasetConfig) -> dict[str, Any]:
    """sha256 over the loaded problems (id, question, answer, in order), or the error that stopped it."""
    try:
        problems = load_problems(cfg)
    except (DatasetError, OSError, ImportError, ValueError, ValidationError) as exc:
        return {"config": cfg.model_dump(mode="json"), "sha256": None, "error": f"{type(exc).__name__}: {exc}"}
    digest = hashlib.sha256()
    for p in problems:
        digest.update(json.dumps([p.id, p.question, p.answer], ensure_ascii=False).encode("utf-8") + b"\n")
    return {"config": cfg.model_dump(mode="json"), "num_problems": len(problems), "sha256": digest.hexdigest()}


def _seeds(data: Any, prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "seed" and not isinstance(value, dict):
                found[path] = value
            else:
                found.update(_seeds(value, path))
    return found


def _dataset_configs(plan: ExperimentPlan) -> dict[str, DatasetConfig]:
    found: dict[str, DatasetConfig] = {}
    for stage in plan.stages:
        candidates = [getattr(stage.config, "dataset", None)]
        train = getattr(stage.config, "train", None)
        candidates.append(getattr(getattr(train, "eval", None), "dataset", None))
        for cfg in candidates:
            if isinstance(cfg, DatasetConfig):
                key = hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
                found.setdefault(key[:16], cfg)
    return found


def build_manifest(plan: ExperimentPlan, experiment_id: str, labels: list[str], command: list[str],
                   store: ExperimentStore | None = None, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the manifest; dataset fingerprints are reused from ``previous`` when present."""
    artifacts: dict[str, dict[str, dict[str, Any]]] = {}
    if store is not None:
        for stage_id, art in store.artifacts(experiment_id):
            artifacts.setdefault(stage_id, {})[art.path] = {"sha256": art.sha256, "size": art.size}
    datasets = (previous or {}).get("datasets")
    if datasets is None:
        datasets = ({k: dataset_fingerprint(c) for k, c in _dataset_configs(plan).items()}
                    if plan.spec.fingerprint_datasets else {})
    return {
        "manifest_version": MANIFEST_VERSION,
        "experiment_id": experiment_id,
        "name": plan.spec.name,
        "labels": labels,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "git": (previous or {}).get("git") or git_info(),
        "spec": plan.spec.model_dump(mode="json"),
        "spec_hash": plan.spec_hash,
        "arms": [{"id": a.id, "values": a.values} for a in plan.arms],
        "stages": [{"id": s.id, "kind": s.kind, "arm": s.arm.id if s.arm else None, "config_hash": s.config_hash}
                   for s in plan.stages],
        "seeds": {s.id: _seeds(s.config_data) for s in plan.stages},
        "packages": package_versions(),
        "platform": platform_info(),
        "python_executable": sys.executable,
        "datasets": datasets,
        "artifacts": artifacts,
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` as JSON atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(redact_data(manifest), indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a manifest, checking it has the fields reproduction needs."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc}") from None
    missing = [k for k in ("spec", "packages", "platform", "git") if k not in data]
    if missing:
        raise ManifestError(f"{path}: not a parley experiment manifest (missing {', '.join(missing)})")
    return dict(data)


@dataclass(frozen=True)
class Mismatch:
    """One environment difference between a manifest and this machine."""

    field: str
    recorded: Any
    current: Any


def compare_environment(manifest: dict[str, Any]) -> list[Mismatch]:
    """Package versions, platform (python, OS, torch, CUDA) and git commit/dirty flag that differ now."""
    out: list[Mismatch] = []
    current_pkgs = package_versions(tuple(manifest.get("packages", {})))
    for name, version in sorted(manifest.get("packages", {}).items()):
        if current_pkgs.get(name) != version:
            out.append(Mismatch(f"packages.{name}", version, current_pkgs.get(name)))
    now = platform_info()
    for key in ("python", "implementation", "os", "machine", "torch", "cuda_available", "cuda_version"):
        recorded = manifest.get("platform", {}).get(key)
        if recorded != now.get(key):
            out.append(Mismatch(f"platform.{key}", recorded, now.get(key)))
    git_now = git_info()
    for key in ("commit", "dirty"):
        recorded = manifest.get("git", {}).get(key)
        if recorded != git_now.get(key):
            out.append(Mismatch(f"git.{key}", recorded, git_now.get(key)))
    return out
