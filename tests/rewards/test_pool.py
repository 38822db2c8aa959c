"""The verifier pool: hard timeout, killing a hung worker, recovery, crash handling, hardening."""

from __future__ import annotations

import pytest

from parley.rewards._worker import BlockedOperationError, _audit
from parley.rewards.math import MathVerifier, MathVerifierConfig
from parley.rewards.pool import VerifierPool


def test_hung_call_times_out_and_the_pool_recovers() -> None:
    with VerifierPool(1) as pool:
        warm = pool.run("_sleep", 0.0, timeout_s=120)
        assert warm.status == "ok"
        hung_pid = warm.worker_pid
        outcome = pool.run("_sleep", 3600, timeout_s=1.0)  # would hang for an hour
        assert outcome.status == "timeout"
        assert outcome.worker_pid == hung_pid
        assert "killed" in (outcome.error or "")
        after = pool.run("math", ("2", "2"), timeout_s=120)
        assert after.status == "ok" and after.value["correct"] is True
        assert after.worker_pid != hung_pid  # a replacement worker answered
        assert pool.worker_pids() == [after.worker_pid]
        assert pool.timeouts == 1 and pool.restarts == 1


def test_a_fresh_workers_boot_is_not_charged_to_its_first_call() -> None:
    # The worker's imports (math-verify, sympy, reasoning-gym) take longer than this call's timeout;
    # a loaded machine once turned every first call of a run into a "timeout" this way.
    with VerifierPool(1) as pool:
        first = pool.run("math", ("2", "2"), timeout_s=0.05)
        assert first.status == "ok" and first.value["correct"] is True
        assert pool.timeouts == 0


def test_math_verifier_reports_timeout_status() -> None:
    with VerifierPool(1) as pool:
        verifier = MathVerifier(pool, MathVerifierConfig(timeout_s=1.0))
        pool.run("_sleep", 0.0, timeout_s=120)  # wait for the worker to boot outside the measured call
        # Occupy the only worker with a hung call, then ask for a verdict behind it with a tiny limit.
        hung = pool.submit("_sleep", 3600, timeout_s=1.0)
        assert hung.result().status == "timeout"
        ok = verifier.verify("3", r"\boxed{3}")
        assert ok.status in ("ok", "timeout")  # the replacement worker may still be booting
        verifier.config.timeout_s = 120.0
        assert verifier.verify("3", r"\boxed{3}").correct is True


def test_crashed_worker_is_reported_and_replaced(pool: VerifierPool) -> None:
    outcome = pool.run("_crash", 3, timeout_s=120)
    assert outcome.status == "crashed"
    assert "exit code 3" in (outcome.error or "")
    again = pool.run("math", (r"\frac{1}{2}", "0.5"), timeout_s=120)
    assert again.status == "ok" and again.value["correct"] is True


def test_unknown_task_kind_is_an_error_not_a_crash(pool: VerifierPool) -> None:
    outcome = pool.run("no_such_kind", None, timeout_s=120)
    assert outcome.status == "error" and "unknown verifier task kind" in (outcome.error or "")


def test_many_concurrent_calls_come_back_in_order(pool: VerifierPool) -> None:
    futures = [pool.submit("math", (str(i), str(i if i % 3 else i + 1)), 120) for i in range(40)]
    values = [f.result() for f in futures]
    assert all(v.status == "ok" for v in values)
    assert [v.value["correct"] for v in values] == [bool(i % 3) for i in range(40)]


def test_audit_hook_refuses_process_creation_and_writes() -> None:
    with pytest.raises(BlockedOperationError):
        _audit("os.system", (b"touch /tmp/x",))
    with pytest.raises(BlockedOperationError):
        _audit("subprocess.Popen", ("sh", ["sh"], None, None))
    with pytest.raises(BlockedOperationError):
        _audit("open", ("/tmp/x", "w", 0))
    _audit("open", ("/etc/hostname", "r", 0))  # reading is allowed


def test_workers_do_not_inherit_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.rewards.pool import _worker_env

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    env = _worker_env()
    assert "OPENAI_API_KEY" not in env
    assert "sk-test-secret" not in " ".join(env.values())


def test_closed_pool_refuses_work() -> None:
    pool = VerifierPool(1)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit("_sleep", 0, 1)
