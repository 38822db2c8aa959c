"""The state one protocol run works through: agents, sampling, the turn list, interventions.

Protocols never call models directly: they call :meth:`DebateContext.call`, which derives a per-turn
seed (so a resumed or re-rolled debate is reproducible), applies an optional *intervention* (used by
the trainer for counterfactual rollouts: replace a role's turn by a null contribution or an alternative
sample), records a typed :class:`Turn`, and turns backend failures into :class:`AgentError`.

Structured re-asks (``reask=1``, ``protocol.reask``): when a reply lacks a field its parser needs
(:func:`parley.debate.parsing.missing_fields`: no answer, no verdict, a judge without a confidence),
the same agent is asked once more, in the same conversation (its reply as an ``assistant`` message,
then ``reask.jinja`` as a ``user`` message asking for exactly the missing fields, at most
:data:`REASK_MAX_NEW_TOKENS` new tokens, its own derived seed). The exchange is recorded on the turn
(:class:`~parley.debate.types.Reask`) and goes through the intervention too (``TurnRequest.reask``),
so counterfactual replays reproduce it. Parsers other than the built-in ones are never re-asked.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from parley.data.problem import Problem
from parley.debate.parsing import expected_fields, merge_reask, missing_fields, parse_reask
from parley.debate.prompts import PromptSet
from parley.debate.types import ParsedTurn, Reask, Turn
from parley.errors import ParleyError
from parley.llm.base import ChatModel
from parley.llm.errors import EndpointUnreachableError, LLMError
from parley.llm.types import Completion, Message, SamplingParams


@dataclass(frozen=True)
class Agent:
    """A model playing a role, and the id of the policy that produced its turns."""

    model: ChatModel
    policy_id: str


class AgentPool:
    """Role -> :class:`Agent`. Roles without an entry use ``default``."""

    def __init__(self, default: Agent, by_role: dict[str, Agent] | None = None) -> None:
        self.default = default
        self.by_role = dict(by_role or {})

    def for_role(self, role: str) -> Agent:
        return self.by_role.get(role, self.default)

    def models(self) -> list[ChatModel]:
        """Distinct models in the pool (for closing them)."""
        seen: dict[int, ChatModel] = {}
        for agent in [self.default, *self.by_role.values()]:
            seen[id(agent.model)] = agent.model
        return list(seen.values())


@dataclass(frozen=True)
class TurnRequest:
    """What an intervention sees before a turn is sampled."""

    index: int
    role: str
    agent_id: str
    round: int
    messages: tuple[Message, ...]
    params: SamplingParams
    reask: bool = False
    """True for the follow-up of a structured re-ask of turn ``index`` (its messages end with the
    original reply and the re-ask message)."""


Intervention = Callable[[TurnRequest], Awaitable[Completion | None]]
"""Return a :class:`Completion` to use instead of sampling the turn, or ``None`` to sample normally."""


REASK_MAX_NEW_TOKENS = 32
"""Cap on a re-ask reply's length: it asks for one or two short lines."""


class AgentError(ParleyError, RuntimeError):
    """A model call failed; the turn is recorded with the error and the debate ends with ``error``."""


