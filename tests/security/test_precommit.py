"""The pre-commit secret scanner: its baseline is current, and it stops a commit holding a key."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HOOK = Path(sys.executable).parent / "detect-secrets-hook"


def _hooks() -> dict[str, dict]:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    return {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}


def test_hooks_are_ruff_and_detect_secrets_pinned_like_the_lock() -> None:
    hooks = _hooks()
    assert {"ruff", "detect-secrets"} <= set(hooks)
    lock = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (REPO / "constraints.txt").read_text(), re.MULTILINE))
    for hook in hooks.values():
        for dep in hook.get("additional_dependencies", []):
            name, version = dep.split("==")
            assert lock.get(name) == version, f"{dep} differs from constraints.txt ({lock.get(name)})"
    assert "--baseline .secrets.baseline" in hooks["detect-secrets"]["entry"]


@pytest.mark.skipif(not HOOK.exists(), reason="detect-secrets is in the dev extra")
def test_baseline_covers_every_tracked_file() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    files = [f for f in files if f not in (".secrets.baseline", "constraints.txt") and (REPO / f).is_file()]
    proc = subprocess.run([str(HOOK), "--baseline", ".secrets.baseline", *files], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(not HOOK.exists(), reason="detect-secrets is in the dev extra")
def test_a_new_key_is_stopped(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # the hook runs inside a git checkout
    leaked = tmp_path / "settings.py"
    aws = "AKIA4PRQ7XTZ2KLMN3Q9"  # pragma: allowlist secret
    other = "q8Vn2rT5xLw9ZpKc3HsJ7bYd"  # pragma: allowlist secret
    leaked.write_text(f'AWS_ACCESS_KEY_ID = "{aws}"\nclient_secret = "{other}"\n')
    baseline = tmp_path / "baseline.json"
    baseline.write_text((REPO / ".secrets.baseline").read_text())
    proc = subprocess.run([str(HOOK), "--baseline", str(baseline), str(leaked)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    assert "settings.py:1" in proc.stdout and "AWS Access Key" in proc.stdout
