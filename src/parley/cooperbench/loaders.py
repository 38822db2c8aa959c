"""Read CooperBench runs into :class:`RunRecord` objects.

Two layouts are read (arXiv 2601.13295 released its harness with the first; the second is the
normalised file of a public reproduction, shipped in ``data/cooperbench`` of the repository):

* **logs directory**: ``logs/<run>/<solo|coop>/<repo>/<task>/<pair>/`` holding ``result.json`` (run
  metadata and the agents), ``eval.json`` (merge and test outcome), ``conversation.json`` (coop
  messages), ``<agent>.patch`` and ``<agent>_traj.json``.
* **records file**: a JSON list of flat records (``repo, task_id, features, setting, seed, ...``).

Agents always come from the run metadata (``result.json``'s ``agent``/``agents``, or the setting for
the records file), never from who happened to send messages. Problems are flagged on the record with a
reason; nothing here raises on bad content, only on an unreadable path.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from parley.cooperbench.errors import CooperBenchInputError
from parley.cooperbench.types import (
    AgentMessage,
    AgentRun,
    AgentStatus,
    LoadResult,
    MergeStatus,
    RunRecord,
    Setting,
    TrajectoryStep,
)

logger = logging.getLogger(__name__)

_MERGE_STATUS: dict[str, MergeStatus] = {
    "clean": "clean",
    "conflicts": "conflict",
    "conflict": "conflict",
    "error": "error",
}
_AGENT_STATUS: dict[str, AgentStatus] = {
    "submitted": "Submitted",
    "limitsexceeded": "LimitsExceeded",
    "error": "Error",
}


def _agent_status(value: Any) -> AgentStatus:
    return _AGENT_STATUS.get(str(value or "").replace("_", "").lower(), "Unknown")


def _messages(raw: Any, record: RunRecord | None = None) -> list[AgentMessage]:
    """Messages from the ``{from, to, message, timestamp, feature_id}`` form; bad items are flagged."""
    out: list[AgentMessage] = []
    if not isinstance(raw, list):
        if record is not None and raw is not None:
            record.flag("malformed_conversation", f"messages should be a list, got {type(raw).__name__}")
        return out
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("message", item.get("text")), str):
            if record is not None:
                record.flag("malformed_message", f"message {i} has no text; skipped")
            continue
        ts = item.get("timestamp")
        fid = item.get("feature_id")
        out.append(
            AgentMessage(
                sender=str(item.get("from", item.get("sender", "?"))),
                recipient=None if item.get("to") is None else str(item.get("to")),
                text=str(item.get("message", item.get("text", ""))),
                timestamp=float(ts) if isinstance(ts, int | float) else None,
                feature_id=int(fid) if isinstance(fid, int) else None,
            )
        )
    return out


def _setting_from_record(value: Any) -> Setting | None:
    text = str(value or "").lower().replace("_", "-")
    if text == "solo":
        return "solo"
    if text in ("coop-comm", "coop", "coop-with-comm"):
        return "coop-comm"
    if text in ("coop-nocomm", "coop-no-comm"):
        return "coop-nocomm"
    return None


def _mark_duplicates(records: list[RunRecord]) -> None:
    seen: dict[tuple[Any, ...], str] = {}
    for rec in records:
        key = rec.record_key
        if key in seen:
            rec.flag("duplicate", f"same model/repo/task/pair/setting/seed as {seen[key]}; excluded")
        else:
            seen[key] = rec.source


# ---------------------------------------------------------------------------------------------------
# Records file
# ---------------------------------------------------------------------------------------------------


def record_from_flat(raw: dict[str, Any], source: str) -> RunRecord:
    """Build one record from the normalised flat form (raises ``ValueError`` naming the field)."""
    for key in ("repo", "task_id", "features", "setting"):
        if key not in raw:
            raise ValueError(f"missing field {key!r}")
    setting = _setting_from_record(raw["setting"])
    if setting is None:
        raise ValueError(f"setting {raw['setting']!r} is not solo, coop-comm or coop-nocomm")
    feats = raw["features"]
    if not (isinstance(feats, list | tuple) and len(feats) == 2 and all(isinstance(f, int) for f in feats)):
        raise ValueError(f"features should be two integers, got {feats!r}")
    f1, f2 = int(feats[0]), int(feats[1])
    eval_error = raw.get("eval_error") or None
    merge_raw = raw.get("merge_status")
    merge: MergeStatus | None
    if eval_error:
        merge = "error"
    elif setting == "solo":
        merge = "not_applicable"
    else:
        merge = _MERGE_STATUS.get(str(merge_raw)) if merge_raw is not None else None
    status = _agent_status(raw.get("agent_status"))
    # Run metadata fixes the agents: solo has one agent with both features; coop has agent1 on the
    # first feature and agent2 on the second (CooperBench's convention), whatever the messages say.
    if setting == "solo":
        agents = [AgentRun(agent_id="solo", features=[f1, f2], status=status)]
    else:
        agents = [
            AgentRun(agent_id="agent1", features=[f1]),
            AgentRun(agent_id="agent2", features=[f2]),
        ]
    rec = RunRecord(
        repo=str(raw["repo"]),
        task_id=int(raw["task_id"]),
        features=(f1, f2),
        setting=setting,
        seed=int(raw.get("seed") or 0),
        run_name=str(raw.get("run_name") or ""),
        model=str(raw.get("model") or "unknown"),
        source=source,
        agents=agents,
        total_steps=raw.get("total_steps"),
        total_cost=raw.get("total_cost"),
        duration_s=raw.get("duration_seconds"),
        agent_status=status,
        infra_error=bool(raw.get("infra_error", False)),
        both_passed=raw.get("both_passed"),
        feature_passed=(raw.get("feature1_passed"), raw.get("feature2_passed")),
        merge_status=merge,
        merge_strategy=raw.get("merge_strategy"),
        eval_error=eval_error,
    )
    rec.messages = _messages(raw.get("messages", []), rec)
    if eval_error:
        rec.flag("eval_error", f"evaluation error (not a merge conflict): {eval_error.strip()}")
    if setting == "coop-comm" and not rec.messages:
        rec.flag("empty_conversation", "coop-comm run without any message; communication metrics skip it")
    return rec


def load_records_file(path: str | Path) -> LoadResult:
    """Read the normalised JSON list of records (format: ``data/cooperbench/README.md`` and docs/cooperbench.md)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CooperBenchInputError(f"{path}: cannot read a CooperBench records file: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list):
        raise CooperBenchInputError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    result = LoadResult(layout="records_file")
    for i, raw in enumerate(data):
        where = f"{path}#{i}"
        if not isinstance(raw, dict):
            result.problems.append(f"{where}: not an object; skipped")
            continue
        try:
            result.records.append(record_from_flat(raw, where))
        except (ValueError, TypeError, ValidationError) as exc:
            result.problems.append(f"{where}: malformed record skipped: {exc}")
    _mark_duplicates(result.records)
    return result


# ---------------------------------------------------------------------------------------------------
# Upstream logs directory
# ---------------------------------------------------------------------------------------------------


def _read_json(path: Path, rec: RunRecord | None, code: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        if rec is not None:
            rec.flag(code, f"{path.name}: unreadable JSON ({exc})")
        return None


def _read_patch(path: Path, rec: RunRecord) -> str | None:
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        rec.flag("patch_not_utf8", f"{path.name}: not UTF-8; undecodable bytes replaced")
        return data.decode("utf-8", errors="replace")


def _trajectory(path: Path, rec: RunRecord) -> list[TrajectoryStep]:
    if not path.is_file():
        return []
    raw = _read_json(path, rec, "malformed_trajectory")
    items = raw.get("messages", []) if isinstance(raw, dict) else raw
    steps: list[TrajectoryStep] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        content = item.get("content", "")
        if isinstance(content, list):  # OpenAI-style content parts
            content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        steps.append(TrajectoryStep(role=str(item.get("role", "?")), content=str(content)))
    return steps


def _coop_setting(run_dir: Path, config: dict[str, Any], rec: RunRecord) -> Setting:
    declared = str(config.get("setting") or "").lower().replace("_", "-")
    if declared in ("coop-comm", "coop-nocomm"):
        return declared  # type: ignore[return-value]
    for key, comm_if in (("no_messaging", False), ("messaging_enabled", True), ("comm", True)):
        if isinstance(config.get(key), bool):
            return "coop-comm" if config[key] == comm_if else "coop-nocomm"
    name = run_dir.name.lower().replace("_", "-")
    rec.flag("setting_from_run_name", f"comm/no-comm read from the run directory name {run_dir.name!r}")
    return "coop-nocomm" if re.search(r"no-?comm", name) else "coop-comm"


def _seed(run_dir: Path, config: dict[str, Any], result: dict[str, Any]) -> int:
    for src in (result, config):
        if isinstance(src.get("seed"), int):
            return int(src["seed"])
    match = re.search(r"seed[-_]?(\d+)", run_dir.name)
    return int(match.group(1)) if match else 0


def _features_from_pair_dir(name: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"f(\d+)_f(\d+)", name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def record_from_log_dir(pair_dir: Path, run_configs: dict[Path, dict[str, Any]]) -> RunRecord:
    """Read one ``<pair>`` directory of the upstream layout."""
    mode_dir = pair_dir.parents[2]
    run_dir = mode_dir.parent
    config = run_configs.setdefault(run_dir, _run_config(run_dir))
    feats = _features_from_pair_dir(pair_dir.name) or (0, 0)
    task_name = pair_dir.parent.name
    task_id = int(re.sub(r"\D", "", task_name) or 0)
    rec = RunRecord(
        repo=pair_dir.parents[1].name,
        task_id=task_id,
        features=feats,
        setting="solo" if mode_dir.name == "solo" else "coop-comm",
        run_name=str(config.get("run_name") or run_dir.name),
        model=str(config.get("model") or "unknown"),
        source=str(pair_dir),
    )
    result_path = pair_dir / "result.json"
    result = _read_json(result_path, rec, "malformed_record") if result_path.is_file() else None
    if not result_path.is_file():
        rec.flag("missing_result", "result.json is missing; run metadata and agents unknown")
    result = result if isinstance(result, dict) else {}
    if isinstance(result.get("features"), list) and len(result["features"]) == 2:
        rec.features = (int(result["features"][0]), int(result["features"][1]))
    if isinstance(result.get("task_id"), int):
        rec.task_id = result["task_id"]
    rec.repo = str(result.get("repo") or rec.repo)
    rec.model = str(result.get("model") or rec.model)
    rec.run_name = str(result.get("run_name") or rec.run_name)
    if mode_dir.name != "solo":
        rec.setting = _coop_setting(run_dir, config, rec)
    rec.seed = _seed(run_dir, config, result)
    rec.total_steps = result.get("total_steps")
    rec.total_cost = result.get("total_cost")
    rec.duration_s = result.get("duration_seconds")
    rec.infra_error = bool(result.get("infra_error", False))
    f1, f2 = rec.features
    if rec.setting == "solo":
        agent: dict[str, Any] = result["agent"] if isinstance(result.get("agent"), dict) else {}
        run = AgentRun(
            agent_id="solo",
            features=[f1, f2],
            status=_agent_status(agent.get("status")),
            steps=agent.get("steps"),
            cost=agent.get("cost"),
            patch=_read_patch(pair_dir / "solo.patch", rec),
            trajectory=_trajectory(pair_dir / "solo_traj.json", rec),
        )
        rec.agents = [run]
        rec.agent_status = run.status
    else:
        agents: dict[str, Any] = result["agents"] if isinstance(result.get("agents"), dict) else {}
        if not agents and result:
            rec.flag("missing_agents", "result.json of a coop run lists no agents")
        for i, (agent_id, meta) in enumerate(sorted(agents.items())):
            meta = meta if isinstance(meta, dict) else {}
            fid = meta.get("feature_id", rec.features[min(i, 1)])
            names = [f"{agent_id}.patch", f"agent{fid}.patch", f"patch{i + 1}.patch"]
            patch = next((p for p in (_read_patch(pair_dir / n, rec) for n in names) if p is not None), None)
            trajs = [pair_dir / f"{agent_id}_traj.json", pair_dir / f"agent{fid}_traj.json"]
            traj_path = next((p for p in trajs if p.is_file()), trajs[0])
            rec.agents.append(
                AgentRun(
                    agent_id=str(agent_id),
                    features=[int(fid)],
                    status=_agent_status(meta.get("status")),
                    steps=meta.get("steps"),
                    cost=meta.get("cost"),
                    patch=patch,
                    trajectory=_trajectory(traj_path, rec),
                )
            )
        order: list[AgentStatus] = ["Error", "LimitsExceeded", "Submitted", "Unknown"]
        statuses = [a.status for a in rec.agents]
        rec.agent_status = next((s for s in order if s in statuses), "Unknown")
        conv_path = pair_dir / "conversation.json"
        if conv_path.is_file():
            rec.messages = _messages(_read_json(conv_path, rec, "malformed_conversation"), rec)
        elif rec.setting == "coop-comm":
            rec.flag("missing_conversation", "conversation.json is missing for a coop-comm run")
        if rec.setting == "coop-comm" and not rec.messages:
            rec.flag("empty_conversation", "coop-comm run without any message; communication metrics skip it")
    _apply_eval(pair_dir / "eval.json", rec)
    return rec


def _apply_eval(path: Path, rec: RunRecord) -> None:
    if not path.is_file():
        rec.flag("missing_eval", "eval.json is missing: outcome unknown, excluded from outcome statistics")
        return
    ev = _read_json(path, rec, "malformed_eval")
    if not isinstance(ev, dict):
        rec.flag("missing_eval", "eval.json is not an object: outcome unknown")
        return
    rec.eval_error = ev.get("error") or None
    f1: dict[str, Any] = ev["feature1"] if isinstance(ev.get("feature1"), dict) else {}
    f2: dict[str, Any] = ev["feature2"] if isinstance(ev.get("feature2"), dict) else {}
    rec.feature_passed = (f1.get("passed"), f2.get("passed"))
    rec.both_passed = ev.get("both_passed")
    merge = ev.get("merge") if isinstance(ev.get("merge"), dict) else None
    if rec.eval_error:
        rec.merge_status = "error"
        rec.flag("eval_error", f"evaluation error (not a merge conflict): {str(rec.eval_error).strip()}")
    elif rec.setting == "solo":
        rec.merge_status = "not_applicable"
    elif merge is not None:
        rec.merge_status = _MERGE_STATUS.get(str(merge.get("status")))
        rec.merge_strategy = merge.get("strategy")


def _run_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    if not path.is_file():
        return {}
    raw = _read_json(path, None, "")
    return raw if isinstance(raw, dict) else {}


def _pair_dirs(root: Path) -> Iterable[Path]:
    seen: set[Path] = set()
    for marker in ("result.json", "eval.json", "conversation.json"):
        for path in root.rglob(marker):
            pair = path.parent
            if pair not in seen and len(pair.relative_to(root).parts) >= 4:
                seen.add(pair)
    return sorted(seen)


def load_logs_dir(root: str | Path) -> LoadResult:
    """Read every ``<run>/<solo|coop>/<repo>/<task>/<pair>`` directory under ``root``.

    ``root`` may be the ``logs`` directory (many runs) or one run directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise CooperBenchInputError(f"{root}: not a directory")
    result = LoadResult(layout="logs_dir")
    configs: dict[Path, dict[str, Any]] = {}
    for pair_dir in _pair_dirs(root):
        if pair_dir.parents[2].name not in ("solo", "coop"):
            result.problems.append(f"{pair_dir}: not under a solo/ or coop/ directory; skipped")
            continue
        result.records.append(record_from_log_dir(pair_dir, configs))
    if not result.records:
        result.problems.append(f"{root}: no <run>/<solo|coop>/<repo>/<task>/<pair>/ directories found")
    _mark_duplicates(result.records)
    return result


def load_runs(path: str | Path) -> LoadResult:
    """Read a records file or a logs directory, whichever ``path`` is."""
    path = Path(path)
    if path.is_dir():
        return load_logs_dir(path)
    if path.is_file():
        return load_records_file(path)
    raise CooperBenchInputError(f"{path}: no such file or directory (expected a records .json or a logs directory)")
