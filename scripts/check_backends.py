"""Run an experiment spec on the local executor and on a local Ray cluster (Ray Jobs), then compare.

    .venv/bin/python scripts/check_backends.py examples/experiment_quick.yaml [--work /tmp/parley-check]

Starts a Ray head on 127.0.0.1 (free ports, its own temp dir; stopped by pid at the end), runs
``parley experiment run SPEC --executor local`` and ``... --executor ray --ray-address ADDR`` into two
roots, lists the Ray jobs of the experiment (one per stage attempt) and compares every declared output
of every stage: byte-identical (same sha256); else equal content: JSON / JSON-lines compared after
dropping wall-clock figures (``time/``, ``perf/``, ``*_s``...) and run ids, with the two experiment roots
written as ``<root>``, numbers equal to a relative 1e-5 or an absolute 1e-6 (float32 rounding in separate processes;
quantities that are 0 up to rounding, like the KL at the first step, differ by ~1e-9), and
in directories only their JSON / JSON-lines files (Parquet stores carry a random run id).
``--compare-only`` compares two existing roots under ``--work`` without running anything.
Exits 1 on a difference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from tests.ray_cluster import local_ray_cluster  # noqa: E402

from parley.experiments import ExperimentStore, experiment_id_for, load_spec  # noqa: E402

VOLATILE = ("time", "elapsed", "wall", "_s", "per_s", "timestamp", "started", "ended", "per_hour", "perf/",
            "run_id", "config_hash")
REL_TOL, ABS_TOL = 1e-5, 1e-6


def _normal(value: Any, roots: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _normal(v, roots) for k, v in value.items() if not any(t in k for t in VOLATILE)}
    if isinstance(value, list):
        return [_normal(v, roots) for v in value]
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, "<root>")
        return value
    return value


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if (isinstance(a, float) and isinstance(b, float | int)) or (isinstance(b, float) and isinstance(a, int)):
        return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)
    return bool(a == b)


def _content(path: Path, roots: list[str]) -> Any:
    if path.is_dir():
        return {p.relative_to(path).as_posix(): _content(p, roots) for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix in (".json", ".jsonl")}
    if path.suffix == ".json":
        return _normal(json.loads(path.read_text()), roots)
    if path.suffix == ".jsonl":
        return [_normal(json.loads(line), roots) for line in path.read_text().splitlines() if line.strip()]
    return path.read_bytes()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/parley-check-backends"))
    parser.add_argument("--compare-only", action="store_true")
    args = parser.parse_args()
    spec = load_spec(args.spec)
    exp_id = experiment_id_for(spec)
    roots = {"local": args.work / "local", "ray": args.work / "ray"}
    if not args.compare_only:
        status = _run_both(args.spec, exp_id, roots)
        if status:
            return status
    return _compare(exp_id, roots)


def _run_both(spec_path: Path, exp_id: str, roots: dict[str, Path]) -> int:
    parley = [str(Path(sys.executable).with_name("parley")), "experiment", "run", str(spec_path)]
    with local_ray_cluster(num_cpus=2) as cluster:
        for backend, root in roots.items():
            extra = ["--ray-address", cluster.address] if backend == "ray" else []
            started = time.monotonic()
            done = subprocess.run([*parley, "--root", str(root), "--executor", backend, *extra], env=cluster.env,
                                  capture_output=True, text=True, check=False)
            print(f"{backend}: exit {done.returncode} in {time.monotonic() - started:.0f} s")
            if done.returncode != 0:
                print(done.stdout[-3000:], done.stderr[-3000:])
                return 1
        from ray.job_submission import JobSubmissionClient

        jobs = [j for j in JobSubmissionClient(cluster.address).list_jobs()
                if (j.metadata or {}).get("parley.experiment") == exp_id]
        for j in sorted(jobs, key=lambda j: j.start_time or 0):
            print(f"ray job {j.submission_id}: stage {j.metadata['parley.stage']} attempt "
                  f"{j.metadata['parley.attempt']} {j.status.value}")
    return 0


def _compare(exp_id: str, roots: dict[str, Path]) -> int:
    stores = {b: ExperimentStore(r / "experiments.db") for b, r in roots.items()}
    arts = {b: {(sid, a.path): a.sha256 for sid, a in s.artifacts(exp_id)} for b, s in stores.items()}
    dirs = {b: {s.stage_id: s.dir for s in st.stages(exp_id)} for b, st in stores.items()}
    root_strs = [str(r / exp_id) for r in roots.values()]
    different = 0
    for key in sorted(arts["local"]):
        sid, rel = key
        if arts["local"][key] == arts["ray"].get(key):
            print(f"same bytes   {sid}/{rel}")
        elif _close(_content(dirs["local"][sid] / rel, root_strs), _content(dirs["ray"][sid] / rel, root_strs)):
            print(f"same content {sid}/{rel} (apart from times, run ids, root paths; "
                  f"numbers within {REL_TOL:g} rel / {ABS_TOL:g} abs)")
        else:
            print(f"DIFFERENT    {sid}/{rel}")
            different += 1
    print(f"{len(arts['local'])} outputs compared, {different} different")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
