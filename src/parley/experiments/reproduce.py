"""Re-run an experiment from its manifest into a new experiment, reporting environment differences.

The differences (package versions, platform, git commit and dirty flag) are computed before anything
runs; with ``strict`` any difference stops the reproduction. After the run, the artifacts' checksums
are compared with the manifest's (a deterministic stage should produce identical bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from parley.experiments.errors import ExperimentError
from parley.experiments.manifest import Mismatch, compare_environment, read_manifest
from parley.experiments.plan import ExperimentPlan, build_plan
from parley.experiments.runner import ExperimentRunner
from parley.experiments.spec import spec_from_mapping
from parley.experiments.state import ExperimentRecord


@dataclass
class ReproduceResult:
    """What reproduction found and did. ``record`` is None for a dry run (or a strict refusal)."""

    source_experiment: str
    experiment_id: str
    plan: ExperimentPlan
    environment: list[Mismatch]
    record: ExperimentRecord | None = None
    artifact_mismatches: list[Mismatch] = field(default_factory=list)


def reproduction_id(runner: ExperimentRunner, source_id: str) -> str:
    """``<source>-repro-<n>`` with the smallest n not used under the runner's root."""
    n = 1
    while runner.store.get_experiment(f"{source_id}-repro-{n}") is not None:
        n += 1
    return f"{source_id}-repro-{n}"


def reproduce(manifest_path: str | Path, runner: ExperimentRunner, *, dry_run: bool = False,
              strict: bool = False, experiment_id: str | None = None,
              command: list[str] | None = None) -> ReproduceResult:
    """Compare the environment with the manifest's, then (unless ``dry_run``) run its spec anew.

    Raises:
        ManifestError: the manifest cannot be read (a ``ValueError`` too).
        ExperimentError: ``strict`` and the environment differs.
        SpecError: the recorded spec no longer validates here (e.g. a stage kind is missing).
    """
    manifest = read_manifest(manifest_path)
    source = str(manifest.get("experiment_id", "experiment"))
    spec = spec_from_mapping(manifest["spec"], f"{manifest_path}: spec")
    plan = build_plan(spec, f"{manifest_path}: spec")
    result = ReproduceResult(source, experiment_id or reproduction_id(runner, source), plan,
                             compare_environment(manifest))
    if dry_run:
        return result
    if strict and result.environment:
        fields = ", ".join(m.field for m in result.environment)
        raise ExperimentError(f"environment differs from {manifest_path} ({fields}); not reproducing (strict)")
    result.record = runner.run(spec, result.experiment_id, command, source=f"{manifest_path}: spec")
    recorded = manifest.get("artifacts", {})
    now = {(sid, a.path): a.sha256 for sid, a in runner.store.artifacts(result.experiment_id)}
    for sid, paths in sorted(recorded.items()):
        for path, info in sorted(paths.items()):
            current = now.get((sid, path))
            if current != info.get("sha256"):
                result.artifact_mismatches.append(Mismatch(f"artifacts.{sid}.{path}", info.get("sha256"), current))
    return result
