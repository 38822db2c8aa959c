"""Arrow schemas of the two shard kinds and the conversions to and from :class:`Transcript`.

``turns`` has one row per turn: the debate key and ids (``run_id``, ``config_hash``, ``debate_id``,
``problem_id``, ``sample_index``, ``turn_id``) followed by every :class:`Turn` field (``index`` is
stored as ``turn_index``; :class:`ParsedTurn` is flattened into ``parsed_*`` columns so analyses can
project them). Context messages are ``list<struct<role, content>>``, token ids ``list<int32>`` and
log-probs ``list<float32>``: sampling log-probs are float32 numbers, so storing them as float32 loses
nothing for local backends (a provider's float64 value comes back as its nearest float32).

``debates`` has one row per transcript: every :class:`Transcript` field except ``turns``, with
``metadata`` as a JSON string and ``n_turns`` so readers can match turns to debates without a join.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from parley.debate.types import Transcript
from parley.store.errors import InvalidTranscriptError, StoreCorruptError
from parley.store.ids import make_turn_id

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])

TURNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("config_hash", pa.string()),
        ("debate_id", pa.string()),
        ("problem_id", pa.string()),
        ("sample_index", pa.int64()),
        ("turn_id", pa.string()),
        ("turn_index", pa.int64()),
        ("role", pa.string()),
        ("agent_id", pa.string()),
        ("policy_id", pa.string()),
        ("round", pa.int64()),
        ("context", pa.list_(_MESSAGE)),
        ("context_token_ids", pa.list_(pa.int32())),
        ("text", pa.string()),
        ("token_ids", pa.list_(pa.int32())),
        ("logprobs", pa.list_(pa.float32())),
        ("parsed_ok", pa.bool_()),
        ("parsed_error", pa.string()),
        ("parsed_answer", pa.string()),
        ("parsed_verdict", pa.string()),
        ("parsed_critique", pa.string()),
        ("parsed_confidence", pa.float64()),
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("started_at", pa.float64()),
        ("duration_s", pa.float64()),
        ("error", pa.string()),
    ]
)

DEBATES_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int64()),
        ("run_id", pa.string()),
        ("config_hash", pa.string()),
        ("debate_id", pa.string()),
        ("problem_id", pa.string()),
        ("sample_index", pa.int64()),
        ("protocol", pa.string()),
        ("question", pa.string()),
        ("gold_answer", pa.string()),
        ("domain", pa.string()),
        ("final_answer", pa.string()),
        ("final_confidence", pa.float64()),
        ("termination_reason", pa.string()),
        ("rounds_used", pa.int64()),
        ("error", pa.string()),
        ("correct", pa.bool_()),
        ("reward", pa.float64()),
        ("reward_error", pa.string()),
        ("created_at", pa.float64()),
        ("duration_s", pa.float64()),
        ("metadata", pa.string()),
        ("n_turns", pa.int64()),
    ]
)

# Turn fields copied verbatim into same-named columns (the rest are renamed or flattened).
_TURN_PLAIN = (
    "role",
    "agent_id",
    "policy_id",
    "round",
    "context",
    "context_token_ids",
    "text",
    "token_ids",
    "logprobs",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "started_at",
    "duration_s",
    "error",
)
_PARSED = ("ok", "error", "answer", "verdict", "critique", "confidence")
_DEBATE_PLAIN = tuple(n for n in DEBATES_SCHEMA.names if n not in ("metadata", "n_turns"))


def _table(columns: dict[str, list[Any]], schema: pa.Schema, kind: str) -> pa.Table:
    arrays = []
    for field in schema:
        try:
            arrays.append(pa.array(columns[field.name], type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as exc:
            raise InvalidTranscriptError(f"cannot store {kind} column {field.name!r} as {field.type}: {exc}") from exc
    return pa.Table.from_arrays(arrays, schema=schema)


def transcripts_to_tables(transcripts: Sequence[Transcript]) -> tuple[pa.Table, pa.Table]:
    """Convert transcripts to ``(turns, debates)`` tables, turns in transcript then turn order."""
    turns: dict[str, list[Any]] = {name: [] for name in TURNS_SCHEMA.names}
    debates: dict[str, list[Any]] = {name: [] for name in DEBATES_SCHEMA.names}
    for tr in transcripts:
        for name in _DEBATE_PLAIN:
            debates[name].append(getattr(tr, name))
        try:
            debates["metadata"].append(json.dumps(tr.metadata, ensure_ascii=False))
        except (TypeError, ValueError) as exc:
            raise InvalidTranscriptError(
                f"debate {tr.debate_id} (problem {tr.problem_id!r}): metadata is not JSON-serialisable: {exc}"
            ) from exc
        debates["n_turns"].append(len(tr.turns))
        for position, turn in enumerate(tr.turns):
            if turn.index != position:
                raise InvalidTranscriptError(
                    f"debate {tr.debate_id} (problem {tr.problem_id!r}): turn at position {position} "
                    f"has index {turn.index}; turn indices must be 0, 1, 2, ... in order"
                )
            turns["run_id"].append(tr.run_id)
            turns["config_hash"].append(tr.config_hash)
            turns["debate_id"].append(tr.debate_id)
            turns["problem_id"].append(tr.problem_id)
            turns["sample_index"].append(tr.sample_index)
            turns["turn_id"].append(make_turn_id(tr.debate_id, position))
            turns["turn_index"].append(position)
            for name in _TURN_PLAIN:
                turns[name].append(getattr(turn, name))
            parsed = turn.parsed
            for name in _PARSED:
                turns[f"parsed_{name}"].append(getattr(parsed, name))
    return _table(turns, TURNS_SCHEMA, "turns"), _table(debates, DEBATES_SCHEMA, "debates")


def turn_row_to_dict(row: dict[str, Any]) -> dict[str, Any]:
    """The :class:`Turn` fields (as a dict for validation) of one ``turns`` row."""
    out = {name: row[name] for name in _TURN_PLAIN}
    out["index"] = row["turn_index"]
    out["parsed"] = {name: row[f"parsed_{name}"] for name in _PARSED}
    return out


def build_transcript(debate: dict[str, Any], turn_rows: list[dict[str, Any]], source: str) -> Transcript:
    """Rebuild a :class:`Transcript` from its ``debates`` row and its ``turns`` rows."""
    payload = {name: debate[name] for name in _DEBATE_PLAIN}
    try:
        payload["metadata"] = json.loads(debate["metadata"])
        payload["turns"] = [turn_row_to_dict(r) for r in turn_rows]
        return Transcript.model_validate(payload)
    except (json.JSONDecodeError, TypeError, ValidationError) as exc:
        raise StoreCorruptError(f"{source}: debate {debate.get('debate_id')} cannot be rebuilt: {exc}") from exc
