"""Training samples from transcripts (docs/algorithms.md section 3) and padded batches for the loss.

One :class:`TrainingSample` per (transcript, turn of a trainable policy): the exact ids the agent saw
(``context_ids``), the exact sampled ids (``completion_ids``, never re-tokenised text) and their
sampling log-probs. A role's loss covers only its own generated tokens: other roles' text is inside
``context_ids`` and is never a target (see :func:`pad_batch`'s ``completion_mask``).

Group id (AT-GRPO: agent- and turn-wise grouping): ``(problem_id, role, position)``
with ``position`` the k-th turn of that role in its transcript, so group-relative estimators compare
the same role's same turn across the G rollouts of one problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from parley.debate.types import Transcript
from parley.errors import UserError
from parley.rewards.selection import SELECTION_KEY

GroupId = tuple[str, str, int]
"""``(problem_id, role, position)``: position = index of the turn among its role's turns."""



class MissingTokenIdsError(UserError, ValueError):
    """A trainable turn has no token ids / log-probs (remote backends do not return them)."""


@dataclass
class TrainingSample:
    """One trainable turn. ``advantage`` is filled by :mod:`parley.training.advantages`.

    ``selected`` marks survivors of a selection strategy (best-of-n): group-relative estimators
    refuse them, because survivors are not a group of samples from the policy.
    """

    context_ids: list[int]
    completion_ids: list[int]
    old_logprobs: list[float]
    role: str
    policy_id: str
    round: int
    turn_index: int
    problem_id: str
    debate_id: str
    group_id: GroupId
    raw_reward: float
    shaped_reward: float
    advantage: float = 0.0
    selected: bool = False


def samples_from_transcripts(
    transcripts: Sequence[Transcript],
    shaped_rewards: Sequence[Sequence[float]],
    trainable_policies: set[str] | None = None,
    *,
    outcomes: Sequence[float] | None = None,
) -> list[TrainingSample]:
    """One sample per turn of a trainable policy (``None``: every policy).

    ``shaped_rewards[i][t]`` is the reward of turn ``t`` of transcript ``i`` (a shaping strategy's
    output). ``raw_reward`` is ``outcomes[i]`` (the outcome G) or, when ``outcomes`` is None,
    ``transcript.reward``. Turns whose model call failed (``finish_reason == "error"``) or that
    generated no tokens are skipped: there is nothing to train on.

    Raises:
        MissingTokenIdsError: a trainable turn lacks ``token_ids``, ``logprobs`` or
            ``context_token_ids`` (a remote backend), or their lengths disagree.
        ValueError: reward rows that do not match the transcripts, or no raw reward available.
    """
    if len(shaped_rewards) != len(transcripts):
        raise ValueError(f"shaped_rewards has {len(shaped_rewards)} rows for {len(transcripts)} transcripts")
    if outcomes is not None and len(outcomes) != len(transcripts):
        raise ValueError(f"outcomes has {len(outcomes)} entries for {len(transcripts)} transcripts")
    samples: list[TrainingSample] = []
    for i, (transcript, rewards) in enumerate(zip(transcripts, shaped_rewards, strict=True)):
        if len(rewards) != len(transcript.turns):
            raise ValueError(f"shaped_rewards[{i}] has {len(rewards)} values for {len(transcript.turns)} turns "
                             f"of {transcript.debate_id!r}")
        raw = outcomes[i] if outcomes is not None else transcript.reward
        if raw is None:
            raise ValueError(f"transcript {transcript.debate_id!r} has no reward; pass outcomes= or score it first")
        selected = transcript.metadata.get(SELECTION_KEY) is not None
        positions: dict[str, int] = {}
        for turn, reward in zip(transcript.turns, rewards, strict=True):
            position = positions.get(turn.role, 0)
            positions[turn.role] = position + 1
            if trainable_policies is not None and turn.policy_id not in trainable_policies:
                continue
            if turn.finish_reason == "error" or turn.token_ids == []:
                continue
            where = f"debate {transcript.debate_id!r} turn {turn.index} (role {turn.role!r}, policy {turn.policy_id!r})"
            if turn.token_ids is None or turn.logprobs is None or turn.context_token_ids is None:
                raise MissingTokenIdsError(
                    f"{where}: no token ids/log-probs; training needs a local (hf) backend for trainable "
                    f"policies (remote backends do not return sampled ids), or mark the policy frozen")
            if len(turn.token_ids) != len(turn.logprobs):
                raise MissingTokenIdsError(
                    f"{where}: {len(turn.token_ids)} token ids but {len(turn.logprobs)} log-probs")
            samples.append(TrainingSample(
                context_ids=list(turn.context_token_ids), completion_ids=list(turn.token_ids),
                old_logprobs=list(turn.logprobs), role=turn.role, policy_id=turn.policy_id,
                round=turn.round, turn_index=turn.index, problem_id=transcript.problem_id,
                debate_id=transcript.debate_id, group_id=(transcript.problem_id, turn.role, position),
                raw_reward=float(raw), shaped_reward=float(reward), selected=selected,
            ))
    return samples