def derive_seed(base_seed: int, *parts: object) -> int:
    """A 31-bit seed from a base seed and a key (problem id, sample, turn index...)."""
    digest = hashlib.sha256(repr((base_seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class DebateContext:
    """Mutable state of one protocol run (one problem, one sample)."""

    def __init__(
        self,
        problem: Problem,
        *,
        agents: AgentPool,
        prompts: PromptSet,
        sampling: SamplingParams,
        sample_index: int = 0,
        base_seed: int = 0,
        intervention: Intervention | None = None,
        reask: int = 0,
    ) -> None:
        if reask not in (0, 1):
            raise ValueError(f"reask={reask}: must be 0 or 1")
        self.problem = problem
        self.reask = reask
        self.agents = agents
        self.prompts = prompts
        self.sampling = sampling
        self.sample_index = sample_index
        self.base_seed = base_seed
        self.intervention = intervention
        self.turns: list[Turn] = []

    def messages(self, system_template: str, user_template: str, **values: object) -> list[Message]:
        """Render a (system, user) message pair from two templates."""
        return [
            {"role": "system", "content": self.prompts.render(system_template, **values)},
            {"role": "user", "content": self.prompts.render(user_template, **values)},
        ]

    async def call(
        self,
        role: str,
        messages: Sequence[Message],
        parser: Callable[[str], ParsedTurn],
        *,
        round_index: int,
        agent_id: str | None = None,
    ) -> Turn:
        """Sample one turn for ``role`` and record it. Raises :class:`AgentError` on backend failure."""
        agent = self.agents.for_role(role)
        index = len(self.turns)
        params = replace(self.sampling, seed=derive_seed(
            self.base_seed, self.problem.id, self.sample_index, index))
        request = TurnRequest(index, role, agent_id or role, round_index, tuple(messages), params)
        started = time.time()
        t0 = time.perf_counter()
        try:
            completion = await self._complete(request, agent)
        except EndpointUnreachableError:
            raise  # not a debate outcome: nothing can answer, so the caller stops the whole run
        except LLMError as exc:
            turn = Turn(
                index=index, role=role, agent_id=request.agent_id, policy_id=agent.policy_id,
                round=round_index, context=list(messages), started_at=started,
                duration_s=time.perf_counter() - t0, finish_reason="error",
                parsed=ParsedTurn(ok=False, error="model call failed"),
                error=f"{type(exc).__name__}: {exc}",
            )
            self.turns.append(turn)
            raise AgentError(turn.error or "model call failed") from exc
        turn = Turn(
            index=index, role=role, agent_id=request.agent_id, policy_id=agent.policy_id,
            round=round_index, context=list(messages), context_token_ids=completion.prompt_token_ids,
            text=completion.text, token_ids=completion.token_ids, logprobs=completion.logprobs,
            parsed=parser(completion.text), finish_reason=completion.finish_reason,
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens, cost_usd=completion.usage.cost_usd,
            started_at=started, duration_s=time.perf_counter() - t0,
        )
        self.turns.append(turn)  # recorded before any re-ask, so a timeout during it keeps the reply
        missing = missing_fields(parser, turn.parsed) if self.reask else []
        if missing and completion.finish_reason != "error":
            turn = await self._reask(turn, request, missing, expected_fields(parser), agent)
            self.turns[index] = turn
        return turn

    async def _complete(self, request: TurnRequest, agent: Agent) -> Completion:
        """The intervention's completion for ``request`` if it gives one, else the agent's model's."""
        completion = await self.intervention(request) if self.intervention else None
        if completion is None:
            completion = await agent.model.complete(list(request.messages), request.params)
        return completion

    async def _reask(self, turn: Turn, request: TurnRequest, missing: list[str], expected: tuple[str, ...],
                     agent: Agent) -> Turn:
        """Ask ``turn``'s agent once for the ``missing`` fields; the turn with its :class:`Reask` recorded."""
        prompt = self.prompts.render("reask", missing=missing, fields=list(expected))
        reply: Message = {"role": "assistant", "content": turn.text}
        follow: Message = {"role": "user", "content": prompt}
        messages = (*request.messages, reply, follow)
        params = replace(request.params, seed=derive_seed(self.base_seed, self.problem.id, self.sample_index,
                                                          request.index, "reask"),
                         max_new_tokens=min(request.params.max_new_tokens, REASK_MAX_NEW_TOKENS))
        follow_up = replace(request, messages=messages, params=params, reask=True)
        t0 = time.perf_counter()
        try:
            completion = await self._complete(follow_up, agent)
        except EndpointUnreachableError:
            raise
        except LLMError as exc:
            failed = Reask(missing=missing, prompt=prompt, original_parsed=turn.parsed, finish_reason="error",
                           parsed=ParsedTurn(ok=False, error="model call failed"), duration_s=time.perf_counter() - t0,
                           error=f"{type(exc).__name__}: {exc}")
            self.turns[request.index] = turn.model_copy(update={"reask": failed,
                                                                "duration_s": turn.duration_s + failed.duration_s})
            raise AgentError(failed.error or "model call failed") from exc
        reask_parsed = parse_reask(completion.text, missing)
        reask = Reask(
            missing=missing, prompt=prompt, original_parsed=turn.parsed, text=completion.text,
            context_token_ids=completion.prompt_token_ids, token_ids=completion.token_ids,
            logprobs=completion.logprobs, parsed=reask_parsed, finish_reason=completion.finish_reason,
            prompt_tokens=completion.usage.prompt_tokens, completion_tokens=completion.usage.completion_tokens,
            cost_usd=completion.usage.cost_usd, duration_s=time.perf_counter() - t0,
        )
        cost = None if turn.cost_usd is None or reask.cost_usd is None else turn.cost_usd + reask.cost_usd
        return turn.model_copy(update={
            "reask": reask, "parsed": merge_reask(turn.parsed, reask_parsed, expected),
            "prompt_tokens": turn.prompt_tokens + reask.prompt_tokens,
            "completion_tokens": turn.completion_tokens + reask.completion_tokens,
            "cost_usd": cost, "duration_s": turn.duration_s + reask.duration_s,
        })
