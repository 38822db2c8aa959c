"""The toolkit example in docs/report.md runs as written and writes what it says."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "report.md"


def test_docs_example_runs(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    source = code.group(1).replace('"runs/my-report"', repr(str(tmp_path / "my-report")))
    namespace: dict[str, object] = {}
    exec(compile(source, str(DOC), "exec"), namespace)  # our own documentation, not model output
    out = tmp_path / "my-report"
    assert {p.name for p in out.iterdir()} == {"report.html", "report.md", "arms.csv", "figures"}
    html = (out / "report.html").read_text()
    assert "23.7% [19.2,\u00a028.8]" in html and "Cost left out: local model." in html
    assert (out / "figures" / "arms.svg").is_file()