@dataclass
class PaddedBatch:
    """Right-padded tensors for :func:`parley.training.losses.token_logprobs` and the PPO loss.

    ``completion_mask[b, j]`` is 1 exactly where ``input_ids[b, j]`` is a sampled completion token of
    sample ``b``; ``old_logprobs`` is aligned with ``input_ids`` (0 outside completions).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor
    old_logprobs: torch.Tensor
    advantages: torch.Tensor

    def to(self, device: torch.device | str) -> PaddedBatch:
        """The same batch on ``device`` (a no-op copy-free return when already there)."""
        return PaddedBatch(self.input_ids.to(device), self.attention_mask.to(device),
                           self.completion_mask.to(device), self.old_logprobs.to(device),
                           self.advantages.to(device))


def pad_batch(samples: Sequence[TrainingSample], pad_id: int = 0) -> PaddedBatch:
    """Concatenate context + completion ids per sample and right-pad them into one batch."""
    if not samples:
        raise ValueError("pad_batch: no samples")
    width = max(len(s.context_ids) + len(s.completion_ids) for s in samples)
    n = len(samples)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    completion = torch.zeros((n, width), dtype=torch.float32)
    old = torch.zeros((n, width), dtype=torch.float32)
    for b, s in enumerate(samples):
        if not s.context_ids:
            raise ValueError(f"sample {b} ({s.debate_id!r} turn {s.turn_index}): empty context")
        c, k = len(s.context_ids), len(s.completion_ids)
        ids[b, : c + k] = torch.tensor(s.context_ids + s.completion_ids, dtype=torch.long)
        attention[b, : c + k] = 1
        completion[b, c : c + k] = 1.0
        old[b, c : c + k] = torch.tensor(s.old_logprobs, dtype=torch.float32)
    advantages = torch.tensor([s.advantage for s in samples], dtype=torch.float32)
    return PaddedBatch(ids, attention, completion, old, advantages)


def micro_batches(samples: Sequence[TrainingSample], max_samples: int, *, max_tokens: int | None = None,
                  order: Literal["length", "tokens"] = "length") -> list[list[TrainingSample]]:
    """Cut a policy's samples into micro-batches of similar length, one role per micro-batch.

    Inside each role (roles in first-seen order, so per-role metrics stay separate) samples are sorted by
    their padded length (context + completion, ties in input order) and cut into runs of at most
    ``max_samples`` samples and, when ``max_tokens`` is given, at most ``max_tokens`` padded positions
    (rows x longest row; a single longer sample still gets its own micro-batch). Sorting puts the short
    solver turns together and the long judge contexts together, so far less of each batch is padding
    than with input order. The loss is unchanged: every micro-batch's loss is weighted by its share of
    the global token (or sequence) count, so the accumulated gradient is the same sum in another order
    (equal up to float rounding).

    ``order="tokens"`` sorts by the token sequence itself instead (for
    :func:`parley.training.packing.pack_batch`): samples sharing a prefix, such as the G rollouts of one
    problem, land side by side and so in the same micro-batch.
    """
    if max_samples < 1:
        raise ValueError(f"max_samples={max_samples}: must be >= 1")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens={max_tokens}: must be >= 1")
    by_role: dict[str, list[TrainingSample]] = {}
    for s in samples:
        by_role.setdefault(s.role, []).append(s)
    out: list[list[TrainingSample]] = []
    for role_samples in by_role.values():
        if order == "tokens":
            ordered = sorted(role_samples, key=lambda s: s.context_ids + s.completion_ids)
        else:
            ordered = sorted(role_samples, key=lambda s: len(s.context_ids) + len(s.completion_ids))
        chunk: list[TrainingSample] = []
        width = 0  # the chunk's longest sample
        for s in ordered:
            length = len(s.context_ids) + len(s.completion_ids)
            too_many = len(chunk) >= max_samples
            too_wide = max_tokens is not None and chunk and (len(chunk) + 1) * max(width, length) > max_tokens
            if chunk and (too_many or too_wide):
                out.append(chunk)
                chunk, width = [], 0
            chunk.append(s)
            width = max(width, length)
        if chunk:
            out.append(chunk)
    return out
