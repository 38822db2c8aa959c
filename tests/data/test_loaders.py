from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parley.config import DatasetConfig
from parley.data import DatasetError, load_problems
from parley.data.files import FileLoadReport


def test_reasoning_gym_is_seeded_and_scored_domain() -> None:
    a = load_problems(DatasetConfig(name="reasoning_gym:basic_arithmetic", size=30, seed=5))
    b = load_problems(DatasetConfig(name="reasoning_gym:basic_arithmetic", size=30, seed=5))
    c = load_problems(DatasetConfig(name="reasoning_gym:basic_arithmetic", size=30, seed=6))
    assert [p.question for p in a] == [p.question for p in b] != [p.question for p in c]
    assert a[0].domain == "reasoning"
    assert a[0].metadata["entry"]["answer"] == a[0].answer
    json.dumps(a[0].metadata)  # stored as JSON in the trajectory store


def test_reasoning_gym_options_reach_the_generator() -> None:
    ps = load_problems(DatasetConfig(name="reasoning_gym:basic_arithmetic", size=10, options={
        "min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}))
    assert all(len(p.question) < 30 for p in ps)


def test_champ_and_humaneval_bundled() -> None:
    champ = load_problems(DatasetConfig(name="champ"))
    assert len(champ) == 270 and all(p.answer for p in champ)
    he = load_problems(DatasetConfig(name="humaneval"))
    assert len(he) == 164 and he[0].domain == "code" and "entry_point" in he[0].metadata


def test_limit_is_a_seeded_random_subset_not_the_head(tmp_path: Path) -> None:
    rows = [{"problem": f"q{i}", "answer": str(i), "subject": "Algebra", "level": 1 + i // 20,
             "unique_id": f"u{i}", "solution": "..."} for i in range(100)]
    path = tmp_path / "math500.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    cfg = DatasetConfig(name="hf:math500", limit=20, seed=1, options={"data_files": str(path)})
    subset = load_problems(cfg)
    assert len(subset) == 20
    assert [p.id for p in subset] != [f"u{i}" for i in range(20)]
    assert len({p.metadata["level"] for p in subset}) >= 3  # spans difficulty levels
    assert [p.id for p in load_problems(cfg)] == [p.id for p in subset]  # seeded
    assert subset[0].domain == "math" and "level" in subset[0].metadata


def test_gsm8k_loader_extracts_final_answer(tmp_path: Path) -> None:
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("\n".join(json.dumps({"question": f"Q{i}?", "answer": f"steps <<1+1=2>>\n#### 1,00{i}"})
                              for i in range(5)))
    ps = load_problems(DatasetConfig(name="hf:gsm8k", options={"data_files": str(path)}))
    assert [p.answer for p in ps] == [f"100{i}" for i in range(5)]


def test_hf_loader_offline_without_local_copy_says_how_to_fix() -> None:
    with pytest.raises(DatasetError, match="data_files"):
        load_problems(DatasetConfig(name="hf:gsm8k"))


def test_malformed_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "probs.jsonl"
    path.write_text('{"question": "1+1", "answer": "2"}\n\n{"question": "2+2", "answer": \n[1]\n')
    with pytest.raises(DatasetError, match=r"probs\.jsonl:3"):
        load_problems(DatasetConfig(name=str(path)))
    report = FileLoadReport()
    ps = load_problems(DatasetConfig(name=str(path), skip_bad_lines=True), report=report)
    assert len(ps) == 1 and [s.line for s in report.skipped] == [3, 4]


def test_non_utf8_and_missing_question(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"question": "ok", "answer": "1"}\n\xff\xfe\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2"):
        load_problems(DatasetConfig(name=str(path)))
    path2 = tmp_path / "noq.jsonl"
    path2.write_text('{"answer": "1"}\n')
    with pytest.raises(DatasetError, match=r"noq\.jsonl:1.*question"):
        load_problems(DatasetConfig(name=str(path2)))


def test_yaml_file_and_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("problems:\n  - {id: a, question: '1+1', answer: '2', level: 3}\n  - {id: b, question: x}\n")
    ps = load_problems(DatasetConfig(name=str(path)))
    assert ps[0].metadata == {"level": 3} and ps[1].answer is None
    path.write_text("- {id: a, question: x}\n- {id: a, question: y}\n")
    with pytest.raises(DatasetError, match="duplicate"):
        load_problems(DatasetConfig(name=str(path)))


def test_unknown_dataset_lists_known() -> None:
    with pytest.raises(DatasetError, match="reasoning_gym"):
        load_problems(DatasetConfig(name="mmlu"))
