"""A turn's structured re-ask reaches the viewer's debate view (shown under the turn's text)."""

from __future__ import annotations

from parley.debate.types import ParsedTurn, Reask
from parley.viewer.local import debate_view
from tests.store.factory import make_transcript


def test_debate_view_carries_the_reask_exchange() -> None:
    t = make_transcript("r", "gamma", 0)
    first = t.turns[0].model_copy(update={"reask": Reask(
        missing=["answer"], prompt="Reply with one line: Answer: <number>",
        original_parsed=ParsedTurn(ok=False, error="no final answer found"), text="Answer: 7")})
    t = t.model_copy(update={"turns": [first, *t.turns[1:]]})
    view = debate_view(t)
    assert view.turns[0].reask == "re-ask (answer): Reply with one line: Answer: <number>\nreply: Answer: 7"
    assert all(turn.reask is None for turn in view.turns[1:])
