"""``parley demo --model smollm2``: the spec, its errors, and (where SmolLM2 is fetched) a smoke run end to end.

The end-to-end test runs ``--quick`` (two strategies, one seed, one step, two held-out problems); it is
skipped, with the reason, when `parley model fetch smollm2` has not run (scripts/test.sh fetches it in CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parley.experiments import spec_from_mapping
from parley.experiments.demo import UnknownDemoModelError, demo_spec
from parley.experiments.demo_smollm2 import SMOLLM2_FULL, SMOLLM2_QUICK
from parley.llm.catalog import smollm2_dir
from parley.llm.packaged_gguf import is_converted
from tests.experiments.conftest import REPO


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parley.cli.app", "demo", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_the_tiny_demo_spec_is_the_default() -> None:
    assert demo_spec() == demo_spec(model="tiny") and demo_spec(quick=True) == demo_spec(quick=True, model="tiny")
    assert demo_spec()["config"]["model"]["name"] == "tiny" and demo_spec()["name"] == "parley-demo"


@pytest.mark.parametrize("quick", [False, True])
def test_the_smollm2_spec_plans(quick: bool) -> None:
    mapping = demo_spec(quick=quick, model="smollm2")
    spec = spec_from_mapping(mapping, "test")
    b = SMOLLM2_QUICK if quick else SMOLLM2_FULL
    config = mapping["config"]
    assert config["model"]["name"] == "smollm2" and config["protocol"]["prompts_dir"] == "instruct"
    assert config["train"]["policy"] == {"mode": "shared", "full_finetune": False, "lora": {
        "r": 16, "alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}}
    assert mapping["stages"][0]["kind"] == "model_prepare"
    names = [s["name"] for s in mapping["sweeps"]["train.shaping"]]
    assert names == (["identity", "mixing"] if quick else ["identity", "difference", "potential", "mixing"])
    assert mapping["sweeps"]["train.seed"] == b["seeds"]
    assert spec.name == mapping["name"]


def test_an_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(UnknownDemoModelError, match="tiny or smollm2"):
        demo_spec(model="gpt2")
    proc = _cli("--model", "gpt2", "--out", "/nonexistent/never-written")
    assert proc.returncode == 2 and "tiny or smollm2" in proc.stdout + proc.stderr


def test_smollm2_not_fetched_says_how_to_fetch_it(tmp_path: Path) -> None:
    proc = _cli("--model", "smollm2", "--quick", "--out", str(tmp_path / "runs"),
                env={"PARLEY_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert proc.returncode == 2 and "parley model fetch smollm2" in proc.stdout + proc.stderr
    assert not (tmp_path / "runs").exists()  # nothing was started


@pytest.mark.skipif(not is_converted(smollm2_dir()),
                    reason="SmolLM2 is not fetched (run `parley model fetch smollm2`; scripts/test.sh does so in CI)")
@pytest.mark.skipif(os.environ.get("PARLEY_SLOW_TESTS") != "1",
                    reason="a real-model demo run takes 4-6 min on 2 CPU cores (real-model tests in the default suite "
                           "stay at a few generations); set PARLEY_SLOW_TESTS=1 to run it")
def test_smollm2_quick_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = _cli("--model", "smollm2", "--quick", "--out", str(out), timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report_dir = next(out.glob("*/stages/report"))
    findings = json.loads((report_dir / "findings.json").read_text())
    assert set(findings["arms"]) == {"identity", "mixing"}
    for arm in findings["arms"].values():
        assert arm["seeds"] == [0] and arm["debate_accuracy"]["n"] == SMOLLM2_QUICK["heldout_size"]
    assert findings["warm_start"]["debate_accuracy"]["n"] == SMOLLM2_QUICK["heldout_size"]
    prep = json.loads(next(out.glob("*/stages/prepare/model.json")).read_text())
    assert prep["supervised_warm_start"] is False and Path(prep["model_dir"]) == smollm2_dir()
    prepared = next(out.glob("*/stages/prepare"))

    def questions(name: str) -> set[str]:
        return {json.loads(line)["question"] for line in (prepared / name).read_text().splitlines()}

    assert not questions("heldout.jsonl") & questions("train.jsonl")
    html = (report_dir / "report.html").read_text()
    assert "SmolLM2-135M-Instruct" in html and "held-out accuracy" in proc.stdout
