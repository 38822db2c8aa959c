"""Advantage estimators against hand-computed values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from parley.training.advantages import (
    AdvantageConfig,
    compute_advantages,
    grpo_advantages,
    reinforce_pp_advantages,
    rloo_advantages,
    validate_group_size,
    with_advantages,
)
from parley.training.samples import TrainingSample

REWARDS = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5]
GROUPS = ["g1", "g1", "g1", "g1", "g2", "g2", "g3"]  # g2: zero variance, g3: singleton


def test_grpo_std_scale() -> None:
    # g1: mean 0.5, sample std sqrt(1/3) = 0.5773503 -> A = +-0.5 / (0.5773503 + 1e-6) = +-0.8660239.
    result = grpo_advantages(REWARDS, GROUPS)
    assert result.advantages == pytest.approx([0.8660239, -0.8660239, -0.8660239, 0.8660239, 0, 0, 0], abs=1e-6)
    assert result.stats.num_groups == 3
    assert result.stats.singleton_groups == 1 and result.stats.zero_variance_groups == 1
    assert result.stats.zero_variance_group_fraction == pytest.approx(2 / 3)
    assert result.stats.group_sizes == {1: 1, 2: 1, 4: 1}


def test_dr_grpo_no_scale() -> None:
    result = grpo_advantages(REWARDS, GROUPS, scale="none")
    assert result.advantages == [0.5, -0.5, -0.5, 0.5, 0.0, 0.0, 0.0]


def test_rloo_leave_one_out() -> None:
    result = rloo_advantages([1.0, 0.0, 0.0, 1.0, 3.0, 1.0, 2.0, 7.0], ["a"] * 4 + ["b"] * 3 + ["c"])
    # a: 1 - 1/3, 0 - 2/3; b: 3 - 1.5, 1 - 2.5, 2 - 2; c: singleton.
    assert result.advantages == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3, 1.5, -1.5, 0.0, 0.0])
    assert result.stats.singleton_groups == 1


def test_reinforce_pp_batch_normalised() -> None:
    # mean 1, deviations 1, -1, 0, 0; sample std sqrt(2/3) = 0.8164966.
    result = reinforce_pp_advantages([2.0, 0.0, 1.0, 1.0], ["a", "a", "b", "b"])
    assert result.advantages == pytest.approx([1.2247434, -1.2247434, 0.0, 0.0], abs=1e-6)
    # Group b has zero variance: reported, though the batch baseline does not zero it.
    assert result.stats.zero_variance_group_fraction == 0.5
    assert reinforce_pp_advantages([1.0, 1.0], ["a", "b"]).advantages == [0.0, 0.0]


def test_group_size_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"rollouts_per_problem=1: estimator 'grpo'"):
        validate_group_size("grpo", 1, "rollouts_per_problem")
    validate_group_size("reinforce_pp", 1)
    with pytest.raises(ValidationError, match="group_size=1"):
        AdvantageConfig(estimator="rloo", group_size=1)
    assert AdvantageConfig(estimator="reinforce_pp", group_size=1).group_size == 1


def sample(role: str, position: int, reward: float, problem: str = "p") -> TrainingSample:
    return TrainingSample([1, 2], [3], [-1.0], role, role, 0, 0, problem, f"{problem}:{reward}",
                          (problem, role, position), reward, reward)


def test_compute_advantages_groups_by_role_and_position() -> None:
    samples = [sample("solver", 0, 1.0), sample("solver", 0, 0.0), sample("verifier", 0, 1.0),
               sample("verifier", 0, 1.0), sample("solver", 1, 0.0)]
    result = compute_advantages(samples, AdvantageConfig(estimator="grpo", scale="none", group_size=2))
    assert result.advantages == [0.5, -0.5, 0.0, 0.0, 0.0]
    assert result.per_role["solver"].num_groups == 2
    assert result.per_role["solver"].zero_variance_group_fraction == 0.5
    assert result.per_role["verifier"].zero_variance_group_fraction == 1.0
    assert [s.advantage for s in with_advantages(samples, result)] == [0.5, -0.5, 0.0, 0.0, 0.0]


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="NaN"):
        grpo_advantages([float("nan"), 1.0], ["a", "a"])
    with pytest.raises(ValueError, match="2 rewards but 1 group ids"):
        rloo_advantages([1.0, 0.0], ["a"])
