"""``parley verify math`` end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley.cli.app", "verify", "math", "--workers", "1", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


GOOD = [
    json.dumps({"id": "a", "gold": r"\frac{1}{2}", "pred": "The answer is $0.5$."}).encode(),
    json.dumps({"gold": "3", "pred": "#### 4"}).encode(),
    json.dumps({"gold": "7", "pred": None}).encode(),
    b'{"gold": "2", "pred": "\xff\xfe 2"}',  # not UTF-8 inside the prediction
]


def test_outputs_one_line_per_input_with_summary(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", GOOD)
    out = tmp_path / "out.jsonl"
    proc = _run(str(src), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("id") for r in rows] == ["a", None, None, None]
    assert [r["correct"] for r in rows] == [True, False, False, False]
    assert [r["pred_extracted"] for r in rows] == ["0.5", "4", None, None]
    assert rows[0]["error"] is None and "UTF-8" in rows[3]["error"]
    assert rows[0]["gold"] == r"\frac{1}{2}"  # the input fields are kept
    assert "scored 4 lines: 1 correct" in proc.stderr


def test_stdout_when_no_out(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", GOOD[:2])
    proc = _run(str(src))
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["correct"] for line in proc.stdout.splitlines()] == [True, False]


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    src = _write(tmp_path / "bad.jsonl", [GOOD[0], b"{not json", json.dumps({"pred": "1"}).encode()])
    proc = _run(str(src))
    assert proc.returncode == 2
    assert f"{src}:2" in proc.stderr and "invalid JSON" in proc.stderr
    skipped = _run(str(src), "--skip-bad-lines")
    assert skipped.returncode == 0, skipped.stderr
    assert len(skipped.stdout.splitlines()) == 1
    assert "skipped 2 malformed line(s)" in skipped.stderr
    assert f"{src}:3: field 'gold' must be a string" in skipped.stderr
