"""Structured re-asks: a reply missing its field is asked once more, and the exchange is recorded.

The replies are SmolLM2-135M-Instruct's failure forms from docs/smollm2.md (a restated instruction, an
answer without a confidence), played by :class:`ReplyBook`, a real :class:`ChatModel` that answers
from a table keyed by the last user message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from parley.config import ProtocolConfig
from parley.config.loading import config_hash
from parley.config.models import ParleyConfig
from parley.data.problem import Problem
from parley.debate import Agent, AgentPool, PromptSet, Transcript, TurnRequest, run_protocol
from parley.debate.engine import resolve_reask
from parley.debate.parsing import merge_reask, parse_judge, parse_reask, parse_verifier
from parley.llm.base import ChatModel
from parley.llm.types import Completion, Message, SamplingParams, Usage
from parley.store.schema import transcripts_to_tables, turn_payloads

PROBLEM = Problem(id="p1", question="What is 3 + 4?", answer="7", domain="reasoning")
SOLVER_FAIL = 'When I say "End your reply" I mean I will finish my paragraph with the line "Answer: -4.".'


class ReplyBook(ChatModel):
    """Replies by the first key found in the last user message; records every conversation it saw."""

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies
        self.seen: list[list[Message]] = []
        self.params: list[SamplingParams] = []

    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        self.seen.append(list(messages))
        self.params.append(params)
        last = messages[-1]["content"]
        text = next(reply for key, reply in self.replies.items() if key in last)
        return Completion(text=text, model="book", usage=Usage(len(last.split()), len(text.split()), 0.0))


def run(cfg: ProtocolConfig, model: ChatModel, intervention=None) -> Transcript:  # type: ignore[no-untyped-def]
    prompts = PromptSet(cfg.prompts_dir)
    return asyncio.run(run_protocol(
        PROBLEM, protocol=cfg, agents=AgentPool(Agent(model, "shared")), prompts=prompts,
        sampling=SamplingParams(max_new_tokens=64), run_id="r", debate_id="r:p1:0", config_hash="h",
        intervention=intervention))


def test_reask_defaults_follow_the_prompt_set() -> None:
    assert resolve_reask(ProtocolConfig()) == 0
    assert resolve_reask(ProtocolConfig(prompts_dir="instruct")) == 1
    assert resolve_reask(ProtocolConfig(prompts_dir="instruct", reask=0)) == 0
    assert resolve_reask(ProtocolConfig(reask=1)) == 1
    with pytest.raises(ValueError):
        ProtocolConfig(reask=2)


def test_unset_reask_keeps_the_config_hash_only_where_behaviour_is_unchanged() -> None:
    assert "reask" not in ProtocolConfig().model_dump()  # the tiny model's prompts: hash as before
    assert ProtocolConfig(reask=0).model_dump()["reask"] == 0
    assert ProtocolConfig(prompts_dir="instruct").model_dump()["reask"] is None  # now re-asks: new hash
    dumped = ProtocolConfig(prompts_dir="instruct", reask=0).model_dump()
    assert ProtocolConfig.model_validate(dumped).effective_reask == 0  # a dump reloads to the same behaviour
    base = config_hash(ParleyConfig())
    assert config_hash(ParleyConfig(protocol=ProtocolConfig(reask=1))) != base
    assert config_hash(ParleyConfig(protocol=ProtocolConfig(reask=0))) != base


def test_solver_reask_recovers_the_answer_and_is_recorded() -> None:
    book = ReplyBook({"Reply with one line": "Answer: 7", "What is": SOLVER_FAIL})
    t = run(ProtocolConfig(name="single", prompts_dir="instruct"), book)
    (turn,) = t.turns
    assert t.final_answer == "7" and turn.parsed.ok and turn.parsed.answer == "7"
    assert turn.text == SOLVER_FAIL  # the original reply stays the turn's text
    assert turn.reask is not None and turn.reask.missing == ["answer"]
    assert turn.reask.prompt == "Reply with one line: Answer: <number>"
    assert turn.reask.original_parsed.ok is False and turn.reask.text == "Answer: 7"
    # The re-ask continues the same conversation, with a short length cap and its own seed.
    follow_up = book.seen[1]
    assert follow_up[:-2] == book.seen[0]
    assert follow_up[-2] == {"role": "assistant", "content": SOLVER_FAIL}
    assert follow_up[-1] == {"role": "user", "content": turn.reask.prompt}
    assert book.params[1].max_new_tokens == 32 and book.params[1].seed != book.params[0].seed
    # Its tokens are counted on the turn (and so in the transcript).
    own = len(SOLVER_FAIL.split())
    assert turn.completion_tokens == own + 2 == t.completion_tokens
    assert turn.prompt_tokens == len(book.seen[0][-1]["content"].split()) + turn.reask.prompt_tokens


def test_no_reask_with_the_default_prompts_or_when_off() -> None:
    book = ReplyBook({"Reply with one line": "Answer: 7", "What is": SOLVER_FAIL})
    for cfg in (ProtocolConfig(name="single"), ProtocolConfig(name="single", prompts_dir="instruct", reask=0)):
        t = run(cfg, book)
        assert t.turns[0].reask is None and t.final_answer is None and not t.turns[0].parsed.ok
    assert len(book.seen) == 2


def test_judge_is_asked_only_for_its_confidence() -> None:
    book = ReplyBook({
        "Reply with one line: Confidence": "0.8",
        "Which answer is correct?": "The correct answer is 7.",
        "Is the proposed answer correct?": '"Verdict: PASS"',
        "What is": "3 + 4 = 7",
    })
    t = run(ProtocolConfig(name="svj", prompts_dir="instruct", max_rounds=1), book)
    solver, verifier, judge = t.turns
    assert solver.reask is None and verifier.reask is None  # both parse (the quoted-verdict fallback)
    assert verifier.parsed.verdict == "pass"
    assert judge.reask is not None and judge.reask.missing == ["confidence"]
    assert judge.reask.prompt == "Reply with one line: Confidence: <a number from 0 to 1>"
    assert judge.parsed.ok and judge.parsed.answer == "7" and judge.parsed.confidence == 0.8
    assert t.final_answer == "7" and t.final_confidence == 0.8


def test_a_reask_that_still_fails_stays_unparsed() -> None:
    book = ReplyBook({"Reply with one line": "Sure, I can do that.", "What is": SOLVER_FAIL})
    t = run(ProtocolConfig(name="single", prompts_dir="instruct"), book)
    turn = t.turns[0]
    assert turn.reask is not None and not turn.reask.parsed.ok and not turn.parsed.ok
    assert "after a re-ask: still no answer" in (turn.parsed.error or "")
    assert t.final_answer is None


def test_reask_goes_through_the_intervention() -> None:
    requests: list[TurnRequest] = []

    async def replay(request: TurnRequest) -> Completion | None:
        requests.append(request)
        text = "Answer: 9" if request.reask else SOLVER_FAIL
        return Completion(text=text, model="replay", usage=Usage(1, 1, 0.0))

    t = run(ProtocolConfig(name="single", prompts_dir="instruct"), ReplyBook({}), intervention=replay)
    assert [r.reask for r in requests] == [False, True] and requests[1].index == 0
    assert t.final_answer == "9"


def test_reask_survives_the_store() -> None:
    book = ReplyBook({"Reply with one line": "Answer: 7", "What is": SOLVER_FAIL})
    t = run(ProtocolConfig(name="single", prompts_dir="instruct"), book)
    turns, _ = transcripts_to_tables([t])
    (_, payload), = list(turn_payloads(turns.to_batches()[0]))
    assert payload["reask"]["text"] == "Answer: 7" and payload["parsed"]["answer"] == "7"
    # A shard written before the column existed reads as no re-ask.
    old = turns.drop_columns(["reask"]).to_batches()[0]
    (_, payload), = list(turn_payloads(old))
    assert payload["reask"] is None


@pytest.mark.parametrize(("text", "missing", "field", "value"), [
    ("7", ["answer"], "answer", "7"),
    ("Answer: -3", ["answer"], "answer", "-3"),
    ("FAIL", ["verdict"], "verdict", "fail"),
    ("Verdict: PASS", ["verdict"], "verdict", "pass"),
    ("0.9", ["confidence"], "confidence", 0.9),
    ("Confidence: 80%", ["confidence"], "confidence", 0.8),
])
def test_parse_reask_accepts_the_field_or_the_bare_value(text: str, missing: list[str], field: str,
                                                        value: object) -> None:
    parsed = parse_reask(text, missing)
    assert parsed.ok and getattr(parsed, field) == value


def test_parse_reask_rejects_other_replies() -> None:
    assert not parse_reask("1.5", ["confidence", "answer"]).ok  # a bare number is ambiguous there
    assert not parse_reask("I am not sure.", ["verdict"]).ok
    assert not parse_reask("150", ["confidence"]).ok  # 150% is outside [0, 1]


def test_merge_keeps_the_original_fields() -> None:
    original = parse_judge("Final answer: 7")
    merged = merge_reask(original, parse_reask("Final answer: 9\nConfidence: 0.4", ["confidence"]),
                         ("answer", "confidence"))
    assert merged.ok and merged.answer == "7" and merged.confidence == 0.4 and merged.error is None


def test_quoted_verdict_fallback() -> None:
    assert parse_verifier('"Verdict: FAIL"').verdict == "fail"
    assert parse_verifier("\u201cVerdict: PASS\u201d\nCritique: fine").verdict == "pass"
    # The model restating the instruction names both verdicts: not a verdict.
    restated = '"Verdict: PASS" or "Verdict: FAIL"\nI will not begin with a suggestion unless I have prepared one.'
    assert parse_verifier(restated).verdict is None
    assert parse_verifier('"Verdict: FAIL"', fallbacks=False).verdict is None


class WithIds(ChatModel):
    """Returns token ids and log-probs, as a local backend does (ids are the reply's word lengths)."""

    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        text = "Answer: 7" if messages[-1]["content"].startswith("Reply with one line") else SOLVER_FAIL
        ids = [len(w) for w in text.split()]
        prompt = [len(m["content"]) for m in messages]
        return Completion(text=text, model="ids", usage=Usage(len(prompt), len(ids), 0.0), token_ids=ids,
                          logprobs=[-0.5] * len(ids), prompt_token_ids=prompt)


def test_training_samples_keep_the_original_reply() -> None:
    from parley.training.samples import samples_from_transcripts

    t = run(ProtocolConfig(name="single", prompts_dir="instruct"), WithIds())
    turn = t.turns[0]
    assert turn.reask is not None and turn.reask.token_ids == [7, 1]
    (sample,) = samples_from_transcripts([t], [[1.0]], outcomes=[1.0])
    assert sample.completion_ids == [len(w) for w in SOLVER_FAIL.split()] == turn.token_ids
    assert sample.context_ids == turn.context_token_ids and len(sample.old_logprobs) == len(sample.completion_ids)


class FailsOnReask(ChatModel):
    """Answers the turn, then fails the re-ask as a backend would (a provider error)."""

    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        from parley.llm.errors import LLMError

        if messages[-1]["content"].startswith("Reply with one line"):
            raise LLMError("provider returned 500")
        return Completion(text=SOLVER_FAIL, model="fails", usage=Usage(3, 3, 0.0))


def test_a_failed_reask_is_recorded_and_ends_the_debate_with_error() -> None:
    t = run(ProtocolConfig(name="single", prompts_dir="instruct"), FailsOnReask())
    assert t.termination_reason == "error" and "provider returned 500" in (t.error or "")
    (turn,) = t.turns
    assert turn.text == SOLVER_FAIL and turn.reask is not None and turn.reask.finish_reason == "error"
    assert "provider returned 500" in (turn.reask.error or "")
