"""Arrow schemas of the two shard kinds and the conversions to and from :class:`Transcript`.

``turns`` has one row per turn: the debate key and ids (``run_id``, ``config_hash``, ``debate_id``,
``problem_id``, ``sample_index``, ``turn_id``) followed by every :class:`Turn` field (``index`` is
stored as ``turn_index``; :class:`ParsedTurn` is flattened into ``parsed_*`` columns so analyses can
project them). Context messages are ``list<struct<role, content>>``, token ids ``list<int32>`` and
log-probs ``list<float32>``: sampling log-probs are float32 numbers, so storing them as float32 loses
nothing for local backends (a provider's float64 value comes back as its nearest float32).

``debates`` has one row per transcript: every :class:`Transcript` field except ``turns``, with
``metadata`` as a JSON string and ``n_turns`` so readers can match turns to debates without a join.

``reask`` holds a turn's structured re-ask exchange (:class:`~parley.debate.types.Reask`) as a JSON
string, null for turns without one; shards written before the column existed read as null.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from operator import attrgetter
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
        ("reask", pa.string()),
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


_get_turn = attrgetter(*_TURN_PLAIN)
_get_parsed = attrgetter(*_PARSED)
_get_debate = attrgetter(*_DEBATE_PLAIN)


def transcripts_to_tables(transcripts: Sequence[Transcript]) -> tuple[pa.Table, pa.Table]:
    """Convert transcripts to ``(turns, debates)`` tables, turns in transcript then turn order."""
    turns: dict[str, list[Any]] = {name: [] for name in ("run_id", "config_hash", "debate_id", "problem_id")}
    turns |= {"sample_index": [], "turn_id": [], "turn_index": []}
    turn_values: list[tuple[Any, ...]] = []
    parsed_values: list[tuple[Any, ...]] = []
    reasks: list[str | None] = []
    metadata: list[str] = []
    for tr in transcripts:
        try:
            metadata.append(json.dumps(tr.metadata, ensure_ascii=False))
        except (TypeError, ValueError) as exc:
            raise InvalidTranscriptError(
                f"debate {tr.debate_id} (problem {tr.problem_id!r}): metadata is not JSON-serialisable: {exc}"
            ) from exc
        n = len(tr.turns)
        for position, turn in enumerate(tr.turns):
            if turn.index != position:
                raise InvalidTranscriptError(
                    f"debate {tr.debate_id} (problem {tr.problem_id!r}): turn at position {position} "
                    f"has index {turn.index}; turn indices must be 0, 1, 2, ... in order"
                )
            turn_values.append(_get_turn(turn))
            parsed_values.append(_get_parsed(turn.parsed))
            reasks.append(turn.reask.model_dump_json() if turn.reask is not None else None)
        for name in ("run_id", "config_hash", "debate_id", "problem_id", "sample_index"):
            turns[name].extend([getattr(tr, name)] * n)
        turns["turn_id"].extend(make_turn_id(tr.debate_id, i) for i in range(n))
        turns["turn_index"].extend(range(n))
    for name, values in zip(_TURN_PLAIN, _transpose(turn_values, len(_TURN_PLAIN)), strict=True):
        turns[name] = values
    for name, values in zip(_PARSED, _transpose(parsed_values, len(_PARSED)), strict=True):
        turns[f"parsed_{name}"] = values
    turns["reask"] = reasks
    debates = dict(
        zip(_DEBATE_PLAIN, _transpose([_get_debate(t) for t in transcripts], len(_DEBATE_PLAIN)), strict=True)
    )
    debates["metadata"] = metadata
    debates["n_turns"] = [len(t.turns) for t in transcripts]
    return _table(turns, TURNS_SCHEMA, "turns"), _table(debates, DEBATES_SCHEMA, "debates")


def _transpose(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(col) for col in zip(*rows, strict=True)]


def _pylist(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """``column.to_pylist()``, with a fast path through NumPy for lists of numbers (token ids)."""
    if isinstance(column, pa.ChunkedArray):
        return [v for chunk in column.chunks for v in _pylist(chunk)]
    kind = column.type
    if not (pa.types.is_list(kind) and (pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type))):
        return column.to_pylist()
    values = column.values.to_numpy(zero_copy_only=False)
    offsets = column.offsets.to_numpy()
    out: list[Any] = [values[offsets[i] : offsets[i + 1]].tolist() for i in range(len(column))]
    if column.null_count:
        for i, is_null in enumerate(column.is_null().to_pylist()):
            if is_null:
                out[i] = None
    return out


def turn_payloads(batch: pa.RecordBatch) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(debate_id, Turn fields as a dict)`` for each row of a ``turns`` batch, converted by column."""
    names = list(_TURN_PLAIN)
    columns = [_pylist(batch.column(name)) for name in names]
    parsed = [_pylist(batch.column(f"parsed_{name}")) for name in _PARSED]
    names += ["index", "parsed", "reask"]
    columns.append(batch.column("turn_index").to_pylist())
    columns.append([dict(zip(_PARSED, values, strict=True)) for values in zip(*parsed, strict=True)])
    reasks = batch.column("reask").to_pylist() if "reask" in batch.schema.names else [None] * batch.num_rows
    columns.append([json.loads(r) if r is not None else None for r in reasks])
    debate_ids = batch.column("debate_id").to_pylist()
    for debate_id, values in zip(debate_ids, zip(*columns, strict=True), strict=True):
        yield debate_id, dict(zip(names, values, strict=True))


def build_transcript(debate: dict[str, Any], turns: list[dict[str, Any]], source: str) -> Transcript:
    """Rebuild a :class:`Transcript` from its ``debates`` row and its turns (from :func:`turn_payloads`)."""
    payload = {name: debate[name] for name in _DEBATE_PLAIN}
    try:
        payload["metadata"] = json.loads(debate["metadata"])
        payload["turns"] = turns
        return Transcript.model_validate(payload)
    except (json.JSONDecodeError, TypeError, ValidationError) as exc:
        raise StoreCorruptError(f"{source}: debate {debate.get('debate_id')} cannot be rebuilt: {exc}") from exc
